"""Counts MLflow's model loads in the Spark scoring benchmark (bench/spark_workload.py).

Put on PYTHONPATH of MLflow's benchmark process only, with ``BENCH_MLFLOW_LOADS_DIR`` set. Every
Python process started from it (the Spark driver, pyspark's worker daemon and the workers it
forks) then wraps ``mlflow.pyfunc.load_model`` so that each call appends a line to
``loads-<pid>`` in that folder. Nothing else of MLflow is changed.
"""

import os

_DIR = os.environ.get("BENCH_MLFLOW_LOADS_DIR")
if _DIR:
    try:
        import mlflow.pyfunc as _pyfunc
    except ImportError:
        _pyfunc = None
    if _pyfunc is not None:
        _load_model = _pyfunc.load_model

        def load_model(*args, **kwargs):
            with open(os.path.join(_DIR, f"loads-{os.getpid()}"), "a") as out:
                out.write("load\n")
            return _load_model(*args, **kwargs)

        _pyfunc.load_model = load_model

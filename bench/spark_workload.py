"""One tool's side of the Spark scoring benchmark, run by spark_run.py in the tool's interpreter.

    python spark_workload.py runlab|mlflow '{"model_dir": ..., "data_path": ..., ...}'

It starts a local Spark session (the configuration spark_run.py gives both tools), reads the
shared Parquet input, makes the tool's ``spark_udf`` for the shared model and times
``df.withColumn("p", udf(*features)).write.format("noop")``, which sends every row through the
UDF and writes nothing: once as a warm-up, then once per ``pass`` line on stdin. Each answer is
one stdout line starting with ``BENCH_RESULT``.

Model loads: runlab's UDF reports its own (``udf.model_loads``, a Spark accumulator). MLflow's
are counted by ``bench/spark_counting/sitecustomize.py``, which wraps ``mlflow.pyfunc.load_model``
in MLflow's processes only (the Spark driver and its Python workers) and appends a line to a file
per call.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


def _mlflow_loads(loads_dir: str) -> int:
    return sum(len(p.read_text().splitlines()) for p in Path(loads_dir).glob("loads-*"))


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(tool: str, params: dict[str, Any]) -> None:
    """Set up, run the warm-up pass, then one timed pass per ``pass`` line read from stdin.

    spark_run.py drives both tools' processes this way, pass by pass in turn, so that the
    machine's load drifts over both alike. ``finish`` ends with the checksum.
    """
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark on pandas 3
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.master(params["master"]).appName(f"bench-{tool}")
    for key, value in params["spark_conf"].items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.read.parquet(params["data_path"])
    features = list(frame.columns)
    rows = frame.count()
    t0 = time.perf_counter()
    if tool == "runlab":
        import runlab.pyfunc as pyfunc

        udf = pyfunc.spark_udf(spark, params["model_dir"], result_type="double", trusted=True)

        def loads() -> int:
            return len(udf.model_loads)
    else:
        import mlflow.pyfunc

        udf = mlflow.pyfunc.spark_udf(
            spark, params["model_dir"], result_type="double", env_manager="local"
        )

        def loads() -> int:
            return _mlflow_loads(params["loads_dir"])

    make_udf_s = time.perf_counter() - t0
    # MLflow's driver loads nothing in spark_udf(); any line so far would not be a worker's.
    before = loads()

    def once() -> dict[str, Any]:
        nonlocal before
        started = time.perf_counter()
        frame.withColumn("p", udf(*features)).write.format("noop").mode("overwrite").save()
        elapsed = time.perf_counter() - started
        now = loads()
        delta, before = now - before, now
        return {"seconds": elapsed, "loads": delta}

    first = once()
    _reply(
        {
            "ready": True,
            "rows": rows,
            "partitions": frame.rdd.getNumPartitions(),
            "make_udf_s": make_udf_s,
            "first_s": first["seconds"],
            "first_loads": first["loads"],
        }
    )
    for line in sys.stdin:
        command = line.strip()
        if command == "pass":
            _reply(once())
        elif command == "finish":
            # The same check for both: the sum of the predictions over the whole input.
            checksum = frame.select(F.sum(udf(*features))).collect()[0][0]
            _reply({"checksum": checksum})
            break
    spark.stop()


def main(argv: list[str]) -> int:
    tool, params = argv[1], json.loads(argv[2])
    try:
        serve(tool, params)
    except BaseException as exc:  # report everything, including a Spark failure
        _reply({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        os._exit(1)
    os._exit(0)  # do not wait on Spark's non-daemon threads


if __name__ == "__main__":
    sys.exit(main(sys.argv))

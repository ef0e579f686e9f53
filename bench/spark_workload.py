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


def _floors(spark: Any, frame: Any, features: list[str], conf: dict[str, str]) -> dict[str, float]:
    """One pass each of a pandas UDF and (pyspark 4.1+) an Arrow UDF that return zeros: what
    Spark costs to send every row to Python and back, with no model at all."""
    from collections.abc import Iterator
    from typing import Tuple  # noqa: UP035 - pyspark reads the hints at run time

    import numpy as np
    import pandas as pd
    from pyspark.sql import functions as F

    def zeros_pandas(batches: Any) -> Any:
        for batch in batches:
            yield pd.Series(np.zeros(len(batch[0])))

    zeros_pandas.__annotations__ = {
        "batches": Iterator[Tuple[pd.Series, ...]],  # noqa: UP006
        "return": Iterator[pd.Series],
    }
    udfs = {"pandas_floor_s": F.pandas_udf(zeros_pandas, returnType="double")}
    if hasattr(F, "arrow_udf"):
        import pyarrow as pa

        def zeros_arrow(batches: Any) -> Any:
            for batch in batches:
                yield pa.array(np.zeros(len(batch[0])))

        zeros_arrow.__annotations__ = {
            "batches": Iterator[Tuple[pa.Array, ...]],  # noqa: UP006
            "return": Iterator[pa.Array],
        }
        udfs["arrow_floor_s"] = F.arrow_udf(zeros_arrow, returnType="double")
    out = {}
    for name, udf in udfs.items():
        for key, value in conf.items():
            spark.conf.set(key, value)
        try:
            started = time.perf_counter()
            frame.withColumn("p", udf(*features)).write.format("noop").mode("overwrite").save()
            out[name] = time.perf_counter() - started
        finally:
            for key in conf:
                spark.conf.unset(key)
    return out


def serve(tool: str, params: dict[str, Any]) -> None:
    """Set up and warm up, then answer commands read from stdin, one line each.

    ``pass MEASURE`` times one pass over the measure's DataFrame (``whole``: the file as Spark
    splits it by default; ``split``: the same rows read as ``split_partitions`` partitions);
    ``floor`` times the model-free UDFs; ``finish`` ends with the checksum. spark_run.py drives
    both tools' processes this way, pass by pass in turn, so that the machine's load drifts
    over both alike.
    """
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark on pandas 3
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.master(params["master"]).appName(f"bench-{tool}")
    for key, value in params["spark_conf"].items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    frames = {"whole": spark.read.parquet(params["data_path"])}
    frames["split"] = frames["whole"]
    size = Path(params["data_path"]).stat().st_size
    # Spark splits a file when it plans a job, so the setting must hold while each split pass
    # runs (and only then).
    split_conf = {"spark.sql.files.maxPartitionBytes": str(size // params["split_partitions"])}
    features = list(frames["whole"].columns)
    rows = frames["whole"].count()
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

    def once(measure: str) -> dict[str, Any]:
        nonlocal before
        conf = split_conf if measure == "split" else {}
        for key, value in conf.items():
            spark.conf.set(key, value)
        try:
            started = time.perf_counter()
            scored = frames[measure].withColumn("p", udf(*features))
            scored.write.format("noop").mode("overwrite").save()
            elapsed = time.perf_counter() - started
        finally:
            for key in conf:
                spark.conf.unset(key)
        now = loads()
        delta, before = now - before, now
        return {"seconds": elapsed, "loads": delta}

    partitions = {"whole": frames["whole"].rdd.getNumPartitions()}
    for key, value in split_conf.items():
        spark.conf.set(key, value)
    partitions["split"] = spark.read.parquet(params["data_path"]).rdd.getNumPartitions()
    for key in split_conf:
        spark.conf.unset(key)

    def floors() -> dict[str, dict[str, float]]:
        return {
            "whole": _floors(spark, frames["whole"], features, {}),
            "split": _floors(spark, frames["split"], features, split_conf),
        }

    first = once("whole")
    once("split")
    floors()
    _reply(
        {
            "ready": True,
            "rows": rows,
            "partitions": partitions,
            "make_udf_s": make_udf_s,
            "first_s": first["seconds"],
            "first_loads": first["loads"],
        }
    )
    for line in sys.stdin:
        command, _, measure = line.strip().partition(" ")
        if command == "pass":
            _reply(once(measure))
        elif command == "floor":
            _reply(floors())
        elif command == "finish":
            # The same check for both: the sum of the predictions over the whole input.
            checksum = frames["whole"].select(F.sum(udf(*features))).collect()[0][0]
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

"""``runlab models predict --spark``: score a table with Spark and write a Parquet folder.

The input is read by Spark (a Parquet file or folder, a CSV file or folder with a header row,
JSON lines), scored by :func:`runlab.pyfunc.spark_udf`, and written as a Parquet folder with
the prediction column added. The output folder appears only when every row was scored: Spark
writes into a hidden sibling folder that is renamed at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import click

from runlab.errors import RunlabError

__all__ = ["SPARK_FORMATS", "predict_with_spark"]

SPARK_FORMATS = ("parquet", "csv", "json")
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json"}
_EXTENSIONS.update({".jsonl": "json", ".ndjson": "json"})


def input_format(path: Path, given: str | None) -> str:
    """The input's format: ``given``, else its extension; a folder without one is Parquet."""
    if given:
        return given
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None and path.is_dir():
        return "parquet"
    if fmt is None:
        raise click.ClickException(
            f"Cannot tell the format of {path} from its extension; name it .parquet, .csv or "
            ".json (JSON lines), or give it with --content-type."
        )
    return fmt


def predict_with_spark(
    model_uri: str,
    input_path: Path,
    output_path: Path | None,
    fmt: str | None,
    trust_model: bool,
    result_type: str,
    master: str,
    prediction_column: str = "prediction",
) -> Path:
    """Score ``input_path`` into the Parquet folder ``output_path``; return that folder."""
    if output_path is None:
        raise click.ClickException(
            "--spark writes a Parquet folder: give it with --output-path/-o."
        )
    if output_path.exists():
        raise click.ClickException(
            f"{output_path} already exists; --spark writes a new Parquet folder and does not "
            "overwrite. Remove it or choose another --output-path."
        )
    if not input_path.exists():
        raise click.ClickException(f"Input {input_path} does not exist.")
    fmt = input_format(input_path, fmt)
    from runlab.models.pyfunc.spark_requirements import import_pyspark, start_session

    import_pyspark()
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    spark = start_session(master, app_name="runlab models predict")
    if existing is None:
        # The command reports what failed in one line; Spark's own stack traces are noise here.
        spark.sparkContext.setLogLevel("FATAL")
    try:
        frame = _read(spark, input_path, fmt)
        if prediction_column in frame.columns:
            raise click.ClickException(
                f"The input already has a column named {prediction_column!r}, where the "
                "predictions would go; rename it first."
            )
        from runlab.models.pyfunc.spark_scoring import spark_udf

        udf = spark_udf(spark, model_uri, result_type=result_type, trusted=trust_model)
        scored = frame.withColumn(prediction_column, udf(_model_columns(udf, frame)))
        _write_atomically(scored, output_path)
    finally:
        if existing is None:  # a session this command started; never one the caller owns
            spark.stop()
    return output_path


def _read(spark: Any, path: Path, fmt: str) -> Any:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    reader = spark.read
    try:
        if fmt == "csv":
            return reader.option("header", True).option("inferSchema", True).csv(str(path))
        if fmt == "json":
            return reader.json(str(path))
        return reader.parquet(str(path))
    except (PySparkException, Py4JJavaError) as exc:
        raise click.ClickException(
            f"Spark cannot read {path} as {fmt}: {_first_line(exc)}"
        ) from None


def _model_columns(udf: Any, frame: Any) -> Any:
    """One struct of the columns the model takes: its signature's inputs, else every column."""
    from pyspark.sql.functions import col, struct

    schema = udf.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        names = [str(n) for n in schema.input_names()]
        required = set(schema.required_input_names())
        missing = [n for n in names if n in required and n not in frame.columns]
        if missing:
            raise click.ClickException(
                f"The input has no column {', '.join(map(repr, missing))}, which the model's "
                f"signature needs (it takes {', '.join(names)}; the input has "
                f"{', '.join(frame.columns)})."
            )
        names = [n for n in names if n in frame.columns]
    else:
        names = list(frame.columns)
    return struct(*(col(f"`{n}`") for n in names))


def _write_atomically(scored: Any, target: Path) -> None:
    """Write ``scored`` as Parquet into a hidden sibling of ``target``, then rename it."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        scored.write.parquet(str(partial))
        os.replace(partial, target)
    except (PySparkException, Py4JJavaError) as exc:
        raise click.ClickException(f"Scoring failed: {_first_line(exc)}") from None
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    """The part of a Spark error a user needs: the Python error's last line when there is one."""
    if isinstance(exc, RunlabError):
        return exc.message
    java = getattr(exc, "java_exception", None)  # a Py4JJavaError: Spark's own message
    text = str(java.getMessage() if java is not None else exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("runlab.", "ValueError", "TypeError", "KeyError")) or "Error:" in line:
            return line
    return lines[0] if lines else type(exc).__name__

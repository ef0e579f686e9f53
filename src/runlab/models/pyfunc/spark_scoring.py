"""``runlab.pyfunc.spark_udf``: score a Spark DataFrame with any pyfunc model.

The driver does everything that needs the tracking server, the registry or a decision:

1. it resolves the model URI (``runs:/``, ``models:/``, a path, a remote artifact URI) and
   downloads the model once;
2. it loads the model once, with the caller's trust decision, so that a pickled model nobody
   trusted fails here with :class:`runlab.models.trust.UntrustedModelError` (and a model that
   cannot load at all fails here too), and so that ``params`` are checked against the
   signature before any task starts;
3. it zips the model's folder and ships it with ``SparkContext.addFile``.

The executors then read only the shipped archive (``SparkFiles.get``): they never talk to the
tracking server or the registry. Each Python worker process loads the model once and keeps it
for every later batch and task (:mod:`runlab.models.pyfunc.spark_model_cache`).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlab.errors import InvalidParameter
from runlab.models.model import Model
from runlab.models.pyfunc.spark_model_cache import LoadEvents, ShippedModel, cached_model
from runlab.models.pyfunc.spark_requirements import import_pyspark

if TYPE_CHECKING:
    from runlab.models.pyfunc.spark_conversion import ResultShape

__all__ = ["SparkModelUDF", "spark_udf"]

#: Input bytes (as Arrow holds them) a row-independent model gets per predict call: big enough
#: that a model's fixed cost per call stops mattering (for scikit-learn, 10,000-row calls cost
#: about five times as much per row as 100,000-row ones), small enough to bound memory.
GROUP_BYTES = 8 << 20

# Output column types of a signature -> the Spark type a result of that column is sent as.
_SIGNATURE_TO_SPARK = {
    "double": "double",
    "float": "float",
    "long": "long",
    "integer": "int",
    "boolean": "boolean",
    "string": "string",
}


class SparkModelUDF:
    """What :func:`spark_udf` returns: call it with columns to get a prediction column.

    ``udf("a", "b")`` or ``udf(col("a"), col("b"))`` passes columns in the order of the model
    signature's inputs; ``udf(struct("a", "b"))`` passes one struct whose field names are the
    model's input columns; ``udf()`` uses the signature's input names.
    """

    def __init__(self, function: Any, metadata: Model, events: Any, result_type: Any) -> None:
        self._udf = function
        self._events = events
        self.metadata = metadata
        #: The Spark type of the column the UDF returns.
        self.result_type = result_type

    def __call__(self, *columns: Any) -> Any:
        """A Spark ``Column`` of predictions for ``columns`` (or the signature's inputs)."""
        if not columns:
            columns = tuple(self._signature_columns())
        return self._udf(*columns)

    @property
    def model_loads(self) -> list[tuple[str, int]]:
        """``(host, pid)`` of each time a Python worker loaded the model, so far.

        Read on the driver after an action; a worker that scores many batches and tasks
        appears once.
        """
        return list(self._events.value)

    def _signature_columns(self) -> list[str]:
        schema = self.metadata.get_input_schema()
        if schema is None:
            raise InvalidParameter(
                "The model has no signature, so the UDF cannot tell which columns to score: "
                "call it with columns, e.g. udf('a', 'b') or udf(struct('a', 'b'))."
            )
        names = schema.input_names()
        if not names or any(name is None for name in names):
            raise InvalidParameter(
                "The model's signature has unnamed inputs, so the UDF cannot tell which columns "
                "to score: call it with columns, in the order of the signature's inputs."
            )
        return [str(name) for name in names]


def spark_udf(
    spark: Any,
    model_uri: str | os.PathLike[str],
    result_type: Any = "double",
    env_manager: str | None = "local",
    params: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
    model_config: Mapping[str, Any] | None = None,
    *,
    trusted: bool = False,
) -> SparkModelUDF:
    """A Spark UDF that scores with the model ``model_uri`` names.

    ``result_type`` is a pyspark ``DataType`` or a DDL string: ``"double"`` (the default),
    ``"float"``, ``"int"``, ``"long"``, ``"string"``, ``"boolean"``, ``"array<double>"`` (and
    arrays of the others, or of arrays), or a struct such as ``"label string, score double"``
    for a model that returns several columns; None takes it from the signature's outputs.
    ``params`` go to every ``predict`` call, checked against the signature first.
    ``extra_env`` is set in the workers' environment while the model loads and predicts;
    ``model_config`` overrides the model's config as in :func:`runlab.pyfunc.load_model`.

    Only ``env_manager="local"`` is supported: workers use the Python environment they run in.
    A model whose files run code when loaded (a pickle) needs ``trusted=True`` or a trusted
    source (see :mod:`runlab.models.trust`); the decision is made here, on the driver.
    """
    import_pyspark()
    if env_manager not in (None, "local"):
        raise InvalidParameter(
            f"spark_udf supports only env_manager='local' (the workers' own Python environment), "
            f"got {env_manager!r}. Install the model's requirements on the cluster instead."
        )
    from runlab.models.model_location import fetch_model
    from runlab.models.pyfunc import load_local_model
    from runlab.models.schema_enforcement import enforce_params

    try:
        context = spark.sparkContext
        context.accumulator  # noqa: B018 - classic Spark only: Spark Connect has none
    except Exception:
        raise InvalidParameter(
            f"spark_udf needs a classic SparkSession (with a SparkContext), got "
            f"{type(spark).__name__}; Spark Connect sessions are not supported."
        ) from None
    # A result type that cannot work is refused before the model is fetched.
    spark_type, shape = _result_type(result_type) if result_type is not None else (None, None)
    with tempfile.TemporaryDirectory(prefix="runlab-spark-fetch-") as scratch:
        fetched = fetch_model(model_uri, scratch)
        if not (fetched.path / "MLmodel").is_file():
            raise InvalidParameter(
                f"{os.fspath(model_uri)!r} is not a model: {fetched.path} has no MLmodel file."
            )
        trust = fetched.trust(trusted)
        # The driver's load is the trust check (and proves the model loads here) before
        # anything is shipped; the executors get the decision, not the names it was made on.
        model = load_local_model(fetched.path, trust, model_config)
        metadata = model.metadata
        param_schema = metadata.signature.params if metadata.signature else None
        checked_params = enforce_params(params, param_schema) or None
        del model
        archive, content_id = _ship(context, fetched.path)
    if spark_type is None or shape is None:
        spark_type, shape = _result_type(_signature_result_type(metadata))
    shipped = ShippedModel(
        archive=archive,
        content_id=content_id,
        trusted=trust.allows(),
        model_config=dict(model_config) if model_config else None,
        extra_env=dict(extra_env or {}),
    )
    schema = metadata.get_input_schema()
    names = (
        [str(n) for n in schema.input_names()]
        if schema is not None and schema.has_input_names()
        else None
    )
    events = context.accumulator([], LoadEvents())
    time_zone = str(spark.conf.get("spark.sql.session.timeZone"))
    function = _spark_udf_function(
        shipped,
        shape,
        spark_type,
        names,
        checked_params,
        events,
        time_zone,
    )
    return SparkModelUDF(function, metadata, events, spark_type)


def _result_type(result_type: Any) -> tuple[Any, ResultShape]:
    """The Spark type ``result_type`` names (a DataType or DDL text) and its shape."""
    from pyspark.sql.types import DataType

    from runlab.models.pyfunc.spark_conversion import describe_result_type

    if isinstance(result_type, str):
        text = "boolean" if result_type.strip().lower() == "bool" else result_type  # MLflow's
        try:
            result_type = DataType.fromDDL(text)
        except Exception as err:  # pyspark's parse error: keep its first line
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise InvalidParameter(
                f"result_type {text!r} is not a Spark type ({reason}). Give a pyspark DataType "
                "or a DDL string such as 'double', 'array<double>' or 'label string, score double'."
            ) from None
    elif not isinstance(result_type, DataType):
        raise InvalidParameter(
            f"result_type must be a pyspark DataType or a DDL string, got {type(result_type).__name__}."
        )
    return result_type, describe_result_type(result_type)


def _signature_result_type(metadata: Model) -> str:
    """The result type the signature's outputs suggest, else ``double``."""
    outputs = metadata.get_output_schema()
    specs = list(outputs) if outputs is not None else []
    types = [_SIGNATURE_TO_SPARK.get(str(getattr(s, "type", ""))) for s in specs]
    if len(specs) == 1 and types[0]:
        return types[0]
    if len(specs) > 1 and all(types) and all(getattr(s, "name", None) for s in specs):
        return ", ".join(f"`{s.name}` {t}" for s, t in zip(specs, types, strict=True))
    return "double"


def _spark_udf_function(
    shipped: ShippedModel,
    shape: ResultShape,
    spark_type: Any,
    names: list[str] | None,
    params: dict[str, Any] | None,
    events: Any,
    time_zone: str,
) -> Any:
    """The iterator-of-batches UDF: one model lookup per task, then batch after batch.

    An Arrow UDF where pyspark has them (4.1 and later): the features then go from Spark's
    Arrow buffers to the model without a pandas Series per column. A pandas UDF otherwise.
    """
    from typing import Tuple, Union  # noqa: UP035 - pyspark reads these hints at run time

    import pandas as pd
    from pyspark.sql import functions

    from runlab.models.pyfunc.spark_conversion import model_input, to_spark_result

    arrow_udf = getattr(functions, "arrow_udf", None)
    if arrow_udf is not None:
        import pyarrow as pa

        from runlab.models.pyfunc.spark_arrow import arrow_model_input, batch_bytes, to_arrow

        def predict_arrow(batches: Any) -> Any:
            with _environment(shipped.extra_env):
                model = cached_model(shipped, events)
                # Spark hands over its batches (4,096 rows from Parquet, at most
                # maxRecordsPerBatch); a model whose rows are independent is called once per
                # GROUP_BYTES of input instead (about 100,000 rows of 10 float features), so its
                # fixed cost per call (input checks, the framework's own validation) is paid
                # fewer times while memory stays bounded however wide the rows are. Others get
                # Spark's batches as they come.
                target = GROUP_BYTES if model.rows_are_independent else 1
                pending: list[Any] = []
                size = 0
                for batch in batches:
                    pending.append(batch)
                    size += batch_bytes(batch)
                    if size >= target:
                        yield from score(model, pending)
                        pending, size = [], 0
                if pending:
                    yield from score(model, pending)

        def score(model: Any, pending: list[Any]) -> Any:
            frame = arrow_model_input(pending, names, time_zone)
            if len(frame):
                data, _ = model.check_input(frame)
                result = to_spark_result(model.predict_checked(data, params), shape, len(frame))
                yield to_arrow(result, shape)

        # pyspark picks the UDF kind from these hints, so they must be objects, not strings.
        predict_arrow.__annotations__ = {
            "batches": Iterator[Tuple[pa.Array, ...]],  # noqa: UP006
            "return": Iterator[pa.Array],
        }
        return arrow_udf(predict_arrow, returnType=spark_type)

    def predict_pandas(batches: Any) -> Any:
        with _environment(shipped.extra_env):
            model = cached_model(shipped, events)
            for batch in batches:
                frame = model_input(batch, names)
                if not len(frame):
                    continue
                data, _ = model.check_input(frame)
                yield to_spark_result(model.predict_checked(data, params), shape, len(frame))

    returns = Iterator[pd.DataFrame] if shape.kind == "struct" else Iterator[pd.Series]
    predict_pandas.__annotations__ = {
        "batches": Iterator[Tuple[Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP006, UP007
        "return": returns,
    }
    return functions.pandas_udf(predict_pandas, returnType=spark_type)


@contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` set in ``os.environ`` for the block, then the previous values back."""
    if not extra:
        yield
        return
    before = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- shipping -------------------------------------------------------------------------------------
_ship_lock = threading.Lock()
_ship_dir: Path | None = None
_shipped: dict[tuple[str, str], str] = {}


def _ship(context: Any, folder: Path) -> tuple[str, str]:
    """Zip ``folder`` and ``addFile`` it once per Spark application: ``(file name, content id)``.

    The archive is named by a digest of the files, so the same model is shipped once however
    many UDFs use it, and a changed model never collides with an old archive's name.
    """
    global _ship_dir
    with _ship_lock:
        if _ship_dir is None:
            _ship_dir = Path(tempfile.mkdtemp(prefix="runlab-spark-models-"))
            atexit.register(shutil.rmtree, _ship_dir, True)
        scratch = _ship_dir / f".partial-{os.getpid()}-{threading.get_ident()}.zip"
        content_id = _zip_folder(folder, scratch)
        name = f"runlab-model-{content_id}.zip"
        archive = _ship_dir / name
        os.replace(scratch, archive)
        key = (str(context.applicationId), content_id)
        if key not in _shipped:
            context.addFile(str(archive))
            _shipped[key] = name
    return name, content_id


def _zip_folder(folder: Path, archive: Path) -> str:
    """Write ``folder``'s files into ``archive``; the digest of their paths and bytes."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            digest.update(relative.encode() + b"\0")
            with path.open("rb") as source, out.open(relative, "w", force_zip64=True) as target:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                    target.write(chunk)
            digest.update(b"\0")
    return digest.hexdigest()[:24]

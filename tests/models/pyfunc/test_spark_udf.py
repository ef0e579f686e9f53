"""runlab.pyfunc.spark_udf on real PySpark (local[2]) with scikit-learn and custom models.

All Spark tests share one SparkSession per test process (the JVM takes seconds to start): the
``spark`` fixture of tests/conftest.py, and one xdist group with the ``--spark`` command tests. The conversions without Spark are in test_spark_conversion.py, the
missing-pyspark and missing-Java paths in test_spark_requirements.py.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.models import ModelSignature, ParamSchema, ParamSpec, SchemaEnforcementError
from runlab.models.schema import ColSpec, Schema
from runlab.models.trust import UntrustedModelError

pd = pytest.importorskip("pandas")
pytest.importorskip("pyspark")
sklearn_linear = pytest.importorskip("sklearn.linear_model")

from pyspark.errors import PythonException  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from runlab.models.pyfunc.spark_requirements import java_executable  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(java_executable() is None, reason="Spark needs Java 17+"),
    # pyspark 4 warns that it does not fully support pandas 3 on every pandas UDF it builds.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.xdist_group("spark"),
]

# The custom models below are defined in this test module, which Spark's workers cannot import:
# pickle them by value, as a model saved from a notebook would be.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def features() -> Any:
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.standard_normal((400, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory, features: Any) -> tuple[Path, Any]:
    """A LogisticRegression saved with its signature (skops: no trust needed)."""
    labels = (features["a"] + features["b"] > 0).astype("int64")
    estimator = sklearn_linear.LogisticRegression().fit(features, labels)
    folder = tmp_path_factory.mktemp("spark-models") / "logreg"
    signature = runlab.models.infer_signature(features, estimator.predict(features))
    runlab.sklearn.save_model(estimator, folder, signature=signature)
    return folder, estimator


class Outputs(runlab.pyfunc.PythonModel):
    """Returns columns of several types, so each result type picks a different one."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        x = model_input["x"].to_numpy()
        return pd.DataFrame(
            {
                "score": x * 0.5,
                "big": (x * 1_000_000_000_000).astype("int64"),
                "small": x.astype("int32"),
                "flag": x > 2,
                "label": np.where(x > 2, "high", "low").astype(object),
            }
        )


class Positional(runlab.pyfunc.PythonModel):
    """Without a signature, columns passed to the UDF are named "0", "1", …"""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input["0"] + 10 * model_input["1"]


class Offset(runlab.pyfunc.PythonModel):
    """Adds the ``offset`` parameter to ``x``."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input["x"] + (params or {})["offset"]


class CallCounter(runlab.pyfunc.PythonModel):
    """Reports the worker process and how many batches this loaded instance has scored."""

    def load_context(self, context: Any) -> None:
        self.calls = 0

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        self.calls += 1
        rows = len(model_input)
        return pd.DataFrame({"pid": [os.getpid()] * rows, "calls": [self.calls] * rows})


class EnvReader(runlab.pyfunc.PythonModel):
    """Reports a variable of the worker's environment, read while predicting."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return [os.environ.get("SPARK_UDF_TEST_SETTING", "unset")] * len(model_input)


def _save_custom(folder: Path, model: Any, signature: ModelSignature | None = None) -> Path:
    runlab.pyfunc.save_model(folder, python_model=model, signature=signature)
    return folder


def _x_signature(params: ParamSchema | None = None) -> ModelSignature:
    return ModelSignature(inputs=Schema([ColSpec("double", "x")]), params=params)


def _x_frame(spark: Any, values: list[float]) -> Any:
    return spark.createDataFrame(pd.DataFrame({"x": values}))


# -- calling the UDF ------------------------------------------------------------------------------
def test_columns_struct_and_signature_names_score_like_the_model(
    spark: Any, features: Any, sklearn_model: tuple[Path, Any]
) -> None:
    folder, estimator = sklearn_model
    udf = runlab.pyfunc.spark_udf(spark, str(folder))
    frame = spark.createDataFrame(features)
    scored = frame.select(
        udf("a", "b", "c").alias("by_name"),
        udf(F.col("a"), F.col("b"), F.col("c")).alias("by_column"),
        udf(F.struct("c", "a", "b")).alias("by_struct"),  # a struct is matched by field name
        udf().alias("by_signature"),
    )
    columns = list(zip(*scored.collect(), strict=True))
    expected = estimator.predict(features).astype("float64")
    assert len(columns) == 4
    for column in columns:
        np.testing.assert_array_equal(np.array(column), expected)
    assert expected.min() == 0 and expected.max() == 1  # both classes occur
    assert udf.result_type == T.DoubleType()


def test_small_batches_of_a_row_independent_model_are_scored_together_in_order(
    spark: Any, sklearn_model: tuple[Path, Any]
) -> None:
    folder, estimator = sklearn_model
    rng = np.random.default_rng(11)
    features = pd.DataFrame(rng.standard_normal((3000, 3)), columns=["a", "b", "c"])
    udf = runlab.pyfunc.spark_udf(spark, str(folder))
    frame = spark.createDataFrame(features.assign(i=range(3000))).repartition(2, "i")
    # Spark sends 50-row batches; the UDF joins them into one block per predict call.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
    try:
        rows = frame.select("i", udf("a", "b", "c").alias("p")).collect()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    got = dict((row.i, row.p) for row in rows)
    expected = estimator.predict(features)
    assert len(got) == 3000
    assert [got[i] for i in range(3000)] == expected.astype("float64").tolist()


def test_a_model_without_signature_takes_positional_columns_and_refuses_no_arguments(
    spark: Any, tmp_path: Path
) -> None:
    folder = _save_custom(tmp_path / "positional", Positional())
    udf = runlab.pyfunc.spark_udf(spark, str(folder), trusted=True)
    frame = spark.createDataFrame(pd.DataFrame({"p": [1.0, 2.0], "q": [3.0, 4.0]}))
    assert [r[0] for r in frame.select(udf("p", "q")).collect()] == [31.0, 42.0]
    with pytest.raises(InvalidParameter, match="no signature"):
        udf()


def test_more_columns_than_the_signature_has_is_a_clear_error(
    spark: Any, features: Any, sklearn_model: tuple[Path, Any]
) -> None:
    udf = runlab.pyfunc.spark_udf(spark, str(sklearn_model[0]))
    frame = spark.createDataFrame(features.assign(d=1.0))
    with pytest.raises(PythonException, match=r"called with 4 columns.*3 inputs"):
        frame.select(udf("a", "b", "c", "d")).collect()


# -- result types ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("result_type", "spark_type", "expected"),
    [
        ("double", T.DoubleType(), [0.5, 1.5]),
        (T.DoubleType(), T.DoubleType(), [0.5, 1.5]),
        ("float", T.FloatType(), [0.5, 1.5]),
        (T.FloatType(), T.FloatType(), [0.5, 1.5]),
        ("long", T.LongType(), [1_000_000_000_000, 3_000_000_000_000]),
        (T.LongType(), T.LongType(), [1_000_000_000_000, 3_000_000_000_000]),
        ("int", T.IntegerType(), [1, 3]),
        (T.IntegerType(), T.IntegerType(), [1, 3]),
        ("boolean", T.BooleanType(), [False, True]),
        ("bool", T.BooleanType(), [False, True]),
        (T.BooleanType(), T.BooleanType(), [False, True]),
        ("string", T.StringType(), ["0.5", "1.5"]),
        (T.StringType(), T.StringType(), ["0.5", "1.5"]),
        ("array<double>", T.ArrayType(T.DoubleType()), [[0.5, 1e12, 1.0], [1.5, 3e12, 3.0]]),
        ("array<long>", T.ArrayType(T.LongType()), [[10**12, 1], [3 * 10**12, 3]]),
        (
            T.ArrayType(T.StringType()),
            T.ArrayType(T.StringType()),
            [
                ["0.5", "1000000000000", "1", "False", "low"],
                ["1.5", "3000000000000", "3", "True", "high"],
            ],
        ),
        (
            "label string, score double, flag boolean",
            T.StructType(
                [
                    T.StructField("label", T.StringType()),
                    T.StructField("score", T.DoubleType()),
                    T.StructField("flag", T.BooleanType()),
                ]
            ),
            [("low", 0.5, False), ("high", 1.5, True)],
        ),
    ],
)
def test_each_result_type_takes_the_output_it_fits(
    spark: Any, tmp_path: Path, result_type: Any, spark_type: Any, expected: list[Any]
) -> None:
    folder = _save_custom(tmp_path / "outputs", Outputs(), _x_signature())
    udf = runlab.pyfunc.spark_udf(spark, str(folder), result_type=result_type, trusted=True)
    scored = _x_frame(spark, [1.0, 3.0]).select(udf("x").alias("p"))
    assert scored.schema["p"].dataType == spark_type
    got = [row.p for row in scored.collect()]
    if isinstance(spark_type, T.StructType):
        got = [tuple(value) for value in got]
    assert got == expected


def test_nested_array_result(spark: Any, tmp_path: Path) -> None:
    class Pairs(runlab.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [[[x, x + 1.0], [x * 2.0]] for x in model_input["x"]]

    folder = _save_custom(tmp_path / "pairs", Pairs(), _x_signature())
    udf = runlab.pyfunc.spark_udf(
        spark, str(folder), result_type="array<array<double>>", trusted=True
    )
    rows = _x_frame(spark, [1.0, 2.0]).select(udf("x").alias("p")).collect()
    assert [row.p for row in rows] == [[[1.0, 2.0], [2.0]], [[2.0, 3.0], [4.0]]]


def test_a_result_type_the_output_cannot_fill_fails_with_what_it_has(
    spark: Any, tmp_path: Path
) -> None:
    folder = _save_custom(tmp_path / "outputs", Outputs(), _x_signature())
    frame = _x_frame(spark, [1.0])
    missing = runlab.pyfunc.spark_udf(
        spark, str(folder), result_type="label string, margin double", trusted=True
    )
    with pytest.raises(PythonException, match=r"no column of that name.*score, big, small"):
        frame.select(missing("x")).collect()


def test_unsupported_result_types_and_environment_managers_are_refused_on_the_driver(
    spark: Any, sklearn_model: tuple[Path, Any], tmp_path: Path
) -> None:
    folder = str(sklearn_model[0])
    with pytest.raises(InvalidParameter, match=r"is not a model: .* has no MLmodel file"):
        runlab.pyfunc.spark_udf(spark, str(tmp_path))
    with pytest.raises(InvalidParameter, match="cannot return map<string,double>"):
        runlab.pyfunc.spark_udf(spark, folder, result_type="map<string, double>")
    with pytest.raises(InvalidParameter, match="cannot return date"):
        runlab.pyfunc.spark_udf(spark, folder, result_type=T.DateType())
    with pytest.raises(InvalidParameter, match="only env_manager='local'"):
        runlab.pyfunc.spark_udf(spark, folder, env_manager="virtualenv")
    with pytest.raises(InvalidParameter, match="'doubel' is not a Spark type"):
        runlab.pyfunc.spark_udf(spark, folder, result_type="doubel")
    with pytest.raises(InvalidParameter, match="DataType or a DDL string, got int"):
        runlab.pyfunc.spark_udf(spark, folder, result_type=7)
    with pytest.raises(InvalidParameter, match=r"needs a classic SparkSession .*got object"):
        runlab.pyfunc.spark_udf(object(), folder)
    # The type is checked before the model is looked for.
    with pytest.raises(InvalidParameter, match="cannot return date"):
        runlab.pyfunc.spark_udf(spark, "/no/such/model", result_type="date")


def test_without_a_result_type_the_signature_outputs_decide(spark: Any, tmp_path: Path) -> None:
    outputs = Schema([ColSpec("string", "label"), ColSpec("double", "score")])
    signature = ModelSignature(inputs=Schema([ColSpec("double", "x")]), outputs=outputs)
    folder = _save_custom(tmp_path / "outputs", Outputs(), signature)
    udf = runlab.pyfunc.spark_udf(spark, str(folder), result_type=None, trusted=True)
    assert udf.result_type == T.StructType(
        [T.StructField("label", T.StringType()), T.StructField("score", T.DoubleType())]
    )
    rows = _x_frame(spark, [3.0]).select(udf("x").alias("p")).collect()
    assert tuple(rows[0].p) == ("high", 1.5)


def test_extra_env_is_set_in_the_workers_while_predicting(spark: Any, tmp_path: Path) -> None:
    folder = _save_custom(tmp_path / "env", EnvReader(), _x_signature())
    udf = runlab.pyfunc.spark_udf(
        spark,
        str(folder),
        result_type="string",
        extra_env={"SPARK_UDF_TEST_SETTING": "from-driver"},
        trusted=True,
    )
    plain = runlab.pyfunc.spark_udf(spark, str(folder), result_type="string", trusted=True)
    frame = _x_frame(spark, [1.0, 2.0])
    assert [r[0] for r in frame.select(udf("x")).collect()] == ["from-driver"] * 2
    # Set only around that UDF's work: the same workers then score without it.
    assert [r[0] for r in frame.select(plain("x")).collect()] == ["unset"] * 2


# -- params, trust, model URIs --------------------------------------------------------------------
def test_params_reach_predict_and_are_checked_on_the_driver(spark: Any, tmp_path: Path) -> None:
    signature = _x_signature(ParamSchema([ParamSpec("offset", "double", 0.0)]))
    folder = _save_custom(tmp_path / "offset", Offset(), signature)
    frame = _x_frame(spark, [1.0, 2.0])
    udf = runlab.pyfunc.spark_udf(spark, str(folder), params={"offset": 5.0}, trusted=True)
    assert [r[0] for r in frame.select(udf("x")).collect()] == [6.0, 7.0]
    default = runlab.pyfunc.spark_udf(spark, str(folder), trusted=True)
    assert [r[0] for r in frame.select(default("x")).collect()] == [1.0, 2.0]
    with pytest.raises(SchemaEnforcementError, match="offset"):
        runlab.pyfunc.spark_udf(spark, str(folder), params={"offset": "far"}, trusted=True)


def test_an_untrusted_pickled_model_fails_on_the_driver(spark: Any, tmp_path: Path) -> None:
    folder = _save_custom(tmp_path / "positional", Positional())
    jobs_before = spark.sparkContext.statusTracker().getJobIdsForGroup()
    with pytest.raises(UntrustedModelError, match=r"python_model\.pkl"):
        runlab.pyfunc.spark_udf(spark, str(folder))
    # Refused before anything ran on Spark.
    assert spark.sparkContext.statusTracker().getJobIdsForGroup() == jobs_before


def test_models_uri_resolves_on_the_driver_and_executors_need_no_store(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.chdir(store)  # the default artifact root (./mlruns) lands inside the store
    runlab.set_tracking_uri(f"sqlite:///{store / 'tracking.db'}")
    with runlab.start_run():
        runlab.pyfunc.log_model(
            "model",
            python_model=Offset(),
            signature=_x_signature(ParamSchema([ParamSpec("offset", "double", 1.0)])),
            registered_model_name="spark-offset",
        )
    udf = runlab.pyfunc.spark_udf(spark, "models:/spark-offset/1", trusted=True)
    # The store, the registry and the model's artifacts are gone, and the tracking URI points
    # nowhere: the executors score from what the driver shipped.
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(store)
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}")
    monkeypatch.setenv("RUNLAB_TRACKING_URI", "http://127.0.0.1:9")
    rows = _x_frame(spark, [1.0, 2.0, 3.0]).select(udf("x")).collect()
    assert [r[0] for r in rows] == [2.0, 3.0, 4.0]


# -- loading once per worker ----------------------------------------------------------------------
def test_the_model_loads_once_per_python_worker_not_per_batch(spark: Any, tmp_path: Path) -> None:
    folder = _save_custom(tmp_path / "counter", CallCounter(), _x_signature())
    udf = runlab.pyfunc.spark_udf(
        spark, str(folder), result_type="pid long, calls long", trusted=True
    )
    frame = _x_frame(spark, [float(i) for i in range(4000)]).repartition(8)
    previous = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    try:
        first = frame.select(udf("x").alias("p")).select("p.*").collect()
        second = frame.select(udf("x").alias("p")).select("p.*").collect()
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", previous)
    both = pd.DataFrame([row.asDict() for row in first + second])
    # Each worker's one loaded instance counted every batch it scored, across tasks and jobs.
    batches = int(both.groupby("pid")["calls"].max().sum())
    assert batches >= 80  # 4000 rows in batches of at most 100, twice
    loads = udf.model_loads
    workers = set(both["pid"])
    assert sorted(pid for _, pid in loads) == sorted(workers)  # one load per worker process
    assert len(loads) <= 2 < batches  # local[2]: at most two Python workers at a time

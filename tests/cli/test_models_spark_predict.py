"""``runlab models predict --spark``: Spark reads the input, spark_udf scores it, a Parquet folder
with the prediction column comes out (only when every row was scored).

The commands run in-process on the test process's local[2] SparkSession (the ``spark`` fixture of
tests/conftest.py), which the command reuses (and leaves running, as it does for any session it
did not start).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import runlab
import runlab.sklearn as runlab_sklearn
from runlab import set_tracking_uri, start_run
from runlab.models import infer_signature

pd = pytest.importorskip("pandas")
pytest.importorskip("pyspark")
sklearn_linear = pytest.importorskip("sklearn.linear_model")

from runlab.models.pyfunc.spark_requirements import java_executable  # noqa: E402

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(java_executable() is None, reason="Spark needs Java 17+"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.xdist_group("spark"),
]
SPARK = ("--spark", "--spark-master", "local[2]")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """A LogisticRegression over a, b, c with its signature, and the frame it was fitted on."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.standard_normal((300, 3)), columns=["a", "b", "c"])
    estimator = sklearn_linear.LogisticRegression().fit(frame, (frame["a"] > 0).astype("int64"))
    folder = tmp_path_factory.mktemp("cli-spark") / "model"
    signature = runlab.models.infer_signature(frame, estimator.predict(frame))
    runlab.sklearn.save_model(estimator, folder, signature=signature)
    return folder, estimator, frame


def _predict(runlab_cli: Runner, model: Path | str, source: Path, target: Path, *extra: str) -> Any:
    return runlab_cli(
        "models", "predict", "-m", str(model), "-i", str(source), "-o", str(target), *SPARK, *extra
    )


def _only(folder: Path, *names: str) -> None:
    """Nothing but ``names`` in ``folder``: no output, and no hidden partial folder either."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize("kind", ["parquet-folder", "parquet-file", "csv", "json-lines"])
def test_spark_predict_adds_a_prediction_column(
    spark: Any, runlab: Runner, model: tuple[Path, Any, Any], tmp_path: Path, kind: str
) -> None:
    folder, estimator, frame = model
    extra: tuple[str, ...] = ()
    if kind == "parquet-folder":
        source = tmp_path / "features"
        spark.createDataFrame(frame).repartition(3).write.parquet(str(source))
    elif kind == "parquet-file":
        source = tmp_path / "features.parquet"
        frame.to_parquet(source)
    elif kind == "csv":
        source = tmp_path / "features.data"
        frame.to_csv(source, index=False)
        extra = ("-t", "csv")  # a name without a known extension needs the format
    else:
        source = tmp_path / "features.json"
        frame.to_json(source, orient="records", lines=True)
    target = tmp_path / "scored"
    result = _predict(runlab, folder, source, target, *extra)
    assert result.exit_code == 0, result.output
    assert f"Wrote predictions to {target}" in result.output
    scored = pd.read_parquet(target).sort_values("a").reset_index(drop=True)
    expected = frame.sort_values("a").reset_index(drop=True)
    assert list(scored.columns) == ["a", "b", "c", "prediction"]
    # CSV text keeps about 16 digits; the model sees exactly what Spark read.
    np.testing.assert_allclose(scored[["a", "b", "c"]].to_numpy(), expected.to_numpy(), rtol=1e-5)
    features = scored[["a", "b", "c"]]
    np.testing.assert_array_equal(
        scored["prediction"].to_numpy(), estimator.predict(features).astype("float64")
    )
    _only(tmp_path, source.name, "scored")


def test_spark_predict_resolves_a_registered_model_and_takes_a_result_type(
    spark: Any, runlab: Runner, model: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    _, estimator, frame = model
    set_tracking_uri(runlab.uri)
    with start_run():
        runlab_sklearn.log_model(
            estimator,
            name="model",
            registered_model_name="churn",
            signature=infer_signature(frame, estimator.predict(frame)),
        )
    set_tracking_uri(None)
    source = tmp_path / "features.parquet"
    frame.to_parquet(source)
    target = tmp_path / "scored"
    # The Runner passes --tracking-uri: the command resolves models:/ through that store.
    result = _predict(runlab, "models:/churn/1", source, target, "--result-type", "long")
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(target)
    assert scored["prediction"].dtype == np.int64
    np.testing.assert_array_equal(
        scored["prediction"].to_numpy(), estimator.predict(scored[["a", "b", "c"]])
    )


class Pickled(runlab.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input["a"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing-input", "does not exist"),
        ("output-exists", "already exists; --spark writes a new Parquet folder"),
        ("no-output", "give it with --output-path/-o"),
        ("unknown-extension", "Cannot tell the format"),
        ("not-parquet", "Spark cannot read"),
        ("missing-column", "The input has no column 'c', which the model's signature needs"),
        ("prediction-taken", "already has a column named 'prediction'"),
        ("output-format", "--spark writes Parquet; drop --output-format"),
        ("chunk-size", "--chunk-size does not apply to --spark"),
        ("untrusted", "cloudpickle format"),
        ("bad-result-type", "cannot return map<string,double>"),
    ],
)
def test_spark_predict_bad_input_writes_nothing(
    spark: Any,
    runlab: Runner,
    model: tuple[Path, Any, Any],
    tmp_path: Path,
    case: str,
    reason: str,
) -> None:
    folder, _, frame = model
    source, target = tmp_path / "features.parquet", tmp_path / "scored"
    frame.to_parquet(source)
    extra: tuple[str, ...] = ()
    kept = [source.name]
    if case == "missing-input":
        source.unlink()
        kept = []
    elif case == "output-exists":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
        kept.append(target.name)
    elif case == "unknown-extension":
        source = source.rename(tmp_path / "features.data")
        kept = [source.name]
    elif case == "not-parquet":
        source.write_text("not parquet")
    elif case == "missing-column":
        frame.drop(columns=["c"]).to_parquet(source)
    elif case == "prediction-taken":
        frame.assign(prediction=1.0).to_parquet(source)
    elif case == "output-format":
        extra = ("--output-format", "csv")
    elif case == "chunk-size":
        extra = ("--chunk-size", "10")
    elif case == "untrusted":
        folder = tmp_path / "pickled"
        runlab_module_save(folder)
        kept.append(folder.name)
    elif case == "bad-result-type":
        extra = ("--result-type", "map<string,double>")
    argv = ["models", "predict", "-m", str(folder), "-i", str(source), *SPARK, *extra]
    if case != "no-output":
        argv += ["-o", str(target)]
    result = runlab(*argv)
    assert result.exit_code != 0
    assert reason in result.output
    _only(tmp_path, *kept)
    if case == "output-exists":
        assert [p.name for p in target.iterdir()] == ["keep.txt"]


def runlab_module_save(folder: Path) -> None:
    """A custom model: a cloudpickle, refused without --trust-model."""
    runlab.pyfunc.save_model(folder, python_model=Pickled())


def test_predict_without_spark_refuses_folders(
    runlab: Runner, model: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    source = tmp_path / "features"
    source.mkdir()
    result = runlab("models", "predict", "-m", str(model[0]), "-i", str(source))
    assert result.exit_code != 0
    assert (
        "is a folder; predict reads and writes files (a folder of Parquet files needs --spark)"
        in (result.output)
    )


# -- the machine lacks something (a child process each; no Spark starts) --------------------------
def _cli(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "features.json"
    source.write_text('{"a": 1.0, "b": 2.0, "c": 3.0}\n')
    argv = [sys.executable, "-m", "runlab.cli", "models", "predict", "-m", str(tmp_path)]
    argv += ["-i", str(source), "-o", str(tmp_path / "scored"), "--spark"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_spark_predict_without_java_says_what_spark_needs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it (the interpreter is named by its full path)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = _cli(tmp_path, env)
    assert proc.returncode == 1, proc.stderr
    assert "Spark needs Java 17 or newer, and none was found" in proc.stderr
    assert not (tmp_path / "scored").exists()


def test_spark_predict_without_pyspark_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import sys

            class _NoPyspark:
                def find_spec(self, name, path=None, target=None):
                    if name == "pyspark" or name.startswith("pyspark."):
                        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                    return None

            sys.meta_path.insert(0, _NoPyspark())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), *sys.path])}
    proc = _cli(tmp_path, env)
    assert proc.returncode == 1, proc.stderr
    assert "needs pyspark, which is not installed: pip install 'runlab[spark]'" in proc.stderr
    assert not (tmp_path / "scored").exists()

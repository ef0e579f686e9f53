"""``runlab models evaluate`` against a real SQLite store: metrics printed and logged, JSON output,
thresholds (passing, failing with exit code 1), a baseline, data formats, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from runlab.tracking.client import Client

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame["label"] = ((frame.a + frame.b) > 0).astype(int)
    return frame


def _log_model(uri: str, estimator: Any) -> str:
    """Log ``estimator`` to a new run of the store at ``uri``; its runs:/ URI."""
    import runlab

    runlab.set_tracking_uri(uri)
    try:
        with runlab.start_run():
            return runlab.sklearn.log_model(estimator, name="model").model_uri
    finally:
        runlab.set_tracking_uri(None)


@pytest.fixture
def classifier(runlab: Runner) -> tuple[str, pd.DataFrame]:
    """A logistic regression logged to the CLI's store, and its data."""
    from sklearn.linear_model import LogisticRegression

    frame = _frame()
    model = LogisticRegression().fit(frame[["a", "b", "c"]], frame["label"])
    return _log_model(runlab.uri, model), frame


def _evaluation_runs(uri: str, model_uri: str) -> list[Any]:
    client = Client(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [
        run
        for run in client.search_runs(experiments)
        if run.data.tags.get("runlab.evaluation.model") == model_uri
    ]


def test_evaluate_prints_and_logs_the_metrics(
    runlab: Runner, classifier: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    model_uri, frame = classifier
    data = tmp_path / "holdout.csv"
    frame.to_csv(data, index=False)
    out = runlab.ok(
        "models", "evaluate", "-m", model_uri, "--data", str(data), "--targets", "label",
        "--model-type", "classifier",
    )  # fmt: skip
    (run,) = _evaluation_runs(runlab.uri, model_uri)
    assert f"Run: {run.info.run_id}" in out
    assert "accuracy_score" in out and "roc_auc" in out
    assert "roc_curve_plot" in out  # the artifacts line
    assert run.info.status == "FINISHED"
    assert {"accuracy_score", "f1_score", "roc_auc", "log_loss"} <= set(run.data.metrics)
    (dataset_input,) = run.inputs.dataset_inputs
    assert str(data) in dataset_input.dataset.source  # the file is the dataset's source


def test_json_output_thresholds_pass_and_parquet(
    runlab: Runner, classifier: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    model_uri, frame = classifier
    data = tmp_path / "holdout.parquet"
    frame.to_parquet(data)
    result = runlab.json(
        "models", "evaluate", "-m", model_uri, "--data", str(data), "--targets", "label",
        "--model-type", "classifier", "--threshold", "accuracy_score>=0.5",
        "--threshold", "log_loss=1.0", "--experiment-name", "checks",
    )  # fmt: skip
    assert result["validation"] == {"passed": True, "failures": []}
    assert result["metrics"]["example_count"] == 40
    assert result["artifacts"]["confusion_matrix"].endswith("/confusion_matrix.png")
    run = Client(runlab.uri).get_run(result["run_id"])
    experiment = Client(runlab.uri).get_experiment_by_name("checks")
    assert experiment is not None and run.info.experiment_id == experiment.experiment_id
    assert run.data.metrics["accuracy_score"] == pytest.approx(result["metrics"]["accuracy_score"])


def test_a_failed_threshold_exits_1_after_printing_the_metrics(
    runlab: Runner, classifier: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    model_uri, frame = classifier
    data = tmp_path / "holdout.jsonl"
    frame.to_json(data, orient="records", lines=True)
    result = runlab(
        "models", "evaluate", "-m", model_uri, "--data", str(data), "--targets", "label",
        "--model-type", "classifier", "--threshold", "accuracy_score>=0.999",
        "--threshold", "log_loss<=0.0001", "--threshold", "f1_score>=0.1",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "accuracy_score" in result.stdout  # the metrics came first
    assert "Model validation failed:" in result.stderr
    assert "accuracy_score: candidate" in result.stderr and "threshold 0.999" in result.stderr
    assert "log_loss: candidate" in result.stderr and "threshold 0.0001" in result.stderr
    assert "f1_score" not in result.stderr  # it passed
    (run,) = _evaluation_runs(runlab.uri, model_uri)
    assert run.info.status == "FINISHED" and "accuracy_score" in run.data.metrics


def test_baseline_and_run_id(
    runlab: Runner, classifier: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    from sklearn.dummy import DummyClassifier

    model_uri, frame = classifier
    baseline_uri = _log_model(
        runlab.uri, DummyClassifier().fit(frame[["a", "b", "c"]], frame["label"])
    )
    data = tmp_path / "holdout.csv"
    frame.to_csv(data, index=False)
    client = Client(runlab.uri)
    target = client.create_run(client.get_experiment_by_name("Default").experiment_id)  # type: ignore[union-attr]
    result = runlab.json(
        "models", "evaluate", "-m", model_uri, "--data", str(data), "--targets", "label",
        "--model-type", "classifier", "--baseline", baseline_uri, "--run-id", target.info.run_id,
    )  # fmt: skip
    assert result["run_id"] == target.info.run_id
    assert result["baseline_metrics"]["accuracy_score"] < result["metrics"]["accuracy_score"]
    run = client.get_run(target.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["accuracy_score"] == pytest.approx(result["metrics"]["accuracy_score"])


@pytest.mark.parametrize(
    ("extra", "message", "exit_code"),
    [
        (["--threshold", "accuracy_score>high"], "is not METRIC>=VALUE", 2),
        (["--threshold", "custom=0.5"], "which way is better for 'custom' is not known", 2),
        (["--threshold", "accuracy_score>=x"], "'x' in 'accuracy_score>=x' is not a number", 2),
        (["--targets", "y"], "The targets column 'y' (targets='y') is not in data", 1),
        (["--threshold", "acc>=0.5"], "names metric 'acc', which the candidate model's", 1),
        (["--experiment-name", "e", "--run-id", "r"], "not both", 2),
    ],
)
def test_bad_input_leaves_no_run(
    runlab: Runner,
    classifier: tuple[str, pd.DataFrame],
    tmp_path: Path,
    extra: list[str],
    message: str,
    exit_code: int,
) -> None:
    model_uri, frame = classifier
    data = tmp_path / "holdout.csv"
    frame.to_csv(data, index=False)
    args = ["--data", str(data), "--model-type", "classifier", "-m", model_uri]
    if "--targets" not in extra:
        args += ["--targets", "label"]
    result = runlab("models", "evaluate", *args, *extra)
    assert result.exit_code == exit_code
    assert message in result.output
    assert _evaluation_runs(runlab.uri, model_uri) == []
    assert len(Client(runlab.uri).search_runs(["0"])) == 1  # only the model's own run


def test_an_unknown_file_type_is_refused(runlab: Runner, tmp_path: Path) -> None:
    data = tmp_path / "holdout.xlsx"
    data.write_text("not a table")
    result = runlab(
        "models", "evaluate", "-m", "runs:/x/model", "--data", str(data), "--targets", "label",
        "--model-type", "regressor",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "use a .csv, .parquet or .jsonl (JSON lines) file" in result.output

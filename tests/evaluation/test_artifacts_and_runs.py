"""What an evaluation leaves in the run: its artifact files (loadable, repeatable), the results
table, the run's end state when logging fails, and an import that loads no heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

import runlab
from runlab.errors import InvalidParameter


def test_artifacts_are_in_the_run_and_load(
    client: runlab.MlflowClient, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    result = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    files = {info.path for info in client.list_artifacts(result.run_id)}
    assert files == {
        "calibration_curve_plot.png",
        "confusion_matrix.png",
        "eval_results_table.json",
        "lift_curve_plot.png",
        "precision_recall_curve_plot.png",
        "roc_curve_plot.png",
    }
    root = client.get_run(result.run_id).info.artifact_uri
    for name, artifact in result.artifacts.items():
        assert artifact.uri.startswith(root) and artifact.uri.endswith(artifact.file_name)
        assert artifact.file_name.startswith(name)
    image = result.artifacts["roc_curve_plot"].content
    assert isinstance(image, Image.Image) and image.size[0] > 100
    local = client.download_artifacts(result.run_id, "confusion_matrix.png")
    assert Path(local).read_bytes() == result.artifacts["confusion_matrix"].data


def test_the_results_table(
    client: runlab.MlflowClient, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    result = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    table = runlab.load_table("eval_results_table.json", run_ids=[result.run_id])
    assert list(table.columns) == [
        "a",
        "b",
        "c",
        "label",
        "prediction",
        "probability_0",
        "probability_1",
    ]
    assert len(table) == len(frame)
    features = frame[["a", "b", "c"]]
    assert table["prediction"].tolist() == model.predict(features).tolist()
    assert table["probability_1"].tolist() == pytest.approx(
        model.predict_proba(features)[:, 1].tolist()
    )
    content = result.artifacts["eval_results_table"].content
    assert content["columns"] == list(table.columns) and len(content["data"]) == len(frame)
    pd.testing.assert_frame_equal(
        result.tables["eval_results_table"], table, check_dtype=False, check_exact=False
    )


def test_plots_are_repeatable(tracking_uri: str, multiclass_data: tuple[pd.DataFrame, Any]) -> None:
    frame, model = multiclass_data
    first = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    second = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    for name in ("confusion_matrix", "roc_curve_plot", "calibration_curve_plot"):
        assert first.artifacts[name].data == second.artifacts[name].data, name


def test_a_run_the_evaluation_started_ends_failed_when_logging_fails(
    client: runlab.MlflowClient, tmp_path: Path, regression_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = regression_data
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifact folder should be")
    experiment_id = client.create_experiment(
        "broken artifacts", artifact_location=(blocker / "artifacts").as_uri()
    )
    runlab.set_experiment(experiment_id=experiment_id)
    with pytest.raises(InvalidParameter, match=r"Cannot write artifact 'residuals_plot.png'"):
        runlab.evaluate(model, frame, targets="label", model_type="regressor")
    assert runlab.active_run() is None
    (run,) = client.search_runs([experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.metrics == {}  # the metrics come last, so none were logged


def test_importing_evaluation_loads_no_heavy_library() -> None:
    code = (
        "import sys, runlab, runlab.evaluation, runlab.models\n"
        "runlab.models.MetricThreshold\n"
        "heavy = [m for m in ('numpy', 'pandas', 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_public_names() -> None:
    import runlab.evaluation
    import runlab.models

    assert runlab.models.evaluate is runlab.evaluate is runlab.evaluation.evaluate
    for name in (
        "EvaluationResult",
        "MetricThreshold",
        "ModelValidationFailedException",
        "validate_evaluation_results",
        "make_metric",
        "MetricValue",
    ):
        assert name in runlab.models.__all__
        assert getattr(runlab.models, name) is getattr(runlab.evaluation, name)
        assert getattr(runlab.models, name).__doc__

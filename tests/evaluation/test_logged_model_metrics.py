"""An evaluated logged model gets the metrics too, with the dataset's name and digest, whichever
URI named it (models:/m-…, a registered version made from it, runs:/<run>/model); the run records
the dataset with context eval and the model as an input."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import runlab
from support.evaluation_models import log_as_logged_model


def _model_metrics(client: runlab.MlflowClient, model_id: str) -> dict[str, Any]:
    model = client.get_logged_model(model_id)
    return {m.key: m for m in model.metrics}


@pytest.mark.parametrize("uri_form", ["logged", "registered", "runs"])
def test_metrics_land_on_the_logged_model(
    uri_form: str,
    client: runlab.MlflowClient,
    binary_data: tuple[pd.DataFrame, Any],
) -> None:
    frame, estimator = binary_data
    with runlab.start_run() as training:
        model_id = log_as_logged_model(client, estimator, training.info.run_id)
    client.create_registered_model("fraud")
    version = client.create_model_version(
        "fraud", f"models:/{model_id}", run_id=training.info.run_id, model_id=model_id
    )
    uri = {
        "logged": f"models:/{model_id}",
        "registered": f"models:/fraud/{version.version}",
        "runs": f"runs:/{training.info.run_id}/model",
    }[uri_form]
    dataset = runlab.data.from_pandas(frame, targets="label", name="holdout")

    with runlab.start_run() as evaluation:
        result = runlab.evaluate(uri, dataset, model_type="classifier")
        assert runlab.active_run() is not None  # the user's run stays open

    on_model = _model_metrics(client, model_id)
    assert set(on_model) == set(result.metrics)
    for key, point in on_model.items():
        assert point.value == pytest.approx(float(result.metrics[key]))
        assert point.dataset_name == "holdout"
        assert point.dataset_digest == dataset.digest
        assert point.run_id == evaluation.info.run_id

    run = client.get_run(evaluation.info.run_id)
    assert run.data.tags["runlab.evaluation.model"] == uri
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "holdout"
    assert dataset_input.dataset.digest == dataset.digest
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "eval"}
    assert [m.model_id for m in run.inputs.model_inputs] == [model_id]


def test_a_model_without_a_logged_model_records_on_the_run_only(
    client: runlab.MlflowClient, regression_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, estimator = regression_data
    with runlab.start_run():
        info = runlab.sklearn.log_model(estimator, name="model")
    result = runlab.evaluate(info.model_uri, frame, targets="label", model_type="regressor")
    run = client.get_run(result.run_id)
    assert set(run.data.metrics) == set(result.metrics)
    assert run.inputs.model_inputs == []
    assert list(client.search_logged_models([run.info.experiment_id])) == []


def test_model_id_names_the_logged_model_of_a_function(
    client: runlab.MlflowClient, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, estimator = binary_data
    with runlab.start_run() as training:
        model_id = log_as_logged_model(client, estimator, training.info.run_id)
    result = runlab.evaluate(
        estimator.predict, frame, targets="label", model_type="classifier", model_id=model_id
    )
    on_model = _model_metrics(client, model_id)
    assert set(on_model) == set(result.metrics)
    assert {m.dataset_name for m in on_model.values()} == {"dataset"}

"""MLflow's client against runlab server: ``mlflow.pyfunc.log_model`` through the logged-models
endpoints, loading the model back through the artifact proxy, and logged-model search/get.
"""

from __future__ import annotations

import uuid
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel

from support.servers import ProxiedRunlabServer


class AddN(PythonModel):
    """A tiny model: adds ``n`` to every value of its input frame."""

    def __init__(self, n: float) -> None:
        self.n = n

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """The input plus ``n``."""
        return model_input + self.n


def _log_add_n(n: float, name: str = "adder", **kwargs: Any) -> ModelInfo:
    """Log an AddN model offline: no requirement inference, no pip calls."""
    info: ModelInfo = mlflow.pyfunc.log_model(
        name=name, python_model=AddN(n), pip_requirements=[], **kwargs
    )
    return info


def test_log_model_load_and_predict(runlab_server: ProxiedRunlabServer) -> None:
    experiment = mlflow.set_experiment(f"models-{uuid.uuid4().hex[:12]}")
    with mlflow.start_run() as run:
        mlflow.log_param("n", 5)
        mlflow.log_metric("score", 0.9, step=0)
        info = _log_add_n(5.0)
    assert info.model_id is not None and info.model_id.startswith("m-")
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run.info.run_id

    # The files went through the proxy into the destination, under the model's artifact root.
    stored = (
        runlab_server.artifacts_destination
        / experiment.experiment_id
        / "models"
        / info.model_id
        / "artifacts"
    )
    assert (stored / "MLmodel").is_file()
    assert (stored / "python_model.pkl").is_file()

    loaded = mlflow.pyfunc.load_model(info.model_uri)
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0]})
    predicted = loaded.predict(frame)
    pd.testing.assert_frame_equal(predicted, frame + 5.0)

    # The run records the model as an output, and the model got the run's params and metrics.
    client = MlflowClient()
    outputs = client.get_run(run.info.run_id).outputs
    assert outputs is not None
    assert [o.model_id for o in outputs.model_outputs] == [info.model_id]
    model = client.get_logged_model(info.model_id)
    assert model.name == "adder"
    assert model.status == LoggedModelStatus.READY
    assert model.source_run_id == run.info.run_id
    assert model.experiment_id == experiment.experiment_id
    assert model.artifact_location == (
        f"mlflow-artifacts:/{experiment.experiment_id}/models/{info.model_id}/artifacts"
    )
    assert model.params == {"n": "5"}
    assert [(m.key, m.value) for m in model.metrics or []] == [("score", 0.9)]

    # The same model is reachable as runs:/<run_id>/<name> too.
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/adder")
    pd.testing.assert_frame_equal(by_run.predict(frame), frame + 5.0)


def test_log_model_without_a_run() -> None:
    mlflow.set_experiment(f"models-{uuid.uuid4().hex[:12]}")
    info = _log_add_n(-1.0, name="standalone")
    assert info.run_id is None
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    frame = pd.DataFrame({"x": [0.0, 1.0]})
    pd.testing.assert_frame_equal(loaded.predict(frame), frame - 1.0)


def test_search_and_get_logged_models() -> None:
    client = MlflowClient()
    experiment = mlflow.set_experiment(f"models-{uuid.uuid4().hex[:12]}")
    exp_id = experiment.experiment_id
    ids: dict[str, str] = {}
    for name, n in (("alpha", 1.0), ("beta", 2.0), ("gamma", 3.0)):
        with mlflow.start_run():
            mlflow.log_metric("quality", n)
            info = _log_add_n(n, name=name)
        assert info.model_id is not None
        ids[name] = info.model_id
    client.set_logged_model_tags(ids["beta"], {"flavor": "custom"})

    every = client.search_logged_models(experiment_ids=[exp_id])
    assert {m.model_id for m in every} == set(ids.values())
    by_name = client.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'beta'")
    assert [m.model_id for m in by_name] == [ids["beta"]]
    assert by_name[0].tags["flavor"] == "custom"
    by_tag = client.search_logged_models(
        experiment_ids=[exp_id], filter_string="tags.flavor = 'custom'"
    )
    assert [m.model_id for m in by_tag] == [ids["beta"]]
    by_metric = client.search_logged_models(
        experiment_ids=[exp_id],
        filter_string="metrics.quality > 1.5",
        order_by=[{"field_name": "metrics.quality", "ascending": False}],
    )
    assert [m.model_id for m in by_metric] == [ids["gamma"], ids["beta"]]
    ordered = client.search_logged_models(
        experiment_ids=[exp_id], order_by=[{"field_name": "name", "ascending": True}]
    )
    assert [m.name for m in ordered] == ["alpha", "beta", "gamma"]

    # Paging with the server's token.
    first = client.search_logged_models(
        experiment_ids=[exp_id], max_results=2, order_by=[{"field_name": "name"}]
    )
    assert [m.name for m in first] == ["alpha", "beta"] and first.token
    rest = client.search_logged_models(
        experiment_ids=[exp_id],
        max_results=2,
        order_by=[{"field_name": "name"}],
        page_token=first.token,
    )
    assert [m.name for m in rest] == ["gamma"] and not rest.token

    assert mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
    assert client.get_logged_model(ids["alpha"]).name == "alpha"


def test_unknown_logged_model_does_not_exist() -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_logged_model(f"m-{uuid.uuid4().hex}")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

"""Validation errors carry the phrases MLflow's own tests and clients match on.

Each case sends what one of MLflow 3.17.2's validation tests sends (a raw REST request, as its
``_send_rest_tracking_post_request`` does, or a call of MLflow's client) to ``runlab server`` and
to ``mlflow server`` 3.17.2, and checks the status, the error code and the phrase MLflow's test
looks for in the message, and that nothing was written. The MLflow server runs with
``MLFLOW_TRUNCATE_LONG_VALUES=false`` so that it refuses over-long values as runlab always does
(by default it cuts them short). (The MLflow server needs a virtualenv with ``mlflow==3.17.2``;
without one its cases are skipped.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from support.side_by_side import KINDS, Server, mlflow_client, started

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("validation_messages_compat")]


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with started(request.param, tmp_path_factory.mktemp(f"messages-{request.param}")) as running:
        yield running


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    with mlflow_client(server, monkeypatch) as made:
        yield made


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    experiment_id = client.create_experiment(f"messages-{uuid.uuid4().hex[:8]}")
    return client.create_run(experiment_id).info.run_id


def _post(server: Server, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/2.0/mlflow/{path}", json=body, timeout=30)


def _refusal(response: httpx.Response) -> str:
    """The message of a 400 INVALID_PARAMETER_VALUE answer."""
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    return str(response.json()["message"])


LONG = "k" * 300

#: (endpoint, body with RUN for the run id, phrases MLflow's tests and clients look for).
REST_CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": "a//b", "value": 1.0, "timestamp": 1, "step": 0},
        ('Invalid value "a//b" for parameter', "Names may be treated as files in certain cases"),
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": "a?b", "value": 1.0, "timestamp": 1, "step": 0},
        ('Invalid value "a?b" for parameter', "Names may only contain alphanumerics"),
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": LONG, "value": 1.0, "timestamp": 1, "step": 0},
        ("'Metric name' exceeds the maximum length of 250 characters",),
    ),
    (
        "runs/log-parameter",
        {"run_id": "RUN", "key": "../x", "value": "1"},
        ('Invalid value "../x" for parameter', "This name would resolve to '../x'"),
    ),
    (
        "runs/log-parameter",
        {"run_id": "RUN", "key": "p", "value": "v" * 6001},
        ("exceeds the maximum length of 6000 characters",),
    ),
    (
        "runs/set-tag",
        {"run_id": "RUN", "key": "/t", "value": "v"},
        ('Invalid value "/t" for parameter', "Names may be treated as files in certain cases"),
    ),
    (
        "runs/set-tag",
        {"run_id": "RUN", "key": "t", "value": "v" * 8001},
        ("exceeds the maximum length of 8000 characters",),
    ),
    (
        "runs/log-batch",
        {"run_id": "RUN", "tags": [{"key": "t", "value": "v" * 8001}]},
        ("exceeds the maximum length of 8000 characters",),
    ),
    (
        "runs/log-batch",
        {"run_id": "RUN", "metrics": [{"key": "a//b", "value": 1.0, "timestamp": 1}]},
        ('Invalid value "a//b" for parameter', "Names may be treated as files in certain cases"),
    ),
    ("experiments/create", {"name": "x" * 501}, ("'name' exceeds the maximum length of 500",)),
]


@pytest.mark.parametrize(("path", "body", "phrases"), REST_CASES)
def test_rest_refusals_carry_mlflows_phrases(
    client: MlflowClient,
    server: Server,
    run_id: str,
    path: str,
    body: dict[str, Any],
    phrases: tuple[str, ...],
) -> None:
    sent = {key: run_id if value == "RUN" else value for key, value in body.items()}
    message = _refusal(_post(server, path, sent))
    for phrase in phrases:
        assert phrase in message
    data = client.get_run(run_id).data
    assert (data.metrics, data.params) == ({}, {})
    assert not [key for key in data.tags if not key.startswith("mlflow.")]


def test_search_max_results(client: MlflowClient, run_id: str) -> None:
    # MLflow's test_search_validation matches exactly this.
    experiment_id = client.get_run(run_id).info.experiment_id
    with pytest.raises(
        MlflowException, match=r"Invalid value 123456789 for parameter 'max_results' supplied"
    ):
        client.search_runs([experiment_id], max_results=123456789)


def test_registry_search_max_results(client: MlflowClient) -> None:
    with pytest.raises(
        MlflowException, match=r"Invalid value \"?1001\"? for parameter 'max_results' supplied"
    ) as caught:
        client.search_registered_models(max_results=1001)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_changing_a_param_is_refused(client: MlflowClient, run_id: str) -> None:
    client.log_param(run_id, "depth", "3")
    with pytest.raises(MlflowException, match="Changing param values is not allowed") as caught:
        client.log_param(run_id, "depth", "5")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"depth": "3"}

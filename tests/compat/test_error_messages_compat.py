"""The server's refusals read as MLflow 3.17.2's: request fields, batches, datasets, artifact paths,
objects that do not exist and objects that are deleted.

Each case sends the same request to ``runlab server`` and to ``mlflow server`` 3.17.2 (the
requests MLflow's own REST tests send, raw, as its ``_send_rest_tracking_post_request`` does) and
checks the status, the error code and the phrase MLflow's tests and clients match on, which
starts runlab's message (runlab may say more after it), and that nothing was written. A refused
artifact path is answered with MLflow's exact body, which its ``test_path_validation`` compares
whole. (The MLflow server needs a virtualenv with ``mlflow==3.17.2``; without one its cases are
skipped.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from support.side_by_side import KINDS, Server, mlflow_client, started

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("error_messages_compat")]


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with started(request.param, tmp_path_factory.mktemp(f"errors-{request.param}")) as running:
        yield running


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    with mlflow_client(server, monkeypatch) as made:
        yield made


@pytest.fixture
def experiment_id(client: MlflowClient) -> str:
    return client.create_experiment(f"errors-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def run_id(client: MlflowClient, experiment_id: str) -> str:
    return client.create_run(experiment_id).info.run_id


def _call(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", timeout=60, **kwargs)


def _api(server: Server, method: str, endpoint: str, **kwargs: Any) -> httpx.Response:
    return _call(server, method, f"/api/2.0/mlflow/{endpoint}", **kwargs)


def _message(response: httpx.Response, status: int, code: str) -> str:
    """The message of an error answer, after checking its status and error code."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def _refusal(response: httpx.Response) -> str:
    return _message(response, 400, "INVALID_PARAMETER_VALUE")


def _not_found(response: httpx.Response) -> str:
    return _message(response, 404, "RESOURCE_DOES_NOT_EXIST")


def _assert_run_untouched(client: MlflowClient, run_id: str) -> None:
    run = client.get_run(run_id)
    assert (run.data.metrics, run.data.params) == ({}, {})
    assert not [key for key in run.data.tags if not key.startswith("mlflow.")]
    assert run.inputs is None or not run.inputs.dataset_inputs


def _filled(body: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {key: run_id if value == "RUN" else value for key, value in body.items()}


# -- request fields --------------------------------------------------------------------------------

#: (endpoint, body with RUN for the run id, the phrase MLflow's REST tests look for).
FIELD_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "runs/log-metric",
        {"run_id": 31, "key": "metric", "value": 41, "timestamp": 59, "step": 26},
        "Invalid value 31 for parameter 'run_id' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": 31, "value": 41, "timestamp": 59, "step": 26},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": "foo", "value": 31, "timestamp": 59, "step": "foo"},
        "Invalid value \"foo\" for parameter 'step' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": "foo", "value": 31, "timestamp": "foo", "step": 41},
        "Invalid value \"foo\" for parameter 'timestamp' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": None, "key": "foo", "value": 31, "timestamp": 59, "step": 41},
        "Missing value for required parameter 'run_id'",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "value": 31, "timestamp": 59, "step": 41},
        "Missing value for required parameter 'key'",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": None, "value": 31, "timestamp": 59, "step": 41},
        "Missing value for required parameter 'key'",
    ),
    (
        "runs/log-metric",
        {"run_id": "RUN", "key": "m", "value": 1.0, "timestamp": -1},
        "Invalid value -1 for parameter 'timestamp' supplied: metric 'm'",
    ),
    (
        "runs/log-parameter",
        {"run_id": 31, "key": "param", "value": 41},
        "Invalid value 31 for parameter 'run_id' supplied",
    ),
    (
        "runs/log-parameter",
        {"run_id": "RUN", "key": 31, "value": 41},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    (
        "runs/set-tag",
        {"run_id": "RUN", "key": "param", "value": 41},
        "Invalid value 41 for parameter 'value' supplied",
    ),
    (
        "runs/set-tag",
        {"run_id": "RUN", "value": "value"},
        "Missing value for required parameter 'key'",
    ),
    *(
        (
            "runs/log-batch",
            {"run_id": "RUN", field: "foo"},
            f"Invalid value \"foo\" for parameter '{field}' supplied",
        )
        for field in ("metrics", "params", "tags")
    ),
    (
        "runs/log-batch",
        {"run_id": "RUN", "metrics": [{"key": "mae", "value": 2.5}]},
        "Missing value for required parameter 'metrics[0].timestamp'",
    ),
    (
        "runs/log-batch",
        {"run_id": "RUN", "metrics": [{"key": "m", "value": 1.0, "timestamp": -1}]},
        "Invalid value -1 for parameter 'metrics[0].timestamp' supplied: metric 'm'",
    ),
    (
        "runs/log-inputs",
        {
            "datasets": [
                {"dataset": {"name": "n", "digest": "d", "source_type": "s", "source": "x"}}
            ]
        },
        "Missing value for required parameter 'run_id'",
    ),
]


@pytest.mark.parametrize(("endpoint", "body", "phrase"), FIELD_CASES)
def test_request_field_refusals(
    client: MlflowClient,
    server: Server,
    run_id: str,
    endpoint: str,
    body: dict[str, Any],
    phrase: str,
) -> None:
    message = _refusal(_api(server, "POST", endpoint, json=_filled(body, run_id)))
    assert message.startswith(phrase)
    _assert_run_untouched(client, run_id)


#: experiments/create refusals (MLflow's test_create_experiment_validation).
EXPERIMENT_CASES: list[tuple[dict[str, Any], str]] = [
    ({"name": 123}, "Invalid value 123 for parameter 'name'"),
    ({}, "Missing value for required parameter 'name'"),
    (
        {"name": "experiment name", "artifact_location": 9.0, "tags": [{"key": "k", "value": "v"}]},
        "Invalid value 9.0 for parameter 'artifact_location'",
    ),
    (
        {"name": "experiment name", "artifact_location": "my_location", "tags": "5"},
        "Invalid value \"5\" for parameter 'tags'",
    ),
]


@pytest.mark.parametrize(("body", "phrase"), EXPERIMENT_CASES)
def test_create_experiment_refusals(
    client: MlflowClient, server: Server, body: dict[str, Any], phrase: str
) -> None:
    before = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    message = _refusal(_api(server, "POST", "experiments/create", json=body))
    assert message.startswith(phrase)
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)] == before


# -- batches ---------------------------------------------------------------------------------------


def _metrics(count: int) -> list[dict[str, Any]]:
    return [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(count)]


def _items(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"key": f"{prefix}{i}", "value": "1"} for i in range(count)]


BATCH_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {"metrics": _metrics(1001)},
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics.",
    ),
    (
        {"params": _items("p", 101)},
        "A batch logging request can contain at most 100 params. Got 101 params.",
    ),
    (
        {"tags": _items("t", 101)},
        "A batch logging request can contain at most 100 tags. Got 101 tags.",
    ),
    (
        {"metrics": _metrics(1000), "params": _items("p", 1)},
        "A batch logging request can contain at most 1000 metrics, params, and tags. "
        "Got 1001 metrics, params, and tags",
    ),
    (
        {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
        "Duplicate parameter keys have been submitted: ['p'].",
    ),
    (
        {"params": [{"key": "q", "value": "1"}, {"key": "q", "value": "1"}]},
        "Duplicate parameter keys have been submitted: ['q'].",
    ),
]


@pytest.mark.parametrize(("batch", "phrase"), BATCH_CASES)
def test_batch_refusals(
    client: MlflowClient, server: Server, run_id: str, batch: dict[str, Any], phrase: str
) -> None:
    message = _refusal(_api(server, "POST", "runs/log-batch", json={"run_id": run_id, **batch}))
    assert message.startswith(phrase)
    _assert_run_untouched(client, run_id)


# -- dataset inputs --------------------------------------------------------------------------------

DATASET = {"name": "n", "digest": "d", "source_type": "s", "source": "x"}

DATASET_CASES: list[tuple[dict[str, Any], str]] = [
    ({"dataset": {**DATASET, "name": "n" * 501}}, "'name' exceeds the maximum length of 500"),
    ({"dataset": {**DATASET, "digest": "d" * 37}}, "'digest' exceeds the maximum length of 36"),
    (
        {"dataset": {**DATASET, "source": "x" * 65536}},
        "'source' exceeds the maximum length of 65535",
    ),
    (
        {"dataset": {**DATASET, "schema": "x" * 1048576}},
        "'schema' exceeds the maximum length of 1048575",
    ),
    (
        {"dataset": DATASET, "tags": [{"key": "k" * 256, "value": "v"}]},
        "'key' exceeds the maximum length of 255",
    ),
    (
        {"dataset": DATASET, "tags": [{"key": "k", "value": "v" * 501}]},
        "'value' exceeds the maximum length of 500",
    ),
]


@pytest.mark.parametrize(("item", "phrase"), DATASET_CASES)
def test_dataset_refusals(
    client: MlflowClient, server: Server, run_id: str, item: dict[str, Any], phrase: str
) -> None:
    body = {"run_id": run_id, "datasets": [item]}
    message = _refusal(_api(server, "POST", "runs/log-inputs", json=body))
    assert message.startswith(phrase)
    _assert_run_untouched(client, run_id)


# -- artifact paths --------------------------------------------------------------------------------

#: MLflow's whole answer to a refused artifact path (3.17.2 adds sqlstate and error_class).
INVALID_PATH = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}


def _assert_invalid_path(server: Server, response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    if server.kind == "runlab":
        assert body == INVALID_PATH
    else:
        assert {key: body[key] for key in INVALID_PATH} == INVALID_PATH


@pytest.mark.parametrize("path", ["../path", "/etc/passwd", "a/../../x", "%2e%2e/x", "C:/x", "a#b"])
def test_run_artifact_routes_answer_invalid_path(
    client: MlflowClient, server: Server, run_id: str, path: str
) -> None:
    # The requests of MLflow's test_path_validation (list-artifacts and /get-artifact).
    listed = _api(server, "GET", "artifacts/list", params={"run_id": run_id, "path": path})
    _assert_invalid_path(server, listed)
    fetched = _call(server, "GET", "/get-artifact", params={"run_id": run_id, "path": path})
    _assert_invalid_path(server, fetched)


@pytest.mark.parametrize("server", ["runlab"], indirect=True)  # runlab's own server log
def test_runlab_logs_why_a_path_was_refused(server: Server, run_id: str) -> None:
    marker = f"why-{uuid.uuid4().hex[:8]}"
    response = _api(
        server, "GET", "artifacts/list", params={"run_id": run_id, "path": f"{marker}/../../x"}
    )
    _assert_invalid_path(server, response)
    log = "".join(f.read_text() for f in server.folder.glob("runlab-cli-server-*.log"))
    assert (
        "Refused an artifact path on GET /api/2.0/mlflow/artifacts/list: Invalid artifact path "
        f"'{marker}/../../x': it contains the part '..'"
    ) in log


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "%2e%2e/x"])
def test_logged_model_artifacts_answer_invalid_path(
    server: Server, experiment_id: str, path: str
) -> None:
    created = _api(
        server, "POST", "logged-models", json={"experiment_id": experiment_id, "name": "model"}
    )
    base = f"/ajax-api/2.0/mlflow/logged-models/{created.json()['model']['info']['model_id']}"
    files = _call(server, "GET", f"{base}/artifacts/files", params={"artifact_file_path": path})
    _assert_invalid_path(server, files)
    folders = _call(
        server, "GET", f"{base}/artifacts/directories", params={"artifact_directory_path": path}
    )
    _assert_invalid_path(server, folders)


@pytest.mark.parametrize("path", ["../test.txt", "/test.txt"])
def test_upload_artifact_answers_invalid_path(
    client: MlflowClient, server: Server, run_id: str, path: str
) -> None:
    response = _call(
        server,
        "POST",
        "/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run_id, "path": path},
        content=b"hello",
    )
    _assert_invalid_path(server, response)
    assert client.list_artifacts(run_id) == []
    assert not list(server.folder.rglob("test.txt"))


def test_artifact_proxy_answers_invalid_path(server: Server) -> None:
    name = f"escaped-{uuid.uuid4().hex[:8]}.txt"
    proxy = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"

    def raw(method: str, path: str, content: bytes | None = None) -> httpx.Response:
        # The path exactly as written here: a client may resolve dot segments before sending.
        target = f"/api/2.0/mlflow-artifacts/artifacts/{path}".encode()
        url = httpx.URL(server.url).copy_with(raw_path=target)
        return httpx.request(method, url, content=content, timeout=60)

    _assert_invalid_path(server, raw("PUT", f"a/%2e%2e/%2e%2e/{name}", b"escaped"))
    _assert_invalid_path(server, raw("GET", "%2e%2e/x"))
    _assert_invalid_path(server, raw("GET", "%2Fetc%2Fpasswd"))
    _assert_invalid_path(server, raw("DELETE", "a/%2e%2e/%2e%2e/x"))
    listed = httpx.get(proxy, params={"path": "../x"}, timeout=60)
    _assert_invalid_path(server, listed)
    assert not list(server.folder.rglob(name))
    assert not (server.folder.parent / name).exists()


# -- objects that do not exist ---------------------------------------------------------------------


def test_unknown_run_and_experiment(client: MlflowClient, server: Server) -> None:
    missing_run = uuid.uuid4().hex
    got = _api(server, "GET", "runs/get", params={"run_id": missing_run})
    assert _not_found(got).startswith(f"Run with id={missing_run} not found")
    logged = _api(
        server, "POST", "runs/log-parameter", json={"run_id": missing_run, "key": "k", "value": "v"}
    )
    assert _not_found(logged).startswith(f"Run with id={missing_run} not found")
    experiment = _api(server, "GET", "experiments/get", params={"experiment_id": "987654"})
    assert _not_found(experiment).startswith("No Experiment with id=987654 exists")
    created = _api(server, "POST", "runs/create", json={"experiment_id": "987654"})
    assert _not_found(created).startswith("No Experiment with id=987654 exists")
    assert client.search_runs(["987654"]) == []


def test_missing_tags(
    client: MlflowClient, server: Server, experiment_id: str, run_id: str
) -> None:
    run_tag = _api(server, "POST", "runs/delete-tag", json={"run_id": run_id, "key": "nokey"})
    assert _not_found(run_tag).startswith(f"No tag with name: nokey in run with id {run_id}")
    experiment_tag = _api(
        server,
        "POST",
        "experiments/delete-experiment-tag",
        json={"experiment_id": experiment_id, "key": "nokey"},
    )
    assert _not_found(experiment_tag).startswith(
        f"No tag with name: nokey in experiment with id {experiment_id}"
    )
    _assert_run_untouched(client, run_id)


def test_missing_registered_models_and_versions(client: MlflowClient, server: Server) -> None:
    absent = f"absent-{uuid.uuid4().hex[:8]}"
    model = _api(server, "GET", "registered-models/get", params={"name": absent})
    assert _not_found(model).startswith(f"Registered Model with name={absent} not found")
    tag = _api(
        server,
        "POST",
        "registered-models/set-tag",
        json={"name": absent, "key": "k", "value": "v"},
    )
    assert _not_found(tag).startswith(f"Registered Model with name={absent} not found")
    # A version of a model that does not exist is a missing version, as is a missing version of
    # one that does.
    present = client.create_registered_model(f"present-{uuid.uuid4().hex[:8]}").name
    for name, version in ((absent, "1"), (present, "3")):
        expected = f"Model Version (name={name}, version={version}) not found"
        got = _api(server, "GET", "model-versions/get", params={"name": name, "version": version})
        assert _not_found(got).startswith(expected)
        deleted = _api(
            server, "DELETE", "model-versions/delete", json={"name": name, "version": version}
        )
        assert _not_found(deleted).startswith(expected)
        alias = _api(
            server,
            "POST",
            "registered-models/alias",
            json={"name": name, "alias": "champion", "version": version},
        )
        assert _not_found(alias).startswith(expected)
    assert client.get_registered_model(present).aliases == {}
    assert client.search_registered_models(f"name = '{absent}'") == []


def test_missing_and_deleted_logged_models(server: Server, experiment_id: str) -> None:
    absent = f"m-{uuid.uuid4().hex}"
    got = _api(server, "GET", f"logged-models/{absent}")
    assert _not_found(got).startswith(f"Logged model with ID '{absent}' not found.")
    created = _api(
        server, "POST", "logged-models", json={"experiment_id": experiment_id, "name": "model"}
    )
    model_id = created.json()["model"]["info"]["model_id"]
    tag = _api(server, "DELETE", f"logged-models/{model_id}/tags/nokey")
    assert _not_found(tag).startswith(
        f"No tag with key 'nokey' found for model with ID '{model_id}'."
    )
    assert _api(server, "DELETE", f"logged-models/{model_id}").status_code == 200
    deleted = _api(server, "GET", f"logged-models/{model_id}")
    assert _not_found(deleted).startswith(f"Logged model with ID '{model_id}' not found.")


def test_client_delete_tag(client: MlflowClient, run_id: str) -> None:
    # MLflow's test_delete_tag, through its client.
    client.set_tag(run_id, "taggity", "do-dah")
    with pytest.raises(MlflowException, match=r"Run .+ not found"):
        client.delete_tag("fake_run_id", "taggity")
    with pytest.raises(MlflowException, match="No tag with name: fakeTag"):
        client.delete_tag(run_id, "fakeTag")
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match=f"The run {run_id} must be in"):
        client.delete_tag(run_id, "taggity")
    assert client.get_run(run_id).data.tags["taggity"] == "do-dah"


# -- deleted runs and experiments ------------------------------------------------------------------


def test_deleted_run_and_experiment_refuse_changes(
    client: MlflowClient, server: Server, experiment_id: str, run_id: str
) -> None:
    client.delete_run(run_id)
    logged = _api(
        server, "POST", "runs/log-parameter", json={"run_id": run_id, "key": "k", "value": "v"}
    )
    assert _refusal(logged).startswith(
        f"The run {run_id} must be in the 'active' state. Current state is deleted."
    )
    client.delete_experiment(experiment_id)
    expected = (
        f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
    )
    tagged = _api(
        server,
        "POST",
        "experiments/set-experiment-tag",
        json={"experiment_id": experiment_id, "key": "k", "value": "v"},
    )
    assert _refusal(tagged).startswith(expected)
    created = _api(server, "POST", "runs/create", json={"experiment_id": experiment_id})
    assert _refusal(created).startswith(expected)
    assert client.get_run(run_id).data.params == {}
    assert "k" not in client.get_experiment(experiment_id).tags
    assert [
        r.info.run_id for r in client.search_runs([experiment_id], run_view_type=ViewType.ALL)
    ] == [run_id]

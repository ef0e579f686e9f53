"""MLflow's own auth client (``mlflow-skinny`` 3.17.2) manages a ``runlab server --auth``.

``AuthServiceClient`` drives the user endpoints. MLflow 3.17's client no longer has methods for
the per-experiment and per-model permission endpoints (they moved to its role API), so those
are called with MLflow's own request helpers on the documented paths and decoded with MLflow's
own entity classes: the shapes are checked by MLflow's code either way. Then ``MlflowClient``
with ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` (and ``MLFLOW_TRACKING_TOKEN``) logs to an
experiment its user may edit, and gets a clear permission error on one it may only read.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request, verify_rest_response

# MLflow's auth client module imports MLflow's whole server, which uses APIs the installed
# SQLAlchemy and Starlette deprecate; that is MLflow's business, not this test's.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.server.auth.entities import ExperimentPermission, RegisteredModelPermission

from support.auth_server import ADMIN, ADMIN_PASSWORD, auth_server
from support.servers import ServerProcess

pytestmark = pytest.mark.slow

ALICE_PASSWORD = "alice-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = auth_server(tmp_path_factory.mktemp("mlflow-auth"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "RUNLAB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def sign_in(monkeypatch: pytest.MonkeyPatch, username: str, password: str) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def mlflow_call(server: ServerProcess, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """A call made by MLflow's own request helpers (as its auth client makes them)."""
    creds = get_default_host_creds(server.url)
    response = http_request(creds, f"/api/2.0/mlflow/{path}", method, **kwargs)
    verified = verify_rest_response(response, path)
    return verified.json() if verified.content else {}


def test_auth_service_client_manages_users(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, ADMIN, ADMIN_PASSWORD)
    client = AuthServiceClient(server.url)
    created = client.create_user("alice", ALICE_PASSWORD)
    assert (created.username, created.is_admin) == ("alice", False)
    assert isinstance(created.id, int)
    got = client.get_user("alice")
    assert (got.id, got.username, got.is_admin) == (created.id, "alice", False)
    with pytest.raises(RestException) as missing:
        client.get_user("ghost")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(RestException) as duplicate:
        client.create_user("alice", ALICE_PASSWORD)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.update_user_admin("alice", True)
    assert client.get_user("alice").is_admin is True
    client.update_user_admin("alice", False)
    client.update_user_password("alice", "alice-password-2")
    # Self-service needs the current password, as in MLflow 3.17.
    sign_in(monkeypatch, "alice", "alice-password-2")
    client.update_user_password("alice", ALICE_PASSWORD, current_password="alice-password-2")
    sign_in(monkeypatch, "alice", ALICE_PASSWORD)
    assert client.get_user("alice").username == "alice"
    with pytest.raises(RestException) as refused:
        client.create_user("mallory", "mallory-password")
    assert refused.value.error_code == "PERMISSION_DENIED"
    sign_in(monkeypatch, ADMIN, ADMIN_PASSWORD)
    client.create_user("temporary", "temporary-password")
    client.delete_user("temporary")
    with pytest.raises(RestException):
        client.get_user("temporary")


def test_permission_endpoints_have_mlflows_shapes(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, ADMIN, ADMIN_PASSWORD)
    AuthServiceClient(server.url).create_user("bob", "bob-password-1")
    experiment_id = MlflowClient(server.url).create_experiment("shapes")
    body = {"experiment_id": experiment_id, "username": "bob", "permission": "READ"}
    created = ExperimentPermission.from_json(
        mlflow_call(server, "POST", "experiments/permissions/create", json=body)[
            "experiment_permission"
        ]
    )
    assert (created.experiment_id, created.permission) == (experiment_id, "READ")
    params = {"experiment_id": experiment_id, "username": "bob"}
    mlflow_call(
        server, "PATCH", "experiments/permissions/update", json={**body, "permission": "EDIT"}
    )
    got = ExperimentPermission.from_json(
        mlflow_call(server, "GET", "experiments/permissions/get", params=params)[
            "experiment_permission"
        ]
    )
    assert (got.user_id, got.permission) == (created.user_id, "EDIT")
    mlflow_call(server, "DELETE", "experiments/permissions/delete", json=params)
    with pytest.raises(RestException) as gone:
        mlflow_call(server, "GET", "experiments/permissions/get", params=params)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    MlflowClient(server.url).create_registered_model("shaped-model")
    model = {"name": "shaped-model", "username": "bob", "permission": "READ"}
    made = RegisteredModelPermission.from_json(
        mlflow_call(server, "POST", "registered-models/permissions/create", json=model)[
            "registered_model_permission"
        ]
    )
    assert (made.name, made.permission) == ("shaped-model", "READ")
    mlflow_call(
        server,
        "PATCH",
        "registered-models/permissions/update",
        json={**model, "permission": "MANAGE"},
    )
    who = {"name": "shaped-model", "username": "bob"}
    fetched = RegisteredModelPermission.from_json(
        mlflow_call(server, "GET", "registered-models/permissions/get", params=who)[
            "registered_model_permission"
        ]
    )
    assert fetched.permission == "MANAGE"
    mlflow_call(server, "DELETE", "registered-models/permissions/delete", json=who)
    with pytest.raises(RestException) as invalid:
        mlflow_call(
            server,
            "POST",
            "registered-models/permissions/create",
            json={**model, "permission": "ALL"},
        )
    assert invalid.value.error_code == "INVALID_PARAMETER_VALUE"
    # A user who does not manage the experiment may not share it.
    sign_in(monkeypatch, "bob", "bob-password-1")
    with pytest.raises(RestException) as denied:
        mlflow_call(server, "POST", "experiments/permissions/create", json=body)
    assert denied.value.error_code == "PERMISSION_DENIED"


def test_mlflow_client_logs_where_it_may_and_is_refused_where_it_may_not(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, ADMIN, ADMIN_PASSWORD)
    AuthServiceClient(server.url).create_user("carol", "carol-password-1")
    admin = MlflowClient(server.url)
    editable = admin.create_experiment("carol-may-edit")
    readable = admin.create_experiment("carol-may-read")
    grant = {"experiment_id": editable, "username": "carol", "permission": "EDIT"}
    mlflow_call(server, "POST", "experiments/permissions/create", json=grant)

    sign_in(monkeypatch, "carol", "carol-password-1")
    carol = MlflowClient(server.url)
    run = carol.create_run(editable)
    carol.log_param(run.info.run_id, "lr", "0.1")
    carol.log_metric(run.info.run_id, "loss", 0.5, step=1)
    carol.set_terminated(run.info.run_id)
    assert carol.get_run(run.info.run_id).data.params == {"lr": "0.1"}
    assert carol.get_experiment(readable).name == "carol-may-read"  # the default, READ
    with pytest.raises(MlflowException) as refused:
        carol.create_run(readable)
    assert refused.value.get_http_status_code() == 403
    assert "PERMISSION_DENIED" in str(refused.value.error_code)
    assert "carol" in refused.value.message and "Permission denied" in refused.value.message

    # A token works the same, through MLFLOW_TRACKING_TOKEN.
    sign_in(monkeypatch, "carol", "carol-password-1")
    created = mlflow_call(server, "POST", "../runlab/tokens/create", json={"name": "mlflow"})
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", created["secret"])
    assert MlflowClient(server.url).get_run(run.info.run_id).info.run_id == run.info.run_id

    # Without credentials: 401, which MLflow reports as an authentication error.
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException) as anonymous:
        MlflowClient(server.url).get_run(run.info.run_id)
    assert anonymous.value.get_http_status_code() == 401

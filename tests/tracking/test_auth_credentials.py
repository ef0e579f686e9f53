"""runlab's client against ``runlab server --auth``: credentials from the environment, and what
a 401 or a 403 becomes (Unauthenticated, PermissionDenied), for the REST store and the artifact
proxy client alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.artifacts.http_proxy import HttpArtifactRepository
from runlab.errors import PermissionDenied, Unauthenticated
from runlab.tracking.client import Client
from runlab.tracking.store_factory import clear_store_cache
from support.auth_server import ADMIN, ADMIN_PASSWORD, API, auth_server, call, client
from support.servers import ServerProcess

pytestmark = pytest.mark.slow

PASSWORD = "writer-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = auth_server(tmp_path_factory.mktemp("client-auth"))
    process.start()
    try:
        with client(process, ADMIN, ADMIN_PASSWORD) as admin:
            for name in ("writer", "reader"):
                made = call(
                    admin, "POST", f"{API}/users/create", {"username": name, "password": PASSWORD}
                )
                assert made.status_code == 200, made.text
        yield process
    finally:
        process.stop()


def as_user(monkeypatch: pytest.MonkeyPatch, prefix: str, username: str, password: str) -> None:
    clear_store_cache()  # a store reads its credentials when it is opened
    monkeypatch.setenv(f"{prefix}_TRACKING_USERNAME", username)
    monkeypatch.setenv(f"{prefix}_TRACKING_PASSWORD", password)


def test_without_credentials_the_client_says_how_to_send_them(server: ServerProcess) -> None:
    with pytest.raises(Unauthenticated) as caught:
        Client(server.url).search_experiments()
    assert "RUNLAB_TRACKING_USERNAME" in caught.value.message
    assert caught.value.error_code == "UNAUTHENTICATED"


def test_a_wrong_password_is_unauthenticated_not_forbidden(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "RUNLAB", "writer", "not-the-password")
    with pytest.raises(Unauthenticated) as caught:
        Client(server.url).search_experiments()
    assert not isinstance(caught.value, PermissionDenied)
    assert "Invalid credentials" in caught.value.message


@pytest.mark.parametrize("prefix", ["RUNLAB", "MLFLOW"])
def test_passwords_and_tokens_from_either_variable_family(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    as_user(monkeypatch, prefix, "writer", PASSWORD)
    experiment_id = Client(server.url).create_experiment(f"from-{prefix.lower()}")
    with client(server, "writer", PASSWORD) as http:
        created = call(http, "POST", "/api/2.0/runlab/tokens/create", {"name": prefix})
    secret = created.json()["secret"]
    clear_store_cache()
    monkeypatch.delenv(f"{prefix}_TRACKING_USERNAME")
    monkeypatch.delenv(f"{prefix}_TRACKING_PASSWORD")
    monkeypatch.setenv(f"{prefix}_TRACKING_TOKEN", secret)
    assert Client(server.url).get_experiment(experiment_id).name == f"from-{prefix.lower()}"


def test_forbidden_calls_raise_permission_denied_and_artifacts_follow_the_same_rules(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_user(monkeypatch, "RUNLAB", "writer", PASSWORD)
    writer = Client(server.url)
    experiment_id = writer.create_experiment("writers-own")
    run = writer.create_run(experiment_id)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    # Through the artifact proxy, with the same credentials.
    writer.log_artifact(run.info.run_id, str(notes))
    assert [f.path for f in writer.list_artifacts(run.info.run_id)] == ["notes.txt"]

    as_user(monkeypatch, "RUNLAB", "reader", PASSWORD)
    reader = Client(server.url)
    assert reader.get_run(run.info.run_id).info.run_id == run.info.run_id  # READ by default
    with pytest.raises(PermissionDenied) as refused:
        reader.create_run(experiment_id)
    assert "reader" in refused.value.message
    with pytest.raises(PermissionDenied):
        reader.log_artifact(run.info.run_id, str(notes), "more")
    assert [f.path for f in writer.list_artifacts(run.info.run_id)] == ["notes.txt"]

    # The artifact proxy client on its own: the same errors, from the same variables.
    root = run.info.artifact_uri
    anonymous = HttpArtifactRepository(root, server.url, env={})
    try:
        with pytest.raises(Unauthenticated) as unknown:
            anonymous.log_artifact(str(notes), "anonymous")
        assert "RUNLAB_TRACKING_USERNAME" in unknown.value.message
    finally:
        anonymous.close()
    as_reader = HttpArtifactRepository(
        root,
        server.url,
        env={"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": PASSWORD},
    )
    try:
        assert [f.path for f in as_reader.list_artifacts()] == ["notes.txt"]
        with pytest.raises(PermissionDenied):
            as_reader.log_artifact(str(notes), "by-reader")
    finally:
        as_reader.close()
    assert [f.path for f in writer.list_artifacts(run.info.run_id)] == ["notes.txt"]

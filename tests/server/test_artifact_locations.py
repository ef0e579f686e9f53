"""The server never fetches artifacts from a location a client chose (no SSRF).

A real TCP listener stands for an internal service. Creating an experiment that points at it is
refused, a database row that already points at it (written before this check) is not fetched,
and a location the operator allowed is fetched without the server's own credentials.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"


class Listener:
    """An HTTP server on a free loopback port that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(("GET", self.path, dict(self.headers.items())))
                body = b'{"files": [{"path": "remote.txt", "is_dir": false, "file_size": 3}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server process has credentials of its own; none may leave with a fetch."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "server-secret-token")
    monkeypatch.setenv("RUNLAB_TRACKING_TOKEN", "server-secret-token")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "server")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "server-secret-password")


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def experiment_names(api: Api) -> list[str]:
    page = api.mlflow("POST", "experiments/search", {"max_results": 100, "view_type": "ALL"})
    return sorted(e["name"] for e in page.json()["experiments"])


def hostile_locations(listener: Listener, root: Path) -> dict[str, str]:
    """Locations a client must not choose on a server rooted at ``root``, each with a part of
    the message that refuses it."""
    host = listener.url.split("//", 1)[1]
    outside = "--allowed-artifact-locations"
    return {
        f"{listener.url}{PROXY_PATH}/x": outside,
        f"{listener.url}/internal/admin": outside,
        f"https://{host}{PROXY_PATH}/x": outside,
        f"mlflow-artifacts://{host}/x": outside,
        "s3://someone-elses-bucket/x": outside,
        "gs://bucket/x": outside,
        "file:///etc": outside,
        "/etc": outside,
        f"{root.as_uri()}/../escaped": outside,
        f"{root.as_uri()}/%2e%2e/escaped": outside,
        f"{root.as_uri()}-sibling/x": outside,
        f"file://otherhost{root}": "not the host 'otherhost'",
        f"{root.as_uri()}/x?query=1": "cannot have a query or a fragment",
        f"{listener.url}{PROXY_PATH}/x#frag": "has a query or a fragment",
        "relative/path": "has no working directory to resolve it from",
    }


def test_client_cannot_point_an_experiment_anywhere(
    api: Api, sqlite_store: SqlTrackingStore, listener: Listener
) -> None:
    root = Path(sqlite_store.default_artifact_root.removeprefix("file://"))
    for location, reason in hostile_locations(listener, root).items():
        response = api.mlflow(
            "POST", "experiments/create", {"name": "evil", "artifact_location": location}
        )
        message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
        assert reason in message, (location, message)
    assert experiment_names(api) == ["Default"]
    assert listener.requests == []


def test_locations_under_the_root_are_accepted_and_stored_resolved(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    root = sqlite_store.default_artifact_root
    accepted = {
        f"{root}/team/a": f"{root}/team/a",
        root: root,
        f"{root}/./team/../team/b": f"{root}/team/b",  # dots resolved, still inside
    }
    for i, (location, stored) in enumerate(accepted.items()):
        created = api.mlflow(
            "POST", "experiments/create", {"name": f"ok{i}", "artifact_location": location}
        )
        assert created.status_code == 200, created.text
        exp_id = created.json()["experiment_id"]
        got = api.mlflow("GET", "experiments/get", {"experiment_id": exp_id}).json()
        assert got["experiment"]["artifact_location"] == stored
    # Without a location the server's default is used, as before.
    plain = api.mlflow("POST", "experiments/create", {"name": "plain"}).json()["experiment_id"]
    got = api.mlflow("GET", "experiments/get", {"experiment_id": plain}).json()
    assert got["experiment"]["artifact_location"] == f"{root}/{plain}"


def test_legacy_http_row_is_never_fetched(
    api: Api, sqlite_store: SqlTrackingStore, listener: Listener, secrets: None
) -> None:
    # A row written before the check existed, straight through the store.
    exp_id = sqlite_store.create_experiment("legacy", f"{listener.url}{PROXY_PATH}/legacy")
    run_id = sqlite_store.create_run(exp_id, "u", 0, [], "r").info.run_id
    listing = api.mlflow("GET", "artifacts/list", {"run_id": run_id})
    assert "does not fetch it" in error_of(listing, 403, "PERMISSION_DENIED")
    download = api.get("/get-artifact", params={"run_id": run_id, "path": "a.txt"})
    error_of(download, 403, "PERMISSION_DENIED")
    preview = api.get(
        "/ajax-api/2.0/runlab/artifacts/preview", params={"run_id": run_id, "path": "a.txt"}
    )
    error_of(preview, 403, "PERMISSION_DENIED")
    assert listener.requests == []


def test_operator_allowed_location_is_accepted_and_fetched_without_credentials(
    sqlite_store: SqlTrackingStore, listener: Listener, secrets: None, tmp_path: Path
) -> None:
    allowed = f"{listener.url}{PROXY_PATH}/team"
    shared = tmp_path / "shared"
    settings = ServerSettings(allowed_artifact_locations=(allowed, shared.as_uri()))
    for api in make_api(sqlite_store, settings):
        created = api.mlflow(
            "POST",
            "experiments/create",
            {"name": "remote", "artifact_location": f"{allowed}/remote"},
        )
        assert created.status_code == 200, created.text
        exp_id = created.json()["experiment_id"]
        run_id = api.mlflow("POST", "runs/create", {"experiment_id": exp_id}).json()["run"]["info"][
            "run_id"
        ]
        listing = api.mlflow("GET", "artifacts/list", {"run_id": run_id})
        assert listing.status_code == 200, listing.text
        assert listing.json()["files"] == [{"path": "remote.txt", "is_dir": False, "file_size": 3}]
        [(method, path, headers)] = listener.requests
        assert method == "GET" and path.startswith(f"{PROXY_PATH}?path=team%2Fremote%2F{run_id}")
        # The server's own token and password stay home.
        assert "authorization" not in {name.lower() for name in headers}

        # Just outside the allowed prefix is still refused.
        outside = api.mlflow(
            "POST",
            "experiments/create",
            {"name": "outside", "artifact_location": f"{allowed}-other/x"},
        )
        error_of(outside, 400, "INVALID_PARAMETER_VALUE")
        local = api.mlflow(
            "POST",
            "experiments/create",
            {"name": "shared", "artifact_location": str(shared / "proj")},
        )
        assert local.status_code == 200, local.text
        stored = api.mlflow(
            "GET", "experiments/get", {"experiment_id": local.json()["experiment_id"]}
        ).json()["experiment"]["artifact_location"]
        assert stored == (shared / "proj").as_uri()
        assert experiment_names(api) == ["Default", "remote", "shared"]


def test_relative_location_is_resolved_from_the_working_directory(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    # The store's default root is tmp_path/artifacts; the server runs in tmp_path.
    settings = ServerSettings(working_directory=str(tmp_path))
    for api in make_api(sqlite_store, settings):
        inside = api.mlflow(
            "POST", "experiments/create", {"name": "in", "artifact_location": "artifacts/mine"}
        )
        assert inside.status_code == 200, inside.text
        exp = api.mlflow(
            "GET", "experiments/get", {"experiment_id": inside.json()["experiment_id"]}
        ).json()["experiment"]
        assert exp["artifact_location"] == (tmp_path / "artifacts" / "mine").as_uri()
        outside = api.mlflow(
            "POST", "experiments/create", {"name": "out", "artifact_location": "elsewhere"}
        )
        error_of(outside, 400, "INVALID_PARAMETER_VALUE")
        climbing = api.mlflow(
            "POST",
            "experiments/create",
            {"name": "up", "artifact_location": "artifacts/../../x"},
        )
        error_of(climbing, 400, "INVALID_PARAMETER_VALUE")
        assert experiment_names(api) == ["Default", "in"]


def test_proxy_locations_follow_the_proxy(sqlite_store: SqlTrackingStore, tmp_path: Path) -> None:
    from runlab.artifacts import LocalArtifactRepository

    destination = tmp_path / "proxied"
    settings = ServerSettings(artifacts_destination=destination.as_uri())
    for api in make_api(
        sqlite_store, settings, artifact_repo=LocalArtifactRepository(str(destination))
    ):
        for i, location in enumerate(["mlflow-artifacts:/custom/place", f"{destination}/direct"]):
            created = api.mlflow(
                "POST", "experiments/create", {"name": f"p{i}", "artifact_location": location}
            )
            assert created.status_code == 200, created.text
    # Without a proxy, mlflow-artifacts: locations name nothing this server serves.
    for api in make_api(sqlite_store, ServerSettings(serve_artifacts=False)):
        refused = api.mlflow(
            "POST",
            "experiments/create",
            {"name": "no-proxy", "artifact_location": "mlflow-artifacts:/x"},
        )
        error_of(refused, 400, "INVALID_PARAMETER_VALUE")

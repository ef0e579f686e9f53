"""`runlab server` and `runlab ui` as real processes on free ports, in temporary working folders.

Each server is started through the CLI (``python -m runlab.cli server …``) with the folder as its
working directory, so the defaults under test are the real ones: ``runlab.db`` and
``runlab-artifacts/`` of that folder. Option resolution and the worker configuration are also
checked in-process, where that is enough.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from runlab.cli.server import (
    ServeOptions,
    plan_server,
    print_banner,
    resolve_allowed_artifact_locations,
    resolve_allowed_hosts,
    resolve_backend_store_uri,
)
from runlab.server.factory import SERVER_CONFIG_ENV, ServerConfig, create_app
from runlab.server.settings import DEFAULT_ALLOWED_HOSTS, ServerSettings
from support.servers import REPO_ROOT, ServerProcess, free_port

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"

# A training script that uses the fluent API with nothing configured: it logs to runlab.db in
# its working directory, the store `runlab server` serves there by default.
SCRIPT = """
import runlab

runlab.set_experiment("from-script")
with runlab.start_run(run_name="scripted") as run:
    runlab.log_param("lr", 0.1)
    for step in range(50):
        runlab.log_metric("loss", 1 / (step + 1), step=step)
print(run.info.run_id)
"""


def child_env() -> dict[str, str]:
    """The environment of a child process: no tracking settings, this checkout's runlab."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def runlab_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``runlab ARGS`` in ``cwd`` and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "runlab.cli", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_in(folder: Path, *args: str, command: str = "server") -> ServerProcess:
    """Start ``runlab <command> --port <free> ARGS`` with ``folder`` as its working directory."""
    port = free_port()
    argv = [sys.executable, "-m", "runlab.cli", command, "--port", str(port), *args]
    server = ServerProcess(argv, port, folder.parent / f"{folder.name}-{port}.log", env=child_env())
    # The child inherits the working directory at Popen time; restore ours right after.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        server.start()
    return server


def run_script(folder: Path) -> str:
    """Run SCRIPT in ``folder``; returns the id of the run it logged."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=folder,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body to an MLflow endpoint; the answer must be 200."""
    response = client.post(f"{API}/{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    """GET an MLflow endpoint; the answer must be 200."""
    response = client.get(f"{API}/{path}", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- the default server: the working directory's store and artifact folder ------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder where a script logged a run before the server started."""
    folder = tmp_path_factory.mktemp("served") / "project"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def scripted_run_id(workdir: Path) -> str:
    """The run the script logged in ``workdir`` before any server ran there."""
    return run_script(workdir)


@pytest.fixture(scope="module")
def default_server(workdir: Path, scripted_run_id: str) -> Iterator[ServerProcess]:
    """`runlab server` with no options but --port, in ``workdir``."""
    server = start_in(workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(default_server: ServerProcess) -> Iterator[httpx.Client]:
    """An HTTP client bound to the default server."""
    with httpx.Client(base_url=default_server.url, timeout=30) as client:
        yield client


@pytest.mark.slow
def test_banner_names_the_working_directory_store(
    default_server: ServerProcess, workdir: Path
) -> None:
    log = default_server.log()
    assert f"at http://127.0.0.1:{default_server.port}" in log
    assert str(workdir.resolve() / "runlab.db") in log
    assert (workdir.resolve() / "runlab-artifacts").as_uri() in log
    assert "new experiments' root:  mlflow-artifacts:/" in log


@pytest.mark.slow
def test_runs_logged_by_a_script_appear(
    api: httpx.Client, workdir: Path, scripted_run_id: str
) -> None:
    experiment = get(api, "experiments/get-by-name", experiment_name="from-script")["experiment"]
    found = post(api, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert [r["info"]["run_id"] for r in found] == [scripted_run_id]
    run = found[0]
    assert {"key": "lr", "value": "0.1"} in run["data"]["params"]
    history = get(api, "metrics/get-history", run_id=scripted_run_id, metric_key="loss")
    assert [m["step"] for m in history["metrics"]] == list(range(50))
    # A run created locally keeps its file: artifact URI in the folder beside the database.
    assert run["info"]["artifact_uri"].startswith((workdir.resolve() / "runlab-artifacts").as_uri())


@pytest.mark.slow
def test_a_script_logging_while_the_server_runs_shares_the_store(
    api: httpx.Client, workdir: Path
) -> None:
    run_id = run_script(workdir)  # the server holds the same SQLite file open meanwhile
    run = get(api, "runs/get", run_id=run_id)["run"]
    assert run["info"]["status"] == "FINISHED"
    assert {m["key"] for m in run["data"]["metrics"]} == {"loss"}


@pytest.mark.slow
def test_new_experiment_gets_a_proxied_root_and_artifacts_land_in_the_folder(
    api: httpx.Client, workdir: Path
) -> None:
    experiment_id = post(api, "experiments/create", {"name": "through-the-api"})["experiment_id"]
    experiment = get(api, "experiments/get", experiment_id=experiment_id)["experiment"]
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    run = post(api, "runs/create", {"experiment_id": experiment_id})["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"

    path = f"{experiment_id}/{run_id}/artifacts/notes/readme.txt"
    put = api.put(f"{PROXY}/{path}", content=b"hello through the proxy")
    assert put.status_code == 200, put.text
    landed = workdir / "runlab-artifacts" / experiment_id / run_id / "artifacts" / "notes"
    assert (landed / "readme.txt").read_bytes() == b"hello through the proxy"
    assert api.get(f"{PROXY}/{path}").content == b"hello through the proxy"


@pytest.mark.slow
def test_host_allow_list(default_server: ServerProcess) -> None:
    url = f"{default_server.url}/health"
    assert httpx.get(url, headers={"Host": f"localhost:{default_server.port}"}).status_code == 200
    refused = httpx.get(url, headers={"Host": "rebound.example.com"})
    assert refused.status_code == 403
    assert "--allowed-hosts" in refused.text


# -- other configurations --------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_store_every_point_of_concurrent_log_batches(tmp_path: Path) -> None:
    server = start_in(tmp_path, "--workers", "2", "--log-level", "info")
    try:
        # Each uvicorn worker announces itself; /health answers as soon as the first is up.
        deadline = time.monotonic() + 60
        while server.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        assert server.log().count("Started server process") == 2, server.log()
        threads, batches, per_batch = 4, 10, 250
        with httpx.Client(base_url=server.url, timeout=60) as client:
            experiment_id = post(client, "experiments/create", {"name": "concurrent"})[
                "experiment_id"
            ]
            run_ids = [
                post(client, "runs/create", {"experiment_id": experiment_id})["run"]["info"][
                    "run_id"
                ]
                for _ in range(threads)
            ]
        failures: list[str] = []

        def send(run_id: str) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for b in range(batches):
                    metrics = [
                        {
                            "key": "loss",
                            "value": i * 0.5,
                            "timestamp": 1_700_000_000_000 + i,
                            "step": b * per_batch + i,
                        }
                        for i in range(per_batch)
                    ]
                    answer = client.post(
                        f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
                    )
                    if answer.status_code != 200:
                        failures.append(answer.text)

        workers = [threading.Thread(target=send, args=(r,)) for r in run_ids]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=120)
        assert failures == []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for run_id in run_ids:
                history = get(
                    client,
                    "metrics/get-history",
                    run_id=run_id,
                    metric_key="loss",
                    max_results=batches * per_batch,
                )
                assert len(history["metrics"]) == batches * per_batch
                assert sorted(m["step"] for m in history["metrics"]) == list(
                    range(batches * per_batch)
                )
    finally:
        server.stop()


@pytest.mark.slow
def test_no_serve_artifacts(tmp_path: Path) -> None:
    server = start_in(
        tmp_path, "--no-serve-artifacts", "--allowed-hosts", "tracking.example.org:8080"
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get(PROXY).status_code == 503
            assert client.put(f"{PROXY}/1/x.txt", content=b"x").status_code == 503
            experiment_id = post(client, "experiments/create", {"name": "local"})["experiment_id"]
            experiment = get(client, "experiments/get", experiment_id=experiment_id)["experiment"]
            folder = (tmp_path.resolve() / "runlab-artifacts").as_uri()
            assert experiment["artifact_location"] == f"{folder}/{experiment_id}"
            # The allowed host is matched without its port; the loopback names stay allowed.
            extra = client.get("/health", headers={"Host": "tracking.example.org:5000"})
            assert extra.status_code == 200
            assert client.get("/health", headers={"Host": "other.example.org"}).status_code == 403
        assert "artifact proxy:         off" in server.log()
    finally:
        server.stop()


@pytest.mark.slow
def test_ui_serves_the_folder_and_prints_the_url(tmp_path: Path) -> None:
    run_id = run_script(tmp_path)
    server = start_in(tmp_path, command="ui")
    try:
        assert f"Open http://127.0.0.1:{server.port} in a browser" in server.log()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert get(client, "runs/get", run_id=run_id)["run"]["info"]["run_id"] == run_id
            # The web UI is served at / by the same process, listing the script's experiment.
            page = client.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert 'data-name="Default"' in page.text
    finally:
        server.stop()


# A newcomer's script: no tracking URI, so it opens runlab.db of its folder directly, and logs
# to the Default experiment (which the server created with an mlflow-artifacts:/0 location).
LOG_LOCALLY = """
import runlab

with runlab.start_run() as run:
    runlab.log_text("written by the script", "notes/local.txt")
print(run.info.run_id)
"""

READ_LOCALLY = """
import sys
from pathlib import Path

import runlab

run_id, destination = sys.argv[1], sys.argv[2]
got = runlab.MlflowClient().download_artifacts(run_id, "notes", destination)
for path in sorted(Path(got).iterdir()):
    print(path.name, path.read_text())
"""


def run_locally(folder: Path, code: str, *args: str) -> str:
    """Run ``code`` in ``folder`` with no tracking settings; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=folder,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_local_script_and_the_server_share_proxied_artifacts(tmp_path: Path) -> None:
    folder = tmp_path / "newcomer"
    folder.mkdir()
    # 1. The server first: it creates runlab.db and the Default experiment.
    server = start_in(folder)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            default = get(client, "experiments/get", experiment_id="0")["experiment"]
            assert default["artifact_location"] == "mlflow-artifacts:/0"

            # 2. A script in the same folder logs an artifact to the Default experiment.
            run_id = run_locally(folder, LOG_LOCALLY).strip().splitlines()[-1]
            stored = folder / "runlab-artifacts" / "0" / run_id / "artifacts" / "notes"
            assert (stored / "local.txt").read_text() == "written by the script"

            # 3. The server serves it through its proxy and its UI download.
            remote_folder = f"{PROXY}/0/{run_id}/artifacts/notes"
            through_proxy = client.get(f"{remote_folder}/local.txt")
            assert through_proxy.status_code == 200, through_proxy.text
            assert through_proxy.content == b"written by the script"
            listed = client.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "notes"})
            assert listed.json()["files"] == [
                {"path": "notes/local.txt", "is_dir": False, "file_size": 21}
            ]

            # 4. The reverse: a file uploaded through the proxy reaches the script.
            put = client.put(f"{remote_folder}/remote.txt", content=b"written via the server")
            assert put.status_code == 200, put.text
        lines = run_locally(folder, READ_LOCALLY, run_id, str(tmp_path / "downloaded"))
        assert lines.splitlines() == [
            "local.txt written by the script",
            "remote.txt written via the server",
        ]
    finally:
        server.stop()


@pytest.mark.slow
def test_http_default_artifact_root_is_read_through_the_other_server(
    tmp_path: Path, default_server: ServerProcess
) -> None:
    # This server's experiments keep their artifacts in the default server's proxy.
    root = f"{default_server.url}{PROXY}/elsewhere"
    server = start_in(tmp_path, "--default-artifact-root", root)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            experiment_id = post(client, "experiments/create", {"name": "remote-root"})[
                "experiment_id"
            ]
            experiment = get(client, "experiments/get", experiment_id=experiment_id)["experiment"]
            assert experiment["artifact_location"] == f"{root}/{experiment_id}"
            run_id = post(client, "runs/create", {"experiment_id": experiment_id})["run"]["info"][
                "run_id"
            ]
            assert get(client, "artifacts/list", run_id=run_id) == {
                "root_uri": f"{root}/{experiment_id}/{run_id}/artifacts"
            }
            remote = f"{PROXY}/elsewhere/{experiment_id}/{run_id}/artifacts/notes.txt"
            assert httpx.put(f"{default_server.url}{remote}", content=b"hi").status_code == 200
            listing = get(client, "artifacts/list", run_id=run_id)
            assert listing["files"] == [{"path": "notes.txt", "is_dir": False, "file_size": 2}]
            # A client may still not pick another host for a new experiment.
            refused = client.post(
                f"{API}/experiments/create",
                json={"name": "evil", "artifact_location": f"{server.url}{PROXY}/x"},
            )
            assert refused.status_code == 400
            assert "--allowed-artifact-locations" in refused.json()["message"]
    finally:
        server.stop()


@pytest.mark.slow
def test_backend_store_uri_folder_and_explicit_roots(tmp_path: Path) -> None:
    store = tmp_path / "store"
    dest = tmp_path / "dest"
    server = start_in(
        tmp_path,
        "--backend-store-uri",
        "store",
        "--artifacts-destination",
        str(dest),
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            experiment_id = post(client, "experiments/create", {"name": "e"})["experiment_id"]
            run_id = post(client, "runs/create", {"experiment_id": experiment_id})["run"]["info"][
                "run_id"
            ]
            path = f"{experiment_id}/{run_id}/artifacts/a.bin"
            assert client.put(f"{PROXY}/{path}", content=b"\x00\x01").status_code == 200
        assert (store / "runlab.db").is_file()
        assert (dest / path).read_bytes() == b"\x00\x01"
    finally:
        server.stop()


# -- bad options: one line on stderr, exit code 1, nothing started ---------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


BAD_OPTIONS = [
    (["--port", "70000"], "--port"),
    (["--port", "eighty"], "--port"),
    (["--workers", "0"], "--workers"),
    (["--backend-store-uri", "postgresql://postgres@127.0.0.1:1/none"], "Cannot open the backend"),
    (["--backend-store-uri", "http://127.0.0.1:5000"], "is a tracking server"),
    (["--backend-store-uri", "sqlite://"], "in-memory"),
    (["--no-serve-artifacts", "--artifacts-destination", "x"], "--artifacts-destination"),
    (["--artifacts-destination", "mlflow-artifacts:/"], "proxy itself"),
    (["--cors-allowed-origins", "example.org"], "not an origin"),
    (["--allowed-hosts", "10.0.*"], "not a host name"),
    (["--host", "no-such-host.invalid"], "not a known address"),
    (["--max-request-bytes", "0"], "--max-request-bytes"),
    (["--default-artifact-root", "http://127.0.0.1:1/files"], "artifact proxy"),
    (["--artifacts-destination", "http://127.0.0.1:1" + PROXY], "http(s) artifact roots"),
    (["--allowed-artifact-locations", "s3://bucket/x?versionId=1"], "query or a fragment"),
    (["--allowed-artifact-locations", "shared/../up"], "contains '..'"),
    (["--bogus"], "No such option"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS]
)
def test_bad_options_exit_1_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = runlab_cli("server", "--port", str(free_port()), *args, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert message in lines[0]
    assert "runlab server" not in done.stdout  # no banner: nothing was started


@pytest.mark.slow
def test_port_in_use_exits_1(tmp_path: Path, busy_port: int) -> None:
    done = runlab_cli("server", "--port", str(busy_port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: Cannot listen on 127.0.0.1:")
    assert "Pick another --port" in done.stderr


# -- option resolution and the worker configuration, in-process ------------------------------------


def test_defaults_resolve_to_the_working_directory(tmp_path: Path) -> None:
    plan = plan_server(ServeOptions(), str(tmp_path))
    config = plan.config
    assert config.backend_store_uri == f"sqlite:///{tmp_path.resolve() / 'runlab.db'}"
    assert config.default_artifact_root == "mlflow-artifacts:/"
    assert (
        config.settings.artifacts_destination == (tmp_path.resolve() / "runlab-artifacts").as_uri()
    )
    assert config.settings.allowed_hosts == DEFAULT_ALLOWED_HOSTS
    assert config.settings.cors_allowed_origins == ()
    assert plan.url == "http://127.0.0.1:5000"


def test_tracking_uri_variables_do_not_move_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They point clients at the server; read by the server they could point it at itself.
    monkeypatch.setenv("RUNLAB_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    config = plan_server(ServeOptions(), str(tmp_path)).config
    assert config.backend_store_uri == f"sqlite:///{tmp_path.resolve() / 'runlab.db'}"


def test_no_serve_artifacts_uses_the_folder(tmp_path: Path) -> None:
    config = plan_server(ServeOptions(serve_artifacts=False), str(tmp_path)).config
    assert config.default_artifact_root == (tmp_path.resolve() / "runlab-artifacts").as_uri()
    assert config.settings.artifacts_destination is None
    assert config.settings.serve_artifacts is False


def test_relative_sqlite_and_folder_uris_become_absolute(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    absolute = tmp_path.resolve()
    assert (
        resolve_backend_store_uri("sqlite:///db/x.db", cwd) == f"sqlite:///{absolute / 'db/x.db'}"
    )
    assert resolve_backend_store_uri("runs", cwd) == f"sqlite:///{absolute / 'runs/runlab.db'}"
    pg = "postgresql://u:p@db.example.org/runlab"
    assert resolve_backend_store_uri(pg, cwd) == pg


def test_allowed_hosts() -> None:
    assert resolve_allowed_hosts(None, "0.0.0.0") == DEFAULT_ALLOWED_HOSTS
    assert resolve_allowed_hosts(None, "10.1.2.3") == (*DEFAULT_ALLOWED_HOSTS, "10.1.2.3")
    assert resolve_allowed_hosts(None, "fe80::1")[-1] == "[fe80::1]"
    given = resolve_allowed_hosts("Tracking.Example.org:443, 10.0.0.5", "127.0.0.1")
    assert given == (*DEFAULT_ALLOWED_HOSTS, "tracking.example.org", "10.0.0.5")
    assert resolve_allowed_hosts("*", "127.0.0.1")[-1] == "*"


def test_allowed_artifact_locations_resolve(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    proxy = "https://tracking.example.org/api/2.0/mlflow-artifacts/artifacts/team"
    given = f"shared, {tmp_path / 'abs'}, s3://bucket/team, {proxy}, mlflow-artifacts://host/x"
    assert resolve_allowed_artifact_locations(given, cwd) == (
        (tmp_path.resolve() / "shared").as_uri(),
        (tmp_path.resolve() / "abs").as_uri(),
        "s3://bucket/team",
        proxy,
        "mlflow-artifacts://host/x",
    )
    assert resolve_allowed_artifact_locations(None, cwd) == ()
    plan = plan_server(ServeOptions(allowed_artifact_locations="shared"), cwd)
    settings = plan.config.settings
    assert settings.allowed_artifact_locations == ((tmp_path.resolve() / "shared").as_uri(),)
    # Relative experiment locations are resolved from where the server was started.
    assert settings.working_directory == str(tmp_path.resolve())


def test_banner_warns_when_scripts_cannot_follow_the_proxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    print_banner(plan_server(ServeOptions(), str(tmp_path)), "server")
    assert "note:" not in capsys.readouterr().out
    other = ServeOptions(artifacts_destination=str(tmp_path / "elsewhere"))
    print_banner(plan_server(other, str(tmp_path)), "server")
    out = capsys.readouterr().out
    beside = (tmp_path.resolve() / "runlab-artifacts").as_uri()
    assert (
        f"note: scripts that use this SQLite file directly keep mlflow-artifacts: files in {beside}"
        in out
    )


def test_http_default_artifact_root_is_accepted(tmp_path: Path) -> None:
    # An operator-configured proxy of another server, as MLflow's server accepts.
    root = "http://artifacts.example.org:5000/api/2.0/mlflow-artifacts/artifacts"
    config = plan_server(ServeOptions(default_artifact_root=root), str(tmp_path)).config
    assert config.default_artifact_root == root


def test_server_config_round_trips_through_json() -> None:
    settings = ServerSettings(
        allowed_hosts=("localhost", "example.org"),
        cors_allowed_origins=("https://a.example.org",),
        max_request_bytes=1234,
        max_artifact_bytes=None,
        serve_artifacts=True,
        artifacts_destination="s3://bucket/prefix",
        allowed_artifact_locations=("s3://bucket/team", "file:///srv/shared"),
        working_directory="/srv",
        version="9.9.9",
    )
    config = ServerConfig("postgresql://u@h/db", "mlflow-artifacts:/", settings)
    assert ServerConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown server setting"):
        raw = json.loads(config.to_json())
        raw["settings"]["surprise"] = 1
        ServerConfig.from_json(json.dumps(raw))
    with pytest.raises(ValueError, match="Not a runlab server configuration"):
        ServerConfig.from_json("{}")


def test_create_app_needs_the_cli_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(SERVER_CONFIG_ENV, raising=False)
    with pytest.raises(RuntimeError, match="runlab server"):
        create_app()
    plan = plan_server(ServeOptions(), str(tmp_path))
    monkeypatch.setenv(SERVER_CONFIG_ENV, plan.config.to_json())
    app = create_app()

    async def exercise() -> tuple[str, str, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            health = (await client.get("/health")).text
            version = (await client.get("/version")).text
            created = await client.post(f"{API}/experiments/create", json={"name": "via-factory"})
            experiment_id = created.json()["experiment_id"]
            got = await client.get(
                f"{API}/experiments/get", params={"experiment_id": experiment_id}
            )
            location = got.json()["experiment"]["artifact_location"]
            return health, version, location.replace(experiment_id, "<id>")

    try:
        assert anyio.run(exercise) == ("OK", plan.config.settings.version, "mlflow-artifacts:/<id>")
    finally:
        app.state.context.tracking_store.close()

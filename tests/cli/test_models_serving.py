"""``runlab models serve | predict | generate-dockerfile | build-docker`` through the CLI.

``serve`` runs as a real process on a free port (one worker and two), ``predict`` through
click's runner on files in tmp_path, and the Docker build context is checked file by file and
by running its start command here, against the copied model.

The ``outputs`` model is a custom model, a cloudpickle: it is served and scored with
``--trust-model`` (or from a trusted source), and refused without.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest

from runlab import __version__
from runlab.tracking.client import Client
from serving.scoring_support import iris_features, save_iris_model, save_outputs_model
from support.servers import REPO_ROOT, ServerProcess, free_port, running

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]
TRUST = "--trust-model"
IRIS_CLASSES = [0, 2]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-models")
    return {
        "iris": save_iris_model(folder / "iris"),
        "outputs": save_outputs_model(folder / "outputs"),
    }


def child_env() -> dict[str, str]:
    """A child's environment: no tracking settings, this checkout's runlab and test helpers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    paths = [str(REPO_ROOT / "src"), str(REPO_ROOT / "tests"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def serve_process(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """``runlab models serve ARGS`` on a free port (not started yet), ``env`` added."""
    port = free_port()
    argv = [sys.executable, "-m", "runlab.cli.main", "models", "serve", "-p", str(port), *args]
    log = tmp_path / f"serve-{port}.log"
    return ServerProcess(argv, port, log, startup_timeout=90.0, env={**child_env(), **(env or {})})


def invoke(url: str, body: object) -> httpx.Response:
    return httpx.post(f"{url}/invocations", json=body, timeout=30.0)


# -- serve --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_serve_one_worker(tmp_path: Path, models: dict[str, Path]) -> None:
    server = serve_process(tmp_path, "-m", str(models["iris"]), "--log-level", "warning")
    with running(server):
        assert httpx.get(f"{server.url}/ping").status_code == 200
        assert httpx.get(f"{server.url}/version").text == __version__
        response = invoke(server.url, {"inputs": IRIS_ROWS})
        assert response.json() == {"predictions": IRIS_CLASSES}
        csv = pd.DataFrame(IRIS_ROWS, columns=iris_features().columns).to_csv(index=False)
        response = httpx.post(
            f"{server.url}/invocations", content=csv, headers={"Content-Type": "text/csv"}
        )
        assert response.json() == {"predictions": IRIS_CLASSES}
        bad = invoke(server.url, {"rows": IRIS_ROWS})
        assert bad.status_code == 400
        assert bad.json()["error_code"] == "BAD_REQUEST"
        rebound = httpx.get(f"{server.url}/ping", headers={"Host": "evil.example"})
        assert rebound.status_code == 403


@pytest.mark.slow
def test_serve_two_workers_share_the_port(tmp_path: Path, models: dict[str, Path]) -> None:
    server = serve_process(tmp_path, "-m", str(models["iris"]), "--workers", "2")
    with running(server):
        answers: list[object] = []

        def client() -> None:
            with httpx.Client(base_url=server.url, timeout=30.0) as http:
                for _ in range(10):
                    answers.append(http.post("/invocations", json={"inputs": IRIS_ROWS}).json())

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [{"predictions": IRIS_CLASSES}] * 40
        # uvicorn logs one start line per worker process, each with its own pid; the second
        # may still be loading the model when the first already answers.
        deadline = time.monotonic() + 60
        while len(worker_pids(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(worker_pids(server)) == 2, server.log_path.read_text()


def worker_pids(server: ServerProcess) -> set[str]:
    """The pids of the uvicorn workers that are serving (each logs this once its app, and so its
    model, is loaded)."""
    return set(re.findall(r"Started server process \[(\d+)\]", server.log_path.read_text()))


@pytest.mark.slow
def test_serve_a_runs_uri(tmp_path: Path, models: dict[str, Path]) -> None:
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    client = Client(uri)
    experiment = client.get_experiment_by_name("Default")
    assert experiment is not None
    run_id = client.create_run(experiment.experiment_id).info.run_id
    client.log_artifacts(run_id, str(models["iris"]), "model")
    server = serve_process(
        tmp_path, "-m", f"runs:/{run_id}/model", "--tracking-uri", uri, "--log-level", "warning"
    )
    with running(server):
        assert invoke(server.url, {"inputs": IRIS_ROWS}).json() == {"predictions": IRIS_CLASSES}


@pytest.mark.slow
def test_serve_a_pickled_model_with_trust_model(tmp_path: Path, models: dict[str, Path]) -> None:
    server = serve_process(
        tmp_path, "-m", str(models["outputs"]), "--trust-model", "--log-level", "warning"
    )
    with running(server):
        body = {"dataframe_records": [{"x": 1.0}], "params": {"kind": "string"}}
        assert invoke(server.url, body).json() == {"predictions": "1 rows"}


@pytest.mark.slow
def test_workers_get_the_trust_decision_made_on_the_uri(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    client = Client(uri)
    experiment = client.get_experiment_by_name("Default")
    assert experiment is not None
    run_id = client.create_run(experiment.experiment_id).info.run_id
    client.log_artifacts(run_id, str(models["outputs"]), "model")
    # The operator trusts runs:/ URIs. The workers only see the downloaded copy, which no
    # prefix matches: they serve because the CLI hands them its decision.
    server = serve_process(
        tmp_path,
        "-m",
        f"runs:/{run_id}/model",
        "--tracking-uri",
        uri,
        "--workers",
        "2",
        env={"RUNLAB_TRUSTED_MODEL_SOURCES": "runs:/"},
    )
    with running(server):
        body = {"dataframe_records": [{"x": 2.0}], "params": {"kind": "string"}}
        answers = [invoke(server.url, body).json() for _ in range(6)]
        assert answers == [{"predictions": "1 rows"}] * 6


def test_serve_refuses_a_pickled_model_without_trust(
    runlab: Runner, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNLAB_TRUSTED_MODEL_SOURCES", raising=False)
    result = runlab("models", "serve", "-m", str(models["outputs"]), "-p", str(free_port()))
    assert result.exit_code == 1
    assert result.output.startswith("Error: Refusing to load the model"), result.output
    for words in ("cloudpickle format", "runs code", "--trust-model", "trusted=True"):
        assert words in result.output
    assert "RUNLAB_TRUSTED_MODEL_SOURCES" in result.output


@pytest.mark.slow
def test_serve_bounds_the_columns_and_rows_of_a_request(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    server = serve_process(
        tmp_path, "-m", str(models["iris"]), "--max-rows", "2", "--log-level", "warning"
    )
    with running(server):
        # 100,000 columns in about 690 KB: refused by the default column limit, from its header.
        header = ",".join(f"c{i}" for i in range(100_000))
        wide = f"{header}\n{','.join(['1'] * 100_000)}\n"
        response = httpx.post(
            f"{server.url}/invocations",
            content=wide,
            headers={"Content-Type": "text/csv"},
            timeout=60.0,
        )
        assert response.status_code == 400
        assert response.json() == {
            "error_code": "BAD_REQUEST",
            "message": "The request holds more than 10,000 columns; this server takes at most "
            "10,000 per request. Send fewer, or raise the limit with `runlab models serve "
            "--max-columns N`.",
        }
        three_rows = invoke(server.url, {"inputs": [*IRIS_ROWS, IRIS_ROWS[0]]})
        assert three_rows.status_code == 400
        assert "more than 2 rows" in three_rows.json()["message"]
        assert "--max-rows N" in three_rows.json()["message"]
        assert invoke(server.url, {"inputs": IRIS_ROWS}).json() == {"predictions": IRIS_CLASSES}


def test_allowed_hosts() -> None:
    from runlab.cli.models_serving import serving_allowed_hosts

    loopback = ("localhost", "127.0.0.1", "[::1]", "::1")
    assert serving_allowed_hosts(None, "127.0.0.1") == loopback
    assert serving_allowed_hosts(None, "0.0.0.0") == ("*",)
    assert serving_allowed_hosts(None, "::") == ("*",)
    assert serving_allowed_hosts("models.example.org:8080", "0.0.0.0") == (
        *loopback,
        "models.example.org",
    )
    assert serving_allowed_hosts(None, "10.1.2.3") == (*loopback, "10.1.2.3")


def test_serve_refuses_a_missing_model(runlab: Runner, tmp_path: Path) -> None:
    result = runlab("models", "serve", "-m", str(tmp_path / "nothing"), "-p", str(free_port()))
    assert result.exit_code == 1
    assert "No model at" in result.output


def test_serve_refuses_a_folder_without_mlmodel(runlab: Runner, tmp_path: Path) -> None:
    result = runlab("models", "serve", "-m", str(tmp_path), "-p", str(free_port()))
    assert result.exit_code == 1
    assert "MLmodel" in result.output


def test_serve_refuses_a_model_that_cannot_load(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models["iris"], broken)
    for saved in broken.glob("model.*"):
        saved.write_bytes(b"not a model")
    result = runlab("models", "serve", "-m", str(broken), "-p", str(free_port()))
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot load the model:"), result.output


def test_serve_refuses_a_busy_port(runlab: Runner, models: dict[str, Path], tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = runlab("models", "serve", "-m", str(models["iris"]), "-p", str(port))
    assert result.exit_code == 1
    assert "Cannot listen on" in result.output


# -- predict ------------------------------------------------------------------------------------------
@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    pd.DataFrame(IRIS_ROWS, columns=iris_features().columns).to_csv(path, index=False)
    return path


def test_predict_csv_to_stdout(runlab: Runner, models: dict[str, Path], iris_csv: Path) -> None:
    out = runlab.ok("models", "predict", "-m", str(models["iris"]), "-i", str(iris_csv))
    assert json.loads(out) == {"predictions": IRIS_CLASSES}
    # MLflow's spelling of the same command works too.
    args = ["-m", str(models["iris"]), "-i", str(iris_csv), "-t", "csv", "--env-manager", "local"]
    assert json.loads(runlab.ok("models", "predict", *args)) == {"predictions": IRIS_CLASSES}


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": IRIS_ROWS},
        {"dataframe_split": {"columns": list(iris_features().columns), "data": IRIS_ROWS}},
        [dict(zip(iris_features().columns, row, strict=True)) for row in IRIS_ROWS],
    ],
    ids=["inputs", "dataframe_split", "plain-records"],
)
def test_predict_json_layouts(
    runlab: Runner, models: dict[str, Path], tmp_path: Path, body: object
) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(body))
    out = runlab.ok("models", "predict", "-m", str(models["iris"]), "-i", str(source))
    assert json.loads(out) == {"predictions": IRIS_CLASSES}


def test_predict_parquet_to_each_format(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pd.DataFrame(IRIS_ROWS * 3, columns=iris_features().columns).to_parquet(source)
    model = str(models["iris"])
    runlab.ok("models", "predict", "-m", model, "-i", str(source), "-o", str(tmp_path / "p.json"))
    assert json.loads((tmp_path / "p.json").read_text()) == {"predictions": IRIS_CLASSES * 3}
    runlab.ok("models", "predict", "-m", model, "-i", str(source), "-o", str(tmp_path / "p.csv"))
    assert pd.read_csv(tmp_path / "p.csv")["prediction"].tolist() == IRIS_CLASSES * 3
    target = tmp_path / "p.parquet"
    runlab.ok("models", "predict", "-m", model, "-i", str(source), "-o", str(target))
    assert pd.read_parquet(target)["prediction"].tolist() == IRIS_CLASSES * 3
    # --output-format wins over the extension.
    odd = tmp_path / "predictions.out"
    runlab.ok(
        "models",
        "predict",
        "-m",
        model,
        "-i",
        str(source),
        "-o",
        str(odd),
        "--output-format",
        "csv",
    )
    assert pd.read_csv(odd)["prediction"].tolist() == IRIS_CLASSES * 3


def test_predict_in_chunks_gives_the_whole_answer(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    rows = iris_features()
    source = tmp_path / "all.csv"
    rows.to_csv(source, index=False)
    whole = runlab.ok("models", "predict", "-m", str(models["iris"]), "-i", str(source))
    chunked = runlab.ok(
        "models", "predict", "-m", str(models["iris"]), "-i", str(source), "--chunk-size", "7"
    )
    assert json.loads(chunked) == json.loads(whole)
    assert len(json.loads(whole)["predictions"]) == len(rows)


def test_predict_frame_output_and_params(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"dataframe_records": [{"x": 1.0}, {"x": 2.0}]}))
    target = tmp_path / "out.csv"
    model = str(models["outputs"])
    runlab.ok("models", "predict", "-m", model, "-i", str(source), "-o", str(target), TRUST)
    frame = pd.read_csv(target)
    assert frame.to_dict(orient="list") == {"doubled": [2.0, 4.0], "label": ["row0", "row1"]}
    source.write_text(json.dumps({"dataframe_records": [{"x": 1.0}], "params": {"kind": "string"}}))
    out = runlab.ok("models", "predict", "-m", model, "-i", str(source), TRUST)
    assert json.loads(out) == {"predictions": "1 rows"}


def test_predict_refuses_a_pickled_model_without_trust_and_writes_nothing(
    runlab: Runner, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNLAB_TRUSTED_MODEL_SOURCES", raising=False)
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"dataframe_records": [{"x": 1.0}]}))
    target = tmp_path / "out.json"
    model = str(models["outputs"])
    result = runlab("models", "predict", "-m", model, "-i", str(source), "-o", str(target))
    assert result.exit_code == 1
    assert "cloudpickle format" in result.output and "--trust-model" in result.output
    assert list(tmp_path.iterdir()) == [source]
    # The operator's list of trusted sources is the other way in.
    monkeypatch.setenv("RUNLAB_TRUSTED_MODEL_SOURCES", str(models["outputs"].parent))
    runlab.ok("models", "predict", "-m", model, "-i", str(source), "-o", str(target))
    assert json.loads(target.read_text()) == {"predictions": [{"doubled": 2.0, "label": "row0"}]}


def test_predict_with_content_type_for_an_unnamed_file(
    runlab: Runner, models: dict[str, Path], iris_csv: Path, tmp_path: Path
) -> None:
    source = tmp_path / "rows.data"
    shutil.copy(iris_csv, source)
    out = runlab.ok("models", "predict", "-m", str(models["iris"]), "-i", str(source), "-t", "csv")
    assert json.loads(out) == {"predictions": IRIS_CLASSES}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.csv", None, "does not exist"),
        ("broken.json", "{not json", "not valid JSON"),
        ("wrong.json", '{"rows": []}', "exactly one of the keys"),
        ("empty.csv", "", "CSV body cannot be read"),
        ("other.csv", "a,b\n1,2\n", "missing required column"),
        ("rows.txt", "1,2", "Cannot tell the format"),
        ("bad.parquet", "not parquet", "Parquet body cannot be read"),
    ],
)
def test_predict_bad_input(
    runlab: Runner,
    models: dict[str, Path],
    tmp_path: Path,
    name: str,
    content: str | None,
    reason: str,
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content)
    target = tmp_path / "out.json"
    result = runlab(
        "models", "predict", "-m", str(models["iris"]), "-i", str(source), "-o", str(target)
    )
    assert result.exit_code == 1
    assert reason in result.output
    assert not target.exists()


def test_predict_leaves_no_partial_output(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    source = tmp_path / "in.json"
    model = str(models["outputs"])
    for kind, reason in (("explode", "cannot produce explode"), ("string", "not a table")):
        body = {"dataframe_records": [{"x": 1.0}], "params": {"kind": kind}}
        source.write_text(json.dumps(body))
        result = runlab(
            "models", "predict", "-m", model, "-i", str(source), "-o", str(target), TRUST
        )
        assert result.exit_code == 1, result.output
        assert reason in result.output
        assert list(tmp_path.iterdir()) == [source]


def test_predict_keeps_an_old_output_when_it_fails(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous")
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"dataframe_records": [{"x": 1.0}], "params": {"kind": "boom"}}))
    model = str(models["outputs"])
    result = runlab("models", "predict", "-m", model, "-i", str(source), "-o", str(target), TRUST)
    assert result.exit_code == 1
    assert "cannot produce boom" in result.output
    assert target.read_text() == "previous"


def test_predict_into_a_missing_folder(
    runlab: Runner, models: dict[str, Path], iris_csv: Path, tmp_path: Path
) -> None:
    target = tmp_path / "nowhere" / "out.json"
    result = runlab(
        "models", "predict", "-m", str(models["iris"]), "-i", str(iris_csv), "-o", str(target)
    )
    assert result.exit_code == 1
    assert "Output folder" in result.output and "does not exist" in result.output


# -- docker -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docker_context(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context of the iris model, with a wheel of this runlab (built once)."""
    from click.testing import CliRunner

    from runlab.cli.main import cli

    target = tmp_path_factory.mktemp("docker") / "context"
    result = CliRunner().invoke(
        cli, ["models", "generate-dockerfile", "-m", str(models["iris"]), "-d", str(target)]
    )
    assert result.exit_code == 0, result.output
    return target


def dockerfile_cmd(context: Path) -> list[str]:
    lines = (context / "Dockerfile").read_text().splitlines()
    cmd = [line for line in lines if line.startswith("CMD ")]
    assert len(cmd) == 1
    argv: list[str] = json.loads(cmd[0][len("CMD ") :])
    return argv


@pytest.mark.slow
def test_generated_context(docker_context: Path, models: dict[str, Path]) -> None:
    names = sorted(p.name for p in docker_context.iterdir())
    assert names == ["Dockerfile", "model", "requirements.txt", "wheels"]
    copied = sorted(p.name for p in (docker_context / "model").iterdir())
    assert copied == sorted(p.name for p in models["iris"].iterdir())
    wheels = list((docker_context / "wheels").glob("runlab-*.whl"))
    assert len(wheels) == 1 and __version__ in wheels[0].name
    requirements = (docker_context / "requirements.txt").read_text().splitlines()
    original = (models["iris"] / "requirements.txt").read_text().splitlines()
    assert [r for r in original if not r.startswith("runlab")] == requirements
    assert any(r.startswith("scikit-learn") for r in requirements)
    dockerfile = (docker_context / "Dockerfile").read_text()
    python = ".".join(map(str, sys.version_info[:2]))
    assert f"FROM python:{python}-slim" in dockerfile
    assert f'RUN pip install "/tmp/wheels/{wheels[0].name}[models]"' in dockerfile
    assert "pip install -r /tmp/model-requirements.txt" in dockerfile
    assert "COPY model/ /opt/ml/model/" in dockerfile
    assert "USER runlab" in dockerfile and "EXPOSE 8080" in dockerfile
    assert dockerfile_cmd(docker_context) == [
        "runlab",
        "models",
        "serve",
        "-m",
        "/opt/ml/model",
        "--host",
        "0.0.0.0",
        "-p",
        "8080",
    ]


@pytest.mark.slow
def test_the_containers_command_serves_the_copied_model(
    docker_context: Path, tmp_path: Path
) -> None:
    argv = dockerfile_cmd(docker_context)
    assert argv[:3] == ["runlab", "models", "serve"]
    # Run it here: this interpreter's runlab, the copied model, loopback and a free port.
    port = free_port()
    replaced = {
        "/opt/ml/model": str(docker_context / "model"),
        "0.0.0.0": "127.0.0.1",
        "8080": str(port),
    }
    args = [replaced.get(arg, arg) for arg in argv[1:]]
    command = [sys.executable, "-m", "runlab.cli.main", *args]
    server = ServerProcess(
        command, port, tmp_path / "container.log", startup_timeout=90.0, env=child_env()
    )
    with running(server):
        assert httpx.get(f"{server.url}/ping").status_code == 200
        assert invoke(server.url, {"inputs": IRIS_ROWS}).json() == {"predictions": IRIS_CLASSES}


def test_generate_with_a_runlab_spec_and_base_image(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "ctx"
    runlab.ok(
        "models",
        "generate-dockerfile",
        "-m",
        str(models["outputs"]),
        "-d",
        str(target),
        "--runlab-spec",
        "runlab[models]==0.1.0",
        "--base-image",
        "python:3.12-slim",
        TRUST,
    )
    assert not (target / "wheels").exists()
    assert dockerfile_cmd(target)[-1] == TRUST
    dockerfile = (target / "Dockerfile").read_text()
    assert "FROM python:3.12-slim" in dockerfile
    assert 'RUN pip install "runlab[models]==0.1.0"' in dockerfile
    assert "COPY wheels/" not in dockerfile
    assert "cloudpickle" in (target / "requirements.txt").read_text()


def test_generate_refuses_a_non_empty_folder(
    runlab: Runner, models: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = runlab(
        "models",
        "generate-dockerfile",
        "-m",
        str(models["iris"]),
        "-d",
        str(tmp_path),
        "--runlab-spec",
        "runlab",
    )
    assert result.exit_code == 1
    assert "not an empty folder" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def _daemon_reachable() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "version"], capture_output=True, check=False, timeout=60)
    return probe.returncode == 0


def test_build_docker_without_a_daemon(runlab: Runner, models: dict[str, Path]) -> None:
    if shutil.which("docker") is None or _daemon_reachable():
        pytest.skip("needs the docker CLI without a reachable daemon (the case on this machine)")
    result = runlab("models", "build-docker", "-m", str(models["iris"]), "-n", "iris-model")
    assert result.exit_code == 1
    assert "Cannot reach the Docker daemon" in result.output
    assert "generate-dockerfile" in result.output


def test_build_docker_without_docker(
    runlab: Runner, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no docker on it
    result = runlab("models", "build-docker", "-m", str(models["iris"]), "-n", "iris-model")
    assert result.exit_code == 1
    assert "docker command was not found on PATH" in result.output

"""SageMaker's container contract, run without Docker: the serving image's exact command.

SageMaker unpacks a model's model.tar.gz into /opt/ml/model and runs ``<entry point> serve``,
then calls GET /ping and POST /invocations on port 8080. The test packs the model as
``runlab sagemaker deploy`` uploads it, unpacks it the way SageMaker does into a temporary
stand-in for /opt/ml/model, reads the entry point and command from the Dockerfile that
``build-and-push-container`` writes, runs that command here (the image's Python is this one)
and scores through it: JSON as ``predict`` sends it, CSV as a batch transform sends it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tarfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

import runlab.pyfunc
from runlab.deployments.sagemaker_image import generate_image_context
from runlab.deployments.sagemaker_packaging import pack_model
from runlab.deployments.scoring import scoring_request
from runlab.models.trust import TRUSTED_SOURCES_ENV
from runlab.serving import sagemaker_container
from runlab.serving.sagemaker_container import ContainerError, main, read_settings
from support.servers import REPO_ROOT, ServerProcess, free_port, running


def unpack_like_sagemaker(model: Path, tmp_path: Path) -> Path:
    """``model`` packed for S3, then unpacked into a stand-in for /opt/ml/model."""
    archive = pack_model(model, tmp_path / "model.tar.gz")
    target = tmp_path / "opt" / "ml" / "model"
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as opened:
        opened.extractall(target, filter="data")
    return target


def image_command(tmp_path: Path) -> list[str]:
    """ENTRYPOINT + CMD of the generated Dockerfile, with this interpreter as the image's."""
    context = generate_image_context(tmp_path / "context", runlab_spec="runlab[models]")
    text = context.dockerfile.read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entrypoint[0] == "python" and command == ["serve"]
    return [sys.executable, *entrypoint[1:], *command]


def test_the_image_command_serves_ping_and_invocations(
    tmp_path: Path, iris_model: Path, iris: pd.DataFrame
) -> None:
    model_dir = unpack_like_sagemaker(iris_model, tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT / "src"),
            sagemaker_container.MODEL_DIR_ENV: str(model_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        }
    )
    server = ServerProcess(image_command(tmp_path), port, tmp_path / "container.log", env=env)
    expected = runlab.pyfunc.load_model(str(iris_model)).predict(iris.iloc[:5]).tolist()
    with running(server), httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/ping").status_code == 200
        # The body the target's predict sends through InvokeEndpoint.
        scored = http.post("/invocations", json=scoring_request(iris.iloc[:5]))
        assert scored.status_code == 200, scored.text
        assert scored.json() == {"predictions": expected}
        # A batch transform's CSV request (ContentType text/csv, SplitType Line).
        csv = iris.iloc[:5].to_csv(index=False)
        scored = http.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
        assert scored.status_code == 200, scored.text
        assert scored.json() == {"predictions": expected}
        bad = http.post("/invocations", json={"dataframe_split": {"columns": ["nope"]}})
        assert bad.status_code == 400
    assert "serving" in server.log_path.read_text()


def test_the_container_runs_serve_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    assert "runs `serve` only (got train)" in capsys.readouterr().err
    assert main([]) == 2


def test_a_container_without_a_model_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(sagemaker_container.MODEL_DIR_ENV, str(tmp_path))
    assert main(["serve"]) == 2
    assert f"No model in {tmp_path} (no MLmodel file)" in capsys.readouterr().err


def test_settings_follow_sagemakers_environment(tmp_path: Path, iris_model: Path) -> None:
    env = {sagemaker_container.MODEL_DIR_ENV: str(iris_model)}
    default = read_settings(env)
    assert (default.port, default.model_dir) == (8080, iris_model)
    assert default.max_request_bytes == 16 * 1024 * 1024
    batch = read_settings(
        {
            **env,
            "SAGEMAKER_BIND_TO_PORT": "9090",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100",
        }
    )
    assert (batch.port, batch.workers, batch.max_request_bytes) == (9090, 3, 100 * 1024 * 1024)
    with pytest.raises(ContainerError, match="SAGEMAKER_BIND_TO_PORT must be a whole number"):
        read_settings({**env, "SAGEMAKER_BIND_TO_PORT": "eighty"})
    with pytest.raises(ContainerError, match="between 1 and 1024"):
        read_settings({**env, "SAGEMAKER_MODEL_SERVER_WORKERS": "0"})


def test_a_pickled_model_loads_only_when_the_deployer_trusted_it(
    tmp_path: Path,
    echo_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir = unpack_like_sagemaker(echo_model, tmp_path)
    monkeypatch.delenv(TRUSTED_SOURCES_ENV)  # this folder's conftest trusts its models
    monkeypatch.setenv(sagemaker_container.MODEL_DIR_ENV, str(model_dir))
    assert main(["serve"]) == 1
    assert "cannot serve the model: Refusing to load" in capsys.readouterr().err
    # `deploy --trust-model` puts the model folder in the container's trusted sources.
    from runlab.models.trust import ModelTrust

    monkeypatch.setenv(TRUSTED_SOURCES_ENV, str(model_dir))
    assert ModelTrust.of(str(model_dir)).allows()


def test_run_local_serves_with_the_same_command(
    tmp_path: Path, iris_model: Path, iris: pd.DataFrame
) -> None:
    port = free_port()
    code = (
        "import sys; from runlab.deployments import run_local; "
        "run_local('sagemaker', 'local-app', sys.argv[1], config={'port': int(sys.argv[2])})"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    argv = [sys.executable, "-c", code, str(iris_model), str(port)]
    server = ServerProcess(argv, port, tmp_path / "run-local.log", env=env)
    with running(server), httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/ping").status_code == 200
        scored = http.post("/invocations", json=scoring_request(iris.iloc[:2]))
        assert scored.status_code == 200, scored.text
        assert len(scored.json()["predictions"]) == 2
    assert "as the SageMaker deployment 'local-app' on port" in server.log_path.read_text()


def test_run_local_refuses_unknown_config(iris_model: Path) -> None:
    from runlab.deployments import run_local
    from runlab.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="Unknown run-local config key"):
        run_local("sagemaker", "x", str(iris_model), config={"prot": 1})
    with pytest.raises(InvalidParameter, match="port must be a whole number"):
        run_local("sagemaker", "x", str(iris_model), config={"port": "eighty"})

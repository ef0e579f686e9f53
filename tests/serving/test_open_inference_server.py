"""The v2 routes of a real ``runlab models serve`` process, and the name it serves a model under.

One server process serves a registered model by alias from a SQLite registry: its v2 routes
answer under the registered name and version, to httpx and to NVIDIA's own ``tritonclient``
(run in a child interpreter: it brings gevent, which has no business in the test process), with
its binary tensor data (tritonclient's default) and with JSON. The naming rules
(``--name``, the registered name, ``model``) are checked in-process against the same registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from runlab.cli.main import cli
from runlab.errors import InvalidParameter
from runlab.serving.open_inference_metadata import ModelIdentity, served_model_identity
from runlab.tracking import config
from runlab.tracking.client import Client
from serving.scoring_support import iris_features, save_iris_model
from support.servers import REPO_ROOT, ServerProcess, free_port, running

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]
IRIS_CLASSES = [0, 2]
NAME = "iris-clf"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite registry with two versions of the iris model: 2 has the alias champion and is
    in Production."""
    folder = tmp_path_factory.mktemp("v2-registry")
    uri = f"sqlite:///{folder / 'registry.db'}"
    model = save_iris_model(folder / "iris")
    # Both stores named: this module-scoped fixture runs before any per-test clean-up.
    client = Client(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("Default")
    assert experiment is not None
    run_id = client.create_run(experiment.experiment_id).info.run_id
    client.log_artifacts(run_id, str(model), "model")
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(NAME, "champion", 2)
    client.transition_model_version_stage(NAME, 2, "Production")
    return uri


@pytest.fixture
def tracking(registry: str) -> Iterator[None]:
    config.set_tracking_uri(registry)
    yield
    config.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("uri", "name", "expected"),
    [
        (f"models:/{NAME}/1", None, ModelIdentity(NAME, "1")),
        (f"models:/{NAME}@champion", None, ModelIdentity(NAME, "2")),
        (f"models:/{NAME}/Production", None, ModelIdentity(NAME, "2")),
        (f"models:/{NAME}/latest", None, ModelIdentity(NAME, "2")),
        (f"models:/{NAME}/1", "fraud", ModelIdentity("fraud", "1")),
        ("/models/iris", None, ModelIdentity("model", None)),
        ("runs:/0123456789abcdef0123456789abcdef/model", None, ModelIdentity("model", None)),
        ("/models/iris", "fraud", ModelIdentity("fraud", None)),
    ],
)
def test_the_served_name_and_version(
    tracking: None, uri: str, name: str | None, expected: ModelIdentity
) -> None:
    assert served_model_identity(uri, name) == expected


@pytest.mark.parametrize("name", ["", " ", "a/b"])
def test_a_name_that_cannot_be_a_path_segment_is_refused(name: str) -> None:
    with pytest.raises(InvalidParameter, match="cannot name a model in /v2/models/"):
        served_model_identity("/models/iris", name)


def test_serve_refuses_such_a_name_in_one_line(tmp_path: Path) -> None:
    model = save_iris_model(tmp_path / "iris", n_estimators=1)
    argv = ["models", "serve", "-m", str(model), "--name", "a/b", "-p", str(free_port())]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1
    assert result.output == (
        "Error: The model name 'a/b' cannot name a model in /v2/models/{name} paths: give a "
        "non-empty name without '/'.\n"
    )


def child_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    paths = [str(REPO_ROOT / "src"), str(REPO_ROOT / "tests"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


# tritonclient, as its users call it: binary inputs and outputs by default, then JSON.
TRITON_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    address, names, rows = sys.argv[1], json.loads(sys.argv[2]), np.array(json.loads(sys.argv[3]))
    client = triton.InferenceServerClient(url=address)
    report = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("iris-clf", "2"),
        "server": client.get_server_metadata(),
        "metadata": client.get_model_metadata("iris-clf", "2"),
    }
    for binary in (True, False):
        inputs = []
        for i, name in enumerate(names):
            tensor = triton.InferInput(name, [len(rows)], "FP64")
            inputs.append(tensor.set_data_from_numpy(rows[:, i].copy(), binary_data=binary))
        outputs = None if binary else [triton.InferRequestedOutput("output-0", binary_data=False)]
        result = client.infer(
            "iris-clf", inputs, model_version="2", outputs=outputs, request_id=f"r-{binary}"
        )
        response = result.get_response()
        report[f"binary={binary}"] = {
            "classes": result.as_numpy("output-0").tolist(),
            "id": response["id"],
            "version": response["model_version"],
        }
    try:
        client.infer("other", inputs)
    except InferenceServerException as exc:
        report["unknown_model"] = exc.message()
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_a_served_registry_model_answers_v2_and_tritonclient(tmp_path: Path, registry: str) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "runlab.cli.main",
        "models",
        "serve",
        "-m",
        f"models:/{NAME}@champion",
        "--tracking-uri",
        registry,
        "-p",
        str(port),
        "--log-level",
        "warning",
    ]
    server = ServerProcess(
        argv, port, tmp_path / "serve.log", startup_timeout=90.0, env=child_env()
    )
    names = list(iris_features().columns)
    with running(server):
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
        metadata = httpx.get(f"{server.url}/v2/models/{NAME}").json()
        assert (metadata["name"], metadata["versions"]) == (NAME, ["2"])
        body = {
            "id": "one",
            "inputs": [
                {"name": n, "shape": [2], "datatype": "FP64", "data": [r[i] for r in IRIS_ROWS]}
                for i, n in enumerate(names)
            ],
        }
        answer = httpx.post(f"{server.url}/v2/models/{NAME}/infer", json=body).json()
        assert answer == {
            "model_name": NAME,
            "model_version": "2",
            "id": "one",
            "outputs": [
                {"name": "output-0", "datatype": "INT64", "shape": [2], "data": IRIS_CLASSES}
            ],
        }
        wrong = httpx.post(f"{server.url}/v2/models/model/infer", json=body)
        assert wrong.status_code == 404
        assert wrong.json() == {
            "error": f"No model named 'model' here: this server serves '{NAME}'."
        }
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                TRITON_SCRIPT,
                f"127.0.0.1:{port}",
                json.dumps(names),
                json.dumps(IRIS_ROWS),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=child_env(),
            check=False,
        )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["server"]["extensions"] == ["binary_tensor_data"]
    assert report["metadata"]["inputs"][0] == {"name": names[0], "datatype": "FP64", "shape": [-1]}
    for binary in (True, False):
        assert report[f"binary={binary}"] == {
            "classes": IRIS_CLASSES,
            "id": f"r-{binary}",
            "version": "2",
        }
    assert "No model named 'other' here" in report["unknown_model"]
    assert f"Open Inference Protocol (v2): /v2/models/{NAME}/infer" in server.log_path.read_text()

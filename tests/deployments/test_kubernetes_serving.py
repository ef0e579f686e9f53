"""The container the kubernetes and kserve manifests name serves the model: end to end.

No cluster and no Docker engine here, so the test does what a pod would: it takes the
container's command, arguments and environment from the manifest the target wrote and runs
them as a process (on a free port), against a real runlab tracking server that holds a
registered scikit-learn model and serves its artifacts. Scoring goes to that process directly,
through ``predict`` of the kubernetes target (the test Kubernetes API server's service proxy
forwards to it) and through ``predict`` of the kserve target (the InferenceService's status
URL points at it). ``run_local`` runs the same command on this machine.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

import runlab
import runlab.sklearn
from runlab.deployments import get_deploy_client, run_local
from runlab.errors import InvalidParameter, ModelNotFound
from runlab.tracking import Client
from support.cli_server import runlab_cli_server
from support.kube_api import kube_api
from support.servers import REPO_ROOT, ServerProcess, free_port
from support.tracking_state import clean_env, reset_tracking_state  # noqa: F401

FEATURES = pd.DataFrame({"x1": [0.0, 1.0, 2.0, 3.0], "x2": [1.0, 0.0, 1.0, 2.0]})


def _fit(weight: float) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(FEATURES, FEATURES["x1"] * weight - FEATURES["x2"] + 0.5)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A runlab tracking server (artifacts served through it) where "churn" version 1 is a
    LinearRegression and the alias "champion" points at it."""
    server = runlab_cli_server(tmp_path_factory.mktemp("registry"))
    server.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in [n for n in os.environ if n.startswith(("RUNLAB_", "MLFLOW_"))]:
                patch.delenv(name)
            runlab.set_tracking_uri(server.url)
            with runlab.start_run():
                runlab.sklearn.log_model(
                    _fit(2.0), name="model", input_example=FEATURES, registered_model_name="churn"
                )
            Client(server.url).set_registered_model_alias("churn", "champion", "1")
            reset_tracking_state()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def tracking(registry: str) -> str:
    """The registry as the current tracking URI (clean_env resets it after each test)."""
    runlab.set_tracking_uri(registry)
    return registry


def manifests(
    capsys: pytest.CaptureFixture[str], target: str, config: dict[str, Any]
) -> list[dict[str, Any]]:
    client = get_deploy_client(target)
    client.create_deployment("churn", "models:/churn@champion", config={**config, "dry_run": True})
    return list(yaml.safe_load_all(capsys.readouterr().out))


def container_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    pod = spec["template"]["spec"] if obj["kind"] == "Deployment" else spec["predictor"]
    container: dict[str, Any] = pod["containers"][0]
    return container


def run_container(container: dict[str, Any], port: int, log: Path) -> ServerProcess:
    """Start the container's command with its environment, as the pod would (no shell)."""
    argv = [*container["command"], *container.get("args", [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    # `runlab` is the console script of the interpreter running the tests.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return ServerProcess(argv, port, log, startup_timeout=90, env=env).start()


@pytest.fixture(scope="module")
def served(
    registry: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], str]]:
    """The kubernetes manifest's container for models:/churn@champion, running; and its URL."""
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("RUNLAB_", "MLFLOW_"))]:
            patch.delenv(name)
        runlab.set_tracking_uri(registry)
        client = get_deploy_client("kubernetes")
        folder = tmp_path_factory.mktemp("manifest")
        output = folder / "churn.yaml"
        config = {"tracking_uri": registry, "port": port, "output": str(output)}
        client.create_deployment("churn", "models:/churn@champion", config=config)
        reset_tracking_state()
    deployment = next(yaml.safe_load_all(output.read_text()))
    container = container_of(deployment)
    process = run_container(container, port, folder / "serve.log")
    try:
        yield container, process.url
    finally:
        process.stop()


def test_the_manifests_command_serves_the_pinned_model(
    served: tuple[dict[str, Any], str], registry: str
) -> None:
    container, url = served
    port = str(container["ports"][0]["containerPort"])
    assert [*container["command"], *container["args"]] == [
        "runlab", "models", "serve", "-m", "models:/churn/1", "--host", "0.0.0.0", "-p", port,
    ]  # fmt: skip
    assert container["env"] == [{"name": "RUNLAB_TRACKING_URI", "value": registry}]
    # The probes' routes answer on the served port.
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert httpx.get(f"{url}{container[probe]['httpGet']['path']}").status_code == 200
    response = httpx.post(
        f"{url}/invocations",
        json={"dataframe_split": FEATURES.to_dict(orient="split")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    expected = FEATURES["x1"] * 2.0 - FEATURES["x2"] + 0.5
    np.testing.assert_allclose(response.json()["predictions"], expected)


def test_the_kserve_predictor_names_the_same_command(
    capsys: pytest.CaptureFixture[str], served: tuple[dict[str, Any], str], tracking: str
) -> None:
    # The model's files are behind the tracking server (mlflow-artifacts:/), which KServe's
    # storage initializer cannot read: the predictor fetches the model itself, with the very
    # command and environment run above.
    container, _ = served
    port = container["ports"][0]["containerPort"]
    (service,) = manifests(capsys, "kserve", {"tracking_uri": tracking, "port": port})
    predictor = container_of(service)
    assert predictor["name"] == "kserve-container"
    for key in ("command", "args", "env", "ports", "readinessProbe", "image"):
        assert predictor[key] == container[key], key


def test_predict_reaches_the_pods_through_the_service_proxy(
    served: tuple[dict[str, Any], str],
    tracking: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = served
    with kube_api() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig", "team")))
        client = get_deploy_client("kubernetes")
        config = {"tracking_uri": tracking, "apply": True}
        result = client.create_deployment("churn", "models:/churn@champion", config=config)
        assert result["model_version"] == "1"
        assert result["served_model_uri"] == "models:/churn/1"
        api.backends[("team", "churn")] = url
        predictions = client.predict("churn", FEATURES)
        frame = predictions.get_predictions()
        expected = FEATURES["x1"] * 2.0 - FEATURES["x2"] + 0.5
        np.testing.assert_allclose(frame.iloc[:, 0], expected)
        (proxied,) = [r for r in api.requests if "/proxy/" in r.path]
        assert proxied.method == "POST"
        assert proxied.path == "/api/v1/namespaces/team/services/churn%3Ahttp/proxy/invocations"
        assert proxied.body == {"dataframe_split": FEATURES.to_dict(orient="split")}
        # The scoring server's refusal comes back as a clear error.
        with pytest.raises(InvalidParameter, match="x1"):
            client.predict("churn", {"dataframe_records": [{"x2": 1.0}]})


def test_update_without_a_model_uri_follows_the_alias(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kube_api() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig", "team")))
        client = get_deploy_client("kubernetes")
        config = {"tracking_uri": tracking, "apply": True}
        client.create_deployment("churn", "models:/churn@champion", config=config)
        with runlab.start_run():
            runlab.sklearn.log_model(_fit(3.0), name="model", registered_model_name="churn")
        registry = Client(tracking)
        registry.set_registered_model_alias("churn", "champion", "2")
        try:
            result = client.update_deployment("churn", config={"apply": True})
        finally:
            registry.set_registered_model_alias("churn", "champion", "1")
        assert result["model_version"] == "2"
        stored = api.stored("Deployment", "team", "churn")
        assert stored is not None
        assert "models:/churn/2" in container_of(stored)["args"]
        assert stored["metadata"]["annotations"]["runlab/model-uri"] == "models:/churn@champion"


def test_the_kserve_target_predicts_at_the_inference_services_url(
    served: tuple[dict[str, Any], str],
    tracking: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = served
    with kube_api() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig", "team")))
        client = get_deploy_client("kserve")
        config = {"tracking_uri": tracking, "apply": True}
        client.create_deployment("churn", "models:/churn@champion", config=config)
        assert client.get_deployment("churn")["ready"] is False
        api.inference_status[("team", "churn")] = {
            "url": url,
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        info = client.get_deployment("churn")
        assert info["ready"] is True and info["url"] == url
        assert info["model_uri"] == "models:/churn@champion"
        predictions = client.predict("churn", FEATURES.to_numpy())
        expected = FEATURES["x1"] * 2.0 - FEATURES["x2"] + 0.5
        np.testing.assert_allclose(predictions["predictions"], expected)


def test_model_uris_the_container_could_not_resolve_are_refused(
    tracking: str, tmp_path: Path
) -> None:
    client = get_deploy_client("kubernetes")
    for uri, error in (
        ("models:/churn@nobody", InvalidParameter),  # the registry's answer to a bad alias
        ("models:/missing/1", ModelNotFound),
    ):
        with pytest.raises(error):
            client.create_deployment("churn", uri, config={"tracking_uri": tracking})
    # The current tracking URI is this machine's loopback address: not the cluster's.
    with pytest.raises(InvalidParameter, match="not one the cluster can reach"):
        client.create_deployment("churn", "models:/churn/1")
    with pytest.raises(InvalidParameter, match="must be the http"):
        client.create_deployment("churn", "models:/churn/1", config={"tracking_uri": "sqlite:///x"})
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_model_kept_on_this_machine_is_refused(tmp_path: Path) -> None:
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'local.db'}")
    with runlab.start_run():
        runlab.sklearn.log_model(_fit(1.0), name="model", registered_model_name="local")
    client = get_deploy_client("kubernetes")
    config = {"tracking_uri": "http://runlab.mlops:5000"}
    with pytest.raises(InvalidParameter, match="cluster cannot read"):
        client.create_deployment("local", "models:/local/1", config=config)
    assert not (tmp_path / "local-kubernetes.yaml").exists()


def _child_serving(parent: int) -> int | None:
    """The pid of a child of ``parent`` running ``runlab.cli models serve``, if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        serving = b"runlab.cli\x00models\x00serve\x00" in cmdline
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and serving:
            return int(entry.name)
    return None


def test_run_local_serves_the_model_with_the_containers_command(tracking: str) -> None:
    port = free_port()
    outcome: list[Any] = []

    def serve() -> None:
        try:
            outcome.append(run_local("kubernetes", "churn", "models:/churn@champion", None, {
                "port": port, "tracking_uri": tracking,
            }))  # fmt: skip
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    pid = None
    try:
        while time.monotonic() < deadline and thread.is_alive():
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json={"instances": [[1.0, 2.0]]}, timeout=30
        )
        assert response.json() == {"predictions": [pytest.approx(0.5)]}
    finally:
        pid = _child_serving(os.getpid())
        if pid is not None:
            os.kill(pid, signal.SIGINT)
        thread.join(timeout=30)
    assert pid is not None and outcome == [None]

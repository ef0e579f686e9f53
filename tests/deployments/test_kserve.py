"""The kserve target: its InferenceService against the v1beta1 schema, where the model comes
from, and what it sends to a Kubernetes API server.

KServe's API reference gives what an InferenceService must have: ``apiVersion``
``serving.kserve.io/v1beta1``, ``kind`` ``InferenceService``, ``metadata.name`` (a DNS-1035
label), and ``spec.predictor`` with exactly one implementation; for a custom predictor that is
``containers``, Kubernetes Containers, the serving one named ``kserve-container``. The rest
of the predictor is a PodSpec plus KServe's component extension fields (``minReplicas``,
``maxReplicas``, ...). The tests check those, and the containers and pod fields against the
official client's ``V1Container``/``V1PodSpec`` models.

The storage-initializer case runs the predictor's exact command with its ``/mnt/models`` (where
KServe's storage initializer would have put the model) standing for a folder here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from kubernetes.client import ApiClient

from runlab.artifacts.repository_factory import get_artifact_repository
from runlab.deployments import get_deploy_client, target_help
from runlab.deployments.k8s_settings import TARGET_KEYS
from runlab.errors import InvalidParameter, NotFound, Unavailable
from support.kube_api import KubeApi, kube_api
from support.moto_s3 import MotoS3, moto_s3, s3_env  # noqa: F401  (fixtures)
from support.servers import REPO_ROOT, ServerProcess, free_port
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

BAKED = {"model_in_image": True}
ISVCS = "/apis/serving.kserve.io/v1beta1/namespaces/team/inferenceservices"
# The predictor implementations of v1beta1.PredictorSpec: exactly one may be set.
_IMPLEMENTATIONS = {
    "containers", "model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
    "pmml", "lightgbm", "paddle", "huggingface",
}  # fmt: skip
# v1beta1.ComponentExtensionSpec: the predictor's fields that are not a PodSpec's.
_EXTENSION = {
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType",
    "containerConcurrency", "timeout", "canaryTrafficPercent", "logger", "batcher", "labels",
    "annotations", "deploymentStrategy", "autoScaling",
}  # fmt: skip
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class _Response:
    def __init__(self, obj: Any) -> None:
        self.data = json.dumps(obj)


def round_trip(obj: Any, type_name: str) -> Any:
    """``obj`` as the client's ``type_name`` model, which must serialize back unchanged."""
    with ApiClient() as api:
        model = api.deserialize(_Response(obj), type_name)
        assert api.sanitize_for_serialization(model) == obj
    return model


def check_inference_service(service: dict[str, Any]) -> dict[str, Any]:
    """Check ``service`` against the v1beta1 InferenceService schema; its serving container."""
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    assert _DNS_1035.match(service["metadata"]["name"])
    assert set(service) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(service["spec"]) == {"predictor"}
    predictor = service["spec"]["predictor"]
    assert set(predictor) & _IMPLEMENTATIONS == {"containers"}
    pod_fields = {key: value for key, value in predictor.items() if key not in _EXTENSION}
    round_trip(pod_fields, "V1PodSpec")  # containers, serviceAccountName, imagePullSecrets
    containers = predictor["containers"]
    assert [c["name"] for c in containers] == ["kserve-container"]
    round_trip(containers[0], "V1Container")
    assert isinstance(predictor["minReplicas"], int) and predictor["minReplicas"] >= 0
    if "maxReplicas" in predictor:
        assert predictor["maxReplicas"] >= predictor["minReplicas"]
    container: dict[str, Any] = containers[0]
    return container


def dry_run(
    capsys: pytest.CaptureFixture[str], model_uri: str, config: dict[str, Any]
) -> dict[str, Any]:
    client = get_deploy_client("kserve")
    client.create_deployment("churn", model_uri, config={**config, "dry_run": True})
    (service,) = yaml.safe_load_all(capsys.readouterr().out)
    assert isinstance(service, dict)
    return service


def test_the_inference_service_fits_the_v1beta1_schema(capsys: pytest.CaptureFixture[str]) -> None:
    service = dry_run(capsys, "models:/churn/3", BAKED)
    container = check_inference_service(service)
    assert [*container["command"], *container["args"]] == [
        "runlab", "models", "serve", "-m", "/opt/ml/model", "--host", "0.0.0.0", "-p", "8080",
    ]  # fmt: skip
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
    # Serverless (Knative) predictors get no startup probe: liveness waits for the start-up.
    assert "startupProbe" not in container
    assert container["livenessProbe"]["initialDelaySeconds"] == 600
    assert service["spec"]["predictor"]["minReplicas"] == 1
    assert "serving.kserve.io/deploymentMode" not in service["metadata"]["annotations"]


def test_kserve_config_keys(capsys: pytest.CaptureFixture[str]) -> None:
    config = {
        **BAKED,
        "namespace": "ml",
        "replicas": 0,
        "max_replicas": 4,
        "deployment_mode": "RawDeployment",
        "service_account": "s3-reader",
        "image_pull_secret": "registry",
        "cpu_request": 1,
        "memory_limit": "4Gi",
        "env.LOG_LEVEL": "debug",
        "startup_timeout": 300,
    }
    service = dry_run(capsys, "models:/churn/3", config)
    container = check_inference_service(service)
    predictor = service["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 4)
    assert predictor["serviceAccountName"] == "s3-reader"
    assert predictor["imagePullSecrets"] == [{"name": "registry"}]
    assert service["metadata"]["namespace"] == "ml"
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == (
        "RawDeployment"
    )
    assert container["startupProbe"]["failureThreshold"] == 60
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "4Gi"}}
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "debug"}]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"replicas": 3, "max_replicas": 2}, "max_replicas .2. must be at least replicas"),
        ({"deployment_mode": "ModelMesh"}, "deployment_mode must be one of"),
        ({"service_type": "NodePort"}, "Unknown config key.*service_type"),  # kubernetes only
        ({"storage_initializer": "sometimes"}, "storage_initializer must be true or false"),
        ({"env.STORAGE_URI": "s3://x"}, "sets STORAGE_URI itself"),
    ],
)
def test_bad_kserve_config_is_refused(config: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=message):
        get_deploy_client("kserve").create_deployment(
            "churn", "models:/c/1", config={**BAKED, **config}
        )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def s3_model(
    s3_env: MotoS3,  # noqa: F811  (the fixture imported above)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """A scikit-learn model saved here and uploaded to moto's S3: (its s3:// URI, the folder)."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import runlab.sklearn

    frame = pd.DataFrame({"x1": [0.0, 1.0, 2.0], "x2": [1.0, 0.0, 1.0]})
    folder = tmp_path_factory.mktemp("s3-model") / "model"
    model = LinearRegression().fit(frame, frame["x1"] * 3 + 1)
    runlab.sklearn.save_model(model, folder, input_example=frame)
    root = f"s3://{s3_env.bucket}/kserve-models/churn"
    get_artifact_repository(root).log_artifacts(str(folder))
    yield root, folder


def test_an_s3_model_goes_through_kserves_storage_initializer(
    capsys: pytest.CaptureFixture[str], s3_model: tuple[str, Path], tmp_path: Path
) -> None:
    uri, folder = s3_model
    service = dry_run(capsys, uri, {"port": free_port()})
    container = check_inference_service(service)
    assert container["env"] == [{"name": "STORAGE_URI", "value": uri}]
    argv = [*container["command"], *container["args"]]
    assert argv[3:5] == ["-m", "/mnt/models"]
    assert service["metadata"]["annotations"]["runlab/served-model-uri"] == uri
    # The exact command, with /mnt/models standing for a folder here holding what the storage
    # initializer downloads (the model's files).
    mounted = tmp_path / "mnt" / "models"
    shutil.copytree(folder, mounted)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    env.update({item["name"]: item["value"] for item in container["env"]})
    command = [str(mounted) if part == "/mnt/models" else part for part in argv]
    port = container["ports"][0]["containerPort"]
    server = ServerProcess(command, port, tmp_path / "serve.log", startup_timeout=90, env=env)
    server.start()
    try:
        response = httpx.post(
            f"{server.url}/invocations", json={"dataframe_records": [{"x1": 2.0, "x2": 5.0}]}
        )
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], [7.0])


def test_the_storage_initializer_can_be_turned_off_or_required(
    capsys: pytest.CaptureFixture[str], s3_model: tuple[str, Path]
) -> None:
    uri, _ = s3_model
    service = dry_run(capsys, uri, {"storage_initializer": False})
    container = check_inference_service(service)
    assert container["args"][2:4] == ["-m", uri]  # the container reads S3 itself
    assert "env" not in container
    # The kubernetes target has no storage initializer: its container reads S3 itself.
    get_deploy_client("kubernetes").create_deployment("churn", uri, config={"dry_run": True})
    deployment = next(yaml.safe_load_all(capsys.readouterr().out))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][2:4] == ["-m", uri]
    # A pvc:// URI is KServe's to read (runlab cannot look at it from here).
    service = dry_run(capsys, "pvc://models-claim/churn/v3", {})
    container = check_inference_service(service)
    assert container["env"] == [{"name": "STORAGE_URI", "value": "pvc://models-claim/churn/v3"}]
    assert container["args"][2:4] == ["-m", "/mnt/models"]
    with pytest.raises(InvalidParameter, match="not a pvc://<claim>/<path> URI"):
        dry_run(capsys, "pvc://claim/../other", {})


def test_an_s3_uri_without_a_model_is_refused(s3_model: tuple[str, Path], tmp_path: Path) -> None:
    uri, _ = s3_model
    with pytest.raises(NotFound, match="Cannot read the model"):
        get_deploy_client("kserve").create_deployment("churn", f"{uri}-missing", config={})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeApi]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with kube_api() as server:
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig", "team")))
        yield server


def test_apply_update_list_and_delete_an_inference_service(api: KubeApi) -> None:
    client = get_deploy_client("kserve")
    client.create_deployment("churn", "models:/churn/3", config={**BAKED, "apply": True})
    assert api.calls() == [("GET", f"{ISVCS}/churn"), ("POST", ISVCS)]
    posted = next(r.body for r in api.requests if r.method == "POST")
    check_inference_service(posted)
    version = api.stored("InferenceService", "team", "churn")["metadata"]["resourceVersion"]  # type: ignore[index]
    client.update_deployment("churn", config={"apply": True, "max_replicas": 3})
    put = next(r for r in api.requests if r.method == "PUT")
    assert put.path == f"{ISVCS}/churn"
    assert put.body["metadata"]["resourceVersion"] == version  # custom objects require it
    assert put.body["spec"]["predictor"]["maxReplicas"] == 3
    assert put.body["spec"]["predictor"]["containers"][0]["args"][3] == "/opt/ml/model"
    (listed,) = client.list_deployments()
    assert listed["name"] == "churn" and listed["max_replicas"] == 3
    assert listed["ready"] is False and listed["url"] is None
    with pytest.raises(Unavailable, match="has no URL yet"):
        client.predict("churn", {"instances": [[1.0]]})
    client.delete_deployment("churn")
    assert api.calls()[-1] == ("DELETE", f"{ISVCS}/churn")
    assert api.objects == {}


def test_a_cluster_without_kserve_is_named(api: KubeApi) -> None:
    api.kserve_installed = False
    with pytest.raises(NotFound, match="Is KServe installed"):
        get_deploy_client("kserve").create_deployment(
            "churn", "models:/churn/3", config={**BAKED, "apply": True}
        )
    assert api.objects == {}


def test_kserve_help_names_every_config_key() -> None:
    text = target_help("kserve")
    for key in TARGET_KEYS["kserve"]:
        assert key in text, key


def test_run_local_runs_the_predictors_command_on_loopback() -> None:
    # run_local itself is run (and scored) in test_kubernetes_serving; the kserve target's
    # builds the same command, with the model read from its URI (no storage initializer here).
    from runlab.deployments.k8s_target import local_command

    argv, env = local_command(
        "kserve", "churn", "s3://bucket/churn", None, {"port": 9001, "trust_model": True}
    )
    assert argv == [
        "runlab", "models", "serve", "-m", "s3://bucket/churn", "--host", "127.0.0.1",
        "-p", "9001", "--trust-model",
    ]  # fmt: skip
    assert "STORAGE_URI" not in env
    with pytest.raises(InvalidParameter, match="Unknown config key"):
        local_command("kserve", "churn", "s3://bucket/churn", None, {"service_port": 80})

"""The kubernetes target's manifests, without a cluster: what -C builds, checked against the
Kubernetes object models of the official client, and every refused config.

A manifest is deserialized into ``V1Deployment``/``V1Service`` with the client's own
deserializer (which refuses a missing required field) and serialized back: the round trip must
give the manifest unchanged, so no field is misspelled or misplaced (the models drop what they
do not know).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from runlab.deployments import get_deploy_client, target_help
from runlab.deployments.k8s_settings import read_settings
from runlab.errors import InvalidParameter
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

MODEL = "models:/churn/3"
BAKED = {"model_in_image": True}


class _Response:
    """What the client's deserializer reads: an HTTP response's body."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.data = json.dumps(obj)


def as_model(obj: dict[str, Any], type_name: str) -> Any:
    """``obj`` as the client's object model ``type_name`` (ValueError if a required field is
    missing), checked to serialize back unchanged."""
    with ApiClient() as api:
        model = api.deserialize(_Response(obj), type_name)
        assert api.sanitize_for_serialization(model) == obj
    return model


def dry_run(capsys: pytest.CaptureFixture[str], config: dict[str, Any]) -> list[dict[str, Any]]:
    client = get_deploy_client("kubernetes")
    result = client.create_deployment("churn", MODEL, config={**config, "dry_run": True})
    assert result["applied"] is False
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_dry_run_prints_a_deployment_and_a_service_the_client_models_accept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment, service = dry_run(capsys, BAKED)
    typed = as_model(deployment, "V1Deployment")
    as_model(service, "V1Service")
    container = typed.spec.template.spec.containers[0]
    assert [container.command[0], *container.args] == [
        "runlab", "models", "serve", "-m", "/opt/ml/model", "--host", "0.0.0.0", "-p", "8080",
    ]  # fmt: skip
    assert container.image == "runlab-pyfunc:0.1.0"
    assert container.ports[0].container_port == 8080
    assert container.readiness_probe.http_get.path == "/ping"
    assert container.liveness_probe.http_get.path == "/health"
    assert container.startup_probe.http_get.path == "/ping"
    assert container.startup_probe.failure_threshold == 120  # 600 s in 5 s periods
    assert typed.spec.replicas == 1
    # The Service selects the Deployment's pods and forwards port 80 to the named port.
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[key] == value for key, value in service["spec"]["selector"].items())
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "runlab"
    assert deployment["metadata"]["annotations"]["runlab/model-uri"] == MODEL
    assert "namespace" not in deployment["metadata"]  # kubectl apply uses its current one
    assert not list(tmp_path.glob("*.yaml"))  # a dry run writes nothing


def test_every_config_key_lands_where_kubernetes_reads_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = {
        **BAKED,
        "namespace": "ml-serving",
        "image": "registry.example/runlab-pyfunc:1.2",
        "image_pull_policy": "Always",
        "image_pull_secret": "registry-cred",
        "service_account": "model-reader",
        "replicas": "3",  # -C values may arrive as text or JSON
        "port": 9000,
        "service_port": 8000,
        "service_type": "LoadBalancer",
        "cpu_request": "500m",
        "memory_request": "1Gi",
        "cpu_limit": 2,
        "memory_limit": "2Gi",
        "gpu_limit": 1,
        "env": {"LOG_LEVEL": "debug"},
        "env.OMP_NUM_THREADS": 4,
        "env_from_secret": "aws-cred,extra",
        "trust_model": "true",
        "workers": 2,
        "startup_timeout": 120,
    }
    deployment, service = dry_run(capsys, config)
    typed = as_model(deployment, "V1Deployment")
    as_model(service, "V1Service")
    pod = typed.spec.template.spec
    container = pod.containers[0]
    assert typed.metadata.namespace == service["metadata"]["namespace"] == "ml-serving"
    assert typed.spec.replicas == 3
    assert container.image == "registry.example/runlab-pyfunc:1.2"
    assert container.image_pull_policy == "Always"
    assert pod.image_pull_secrets[0].name == "registry-cred"
    assert pod.service_account_name == "model-reader"
    assert container.args[-5:] == ["-p", "9000", "--workers", "2", "--trust-model"]
    assert container.ports[0].container_port == 9000
    assert container.readiness_probe.http_get.port == 9000
    assert container.startup_probe.failure_threshold == 24
    assert container.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert container.resources.limits == {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert {e.name: e.value for e in container.env} == {
        "LOG_LEVEL": "debug",
        "OMP_NUM_THREADS": "4",
    }
    assert [s.secret_ref.name for s in container.env_from] == ["aws-cred", "extra"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0]["port"] == 8000
    recorded = json.loads(deployment["metadata"]["annotations"]["runlab/config"])
    assert recorded["replicas"] == "3" and "dry_run" not in recorded


def test_the_client_models_refuse_a_manifest_missing_a_required_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The check above means something: without the selector, V1DeploymentSpec refuses.
    deployment, _ = dry_run(capsys, BAKED)
    del deployment["spec"]["selector"]
    with pytest.raises(ValueError, match="selector"):
        as_model(deployment, "V1Deployment")


def test_by_default_the_manifests_are_written_to_a_file(tmp_path: Path) -> None:
    client = get_deploy_client("kubernetes:/team-a")
    result = client.create_deployment("churn", MODEL, config=BAKED)
    path = tmp_path / "churn-kubernetes.yaml"
    assert result["manifest_path"] == "churn-kubernetes.yaml"
    kinds = [(d["kind"], d["metadata"]["namespace"]) for d in yaml.safe_load_all(path.read_text())]
    assert kinds == [("Deployment", "team-a"), ("Service", "team-a")]
    chosen = tmp_path / "out" / "serving.yaml"
    chosen.parent.mkdir()
    client.create_deployment("churn", MODEL, config={**BAKED, "output": str(chosen)})
    assert chosen.read_text() == path.read_text()
    # Update without apply writes them anew, and needs the model URI for it.
    client.update_deployment("churn", MODEL, config={**BAKED, "replicas": 2})
    assert next(yaml.safe_load_all(path.read_text()))["spec"]["replicas"] == 2
    with pytest.raises(InvalidParameter, match=r"needs the\s+model URI"):
        client.update_deployment("churn", config=BAKED)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"replica": 2}, "Unknown config key.*replica"),
        ({"replicas": -1}, "replicas must be a whole number"),
        ({"replicas": True}, "replicas must be a whole number"),
        ({"port": 70000}, "port must be a whole number from 1 to 65535"),
        ({"cpu_request": "lots"}, "cpu_request must be a Kubernetes quantity"),
        ({"memory_request": "2Gi", "memory_limit": "1Gi"}, "memory_request.*is more than"),
        ({"gpu_limit": "500m"}, "gpu_limit must be a whole number"),
        ({"apply": "yes"}, "apply must be true or false"),
        ({"service_type": "Ingress"}, "service_type must be one of"),
        ({"namespace": "Team_A"}, "namespace must be a Kubernetes name"),
        ({"env": "A=1"}, "env must be a JSON object"),
        ({"env": {"bad name": "x"}}, "is not an environment variable name"),
        ({"env.RUNLAB_TRACKING_URI": "http://x"}, "sets RUNLAB_TRACKING_URI itself"),
        ({"env": {"A": {"nested": 1}}}, "must be text or a number"),
        ({"image": " spaced "}, "image must be a non-empty string"),
        ({"max_replicas": 3}, "Unknown config key.*max_replicas"),  # a kserve key
        ({"tracking_uri": "http://x\n"}, "control characters|surrounding spaces"),
    ],
)
def test_a_bad_config_value_is_refused_before_anything_is_written(
    config: dict[str, Any], message: str, tmp_path: Path
) -> None:
    client = get_deploy_client("kubernetes")
    with pytest.raises(InvalidParameter, match=message):
        client.create_deployment("churn", MODEL, config={**BAKED, **config})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "uri", "message"),
    [
        ("Churn", MODEL, "cannot be a deployment name on Kubernetes"),
        ("9lives", MODEL, "cannot be a deployment name"),
        ("x" * 64, MODEL, "cannot be a deployment name"),
        ("churn", "", "must be a non-empty string"),
    ],
)
def test_bad_names_and_uris_are_refused(name: str, uri: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=message):
        get_deploy_client("kubernetes").create_deployment(name, uri, config=BAKED)
    assert list(tmp_path.iterdir()) == []


def test_a_model_the_cluster_cannot_read_is_refused(tmp_path: Path) -> None:
    client = get_deploy_client("kubernetes")
    for local in (str(tmp_path / "model"), (tmp_path / "model").as_uri()):
        with pytest.raises(InvalidParameter, match="a path on this machine"):
            client.create_deployment("churn", local, config={"dry_run": True})
    # The registry's source check: relative parts, URL specials, mismatched run ids.
    for uri, message in (
        ("s3://bucket/models/../secrets", "relative path references"),
        ("s3://bucket/model?version=2", "can change what the URI names"),
        ("runs:/not+a+run/model", "Invalid run id"),
        ("https://attacker.example/model", "Invalid model version source"),
    ):
        with pytest.raises(InvalidParameter, match=message):
            client.create_deployment("churn", uri, config={"dry_run": True})
    with pytest.raises(InvalidParameter, match="python_function flavor"):
        client.create_deployment("churn", MODEL, flavor="sklearn", config=BAKED)
    with pytest.raises(InvalidParameter, match="pvc:// URI is read by KServe"):
        client.create_deployment("churn", "pvc://claim/model", config={"dry_run": True})
    assert list(tmp_path.iterdir()) == []


def test_namespaces_of_config_and_target_uri_must_agree() -> None:
    client = get_deploy_client("kubernetes:/team-a")
    with pytest.raises(InvalidParameter, match="differs from the target URI's namespace"):
        client.create_deployment("churn", MODEL, config={**BAKED, "namespace": "team-b"})
    with pytest.raises(InvalidParameter, match="not a namespace name"):
        get_deploy_client("kubernetes:/Not_A_Namespace")


def test_endpoints_are_not_a_kubernetes_concept() -> None:
    client = get_deploy_client("kubernetes")
    with pytest.raises(InvalidParameter, match="has no endpoints"):
        client.create_deployment("churn", MODEL, config=BAKED, endpoint="e")
    with pytest.raises(InvalidParameter, match="does not support create_endpoint"):
        client.create_endpoint("e")


def test_help_names_every_config_key() -> None:
    text = target_help("kubernetes")
    from runlab.deployments.k8s_settings import TARGET_KEYS

    for key in TARGET_KEYS["kubernetes"]:
        assert key in text, key
    assert read_settings("kubernetes", {}).image == "runlab-pyfunc:0.1.0"


def test_through_the_deployments_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from runlab.cli.main import cli

    runner = CliRunner()
    base = ["deployments", "create", "-t", "kubernetes:/team-a", "--name", "churn"]
    base += ["-m", MODEL, "-C", "model_in_image=true"]
    done = runner.invoke(cli, [*base, "-C", "replicas=2"])
    assert done.exit_code == 0, done.output
    written = list(yaml.safe_load_all((tmp_path / "churn-kubernetes.yaml").read_text()))
    assert written[0]["spec"]["replicas"] == 2
    assert written[0]["metadata"]["namespace"] == "team-a"
    refused = runner.invoke(cli, [*base, "-C", "replicas=-1", "-C", "output=other.yaml"])
    assert refused.exit_code == 1
    assert "Error: Config replicas must be a whole number from 0 to 1000, got -1." in (
        refused.output
    )
    assert not (tmp_path / "other.yaml").exists()
    shown = runner.invoke(cli, ["deployments", "help", "-t", "kubernetes"])
    assert shown.exit_code == 0 and "service_type=ClusterIP|NodePort|LoadBalancer" in shown.output

"""The kubernetes target against a Kubernetes API server: what the official client sends.

There is no cluster here: ``support.kube_api`` answers the API calls the target makes (as a
real API server does: 404, 409, resourceVersion and clusterIP checks, dry runs, bearer
tokens), and a kubeconfig whose current context points at it is the one the client reads. The
tests assert each request's method, path and body, and that a failure leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runlab.deployments import get_deploy_client
from runlab.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied, Unavailable
from support.kube_api import TOKEN, KubeApi, kube_api
from support.servers import free_port
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

MODEL = "models:/churn/3"
APPLY = {"model_in_image": True, "apply": True}
DEPLOYMENTS = "/apis/apps/v1/namespaces/team/deployments"
SERVICES = "/api/v1/namespaces/team/services"


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeApi]:
    """A test API server, the current context of the kubeconfig (namespace "team")."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with kube_api() as server:
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig", "team")))
        yield server


def body_of(api: KubeApi, method: str, path: str) -> Any:
    return next(r.body for r in api.requests if (r.method, r.path) == (method, path))


def test_create_applies_a_deployment_then_a_service(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    result = client.create_deployment("churn", MODEL, config={**APPLY, "replicas": 2})
    assert result["applied"] is True and result["namespace"] == "team"
    assert result["objects"] == ["Deployment/churn", "Service/churn"]
    assert api.calls() == [
        ("GET", f"{DEPLOYMENTS}/churn"),
        ("GET", f"{SERVICES}/churn"),
        ("POST", DEPLOYMENTS),
        ("POST", SERVICES),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    deployment = body_of(api, "POST", DEPLOYMENTS)
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["namespace"] == "team"
    assert body_of(api, "POST", SERVICES)["spec"]["selector"] == {"runlab/deployment": "churn"}
    # What was sent is exactly what a dry run prints.
    stored = api.stored("Deployment", "team", "churn")
    assert stored is not None and stored["spec"] == deployment["spec"]


def test_create_refuses_a_taken_name_and_sends_nothing(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    client.create_deployment("churn", MODEL, config=APPLY)
    posts = len(api.calls("POST"))
    with pytest.raises(AlreadyExists, match=r"exists already.*update"):
        client.create_deployment("churn", MODEL, config=APPLY)
    # A Service of that name that runlab did not create is not taken over either.
    api.objects[("Service", "team", "web")] = {
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "team", "resourceVersion": "1"},
        "spec": {"clusterIP": "10.96.0.7", "ports": [{"port": 80}]},
    }
    with pytest.raises(AlreadyExists, match="runlab did not create it"):
        client.create_deployment("web", MODEL, config=APPLY)
    assert len(api.calls("POST")) == posts
    assert api.stored("Deployment", "team", "web") is None


def test_a_refused_service_removes_the_deployment_just_created(api: KubeApi) -> None:
    api.fail_next("POST", "Service", 403, 'services is forbidden: User "ci" cannot create')
    client = get_deploy_client("kubernetes")
    with pytest.raises(PermissionDenied, match=r"services is forbidden.*RBAC"):
        client.create_deployment("churn", MODEL, config=APPLY)
    assert ("DELETE", f"{DEPLOYMENTS}/churn") in api.calls()
    assert api.objects == {}
    api.fail_next("POST", "Deployment", 422, "spec.template: Invalid value")
    with pytest.raises(InvalidParameter, match=r"spec.template: Invalid value"):
        client.create_deployment("churn", MODEL, config=APPLY)
    assert api.objects == {}


def test_a_server_side_dry_run_stores_nothing(
    api: KubeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    client = get_deploy_client("kubernetes")
    result = client.create_deployment("churn", MODEL, config={**APPLY, "dry_run": True})
    assert result["applied"] is False
    posts = [r for r in api.requests if r.method == "POST"]
    assert [r.query for r in posts] == [{"dryRun": ["All"]}, {"dryRun": ["All"]}]
    assert api.objects == {}
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in printed] == ["Deployment", "Service"]


def test_update_replaces_from_the_recorded_config(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    config = {**APPLY, "image": "registry.example/runlab-pyfunc:1", "service_type": "NodePort"}
    client.create_deployment("churn", MODEL, config=config)
    # The API server allocated a node port; a replace must keep it (and the cluster IP).
    api.objects[("Service", "team", "churn")]["spec"]["ports"][0]["nodePort"] = 31000
    versions = {
        kind: api.stored(kind, "team", "churn")["metadata"]["resourceVersion"]  # type: ignore[index]
        for kind in ("Deployment", "Service")
    }
    result = client.update_deployment("churn", config={"apply": True, "replicas": 4})
    assert result["model_uri"] == MODEL  # read from the deployment
    puts = {r.path: r.body for r in api.requests if r.method == "PUT"}
    deployment, service = puts[f"{DEPLOYMENTS}/churn"], puts[f"{SERVICES}/churn"]
    assert deployment["metadata"]["resourceVersion"] == versions["Deployment"]
    assert deployment["spec"]["replicas"] == 4
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/runlab-pyfunc:1"  # kept from the recorded config
    assert service["metadata"]["resourceVersion"] == versions["Service"]
    assert service["spec"]["clusterIP"] == "10.96.0.42"
    assert service["spec"]["ports"][0]["nodePort"] == 31000
    assert client.get_deployment("churn")["replicas"] == 4


def test_update_and_get_of_a_missing_deployment_are_not_found(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    with pytest.raises(NotFound, match="No kubernetes deployment 'churn' in namespace 'team'"):
        client.update_deployment("churn", MODEL, config=APPLY)
    with pytest.raises(NotFound):
        client.get_deployment("churn")
    assert api.calls("POST") == [] and api.calls("PUT") == []


def test_get_and_list_read_the_cluster(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    client.create_deployment("churn", MODEL, config={**APPLY, "replicas": 2})
    client.create_deployment("fraud", "models:/fraud/1", config=APPLY)
    api.objects[("Deployment", "team", "web")] = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team", "labels": {"app": "web"}},
        "spec": {"replicas": 1},
    }
    info = client.get_deployment("churn")
    assert info["model_uri"] == MODEL and info["served_model_uri"] == "/opt/ml/model"
    assert info["replicas"] == info["ready_replicas"] == 2
    assert info["endpoint"] == "http://churn.team.svc:80"
    assert sorted(d["name"] for d in client.list_deployments()) == ["churn", "fraud"]
    lists = [r for r in api.requests if (r.method, r.path) == ("GET", DEPLOYMENTS)]
    assert lists[-1].query == {"labelSelector": ["app.kubernetes.io/managed-by=runlab"]}
    with pytest.raises(NotFound, match="not created by runlab"):
        client.get_deployment("web")
    # Another namespace, from the target URI.
    assert get_deploy_client("kubernetes:/other").list_deployments() == []


def test_delete_removes_both_objects_and_only_runlabs(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    client.create_deployment("churn", MODEL, config=APPLY)
    client.delete_deployment("churn", config={"dry_run": True})
    assert len(api.objects) == 2
    client.delete_deployment("churn")
    deletes = [r for r in api.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"{DEPLOYMENTS}/churn", f"{SERVICES}/churn"] * 2
    assert deletes[0].query == {"dryRun": ["All"]} and deletes[-1].query == {}
    assert deletes[-1].body["propagationPolicy"] == "Background"
    assert api.objects == {}
    client.delete_deployment("churn")  # gone already: nothing to do, no error
    api.objects[("Deployment", "team", "web")] = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team"},
    }
    with pytest.raises(InvalidParameter, match=r"runlab did not\s+create"):
        client.delete_deployment("web")
    assert ("Deployment", "team", "web") in api.objects


def test_predict_reports_a_service_without_pods(api: KubeApi) -> None:
    client = get_deploy_client("kubernetes")
    client.create_deployment("churn", MODEL, config=APPLY)
    with pytest.raises(Unavailable, match="no endpoints available"):
        client.predict("churn", {"instances": [[1.0, 2.0]]})
    with pytest.raises(NotFound):
        client.predict("fraud", {"instances": [[1.0, 2.0]]})
    with pytest.raises(InvalidParameter, match="predict takes"):
        client.predict("churn", "1,2")


def test_cluster_problems_are_clear_errors(
    api: KubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = get_deploy_client("kubernetes")
    # Wrong credentials: 401.
    config = yaml.safe_load((tmp_path / "kubeconfig").read_text())
    config["users"][0]["user"]["token"] = "wrong"
    (tmp_path / "wrong").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "wrong"))
    with pytest.raises(PermissionDenied, match="Unauthorized"):
        client.list_deployments()
    # Nothing listens at the server's address.
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "away").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "away"))
    with pytest.raises(Unavailable, match="Cannot reach the Kubernetes API server"):
        client.create_deployment("churn", MODEL, config=APPLY)
    # No kubeconfig at all.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(Unavailable, match="No usable Kubernetes configuration"):
        client.get_deployment("churn")
    assert api.objects == {}

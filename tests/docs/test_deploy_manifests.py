"""The deployment manifests under deploy/ are valid and say what docs/server.md says they say.

No Docker engine or Kubernetes cluster is needed: the Kubernetes objects go through the official
client's models (what ``kubectl``'s schema would reject, they reject too), the compose file is
checked for its services, health checks and start order, and every ``runlab server`` option in
either file must be one the command really has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from runlab.cli.server import server as server_command

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes.yaml"

kubernetes_client = pytest.importorskip("kubernetes.client")


def _server_options() -> set[str]:
    """Every --option (and -o) that `runlab server` accepts."""
    names: set[str] = set()
    for param in server_command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def check_server_command(argv: list[str]) -> None:
    """``argv`` is ``runlab server ...`` whose options all exist and are parsed by the command."""
    assert argv[:2] == ["runlab", "server"], f"not a runlab server command line: {argv}"
    known = _server_options()
    unknown = [
        a.split("=")[0] for a in argv[2:] if a.startswith("-") and a.split("=")[0] not in known
    ]
    assert not unknown, f"`runlab server` has no option {unknown}"
    # Click itself parses the line too: values where they belong, no missing arguments.
    context = server_command.make_context("server", list(argv[2:]), resilient_parsing=False)
    context.close()


class _Response:
    """What ApiClient.deserialize reads: a body in ``.data``."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.data = json.dumps(obj)


def _deserialize(obj: dict[str, Any], model: str) -> Any:
    return kubernetes_client.ApiClient().deserialize(_Response(obj), model)


def _kubernetes_objects() -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d is not None]
    by_kind = {d["kind"]: d for d in documents}
    assert len(by_kind) == len(documents), "one object of each kind is expected"
    return by_kind


def test_both_manifests_parse_as_yaml() -> None:
    assert isinstance(yaml.safe_load(COMPOSE.read_text()), dict)
    assert len(list(yaml.safe_load_all(KUBERNETES.read_text()))) == 3


def test_kubernetes_deployment_runs_several_probed_replicas_from_the_secret() -> None:
    objects = _kubernetes_objects()
    assert set(objects) == {"Secret", "Deployment", "Service"}
    deployment = _deserialize(objects["Deployment"], "V1Deployment")
    assert isinstance(deployment, kubernetes_client.V1Deployment)
    assert deployment.spec.replicas > 1
    labels = deployment.spec.template.metadata.labels
    assert deployment.spec.selector.match_labels.items() <= labels.items()
    (container,) = deployment.spec.template.spec.containers
    assert container.image and ":" in container.image
    for probe in (container.readiness_probe, container.liveness_probe):
        assert probe is not None
        assert probe.http_get.path == "/health"
        assert probe.http_get.port in ("http", 5000)
    assert [p.container_port for p in container.ports] == [5000]

    secret = _deserialize(objects["Secret"], "V1Secret")
    env = {e.name: e for e in container.env}
    for name in (
        "RUNLAB_DATABASE_URI",
        "RUNLAB_ARTIFACTS_DESTINATION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "RUNLAB_ADMIN_PASSWORD",
    ):
        assert env[name].value is None, f"{name} must come from the Secret, not the manifest"
        ref = env[name].value_from.secret_key_ref
        assert ref.name == secret.metadata.name
        assert ref.key in secret.string_data
    # No real credential is committed: every secret value is a placeholder or empty.
    assert all(v in ("REPLACE-ME", "") for v in secret.string_data.values())

    argv = list(container.args)
    check_server_command(argv)
    # The store settings are the Secret's, expanded by Kubernetes from the env.
    assert argv[argv.index("--backend-store-uri") + 1] == "$(RUNLAB_DATABASE_URI)"
    assert argv[argv.index("--artifacts-destination") + 1] == "$(RUNLAB_ARTIFACTS_DESTINATION)"

    service = _deserialize(objects["Service"], "V1Service")
    assert service.spec.selector.items() <= labels.items()
    assert [p.target_port for p in service.spec.ports] == ["http"]


def test_compose_services_health_checks_and_start_order() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "minio", "runlab", "nginx"} <= set(services)
    for name in ("postgres", "minio", "runlab", "nginx"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    runlab = services["runlab"]
    assert runlab["deploy"]["replicas"] > 1
    assert "/health" in " ".join(runlab["healthcheck"]["test"])
    assert "/health" in " ".join(services["nginx"]["healthcheck"]["test"])
    for dependency in ("postgres", "minio"):
        assert runlab["depends_on"][dependency]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["runlab"]["condition"] == "service_healthy"
    assert "server runlab:5000" in compose["configs"]["nginx-conf"]["content"]

    argv = [str(a) for a in runlab["command"]]
    check_server_command(argv)
    assert argv[argv.index("--artifacts-destination") + 1].startswith("s3://")
    assert argv[argv.index("--backend-store-uri") + 1].startswith("postgresql://")
    assert runlab["environment"]["RUNLAB_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_compose_commits_no_password() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if any(word in name for word in ("PASSWORD", "SECRET", "ROOT_USER")):
                # Only `${VAR:?message}`: compose refuses to start while the user has not set it.
                assert str(value).startswith("${") and ":?" in str(value), name


def test_command_check_rejects_an_option_the_server_lacks() -> None:
    with pytest.raises(AssertionError, match="no option"):
        check_server_command(["runlab", "server", "--workerz", "2"])
    with pytest.raises(click.ClickException, match="requires an argument"):
        check_server_command(["runlab", "server", "--port"])


def test_server_docs_describe_the_deployment() -> None:
    page = (DEPLOY.parent / "docs" / "server.md").read_text(encoding="utf-8")
    section = page.split("## Several servers, one store", 1)[1].split("\n## ", 1)[0]
    for mention in ("deploy/compose.yaml", "deploy/kubernetes.yaml", "REPLACE-ME", "/health"):
        assert mention in section, f"the deployment section does not mention {mention}"

"""``runlab azureml`` (and ``runlab deployments -t azureml``) through the real Azure ML SDK,
against the local ARM and Blob Storage stand-in (tests/support/azure_arm.py).

Credentials come from the SDK's own DefaultAzureCredential, narrowed to the Azure CLI credential,
which runs an ``az`` stand-in that prints a token; the workspace from options or the environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import runlab.pyfunc
from runlab.cli.main import cli
from support.azure_arm import (
    AZURE_SDK_WARNINGS,
    RESOURCE_GROUP,
    STORAGE_HOST,
    SUBSCRIPTION,
    WORKSPACE,
    AzureArmServer,
    azure_environment,
)

pytestmark = [pytest.mark.filterwarnings(w) for w in AZURE_SDK_WARNINGS]

WORKSPACE_OPTIONS = (
    "--subscription-id",
    SUBSCRIPTION,
    "--resource-group",
    RESOURCE_GROUP,
    "--workspace",
    WORKSPACE,
)


class Identity(runlab.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("azureml-cli-model") / "model"
    runlab.pyfunc.save_model(path, python_model=Identity())
    return path


@pytest.fixture
def arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureArmServer]:
    with azure_environment(tmp_path, monkeypatch) as server:
        yield server


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails(*args: str) -> str:
    """The one ``Error:`` line a failing command prints (exit code 1)."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ")
    return lines[-1]


def test_deploy_get_list_delete(arm: AzureArmServer, model_dir: Path) -> None:
    result = run(
        "azureml", "deploy", "-m", str(model_dir), "--name", "churn",
        "--instance-type", "Standard_F4s_v2", "--instance-count", "2", *WORKSPACE_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    deployed = json.loads(result.stdout)
    assert deployed["name"] == deployed["endpoint"] == "churn"
    assert (deployed["instance_type"], deployed["instance_count"]) == ("Standard_F4s_v2", 2)
    assert (deployed["model"], deployed["traffic"]) == ("churn:1", 100)
    assert "Registering model 'churn'" in result.stderr
    assert "Deployment 'churn' serves on endpoint 'churn'" in result.stderr
    put = arm.calls("PUT", "/deployments/churn")[0].json()
    assert put["properties"]["instanceType"] == "Standard_F4s_v2"
    assert put["sku"]["capacity"] == 2

    endpoint = ok("azureml", "get", "--name", "churn", *WORKSPACE_OPTIONS)
    assert endpoint["traffic"] == {"churn": 100}
    assert endpoint["scoring_uri"] == "https://churn.inference.runlab.invalid/score"
    one = ok("azureml", "get", "--name", "churn", "--deployment-name", "churn", *WORKSPACE_OPTIONS)
    assert one == deployed
    assert [e["name"] for e in ok("azureml", "list", *WORKSPACE_OPTIONS)] == ["churn"]
    assert ok("azureml", "list", "--name", "churn", *WORKSPACE_OPTIONS) == [deployed]

    assert ok("azureml", "delete", "--name", "churn", *WORKSPACE_OPTIONS) == {
        "endpoint": "churn",
        "deleted": True,
    }
    assert arm.calls("DELETE")[-1].resource == f"workspaces/{WORKSPACE}/onlineEndpoints/churn"
    assert ok("azureml", "list", *WORKSPACE_OPTIONS) == []
    # The credential came from DefaultAzureCredential's Azure CLI source.
    assert {r.headers.get("authorization") for r in arm.calls("PUT")} - {None} == {
        "Bearer runlab-cli-token"
    }


def test_blue_green_through_deploy_and_delete_of_one_deployment(
    arm: AzureArmServer, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workspace from the environment this time.
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", RESOURCE_GROUP)
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", WORKSPACE)
    base = ("azureml", "deploy", "-m", str(model_dir), "--name", "churn", "-C", "model_name=churn")
    ok(*base, "--deployment-name", "blue")
    green = ok(*base, "--deployment-name", "green", "-C", 'traffic={"blue": 75, "green": 25}')
    assert (green["model"], green["traffic"]) == ("churn:2", 25)
    # Deploying green again updates it and, as deploy does, sends it all the traffic.
    again = ok(*base, "--deployment-name", "green")
    assert (again["model"], again["traffic"]) == ("churn:3", 100)
    assert ok("azureml", "get", "--name", "churn")["traffic"] == {"blue": 0, "green": 100}
    line = fails("azureml", "delete", "--name", "churn", "--deployment-name", "green")
    assert "still gets 100% of endpoint 'churn'" in line
    assert ok("azureml", "delete", "--name", "churn", "--deployment-name", "blue") == {
        "endpoint": "churn",
        "deployment": "blue",
        "deleted": True,
    }
    assert ok("azureml", "get", "--name", "churn")["deployments"] == ["green"]


def test_write_specs_creates_nothing_in_azure(
    arm: AzureArmServer, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "specs"
    result = run(
        "azureml", "deploy", "-m", str(model_dir), "--name", "churn", "--deployment-name",
        "blue", "--instance-count", "3", "--write-specs", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        str(out / "model"),
        str(out / "endpoint.yml"),
        str(out / "deployment.yml"),
    ]
    assert "nothing was created in Azure" in result.stderr
    assert "az ml online-deployment create" in result.stderr
    import yaml

    deployment = yaml.safe_load((out / "deployment.yml").read_text())
    assert deployment["endpoint_name"] == "churn"
    assert deployment["instance_count"] == 3
    assert deployment["model"]["type"] == "mlflow_model"
    assert deployment["model"]["path"] == "model"
    # Only reads of the cloud's metadata, which the SDK makes once per process when it is first
    # imported (so only when no Azure test ran before this one in the process): nothing created.
    assert [r for r in arm.requests if r.path != "/metadata/endpoints"] == []
    assert all(r.method == "GET" for r in arm.requests)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "churn"), "Missing option '--model-uri'"),
        (("-m", "MODEL", "--name", "churn", "--instance-count", "0"), "0 is not in the range x>=1"),
        (("-m", "MODEL", "--name", "ch"), "'ch' is not a valid Azure ML endpoint name"),
        (
            ("-m", "MODEL", "--name", "churn", "-C", "traffic"),
            "Config 'traffic' is not a key=value",
        ),
        (
            ("-m", "MODEL", "--name", "churn", "-C", "replicas=2"),
            "Unknown azureml config key(s) replicas",
        ),
        (
            ("-m", "MODEL", "--name", "churn", "--instance-count", "2", "-C", "instance_count=3"),
            "--instance-count 2 and -C instance_count=3 disagree",
        ),
        (("-m", "/nonexistent/model", "--name", "churn"), "No model at '/nonexistent/model'"),
        (
            ("-m", "MODEL", "--name", "churn", "--subscription-id", "nope"),
            "Azure subscription id 'nope' is not valid",
        ),
    ],
)
def test_bad_deploy_options_fail_in_one_line_and_send_nothing(
    arm: AzureArmServer, model_dir: Path, args: tuple[str, ...], message: str
) -> None:
    argv = [str(model_dir) if a == "MODEL" else a for a in args]
    line = fails("azureml", "deploy", *argv, *WORKSPACE_OPTIONS[2:])
    assert message in line
    assert [r for r in arm.requests if r.method != "GET"] == []
    assert arm.children("onlineEndpoints") == []


def test_usage_errors_point_at_the_azureml_command(arm: AzureArmServer) -> None:
    assert "(see `runlab azureml get --help`)" in fails("azureml", "get")


def test_the_same_target_through_runlab_deployments(arm: AzureArmServer, model_dir: Path) -> None:
    target = f"azureml:/{SUBSCRIPTION}/{RESOURCE_GROUP}/{WORKSPACE}"
    created = ok(
        "deployments", "create", "-t", target, "--name", "blue", "--endpoint", "churn",
        "-m", str(model_dir), "-C", "instance_count=2",
    )  # fmt: skip
    assert (created["endpoint"], created["instance_count"], created["traffic"]) == ("churn", 2, 100)
    listed = ok("deployments", "list", "-t", target, "--endpoint", "churn")
    assert [d["name"] for d in listed] == ["blue"]
    blobs = [r for r in arm.requests if r.host == STORAGE_HOST and r.method == "PUT"]
    assert blobs, "the model's files were uploaded"
    help_text = run("deployments", "help", "-t", "azureml")
    assert help_text.exit_code == 0
    assert "azureml:/<subscription_id>/<resource_group>/<workspace>" in help_text.stdout


def test_missing_sign_in_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    with azure_environment(tmp_path, monkeypatch, logged_in=False) as arm:
        line = fails("azureml", "list", *WORKSPACE_OPTIONS)
        assert "No Azure credentials to list the endpoints" in line
        assert "Sign in with `az login`" in line
        assert [r.path for r in arm.requests] == ["/metadata/endpoints"] * len(arm.requests)

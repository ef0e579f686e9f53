"""The azureml target end to end through the real Azure ML SDK, against a local stand-in for
Azure Resource Manager and Blob Storage (tests/support/azure_arm.py) that records every request.

What is asserted is what the SDK sent on runlab's behalf: methods, paths and JSON bodies of the
ARM calls, the model files' blob uploads, the scoring request. What Azure then does with them
(building the serving image, running the model) is Azure's and is not exercised here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import runlab
import runlab.pyfunc
from runlab.deployments import get_deploy_client
from runlab.deployments.azureml import DeploymentClient
from runlab.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied, Unavailable
from support.azure_arm import (
    AZURE_SDK_WARNINGS,
    CONTAINER,
    ENDPOINT_KEY,
    RESOURCE_GROUP,
    STORAGE_HOST,
    SUBSCRIPTION,
    WORKSPACE,
    AzureArmServer,
    FixedTokenCredential,
    azure_environment,
)

pytestmark = [pytest.mark.filterwarnings(w) for w in AZURE_SDK_WARNINGS]

TARGET = f"azureml:/{SUBSCRIPTION}/{RESOURCE_GROUP}/{WORKSPACE}"
WS = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
    f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)


class Doubler(runlab.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input * 2


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("azureml-model") / "model"
    runlab.pyfunc.save_model(path, python_model=Doubler())
    return path


@pytest.fixture
def arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureArmServer]:
    with azure_environment(tmp_path, monkeypatch) as server:
        yield server


@pytest.fixture
def client(arm: AzureArmServer) -> DeploymentClient:
    return DeploymentClient(TARGET, credential=FixedTokenCredential())


def _writes(arm: AzureArmServer) -> list[tuple[str, str]]:
    """(method, resource) of every request that could change something, in order."""
    return [
        (r.method, r.resource if r.host != STORAGE_HOST else "blob")
        for r in arm.requests
        if r.method in ("PUT", "DELETE", "PATCH") or (r.method == "POST" and "/list" not in r.path)
    ]


def _endpoint_puts(arm: AzureArmServer, endpoint: str) -> list[Any]:
    """The JSON bodies of the PUTs of ``endpoint`` itself (not of its deployments)."""
    return [
        r.json() for r in arm.calls("PUT") if r.resource.endswith(f"onlineEndpoints/{endpoint}")
    ]


def test_create_deployment_registers_the_model_creates_the_endpoint_and_routes_traffic(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    result = client.create_deployment("churn", str(model_dir), config={"instance_count": 2})

    assert result == {
        "name": "churn",
        "endpoint": "churn",
        "flavor": "python_function",
        "model": "churn:1",
        "model_name": "churn",
        "model_version": "1",
        "instance_type": "Standard_DS3_v2",
        "instance_count": 2,
        "provisioning_state": "Succeeded",
        "traffic": 100,
        "scoring_uri": "https://churn.inference.runlab.invalid/score",
    }
    ws = "workspaces/" + WORKSPACE
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    assert _writes(arm) == [
        # the model's files, one blob each (plus the metadata the SDK sets on one of them)
        *[("PUT", "blob")] * (len(files) + 1),
        ("PUT", f"{ws}/models/churn/versions/1"),
        ("PUT", f"{ws}/onlineEndpoints/churn"),
        ("PUT", f"{ws}/onlineEndpoints/churn/deployments/churn"),
        ("PUT", f"{ws}/onlineEndpoints/churn"),
    ]
    # Every ARM call carried the credential's token.
    arm_calls = [r for r in arm.requests if r.host.startswith("management")]
    assert {
        r.headers.get("authorization") for r in arm_calls if r.path != "/metadata/endpoints"
    } == {"Bearer runlab-test-token"}

    blobs = {
        r.path.split("/model/", 1)[1]: r.body
        for r in arm.calls("PUT")
        if r.host == STORAGE_HOST and "comp" not in r.query
    }
    assert sorted(blobs) == files
    assert blobs["MLmodel"] == (model_dir / "MLmodel").read_bytes()
    upload = next(r for r in arm.calls("PUT") if r.host == STORAGE_HOST).path
    folder = upload.split(f"/{CONTAINER}/", 1)[1].rsplit("/model/", 1)[0]

    version = arm.calls("PUT", "/models/churn/versions/1")[0].json()["properties"]
    assert version["modelType"] == "mlflow_model"
    assert version["modelUri"] == (
        f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/"
        f"{WORKSPACE}/datastores/workspaceblobstore/paths/{folder}/model"
    )
    assert version["tags"] == {"runlab.model_uri": str(model_dir)}

    endpoint_puts = _endpoint_puts(arm, "churn")
    created = endpoint_puts[0]
    assert created["location"] == "eastus"
    assert created["properties"]["authMode"] == "Key"
    assert created["properties"]["traffic"] == {}

    deployment = arm.calls("PUT", "/deployments/churn")[0].json()
    assert deployment["properties"]["model"] == f"{WS}/models/churn/versions/1"
    assert deployment["properties"]["instanceType"] == "Standard_DS3_v2"
    assert deployment["properties"]["endpointComputeType"] == "Managed"
    assert deployment["sku"] == {"name": "Default", "capacity": 2}

    assert endpoint_puts[-1]["properties"]["traffic"] == {"churn": 100}


def test_a_second_deployment_splits_traffic_as_config_says(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    client.create_deployment(
        "blue", str(model_dir), config={"model_name": "churn"}, endpoint="churn"
    )
    green = client.create_deployment(
        "green",
        str(model_dir),
        config={"model_name": "churn", "traffic": {"blue": 90, "green": 10}},
        endpoint="churn",
    )
    assert (green["model"], green["traffic"]) == ("churn:2", 10)
    assert len(arm.calls("PUT", "/models/churn/versions/2")) == 1
    # One endpoint only: the second deployment found it and did not create another.
    assert [put["properties"]["traffic"] for put in _endpoint_puts(arm, "churn")] == [
        {},
        {"blue": 100},
        {"blue": 90, "green": 10},
    ]


def test_creating_an_existing_deployment_is_refused_and_sends_nothing(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    client.create_deployment("churn", str(model_dir))
    before = len(_writes(arm))
    with pytest.raises(AlreadyExists, match="already has a deployment 'churn'"):
        client.create_deployment("churn", str(model_dir))
    assert len(_writes(arm)) == before


def test_update_deploys_a_new_model_version_and_keeps_the_traffic_split(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    config = {"model_name": "churn"}
    client.create_deployment("blue", str(model_dir), config=config, endpoint="churn")
    split = {"blue": 80, "green": 20}
    client.create_deployment(
        "green", str(model_dir), config={**config, "traffic": split}, endpoint="churn"
    )
    endpoint_puts = len(_endpoint_puts(arm, "churn"))

    updated = client.update_deployment("green", str(model_dir), config=config, endpoint="churn")
    assert (updated["model"], updated["traffic"]) == ("churn:3", 20)
    assert len(_endpoint_puts(arm, "churn")) == endpoint_puts  # traffic untouched

    # Settings alone: the same model, three instances, nothing uploaded.
    blobs = len([r for r in arm.requests if r.host == STORAGE_HOST])
    scaled = client.update_deployment("green", config={"instance_count": 3}, endpoint="churn")
    assert (scaled["model"], scaled["instance_count"]) == ("churn:3", 3)
    put = arm.calls("PUT", "/deployments/green")[-1].json()
    assert put["properties"]["model"] == f"{WS}/models/churn/versions/3"
    assert put["sku"]["capacity"] == 3
    assert len([r for r in arm.requests if r.host == STORAGE_HOST]) == blobs


def test_updating_a_missing_deployment_is_not_found_and_creates_nothing(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    with pytest.raises(NotFound, match="Endpoint 'churn' has no deployment 'churn'"):
        client.update_deployment("churn", str(model_dir))
    assert _writes(arm) == []


def test_traffic_naming_an_unknown_deployment_creates_nothing(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    with pytest.raises(InvalidParameter, match="names red, which the endpoint does not have"):
        client.create_deployment("blue", str(model_dir), config={"traffic": {"red": 100}})
    assert _writes(arm) == []
    assert arm.children("onlineEndpoints") == []


def test_a_deployment_azure_refuses_takes_its_new_endpoint_along(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    arm.fail("PUT", r"/deployments/", 400, "QuotaExceeded", "Not enough quota for Standard_DS3_v2.")
    with pytest.raises(InvalidParameter) as caught:
        client.create_deployment("churn", str(model_dir))
    message = caught.value.message
    assert "Azure refused to deploy 'churn' on endpoint 'churn' (QuotaExceeded)" in message
    assert "Not enough quota for Standard_DS3_v2" in message
    assert "ask for more quota" in message
    assert "The endpoint 'churn' created for it was deleted again." in message
    assert "Model azureml:churn:1 stays registered in the workspace." in message
    assert arm.children("onlineEndpoints") == []
    assert arm.calls("DELETE")[-1].resource == f"workspaces/{WORKSPACE}/onlineEndpoints/churn"


def test_an_operation_still_running_after_the_timeout_is_reported(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    arm.state.slow.add("deployments")
    with pytest.raises(
        Unavailable, match=r"still working on deployment 'churn' after 0\.5 s"
    ) as caught:
        client.create_deployment("churn", str(model_dir), config={"timeout": 0.5})
    # Azure goes on deploying: the endpoint stays, and nobody claims it was deleted.
    assert "deleted" not in caught.value.message
    assert [e["name"] for e in arm.children("onlineEndpoints")] == ["churn"]
    assert arm.calls("DELETE") == []
    arm.finish_slow()


def test_delete_deployment_refuses_one_with_traffic_and_removes_the_last_with_its_endpoint(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    client.create_deployment("blue", str(model_dir), endpoint="churn")
    client.create_deployment(
        "green", str(model_dir), config={"traffic": {"blue": 50, "green": 50}}, endpoint="churn"
    )
    with pytest.raises(InvalidParameter, match="still gets 50% of endpoint 'churn'"):
        client.delete_deployment("green", endpoint="churn")
    client.update_endpoint("churn", config={"traffic": {"blue": 100}})
    # (The SDK leaves zero shares out of what it sends.)
    assert _endpoint_puts(arm, "churn")[-1]["properties"]["traffic"] == {"blue": 100}
    client.delete_deployment("green", endpoint="churn")
    assert arm.calls("DELETE")[-1].resource.endswith("onlineEndpoints/churn/deployments/green")
    client.delete_deployment("blue", endpoint="churn")
    assert arm.calls("DELETE")[-1].resource.endswith("onlineEndpoints/churn")
    assert arm.children("onlineEndpoints") == []
    deletes = len(arm.calls("DELETE"))
    client.delete_deployment("blue", endpoint="churn")  # gone: no error, nothing sent
    client.delete_endpoint("churn")
    assert len(arm.calls("DELETE")) == deletes


def test_get_and_list(arm: AzureArmServer, client: DeploymentClient, model_dir: Path) -> None:
    client.create_deployment("churn", str(model_dir))
    client.create_deployment("fraud-v1", str(model_dir), endpoint="fraud")
    assert client.get_deployment("churn")["instance_type"] == "Standard_DS3_v2"
    assert [d["name"] for d in client.list_deployments()] == ["churn", "fraud-v1"]
    assert [d["endpoint"] for d in client.list_deployments(endpoint="fraud")] == ["fraud"]
    assert client.get_endpoint("fraud") == {
        "name": "fraud",
        "scoring_uri": "https://fraud.inference.runlab.invalid/score",
        "auth_mode": "key",
        "traffic": {"fraud-v1": 100},
        "provisioning_state": "Succeeded",
        "deployments": ["fraud-v1"],
    }
    assert [e["name"] for e in client.list_endpoints()] == ["churn", "fraud"]
    with pytest.raises(NotFound, match="No deployment 'blue' on endpoint 'churn'"):
        client.get_deployment("blue", endpoint="churn")
    with pytest.raises(NotFound, match="No endpoint 'nope'"):
        client.get_endpoint("nope")
    with pytest.raises(NotFound, match="No endpoint 'nope'"):
        client.list_deployments(endpoint="nope")


def test_predict_sends_input_data_with_the_endpoint_key(
    arm: AzureArmServer, client: DeploymentClient, model_dir: Path
) -> None:
    client.create_deployment("churn", str(model_dir))
    answer = client.predict("churn", pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    assert answer == {"predictions": [0.0, 1.0, 2.0]}
    score = [r for r in arm.requests if r.host == "churn.inference.runlab.invalid"]
    assert [(r.method, r.path) for r in score] == [("POST", "/score")]
    assert score[0].json() == {
        "input_data": {"columns": ["x"], "data": [[1.0], [2.0], [3.0]], "index": [0, 1, 2]}
    }
    assert score[0].headers["authorization"] == f"Bearer {ENDPOINT_KEY}"
    assert score[0].headers["azureml-model-deployment"] == "churn"


def test_endpoint_methods(arm: AzureArmServer, client: DeploymentClient) -> None:
    created = client.create_endpoint("churn", config={"auth_mode": "aml_token"})
    assert (created["auth_mode"], created["deployments"]) == ("aml_token", [])
    assert _endpoint_puts(arm, "churn")[0]["properties"]["authMode"] == "AMLToken"
    with pytest.raises(AlreadyExists, match="Endpoint 'churn' already exists"):
        client.create_endpoint("churn")
    with pytest.raises(InvalidParameter, match="give config traffic"):
        client.update_endpoint("churn")
    with pytest.raises(InvalidParameter, match="names blue, which endpoint 'churn' does not have"):
        client.update_endpoint("churn", config={"traffic": {"blue": 100}})
    with pytest.raises(NotFound, match="No endpoint 'other'"):
        client.update_endpoint("other", config={"traffic": {"blue": 100}})
    client.delete_endpoint("churn")
    assert arm.children("onlineEndpoints") == []


def test_a_registered_runlab_model_is_deployed_under_its_name(
    arm: AzureArmServer, client: DeploymentClient, tmp_path: Path
) -> None:
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'runlab.db'}")
    try:
        with runlab.start_run():
            runlab.pyfunc.log_model("model", python_model=Doubler(), registered_model_name="churn")
        result = client.create_deployment("churn-prod", "models:/churn/1")
        assert result["model"] == "churn:1"
        tags = arm.calls("PUT", "/models/churn/versions/1")[0].json()["properties"]["tags"]
        assert tags == {"runlab.model_uri": "models:/churn/1"}
        # A URI naming no model fails before Azure is asked anything.
        sent = len(arm.requests)
        with pytest.raises(NotFound):
            client.create_deployment("other", "models:/churn/7")
        assert len(arm.requests) == sent
    finally:
        runlab.set_tracking_uri(None)


def test_a_missing_workspace_is_named_and_nothing_is_created(
    arm: AzureArmServer, model_dir: Path
) -> None:
    other = DeploymentClient(
        f"azureml:/{SUBSCRIPTION}/{RESOURCE_GROUP}/elsewhere", credential=FixedTokenCredential()
    )
    with pytest.raises(NotFound, match="There is no Azure ML workspace elsewhere"):
        other.create_deployment("churn", str(model_dir))
    assert _writes(arm) == []


def test_default_credentials_come_from_the_sdk_chain(
    arm: AzureArmServer, model_dir: Path, tmp_path: Path
) -> None:
    # No credential given: DefaultAzureCredential, which here runs the `az` stand-in.
    client = get_deploy_client(TARGET)
    assert client.list_endpoints() == []
    calls = (tmp_path / "bin" / "az-calls.log").read_text()
    assert "account get-access-token --output json" in calls
    assert {r.headers["authorization"] for r in arm.calls("GET", "/onlineEndpoints")} == {
        "Bearer runlab-cli-token"
    }


def test_without_credentials_the_error_says_how_to_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    with azure_environment(tmp_path, monkeypatch, logged_in=False) as arm:
        client = get_deploy_client(TARGET)
        with pytest.raises(PermissionDenied) as caught:
            client.create_deployment("churn", str(model_dir))
        assert "No Azure credentials to read workspace" in caught.value.message
        assert "Sign in with `az login`" in caught.value.message
        assert arm.requests == [r for r in arm.requests if r.path == "/metadata/endpoints"]


def test_the_workspace_config_json_names_the_workspace(
    arm: AzureArmServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing names the workspace: the SDK's MLClient.from_config finds config.json.
    folder = tmp_path / "project" / "src"
    folder.mkdir(parents=True)
    (tmp_path / "project" / "config.json").write_text(
        json.dumps(
            {
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "workspace_name": WORKSPACE,
            }
        )
    )
    monkeypatch.chdir(folder)
    client = DeploymentClient("azureml", credential=FixedTokenCredential())
    assert client.list_endpoints() == []
    assert arm.calls("GET", f"/workspaces/{WORKSPACE}/onlineEndpoints")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidParameter, match="No Azure ML workspace is named"):
        DeploymentClient("azureml", credential=FixedTokenCredential()).list_endpoints()

"""The azureml target without Azure: config, names, workspace, traffic, and the specs it builds,
checked by the Azure ML SDK's own YAML loaders, schemas and REST models (no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import runlab.pyfunc
from runlab.deployments import target_help
from runlab.deployments.azureml import DeploymentClient, run_local
from runlab.deployments.azureml_operations import azure_payload, model_reference
from runlab.deployments.azureml_specs import (
    DEFAULT_INSTANCE_TYPE,
    SOURCE_TAG,
    AzureSettings,
    deployment_document,
    endpoint_document,
    load_entity,
    model_asset_name,
    model_document,
    plan_traffic,
    read_settings,
    write_specs,
)
from runlab.deployments.azureml_workspace import Workspace, parse_target_uri, resolve_workspace
from runlab.errors import InvalidParameter
from support.azure_arm import AZURE_SDK_WARNINGS

SUB = "00000000-1111-2222-3333-444444444444"

# The SDK is imported inside the tests (as runlab imports it, lazily), where these apply.
pytestmark = [pytest.mark.filterwarnings(w) for w in AZURE_SDK_WARNINGS]


class Doubler(runlab.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input * 2


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("azureml-model") / "model"
    runlab.pyfunc.save_model(path, python_model=Doubler())
    return path


# -- config ----------------------------------------------------------------------------------
def test_settings_read_every_key() -> None:
    settings = read_settings(
        {
            "instance_type": "Standard_F2s_v2",
            "instance_count": 3,
            "traffic": {"blue": 90, "green": 10},
            "model_name": "churn.v2",
            "auth_mode": "AML_TOKEN",
            "description": "churn model",
            "tags": {"team": "ml", "tier": 1},
            "environment_variables": {"WORKERS": "2"},
            "timeout": 60,
            "subscription_id": SUB,
        }
    )
    assert settings == AzureSettings(
        instance_type="Standard_F2s_v2",
        instance_count=3,
        traffic={"blue": 90, "green": 10},
        model_name="churn.v2",
        auth_mode="aml_token",
        description="churn model",
        tags={"team": "ml", "tier": "1"},
        environment_variables={"WORKERS": "2"},
        timeout=60.0,
    )
    assert read_settings(None) == AzureSettings()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"instance_typ": "x"}, "Unknown azureml config key(s) instance_typ"),
        ({"instance_count": 0}, "instance_count must be a whole number >= 1"),
        ({"instance_count": "2"}, "instance_count must be a whole number >= 1"),
        ({"instance_count": True}, "instance_count must be a whole number >= 1"),
        ({"instance_type": ""}, "instance_type must be a non-empty string"),
        ({"traffic": {"blue": 90, "green": 20}}, "adds up to 110"),
        ({"traffic": {"blue": 100.0}}, "each share is a whole percent"),
        ({"traffic": {"blue": -1, "green": 101}}, "each share is a whole percent"),
        ({"traffic": {"b": 100}}, "'b' is not a valid Azure ML deployment name"),
        ({"traffic": "blue=100"}, "traffic must be a JSON object"),
        ({"traffic": {}}, "traffic must be a JSON object"),
        ({"model_name": "-bad"}, "is not an Azure ML model name"),
        ({"auth_mode": "aad"}, "auth_mode must be key or aml_token"),
        ({"tags": ["a"]}, "tags must be a JSON object of names to strings"),
        ({"tags": {"a": {"b": 1}}}, "tags must be a JSON object of names to strings"),
        ({"environment_variables": "X=1"}, "environment_variables must be a JSON object"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
    ],
)
def test_bad_settings_are_refused_with_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_settings(config)


# -- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ab", "a" * 33, "1churn", "churn-", "churn_v2", "churn.v2"])
def test_names_azure_refuses_are_refused_before_anything_else(name: str) -> None:
    client = DeploymentClient(f"azureml:/{SUB}/rg/ws1", credential=object())
    with pytest.raises(InvalidParameter, match="is not a valid Azure ML deployment name"):
        client.create_deployment(name, "/nonexistent/model", endpoint="churn")


def test_runlab_names_and_the_sdk_agree(model_dir: Path) -> None:
    # A name runlab accepts passes the SDK's own check, and the SDK refuses what runlab does.
    from azure.ai.ml.entities import ManagedOnlineDeployment

    accepted = ManagedOnlineDeployment(name="churn-2", endpoint_name="churn", instance_type="x")
    accepted._validate_name()
    with pytest.raises(Exception, match="at least 3 and at most 32"):
        ManagedOnlineDeployment(
            name="ab", endpoint_name="churn", instance_type="x"
        )._validate_name()


def test_model_asset_name_comes_from_the_registered_model() -> None:
    assert model_asset_name("models:/churn classifier/Production", "dep") == "churn-classifier"
    assert model_asset_name("models:/churn@champion", "dep") == "churn"
    assert model_asset_name("runs:/0123456789abcdef0123456789abcdef/model", "dep") == "dep"
    assert model_asset_name("/some/folder", "dep") == "dep"


# -- workspace -------------------------------------------------------------------------------
def test_target_uri_forms() -> None:
    assert parse_target_uri("azureml") == Workspace()
    assert parse_target_uri(f"azureml:/{SUB}/rg-1/ws_1") == Workspace(SUB, "rg-1", "ws_1")
    tracking = (
        f"azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/{SUB}/resourceGroups/rg/"
        "providers/Microsoft.MachineLearningServices/workspaces/ws1"
    )
    assert parse_target_uri(tracking) == Workspace(SUB, "rg", "ws1")
    for bad in ("azureml:/only/two", f"azureml:/{SUB}//ws"):
        with pytest.raises(InvalidParameter, match="azureml:/<subscription_id>"):
            parse_target_uri(bad)
    with pytest.raises(InvalidParameter, match="subscription id 'not-a-guid' is not valid"):
        parse_target_uri("azureml:/not-a-guid/rg/ws1")
    with pytest.raises(InvalidParameter, match="workspace name 'w' is not valid"):
        parse_target_uri(f"azureml:/{SUB}/rg/w")
    with pytest.raises(InvalidParameter, match=r"resource group 'rg\.' is not valid"):
        parse_target_uri(f"azureml:/{SUB}/rg./wsx")


def test_workspace_parts_come_from_options_then_uri_then_environment() -> None:
    other = "99999999-1111-2222-3333-444444444444"
    environ = {
        "AZURE_SUBSCRIPTION_ID": other,
        "AZURE_RESOURCE_GROUP": "env-rg",
        "AZUREML_ARM_WORKSPACE_NAME": "env-ws",
    }
    assert resolve_workspace("azureml", environ=environ) == Workspace(other, "env-rg", "env-ws")
    assert resolve_workspace(
        f"azureml:/{SUB}/uri-rg/uri-ws", workspace="opt-ws", environ=environ
    ) == Workspace(SUB, "uri-rg", "opt-ws")
    assert resolve_workspace("azureml", environ={}) == Workspace()
    with pytest.raises(InvalidParameter, match="subscription id 'x' is not valid"):
        resolve_workspace("azureml", environ={"AZURE_SUBSCRIPTION_ID": "x"})


def test_a_partly_named_workspace_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME", "AZUREML_ARM_RESOURCEGROUP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AZUREML_ARM_WORKSPACE_NAME", raising=False)
    client = DeploymentClient("azureml", subscription_id=SUB, credential=object())
    with pytest.raises(InvalidParameter) as caught:
        client.list_endpoints()
    assert "the resource group (--resource-group or $AZURE_RESOURCE_GROUP)" in caught.value.message
    assert "the workspace name (--workspace or $AZUREML_WORKSPACE_NAME)" in caught.value.message
    assert "subscription id" not in caught.value.message


# -- traffic ---------------------------------------------------------------------------------
def test_traffic_plans() -> None:
    current = {"blue": 100}
    assert plan_traffic(current, {"blue"}, "green", None, route_by_default=True) == {
        "blue": 0,
        "green": 100,
    }
    assert plan_traffic(current, {"blue"}, "green", None, route_by_default=False) is None
    assert plan_traffic(current, {"blue"}, "green", {"blue": 90, "green": 10}, True) == {
        "blue": 90,
        "green": 10,
    }
    with pytest.raises(InvalidParameter, match="names red, which the endpoint does not have"):
        plan_traffic(current, {"blue"}, "green", {"red": 100}, True)


# -- specs through the SDK's loaders ---------------------------------------------------------
def test_endpoint_spec_loads_and_converts_with_the_sdk() -> None:
    from azure.ai.ml import load_online_endpoint
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    settings = read_settings({"auth_mode": "aml_token", "tags": {"team": "ml"}})
    document = endpoint_document("churn", settings)
    endpoint = load_online_endpoint(_yaml_stream(document))
    assert isinstance(endpoint, ManagedOnlineEndpoint)
    assert (endpoint.name, endpoint.auth_mode, endpoint.tags) == (
        "churn",
        "aml_token",
        {"team": "ml"},
    )
    rest = endpoint._to_rest_online_endpoint("eastus").as_dict()
    assert rest["properties"]["authMode"] == "AMLToken"
    assert rest["location"] == "eastus"


def test_deployment_spec_loads_and_converts_with_the_sdk() -> None:
    from azure.ai.ml import load_online_deployment
    from azure.ai.ml.entities import ManagedOnlineDeployment

    settings = read_settings({"instance_count": 2, "environment_variables": {"A": "1"}})
    document = deployment_document("blue", "churn", "azureml:churn:3", settings)
    deployment = load_online_deployment(_yaml_stream(document))
    assert isinstance(deployment, ManagedOnlineDeployment)
    assert deployment.instance_type == DEFAULT_INSTANCE_TYPE
    assert deployment.instance_count == 2
    assert deployment.model == "churn:3"  # the SDK's loader drops the azureml: prefix
    rest = deployment._to_rest_object("eastus").as_dict()
    assert rest["sku"] == {"name": "Default", "capacity": 2}
    assert rest["properties"]["instanceType"] == DEFAULT_INSTANCE_TYPE
    assert rest["properties"]["environmentVariables"] == {"A": "1"}
    # An update keeps what the current deployment has unless the config changes it.
    kept = deployment_document("blue", "churn", "azureml:churn:4", AzureSettings(), deployment)
    assert (kept["instance_type"], kept["instance_count"]) == (DEFAULT_INSTANCE_TYPE, 2)
    assert kept["environment_variables"] == {"A": "1"}


def test_model_spec_is_an_mlflow_model_the_sdk_accepts(model_dir: Path) -> None:
    from azure.ai.ml import load_model

    document = model_document("churn", str(model_dir), "models:/churn/3", AzureSettings())
    model = load_entity("model", document)
    assert (model.name, model.type, Path(model.path)) == ("churn", "mlflow_model", model_dir)
    assert model.tags == {SOURCE_TAG: "models:/churn/3"}
    assert load_model(_yaml_stream(document)).type == "mlflow_model"


def test_a_spec_the_sdk_refuses_is_a_clear_error() -> None:
    document = deployment_document("blue", "churn", "azureml:churn:3", AzureSettings())
    document["instance_count"] = "many"
    with pytest.raises(
        InvalidParameter,
        match=r'cannot read the deployment spec: its schema says \{"instance_count": \["Not a valid',
    ):
        load_entity("deployment", document)


def test_write_specs_writes_what_az_ml_loads(model_dir: Path, tmp_path: Path) -> None:
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    out = tmp_path / "specs"
    written = write_specs(
        out, "blue", str(model_dir), config={"instance_count": 2}, endpoint="churn"
    )
    assert sorted(p.name for p in written) == ["deployment.yml", "endpoint.yml", "model"]
    assert (out / "model" / "MLmodel").is_file()
    endpoint = load_online_endpoint(out / "endpoint.yml")
    deployment = load_online_deployment(out / "deployment.yml")
    assert (endpoint.name, deployment.name, deployment.endpoint_name) == ("churn", "blue", "churn")
    assert deployment.model.type == "mlflow_model"
    assert Path(deployment.model.path) == out / "model"
    assert deployment.instance_count == 2
    # Nothing is overwritten: a second run into the same folder is refused.
    with pytest.raises(InvalidParameter, match="is not empty"):
        write_specs(out, "blue", str(model_dir))


def test_write_specs_refuses_a_model_without_the_pyfunc_flavor(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    with pytest.raises(InvalidParameter, match="has no 'python_function' flavor"):
        write_specs(tmp_path / "out", "blue", str(folder))
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidParameter, match="cannot deploy the flavor 'sklearn'"):
        DeploymentClient(f"azureml:/{SUB}/rg/ws1", credential=object()).create_deployment(
            "blue", str(folder), flavor="sklearn"
        )


# -- scoring payload -------------------------------------------------------------------------
def test_payloads_follow_azure_ml_input_data_format() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    assert azure_payload(frame) == {
        "input_data": {"columns": ["a", "b"], "data": [[1, 0.5], [2, 1.5]], "index": [0, 1]}
    }
    assert azure_payload([[1, 2]]) == {"input_data": [[1, 2]]}
    assert azure_payload({"dataframe_records": [{"a": 1}, {"b": 2}]}) == {
        "input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1, None], [None, 2]]}
    }
    assert azure_payload({"instances": [1, 2], "params": {"k": 1}}) == {
        "input_data": [1, 2],
        "params": {"k": 1},
    }
    own = {"input_data": {"x": [1]}}
    assert azure_payload(own) == own


def test_model_references() -> None:
    arm = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/models/churn/versions/4"
    assert model_reference(arm) == {"model": "churn:4", "model_name": "churn", "model_version": "4"}
    assert model_reference("azureml:churn:2")["model"] == "churn:2"


# -- help, run_local, import cost ------------------------------------------------------------
def test_target_help_names_the_uri_and_every_key() -> None:
    text = target_help("azureml")
    assert "azureml:/<subscription_id>/<resource_group>/<workspace>" in text
    for key in ("instance_type", "traffic", "model_name", "auth_mode", "timeout"):
        assert f"  {key}: " in text


@pytest.mark.parametrize(
    ("config", "flavor", "message"),
    [
        ({"prot": 1}, None, "takes the config keys port, host and trust_model, not prot"),
        ({"port": 70000}, None, "port must be a TCP port number"),
        ({"host": ""}, None, "host must be a host name"),
        ({}, "sklearn", "serves the python_function flavor"),
    ],
)
def test_run_local_refuses_bad_config(
    config: dict[str, Any], flavor: str | None, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        run_local("azureml", "churn", "/nonexistent", flavor, config)


def test_importing_the_target_loads_no_azure_sdk() -> None:
    code = (
        "import sys, runlab.deployments.azureml, runlab.cli.azureml; "
        "loaded = [m for m in sys.modules if m.startswith(('azure', 'msal'))]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _yaml_stream(document: dict[str, Any]) -> Any:
    import io

    return io.StringIO(yaml.safe_dump(document))

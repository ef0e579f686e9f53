"""The deployments plugin API: target URIs, finding targets by entry point, and the helpers.

Each plugin here is "installed" into its own temporary folder (a module and a dist-info, see
support.deployment_plugins) put on sys.path, the way pip makes an installed package's entry
points visible; nothing of runlab is replaced.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runlab.deployments import (
    BaseDeploymentClient,
    PredictionsResponse,
    get_deploy_client,
    run_local,
    target_help,
)
from runlab.deployments.config import parse_config
from runlab.deployments.deployable import (
    choose_flavor,
    deployable_model,
    fetch_deployable_model,
)
from runlab.deployments.scoring import predictions_response, scoring_request
from runlab.deployments.targets import available_targets, target_name
from runlab.errors import InvalidParameter, MlflowException, NotFound
from support.deployment_plugins import RECORDER_SOURCE, install_plugin, on_sys_path

# A client that implements every abstract method and nothing more.
_MINIMAL = """
from runlab.deployments import BaseDeploymentClient, PredictionsResponse


class {name}(BaseDeploymentClient):
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        return {{"name": name}}

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        return {{"name": name}}

    def delete_deployment(self, name, config=None, endpoint=None):
        return None

    def list_deployments(self, endpoint=None):
        return []

    def get_deployment(self, name, endpoint=None):
        return {{"name": name}}

    def predict(self, deployment_name=None, inputs=None, endpoint=None):
        return PredictionsResponse({{"predictions": []}})
"""


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Any]:
    """Install plugins for one test: ``plugins(dist, {module: source}, {target: module})``."""
    with contextlib.ExitStack() as stack:

        def install(dist: str, modules: dict[str, str], targets: dict[str, str]) -> None:
            folder = install_plugin(tmp_path / dist, dist, modules, targets)
            stack.enter_context(on_sys_path(folder, *modules))

        yield install


# -- target URIs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("sagemaker", "sagemaker"),
        ("sagemaker:/us-west-2", "sagemaker"),
        ("sagemaker:/us-west-2/arn:aws:iam::123456789012:role/x", "sagemaker"),
        ("azureml", "azureml"),
        ("kserve:/", "kserve"),
        ("my-target.v2:/anything", "my-target.v2"),
    ],
)
def test_target_name_is_what_comes_before_the_colon(uri: str, name: str) -> None:
    assert target_name(uri) == name


@pytest.mark.parametrize("uri", ["", "  ", ":/us-west-2", "1target", "a b:/x", "../x"])
def test_a_malformed_target_uri_is_refused(uri: str) -> None:
    with pytest.raises(InvalidParameter, match="target"):
        target_name(uri)


def test_a_target_uri_must_be_a_string() -> None:
    with pytest.raises(InvalidParameter, match="non-empty string"):
        get_deploy_client(None)  # type: ignore[arg-type]


def test_the_builtin_targets_are_registered() -> None:
    assert {"sagemaker", "azureml", "kubernetes", "kserve"} <= set(available_targets())


# -- finding targets ------------------------------------------------------------------------------
def test_an_installed_plugin_is_found_and_used(plugins: Any) -> None:
    plugins("runlab-recorder", {"rec_plugin": RECORDER_SOURCE}, {"recorder": "rec_plugin"})
    client = get_deploy_client("recorder:/somewhere")
    assert isinstance(client, BaseDeploymentClient)
    assert client.target_uri == "recorder:/somewhere"
    assert client.create_deployment("m", "models:/m/1", config={"a": 1})["name"] == "m"
    run_local("recorder", "m", "models:/m/1", "python_function", {"port": 1})
    calls = sys.modules["rec_plugin"].CALLS
    assert calls[-1]["method"] == "run_local"
    assert calls[-1]["config"] == {"port": 1}
    assert target_help("recorder:/x") == "recorder: records what it is asked to do."


def test_an_unknown_target_lists_the_installed_ones(plugins: Any) -> None:
    plugins("runlab-recorder", {"rec_plugin": RECORDER_SOURCE}, {"recorder": "rec_plugin"})
    with pytest.raises(InvalidParameter) as caught:
        get_deploy_client("nosuch:/x")
    message = str(caught.value)
    assert "No deployment target 'nosuch' is installed" in message
    assert "recorder" in message and "sagemaker" in message and "kserve" in message
    # MLflow code catches the same error by MLflow's name.
    assert isinstance(caught.value, MlflowException)


def test_a_plugin_whose_import_fails_names_the_error_and_the_install(plugins: Any) -> None:
    broken = "import runlab_no_such_sdk_module\n"
    plugins("runlab-broken", {"broken_plugin": broken}, {"broken": "broken_plugin"})
    for call in (
        lambda: get_deploy_client("broken"),
        lambda: target_help("broken"),
        lambda: run_local("broken", "n", "m"),
    ):
        with pytest.raises(InvalidParameter) as caught:
            call()
        message = str(caught.value)
        assert "could not be loaded" in message
        assert "No module named 'runlab_no_such_sdk_module'" in message
        assert "pip install 'runlab-broken'" in message


def test_a_plugin_failing_any_other_way_at_import_is_reported(plugins: Any) -> None:
    source = "raise RuntimeError('no credentials configured')\n"
    plugins("runlab-angry", {"angry_plugin": source}, {"angry": "angry_plugin"})
    with pytest.raises(InvalidParameter, match="RuntimeError: no credentials configured"):
        get_deploy_client("angry")


def test_a_builtin_target_without_its_sdk_names_the_extra(plugins: Any) -> None:
    # Registered like the built-in ones (a runlab.* module); the module cannot be imported.
    plugins("runlab-ghost", {}, {"ghostly": "runlab.deployments.ghostly_not_there"})
    with pytest.raises(InvalidParameter, match=r"pip install 'runlab\[ghostly\]'"):
        get_deploy_client("ghostly:/x")


def test_an_entry_point_must_name_a_module(plugins: Any) -> None:
    source = _MINIMAL.format(name="Client")
    plugins("runlab-attr", {"attr_plugin": source}, {"attr": "attr_plugin:Client"})
    with pytest.raises(InvalidParameter, match="must name a module"):
        get_deploy_client("attr")


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("X = 1\n", "found 0"),
        # A client imported from elsewhere is not the module's own.
        ("from runlab.deployments import BaseDeploymentClient as Imported\n", "found 0"),
        (_MINIMAL.format(name="One") + _MINIMAL.format(name="Two").split("\n", 3)[3], "found 2"),
    ],
)
def test_a_module_must_define_one_client_class(plugins: Any, source: str, found: str) -> None:
    plugins("runlab-odd", {"odd_plugin": source}, {"odd": "odd_plugin"})
    with pytest.raises(InvalidParameter, match=f"must define one subclass.*{found}"):
        get_deploy_client("odd")


def test_a_class_named_deploymentclient_is_chosen_among_several(plugins: Any) -> None:
    source = (
        _MINIMAL.format(name="Helper") + _MINIMAL.format(name="DeploymentClient").split("\n", 3)[3]
    )
    plugins("runlab-two", {"two_plugin": source}, {"two": "two_plugin"})
    assert type(get_deploy_client("two")).__name__ == "DeploymentClient"


def test_a_client_with_abstract_methods_left_is_refused(plugins: Any) -> None:
    source = textwrap.dedent(
        """
        from runlab.deployments import BaseDeploymentClient

        class DeploymentClient(BaseDeploymentClient):
            def list_deployments(self, endpoint=None):
                return []
        """
    )
    plugins("runlab-half", {"half_plugin": source}, {"half": "half_plugin"})
    with pytest.raises(InvalidParameter, match="does not implement create_deployment, "):
        get_deploy_client("half")


def test_a_module_without_run_local_or_target_help_says_so(plugins: Any) -> None:
    plugins("runlab-min", {"min_plugin": _MINIMAL.format(name="C")}, {"min": "min_plugin"})
    with pytest.raises(InvalidParameter, match=r"does not provide run_local\(\)"):
        run_local("min", "n", "models:/m/1")
    with pytest.raises(InvalidParameter, match=r"does not provide target_help\(\)"):
        target_help("min")


def test_targets_without_endpoints_raise_on_the_endpoint_methods(plugins: Any) -> None:
    plugins("runlab-min", {"min_plugin": _MINIMAL.format(name="C")}, {"min": "min_plugin"})
    client = get_deploy_client("min:/x")
    calls = {
        "create_endpoint": lambda: client.create_endpoint("e", config={}),
        "update_endpoint": lambda: client.update_endpoint("e"),
        "delete_endpoint": lambda: client.delete_endpoint("e"),
        "list_endpoints": client.list_endpoints,
        "get_endpoint": lambda: client.get_endpoint("e"),
        "explain": lambda: client.explain("d", [[1]]),
    }
    for method, call in calls.items():
        with pytest.raises(InvalidParameter, match=rf"'min:/x' does not support {method}\(\)"):
            call()


def test_importing_the_package_loads_no_target_and_no_sdk() -> None:
    code = (
        "import sys, json, runlab.deployments, runlab.deployments.config\n"
        "heavy = ('boto3', 'azure', 'kubernetes', 'pandas', 'runlab.models', 'runlab.serving',"
        " 'runlab.deployments.sagemaker', 'runlab.deployments.kserve')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


# -- PredictionsResponse --------------------------------------------------------------------------
def test_predictions_as_a_dataframe() -> None:
    records = PredictionsResponse({"predictions": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]})
    frame = records.get_predictions()
    assert list(frame.columns) == ["a", "b"] and frame["a"].tolist() == [1, 2]
    scalars = PredictionsResponse({"predictions": [0.5, 1.5]}).get_predictions(
        predictions_format="dataframe", dtype="float32"
    )
    assert scalars[0].dtype == np.float32 and scalars[0].tolist() == [0.5, 1.5]


def test_predictions_as_an_array() -> None:
    answer = PredictionsResponse({"predictions": [[1, 2], [3, 4]]})
    array = answer.get_predictions(predictions_format="ndarray", dtype="float64")
    assert array.shape == (2, 2) and array.dtype == np.float64
    with pytest.raises(InvalidParameter, match="'dataframe' or 'ndarray'"):
        answer.get_predictions(predictions_format="tensor")


def test_a_response_without_predictions_is_read_as_a_dict() -> None:
    with pytest.raises(InvalidParameter, match="no 'predictions' key"):
        PredictionsResponse({"outputs": [1]}).get_predictions()


def test_predictions_json_round_trip(tmp_path: Path) -> None:
    answer = PredictionsResponse({"predictions": [1, 2], "model": "m"})
    assert PredictionsResponse.from_json(str(answer.to_json())) == answer
    assert answer.to_json(str(tmp_path / "out.json")) is None
    assert json.loads((tmp_path / "out.json").read_text()) == dict(answer)
    with pytest.raises(InvalidParameter, match="JSON object"):
        PredictionsResponse.from_json("[1, 2]")


# -- parse_config ---------------------------------------------------------------------------------
def test_config_values_are_json_when_they_parse() -> None:
    pairs = [
        "instance_count=2",
        "ratio=0.5",
        "async=true",
        "role=null",
        'tags={"team": "ml"}',
        'subnets=["a", "b"]',
        "region=us-west-2",
        'quoted="007"',
        "expr=a=b",
        "empty=",
        "region=eu-west-1",
    ]
    assert parse_config(pairs) == {
        "instance_count": 2,
        "ratio": 0.5,
        "async": True,
        "role": None,
        "tags": {"team": "ml"},
        "subnets": ["a", "b"],
        "region": "eu-west-1",  # the last one given wins
        "quoted": "007",
        "expr": "a=b",
        "empty": "",
    }
    assert parse_config([]) == {} and parse_config(None) == {}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["instance_count"], "'instance_count' is not a key=value pair"),
        (["a=1", "=2"], "'=2' has an empty key"),
        ("a=1", "a list of 'key=value' strings"),
        ([3], "3 is not a key=value pair"),
    ],
)
def test_bad_config_pairs_are_refused(pairs: Any, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_config(pairs)


# -- scoring requests -----------------------------------------------------------------------------
def test_a_dataframe_is_sent_as_dataframe_split() -> None:
    frame = pd.DataFrame({"b": [1.5, np.nan], "a": np.array([1, 2], dtype=np.int64)})
    assert scoring_request(frame, params={"k": np.int64(3)}) == {
        "dataframe_split": {"columns": ["b", "a"], "data": [[1.5, 1], [None, 2]]},
        "params": {"k": 3},
    }
    assert scoring_request(pd.Series([1, 2], name="x")) == {
        "dataframe_split": {"columns": ["x"], "data": [[1], [2]]}
    }


def test_other_inputs_are_sent_as_inputs_or_kept() -> None:
    assert scoring_request(np.array([[1, 2]])) == {"inputs": [[1, 2]]}
    assert scoring_request([1, 2]) == {"inputs": [1, 2]}
    assert scoring_request({"x": np.array([1.0])}) == {"inputs": {"x": [1.0]}}
    document = {"dataframe_records": [{"x": 1}], "params": {"k": 1}}
    assert scoring_request(document) == document
    with pytest.raises(InvalidParameter, match="needs inputs"):
        scoring_request(None)


def test_a_server_answer_becomes_a_predictions_response() -> None:
    assert predictions_response({"predictions": [1]}) == {"predictions": [1]}
    assert predictions_response([1, 2]).get_predictions("ndarray").tolist() == [1, 2]


# -- the model to deploy --------------------------------------------------------------------------
def _mlmodel(folder: Path, *flavors: str) -> Path:
    folder.mkdir()
    lines = ["flavors:", *(f"  {flavor}:\n    loader_module: x" for flavor in flavors)]
    (folder / "MLmodel").write_text("\n".join(lines) + "\n")
    return folder


def test_the_model_to_deploy_is_resolved_and_checked(tmp_path: Path) -> None:
    folder = _mlmodel(tmp_path / "model", "python_function", "sklearn")
    with deployable_model(str(folder)) as model:
        assert model.flavor == "python_function"
        assert model.path == folder and model.source == str(folder.resolve())
        assert model.mlmodel.flavors.keys() == {"python_function", "sklearn"}
    with deployable_model(folder.as_uri(), "sklearn", supported_flavors=None) as model:
        assert model.flavor == "sklearn" and model.source == str(folder.resolve())
    assert folder.is_dir()  # a local model is used where it is, never removed


def test_a_model_that_cannot_be_deployed_is_refused(tmp_path: Path) -> None:
    only_sklearn = _mlmodel(tmp_path / "sk", "sklearn")
    with pytest.raises(InvalidParameter, match=r"has no 'python_function' flavor \(its flavors: "):
        fetch_deployable_model(str(only_sklearn))
    with pytest.raises(InvalidParameter, match="cannot deploy the flavor 'sklearn'"):
        fetch_deployable_model(str(only_sklearn), flavor="sklearn")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameter, match="has no MLmodel file"):
        fetch_deployable_model(str(tmp_path / "empty"))
    with pytest.raises(NotFound, match="No model at"):
        fetch_deployable_model(str(tmp_path / "missing"))
    with pytest.raises(InvalidParameter, match="non-empty string"):
        fetch_deployable_model("")


def test_choose_flavor_names_what_the_model_has(tmp_path: Path) -> None:
    from runlab.models.model import Model

    mlmodel = Model.load(_mlmodel(tmp_path / "m", "keras"))
    with pytest.raises(InvalidParameter, match=r"'m' has no 'python_function' flavor.*keras"):
        choose_flavor(mlmodel, None, model_uri="'m'")
    assert choose_flavor(mlmodel, "keras", ("keras", "python_function")) == "keras"


def test_registry_and_run_uris_resolve_as_everywhere_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runlab

    monkeypatch.setenv("RUNLAB_TRACKING_URI", f"sqlite:///{tmp_path / 'runlab.db'}")
    folder = _mlmodel(tmp_path / "model", "python_function")
    with runlab.start_run() as run:
        runlab.log_artifacts(str(folder), "model")
    runs_uri = f"runs:/{run.info.run_id}/model"
    first = runlab.register_model(runs_uri, "m")
    second = runlab.register_model(runs_uri, "m")
    client = runlab.MlflowClient()
    client.transition_model_version_stage("m", first.version, "Production")
    client.set_registered_model_alias("m", "champion", second.version)

    with deployable_model(runs_uri) as by_run:
        assert (by_run.path / "MLmodel").is_file()
    for uri in ("models:/m/Production", "models:/m@champion", "models:/m/1"):
        with deployable_model(uri) as model:
            assert model.uri == uri and model.flavor == "python_function"
            # Pinned to the files the version named when deployed, not to the moving name.
            assert not model.source.startswith("models:/")
            assert (Path(model.source) / "MLmodel").is_file()
    with pytest.raises(NotFound):
        fetch_deployable_model("models:/m/Staging")

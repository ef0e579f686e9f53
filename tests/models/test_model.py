"""The MLmodel file: round trips, MLflow's field layout, unknown keys kept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from runlab.errors import InvalidParameter, NotFound
from runlab.models import ColSpec, Model, ModelSignature, Schema, TensorSpec


def _signature() -> ModelSignature:
    return ModelSignature(
        Schema([ColSpec("double", "x"), ColSpec("string", "label", required=False)]),
        Schema([TensorSpec(np.float32, (-1, 2))]),
    )


def test_new_model_has_uuid_time_and_version() -> None:
    model = Model(artifact_path="model", run_id="abc")
    assert re.fullmatch(r"[0-9a-f]{32}", model.model_uuid)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", model.utc_time_created)
    assert Model().model_uuid != model.model_uuid
    assert model.to_dict()["runlab_version"]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = Model(
        artifact_path="model",
        run_id="r1",
        signature=_signature(),
        saved_input_example_info={"artifact_path": "input_example.json", "type": "dataframe"},
        model_id="m-1",
        metadata={"owner": "team"},
    )
    model.add_flavor(
        "python_function", loader_module="runlab.sklearn", env={"virtualenv": "python_env.yaml"}
    )
    model.save(tmp_path)  # a directory: the file is MLmodel inside it
    assert (tmp_path / "MLmodel").is_file()
    loaded = Model.load(tmp_path)
    assert loaded == model
    assert loaded.signature == _signature()
    assert loaded.flavors["python_function"]["env"] == {"virtualenv": "python_env.yaml"}
    assert Model.load(tmp_path / "MLmodel").model_uuid == model.model_uuid


def test_file_layout_matches_mlflow(tmp_path: Path) -> None:
    model = Model(artifact_path="model", run_id="r1", signature=_signature())
    model.save(tmp_path / "MLmodel")
    raw = yaml.safe_load((tmp_path / "MLmodel").read_text())
    # The signature parts are JSON strings; the creation time is a quoted string.
    assert isinstance(raw["signature"]["inputs"], str)
    assert raw["signature"]["params"] is None
    assert isinstance(raw["utc_time_created"], str)
    assert "mlflow_version" not in raw


def test_unknown_keys_are_preserved(tmp_path: Path) -> None:
    text = (
        "artifact_path: model\n"
        "flavors:\n  custom: {a: 1, nested: {b: [1, 2]}}\n"
        "mlflow_version: 9.9.9\n"
        "prompts: null\n"
        "some_future_field: {k: v}\n"
        "model_size_bytes: 1234\n"
        "utc_time_created: '2024-01-02 03:04:05.000006'\n"
        "model_uuid: 0123456789abcdef0123456789abcdef\n"
    )
    (tmp_path / "MLmodel").write_text(text)
    model = Model.load(tmp_path)
    assert model.extra == {
        "prompts": None,
        "some_future_field": {"k": "v"},
        "model_size_bytes": 1234,
    }
    model.save(tmp_path)
    again = yaml.safe_load((tmp_path / "MLmodel").read_text())
    assert again["some_future_field"] == {"k": "v"}
    assert again["model_size_bytes"] == 1234
    assert again["mlflow_version"] == "9.9.9"
    assert again["flavors"]["custom"] == {"a": 1, "nested": {"b": [1, 2]}}
    assert again["utc_time_created"] == "2024-01-02 03:04:05.000006"
    assert again["model_uuid"] == "0123456789abcdef0123456789abcdef"


def test_unquoted_timestamp_is_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("utc_time_created: 2024-01-02 03:04:05.000006\nflavors: {}\n")
    assert Model.load(tmp_path).utc_time_created == "2024-01-02 03:04:05.000006"


def test_add_flavor_replaces_and_chains() -> None:
    model = Model().add_flavor("sklearn", pickled_model="model.pkl").add_flavor("sklearn", x=1)
    assert model.flavors == {"sklearn": {"x": 1}}


def test_yaml_round_trip_without_files() -> None:
    model = Model(run_id="r", signature=_signature())
    assert Model.from_yaml(model.to_yaml()) == model
    assert Model.from_dict(model.to_dict()).to_dict() == model.to_dict()


@pytest.mark.parametrize("text", ["- a\n- b\n", "flavors: [1]\n", "signature: abc\n"])
def test_malformed_files_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter):
        Model.from_yaml(text)


def test_no_unsafe_yaml_tags(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(yaml.YAMLError):
        Model.load(tmp_path)


def test_importing_models_stays_light() -> None:
    # numpy, pandas and yaml load when a signature or a file is used, not on import.
    probe = "import sys, json, runlab.models; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not loaded & {"numpy", "pandas", "yaml"}


def test_loading_where_there_is_no_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="No MLmodel file") as info:
        Model.load(tmp_path)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

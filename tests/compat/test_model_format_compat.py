"""The MLmodel file and its signature read the same in runlab and in the real MLflow (3.17.2).

Both directions: a file runlab writes loads with ``mlflow.models.Model.load`` and its signature is
what MLflow's own reader makes of it; a file MLflow writes (with MLflow's ``infer_signature``) loads
in runlab with the same schema and keeps every key. Inputs MLflow's own schema check accepts are
accepted by runlab's, and the mismatches it refuses are refused.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from runlab.models import (
    ColSpec,
    Model,
    Schema,
    SchemaEnforcementError,
    enforce_schema,
    infer_signature,
)

mlflow_models = pytest.importorskip("mlflow.models")
pd = pytest.importorskip("pandas")


def _frame() -> object:
    return pd.DataFrame(
        {
            "a": [1, 2, 3],
            "b": [1.5, None, 2.0],
            "c": ["x", "y", "z"],
            "d": [True, False, True],
            "e": np.array([1, 2, 3], dtype="int32"),
            "f": np.array([1, 2, 3], dtype="float32"),
            "g": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
            "h": [b"a", b"b", b"c"],
        }
    )


EXAMPLES = {
    "dataframe": lambda: (_frame(), np.array([0.1, 0.2, 0.3])),
    "tensor": lambda: (np.zeros((2, 3, 4), dtype="float32"), np.zeros((2, 5), dtype="int64")),
    "dict_of_arrays": lambda: ({"x": np.zeros((2, 3)), "y": np.ones(2, dtype="int8")}, None),
    "records": lambda: ([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], ["p", "q"]),
    "dict_of_lists": lambda: ({"a": [1, 2], "b": ["x", "y"]}, [1.0, 2.0]),
    "scalars": lambda: ([1, 2, 3], pd.Series([1.0, 2.0, 3.0], name="score")),
    "objects": lambda: (
        [{"o": {"z": 1, "l": [1.5]}, "v": [{"k": "x"}]}, {"o": {"z": 2, "y": "k"}, "v": []}],
        None,
    ),
    "nullable_and_text": lambda: (
        pd.DataFrame(
            {
                "i": pd.array([1, None], dtype="Int64"),
                "s": pd.array(["x", "y"], dtype="string"),
                "l": [[1, 2], [3]],
                "t": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("UTC"),
            }
        ),
        np.zeros((2, 2), dtype="uint8"),
    ),
}
PARAMS = {
    "k": 3,
    "temperature": 0.5,
    "mode": "fast",
    "ids": [1, 2],
    "on": True,
    "small": np.float32(0.25),
    "at": dt.datetime(2024, 1, 2, 3, 4, 5),
}


def _mlflow_infer(model_input: object, model_output: object) -> object:
    # MLflow warns about integer columns; under this suite's warnings-as-errors its inference would
    # catch its own warning and fall back to an "any" schema, so let the warning pass here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow_models.infer_signature(model_input, model_output, PARAMS)


def _parsed(block: dict[str, str | None]) -> dict[str, object]:
    return {k: json.loads(v) if v else None for k, v in block.items()}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_runlab_signature_matches_mlflow_inference(kind: str) -> None:
    model_input, model_output = EXAMPLES[kind]()
    ours = infer_signature(model_input, model_output, PARAMS).to_dict()
    theirs = _mlflow_infer(model_input, model_output).to_dict()
    assert _parsed(ours) == _parsed(theirs)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_mlmodel_written_by_runlab_loads_in_mlflow(tmp_path: Path, kind: str) -> None:
    model_input, model_output = EXAMPLES[kind]()
    model = Model(
        artifact_path="model",
        run_id="0123abcd",
        signature=infer_signature(model_input, model_output, PARAMS),
        saved_input_example_info={"artifact_path": "input_example.json", "type": "ndarray"},
    )
    model.add_flavor("python_function", loader_module="my_loader", python_version="3.11.0")
    model.save(tmp_path)

    theirs = mlflow_models.Model.load(str(tmp_path))
    assert theirs.run_id == "0123abcd"
    assert theirs.artifact_path == "model"
    assert theirs.model_uuid == model.model_uuid
    assert theirs.utc_time_created == model.utc_time_created
    assert theirs.flavors == model.flavors
    assert theirs.saved_input_example_info == model.saved_input_example_info
    expected = mlflow_models.ModelSignature.from_dict(model.signature.to_dict())  # type: ignore[union-attr]
    assert theirs.signature == expected
    assert _parsed(theirs.signature.to_dict()) == _parsed(model.signature.to_dict())  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_mlmodel_written_by_mlflow_loads_in_runlab(tmp_path: Path, kind: str) -> None:
    model_input, model_output = EXAMPLES[kind]()
    signature = _mlflow_infer(model_input, model_output)
    theirs = mlflow_models.Model(artifact_path="model", run_id="feed", signature=signature)
    theirs.add_flavor(
        "python_function", loader_module="my_loader", env={"virtualenv": "python_env.yaml"}
    )
    theirs.save(str(tmp_path / "MLmodel"))

    ours = Model.load(tmp_path)
    assert ours.run_id == "feed"
    assert ours.model_uuid == theirs.model_uuid
    assert ours.utc_time_created == theirs.utc_time_created
    assert ours.flavors == theirs.flavors
    assert ours.mlflow_version == theirs.mlflow_version
    assert ours.signature is not None
    assert _parsed(ours.signature.to_dict()) == _parsed(signature.to_dict())
    assert ours.signature == infer_signature(model_input, model_output, PARAMS)

    # Saving it again keeps every key MLflow wrote, runlab's own version field aside.
    written = yaml.safe_load((tmp_path / "MLmodel").read_text())
    (tmp_path / "again").mkdir()
    ours.save(tmp_path / "again")
    rewritten = yaml.safe_load((tmp_path / "again" / "MLmodel").read_text())
    assert {k: v for k, v in rewritten.items() if k != "runlab_version"} == written


def _mlflow_accepts(data: object, schema_json: str) -> bool:
    schema = mlflow_models.ModelSignature.from_dict({"inputs": schema_json}).inputs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow_models.validate_schema(data, schema)
    except Exception:
        return False
    return True


ENFORCED = Schema(
    [ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s", required=False)]
)
ACCEPTED_BY_BOTH = {
    "exact": lambda: pd.DataFrame({"x": [1.5], "n": [2], "s": ["a"]}),
    "int32_to_long": lambda: pd.DataFrame({"x": [1.5], "n": np.array([2], dtype="int32")}),
    "optional_absent": lambda: pd.DataFrame({"x": [1.5], "n": [2]}),
    "records": lambda: [{"x": 1.5, "n": 2}],
}
REFUSED_BY_BOTH = {
    "missing_required": lambda: pd.DataFrame({"x": [1.5]}),
    "text_for_double": lambda: pd.DataFrame({"x": ["abc"], "n": [2]}),
    "fraction_for_long": lambda: pd.DataFrame({"x": [1.5], "n": [2.5]}),
    "number_for_string": lambda: pd.DataFrame({"x": [1.5], "n": [2], "s": [3]}),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED_BY_BOTH))
def test_inputs_mlflow_accepts_are_accepted(case: str) -> None:
    data = ACCEPTED_BY_BOTH[case]()
    assert _mlflow_accepts(data, ENFORCED.to_json())
    out = enforce_schema(data, ENFORCED)
    assert {"x", "n"} <= set(out.columns)


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_inputs_mlflow_refuses_are_refused(case: str) -> None:
    data = REFUSED_BY_BOTH[case]()
    assert not _mlflow_accepts(data, ENFORCED.to_json())
    with pytest.raises(SchemaEnforcementError):
        enforce_schema(data, ENFORCED)

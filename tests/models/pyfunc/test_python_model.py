"""Custom models: PythonModel, artifacts, context, code paths, params, and what is refused.

A custom model is a cloudpickle, so every load here says trusted=True; the trust gate itself is
tested in tests/models/test_trust.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import runlab
from runlab.errors import AlreadyExists, InvalidParameter
from runlab.models import ModelSignature, ParamSchema, ParamSpec, SchemaEnforcementError
from runlab.models.schema import ColSpec, Schema

pd = pytest.importorskip("pandas")


class Scale(runlab.pyfunc.PythonModel):
    """Multiplies its input by a factor read from an artifact."""

    def load_context(self, context: runlab.pyfunc.PythonModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())
        self.config = context.model_config

    def predict(
        self, context: runlab.pyfunc.PythonModelContext, model_input: Any, params: Any = None
    ) -> Any:
        offset = (params or {}).get("offset", 0.0)
        return model_input * self.factor + offset


class NoContext(runlab.pyfunc.PythonModel):
    """MLflow 3 also allows predict(self, model_input) without context or params."""

    def predict(self, model_input: Any) -> Any:  # type: ignore[override]
        return len(model_input)


def _factor_file(tmp_path: Path, value: str = "3") -> str:
    path = tmp_path / "factor.txt"
    path.write_text(value)
    return str(path)


def test_save_and_load_with_artifacts_config_and_example(tmp_path: Path) -> None:
    target = tmp_path / "model"
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    runlab.pyfunc.save_model(
        target,
        python_model=Scale(),
        artifacts={"factor": _factor_file(tmp_path)},
        input_example=frame,
        model_config={"threshold": 0.5},
    )
    mlmodel = yaml.safe_load((target / "MLmodel").read_text())
    conf = mlmodel["flavors"]["python_function"]
    assert conf["loader_module"] == "mlflow.pyfunc.model"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"]["factor"]["path"] == "artifacts/factor.txt"
    assert conf["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    # The signature was inferred from the example and from what the model predicts for it.
    assert mlmodel["signature"]["inputs"] == '[{"type": "double", "name": "a", "required": true}]'
    assert "outputs" in mlmodel["signature"]
    for name in ("requirements.txt", "python_env.yaml", "conda.yaml", "input_example.json"):
        assert (target / name).is_file()
    assert "cloudpickle==" in (target / "requirements.txt").read_text()

    model = runlab.pyfunc.load_model(str(target), trusted=True)
    assert model.predict(pd.DataFrame({"a": [2.0]}))["a"].tolist() == [6.0]
    # Lists and dicts are converted through the signature into the DataFrame the model expects.
    assert model.predict({"a": [1.0, 4.0]})["a"].tolist() == [3.0, 12.0]
    assert model.predict([{"a": 5.0}])["a"].tolist() == [15.0]
    assert model.model_config == {"threshold": 0.5}
    assert isinstance(model.unwrap_python_model(), Scale)
    assert model.unwrap_python_model().config == {"threshold": 0.5}


def test_a_mismatched_input_names_the_column_and_type(tmp_path: Path) -> None:
    target = tmp_path / "model"
    runlab.pyfunc.save_model(
        target,
        python_model=Scale(),
        artifacts={"factor": _factor_file(tmp_path)},
        signature=ModelSignature(Schema([ColSpec("double", "a")])),
    )
    model = runlab.pyfunc.load_model(target, trusted=True)
    with pytest.raises(SchemaEnforcementError, match="'a'") as caught:
        model.predict(pd.DataFrame({"a": ["not a number"]}))
    assert caught.value.expected_type == "double"
    with pytest.raises(SchemaEnforcementError, match="a"):
        model.predict(pd.DataFrame({"b": [1.0]}))


def test_params_are_checked_against_the_param_schema(tmp_path: Path) -> None:
    target = tmp_path / "model"
    signature = ModelSignature(
        Schema([ColSpec("double", "a")]),
        params=ParamSchema([ParamSpec("offset", "double", 0.0)]),
    )
    runlab.pyfunc.save_model(
        target,
        python_model=Scale(),
        artifacts={"factor": _factor_file(tmp_path, "1")},
        signature=signature,
    )
    model = runlab.pyfunc.load_model(target, trusted=True)
    frame = pd.DataFrame({"a": [1.0]})
    assert model.predict(frame, params={"offset": 10.0})["a"].tolist() == [11.0]
    assert model.predict(frame)["a"].tolist() == [1.0]
    # An undeclared parameter never reaches the model.
    assert model.predict(frame, params={"other": 1})["a"].tolist() == [1.0]
    with pytest.raises(SchemaEnforcementError, match="offset"):
        model.predict(frame, params={"offset": "ten"})


def test_a_function_and_a_predict_without_context_both_work(tmp_path: Path) -> None:
    runlab.pyfunc.save_model(tmp_path / "f", python_model=lambda x: [v * 2 for v in x])
    assert runlab.pyfunc.load_model(tmp_path / "f", trusted=True).predict([1, 2]) == [2, 4]
    runlab.pyfunc.save_model(tmp_path / "n", python_model=NoContext())
    assert runlab.pyfunc.load_model(tmp_path / "n", trusted=True).predict([1, 2, 3]) == 3


def test_code_paths_are_copied_and_importable_on_load(tmp_path: Path) -> None:
    code = tmp_path / "src" / "helpers_for_runlab_test.py"
    code.parent.mkdir()
    code.write_text("def double(x):\n    return x * 2\n")
    runlab.pyfunc.save_model(tmp_path / "m", python_model=NoContext(), code_paths=[code])
    assert (tmp_path / "m" / "code" / "helpers_for_runlab_test.py").is_file()
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert conf["python_function"]["code"] == "code"


def test_the_predict_type_hints_mlflow_reads_are_there() -> None:
    class Hinted(runlab.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
            return model_input

    hints = Hinted().predict_type_hints
    assert hints.input == list[str]
    assert hints.output == list[str]

    class Plain(runlab.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input

    assert Plain().predict_type_hints == (None, None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"python_model": None}, "python_model"),
        ({"python_model": 42}, "python_model must be"),
        ({"python_model": NoContext(), "artifacts": {"x": "/no/such/file"}}, "does not exist"),
        ({"python_model": NoContext(), "code_paths": ["/no/such/code.py"]}, "does not exist"),
        ({"python_model": NoContext(), "signature": {"inputs": "[]"}}, "ModelSignature"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_left(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidParameter, match=match):
        runlab.pyfunc.save_model(tmp_path / "model", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_model_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("data")
    with pytest.raises(AlreadyExists):
        runlab.pyfunc.save_model(target, python_model=NoContext())
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    # An empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    runlab.pyfunc.save_model(empty, python_model=NoContext())
    assert (empty / "MLmodel").is_file()


def test_a_failing_predict_on_the_example_keeps_the_input_signature(tmp_path: Path) -> None:
    class Broken(runlab.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            raise RuntimeError("boom")

    runlab.pyfunc.save_model(tmp_path / "m", python_model=Broken(), input_example=np.ones((1, 2)))
    model = runlab.pyfunc.load_model(tmp_path / "m", trusted=True)
    assert model.metadata.signature is not None
    assert model.metadata.signature.inputs is not None
    assert model.metadata.signature.outputs is None


def test_a_tampered_artifact_path_cannot_leave_the_model(tmp_path: Path) -> None:
    target = tmp_path / "model"
    runlab.pyfunc.save_model(
        target, python_model=Scale(), artifacts={"factor": _factor_file(tmp_path)}
    )
    mlmodel = yaml.safe_load((target / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["artifacts"]["factor"]["path"] = "../../etc/passwd"
    (target / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.pyfunc.load_model(target, trusted=True)
    mlmodel["flavors"]["python_function"]["python_model"] = "/etc/passwd"
    (target / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.pyfunc.load_model(target, trusted=True)


def test_a_saved_model_folder_is_readable_like_any_other_folder(tmp_path: Path) -> None:
    runlab.pyfunc.save_model(tmp_path / "m", python_model=NoContext())
    reference = tmp_path / "reference"
    reference.mkdir()
    assert (tmp_path / "m").stat().st_mode & 0o777 == reference.stat().st_mode & 0o777
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

"""Signatures: MLflow's JSON layout, round trips, and inference from every kind of example."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from runlab.errors import InvalidParameter
from runlab.models import (
    Array,
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)


def _inputs(sig: ModelSignature) -> list[dict[str, object]]:
    assert sig.inputs is not None
    return sig.inputs.to_dict()


def test_spec_layouts() -> None:
    assert ColSpec("long", "a").to_dict() == {"type": "long", "name": "a", "required": True}
    assert ColSpec("string").to_dict() == {"type": "string", "required": True}
    assert ColSpec(Array("double"), "v", required=False).to_dict() == {
        "type": "array",
        "items": {"type": "double"},
        "name": "v",
        "required": False,
    }
    assert TensorSpec(np.dtype("float32"), (-1, 4), "t").to_dict() == {
        "name": "t",
        "type": "tensor",
        "tensor-spec": {"dtype": "float32", "shape": [-1, 4]},
    }
    assert ParamSpec("k", "long", 3).to_dict() == {
        "name": "k",
        "default": 3,
        "shape": None,
        "type": "long",
    }


def test_signature_round_trip_through_json_strings() -> None:
    sig = ModelSignature(
        Schema([ColSpec("double", "x"), ColSpec(Array(Array("long")), "m", required=False)]),
        Schema([TensorSpec("int64", (-1,))]),
        ParamSchema(
            [ParamSpec("temperature", "double", 0.5), ParamSpec("ids", "long", [1], (-1,))]
        ),
    )
    block = sig.to_dict()
    assert all(isinstance(v, str) for v in block.values())
    assert json.loads(block["inputs"] or "")[0] == {"type": "double", "name": "x", "required": True}
    assert ModelSignature.from_dict(block) == sig
    assert ModelSignature.from_dict({"inputs": block["inputs"], "outputs": None}) == ModelSignature(
        sig.inputs
    )


def test_missing_required_means_required() -> None:
    assert ColSpec.from_dict({"type": "long", "name": "a"}).required is True


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ColSpec("decimal", "a"),
        lambda: Schema([ColSpec("long", "a"), ColSpec("long", "a")]),
        lambda: Schema([ColSpec("long", "a"), ColSpec("long")]),
        lambda: Schema([ColSpec("long", "a"), TensorSpec("int64", (-1,), "b")]),
        lambda: ParamSchema([ParamSpec("a", "long"), ParamSpec("a", "long")]),
    ],
)
def test_invalid_schemas_are_refused(bad: object) -> None:
    with pytest.raises(InvalidParameter):
        bad()  # type: ignore[operator]


def test_infer_from_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "a": [1, 2],
            "b": [1.5, None],
            "c": ["x", "y"],
            "d": [True, False],
            "e": np.array([1, 2], dtype="int32"),
            "f": np.array([1, 2], dtype="float32"),
            "g": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "h": [b"a", b"b"],
        }
    )
    assert _inputs(infer_signature(df)) == [
        {"type": "long", "name": "a", "required": True},
        {"type": "double", "name": "b", "required": False},
        {"type": "string", "name": "c", "required": True},
        {"type": "boolean", "name": "d", "required": True},
        {"type": "integer", "name": "e", "required": True},
        {"type": "float", "name": "f", "required": True},
        {"type": "datetime", "name": "g", "required": True},
        {"type": "binary", "name": "h", "required": True},
    ]


def test_infer_from_series() -> None:
    pd = pytest.importorskip("pandas")
    assert _inputs(infer_signature(pd.Series([1.0, 2.0]))) == [{"type": "double", "required": True}]
    assert _inputs(infer_signature(pd.Series(["a"], name="s"))) == [
        {"type": "string", "name": "s", "required": True}
    ]


def test_infer_from_numpy() -> None:
    sig = infer_signature(np.zeros((3, 4), dtype="float32"), np.zeros(3, dtype="int64"))
    assert sig.inputs == Schema([TensorSpec("float32", (-1, 4))])
    assert sig.outputs == Schema([TensorSpec("int64", (-1,))])
    with pytest.raises(InvalidParameter, match="object array"):
        infer_signature(np.array([object()]))


def test_infer_from_dict_of_arrays() -> None:
    sig = infer_signature({"x": np.zeros((2, 3)), "y": np.ones(2, dtype="int8")})
    assert sig.inputs == Schema(
        [TensorSpec("float64", (-1, 3), "x"), TensorSpec("int8", (-1,), "y")]
    )


def test_infer_from_dict_of_columns_and_scalars() -> None:
    assert _inputs(infer_signature({"a": [1, 2], "b": ["x", "y"]})) == [
        {"type": "array", "items": {"type": "long"}, "name": "a", "required": True},
        {"type": "array", "items": {"type": "string"}, "name": "b", "required": True},
    ]
    assert _inputs(infer_signature({"a": 1, "b": "x", "t": dt.datetime(2020, 1, 1)})) == [
        {"type": "long", "name": "a", "required": True},
        {"type": "string", "name": "b", "required": True},
        {"type": "datetime", "name": "t", "required": True},
    ]


def test_infer_from_lists() -> None:
    assert _inputs(infer_signature([1, 2, 3])) == [{"type": "long", "required": True}]
    assert _inputs(infer_signature([1, 2.5])) == [{"type": "double", "required": True}]
    assert _inputs(infer_signature(["a", "b"])) == [{"type": "string", "required": True}]
    assert _inputs(infer_signature("just text")) == [{"type": "string", "required": True}]
    with pytest.raises(InvalidParameter, match="empty list"):
        infer_signature([])
    with pytest.raises(InvalidParameter, match="types"):
        infer_signature([1, "a"])


def test_infer_from_list_of_dicts() -> None:
    records = [{"a": 1, "b": "x"}, {"a": 2}, {"a": 3, "b": None}]
    assert _inputs(infer_signature(records)) == [
        {"type": "long", "name": "a", "required": True},
        {"type": "string", "name": "b", "required": False},
    ]


def test_infer_params() -> None:
    sig = infer_signature([1], params={"k": 1, "t": "s", "arr": [1, 2], "on": True, "x": 0.5})
    assert sig.params is not None
    assert sig.params.to_dict() == [
        {"name": "k", "default": 1, "shape": None, "type": "long"},
        {"name": "t", "default": "s", "shape": None, "type": "string"},
        {"name": "arr", "default": [1, 2], "shape": [-1], "type": "long"},
        {"name": "on", "default": True, "shape": None, "type": "boolean"},
        {"name": "x", "default": 0.5, "shape": None, "type": "double"},
    ]
    with pytest.raises(InvalidParameter, match="flat lists"):
        infer_signature([1], params={"bad": [[1]]})
    with pytest.raises(InvalidParameter, match="binary"):
        infer_signature([1], params={"raw": b"x"})


def test_infer_params_from_numpy_scalars_and_datetimes() -> None:
    when = dt.datetime(2020, 1, 2, 3, 4)
    sig = infer_signature([1], params={"f": np.float32(1.5), "i": np.int32(2), "at": when})
    block = sig.to_dict()
    assert json.loads(block["params"] or "") == [
        {"name": "f", "default": 1.5, "shape": None, "type": "float"},
        {"name": "i", "default": 2, "shape": None, "type": "integer"},
        {"name": "at", "default": "2020-01-02T03:04:00", "shape": None, "type": "datetime"},
    ]


def test_infer_without_input_has_no_schemas() -> None:
    sig = infer_signature()
    assert sig.to_dict() == {"inputs": None, "outputs": None, "params": None}


def test_types_runlab_does_not_model_are_kept_verbatim() -> None:
    specs = [
        {
            "type": "object",
            "properties": {"x": {"type": "long", "required": True}},
            "name": "o",
            "required": True,
        },
        {"type": "map", "values": {"type": "string"}, "name": "m", "required": False},
        {
            "type": "array",
            "items": {"type": "object", "properties": {}},
            "name": "l",
            "required": True,
        },
        {"type": "any", "name": "z", "required": True},
    ]
    schema = Schema.from_json(json.dumps(specs))
    assert schema.to_dict() == specs
    assert Schema.from_dict(schema.to_dict()) == schema
    assert len({hash(s) for s in schema}) == 4


def test_infer_objects_from_dicts() -> None:
    records = [{"a": {"z": 1, "l": [1.5]}}, {"a": {"z": 2, "y": "k"}}]
    assert _inputs(infer_signature(records)) == [
        {
            "type": "object",
            "properties": {
                "l": {"type": "array", "items": {"type": "double"}, "required": False},
                "y": {"type": "string", "required": False},
                "z": {"type": "long", "required": True},
            },
            "name": "a",
            "required": True,
        }
    ]
    with pytest.raises(InvalidParameter, match="'z' in column 'a'"):
        infer_signature([{"a": {"z": 1}}, {"a": {"z": "s"}}])

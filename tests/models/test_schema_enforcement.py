"""Inputs checked and converted against a signature at predict time; errors name column and type."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from runlab.errors import InvalidParameter
from runlab.models import Array, ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from runlab.models.schema_enforcement import (
    SchemaEnforcementError,
    enforce_params,
    enforce_schema,
)

pd = pytest.importorskip("pandas")

SCHEMA = Schema(
    [ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s", required=False)]
)


def _dtypes(frame: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in frame.dtypes.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "model_input",
    [
        pd.DataFrame({"x": [1, 2], "n": np.array([1, 2], dtype="int32")}),
        {"x": [1.0, 2.0], "n": [1, 2]},
        [{"x": 1, "n": 1}, {"x": 2.0, "n": 2.0}],
        np.array([[1.0, 1.0], [2.0, 2.0]]),
    ],
    ids=["dataframe", "dict-of-columns", "records", "ndarray"],
)
def test_every_input_kind_becomes_the_schema_frame(model_input: object) -> None:
    out = enforce_schema(model_input, SCHEMA)
    assert list(out.columns) == ["x", "n"]
    assert _dtypes(out) == {"x": "float64", "n": "int64"}
    assert out["x"].tolist() == [1.0, 2.0]
    assert out["n"].tolist() == [1, 2]


def test_dict_of_scalars_is_one_row() -> None:
    out = enforce_schema({"x": 0.5, "n": 3, "s": "a"}, SCHEMA)
    assert out.to_dict("records") == [{"x": 0.5, "n": 3, "s": "a"}]


def test_extra_columns_are_dropped_and_order_follows_the_schema() -> None:
    out = enforce_schema(pd.DataFrame({"extra": [1], "n": [2], "x": [3.0]}), SCHEMA)
    assert list(out.columns) == ["x", "n"]


def test_missing_required_column_names_column_and_type() -> None:
    with pytest.raises(SchemaEnforcementError, match=r"'n' \(long\)") as info:
        enforce_schema(pd.DataFrame({"x": [1.0]}), SCHEMA)
    assert info.value.column == "n"
    assert info.value.expected_type == "long"
    assert isinstance(info.value, InvalidParameter)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.get_http_status_code() == 400


@pytest.mark.parametrize(
    ("frame", "column", "type_name", "detail"),
    [
        ({"x": ["abc"], "n": [1]}, "x", "double", "'abc'"),
        ({"x": [1.0], "n": [1.5]}, "n", "long", "1.5"),
        ({"x": [True], "n": [1]}, "x", "double", "True"),
        ({"x": [1.0], "n": ["7"]}, "n", "long", "'7'"),
        ({"x": [1.0], "n": [None]}, "n", "long", "missing"),
        ({"x": [1.0], "n": [1], "s": [5]}, "s", "string", "5"),
    ],
)
def test_unsafe_values_name_column_and_type(
    frame: dict[str, list[object]], column: str, type_name: str, detail: str
) -> None:
    with pytest.raises(SchemaEnforcementError) as info:
        enforce_schema(pd.DataFrame(frame), SCHEMA)
    message = str(info.value)
    assert f"column {column!r}" in message
    assert f"'{type_name}'" in message
    assert detail in message
    assert (info.value.column, info.value.expected_type) == (column, type_name)


def test_safe_widening_is_accepted() -> None:
    schema = Schema([ColSpec("double", "d"), ColSpec("long", "l"), ColSpec("float", "f")])
    frame = pd.DataFrame(
        {
            "d": np.array([1, 2], dtype="int32"),
            "l": np.array([3, 4], dtype="int16"),
            "f": np.array([1, 2], dtype="int8"),
        }
    )
    assert _dtypes(enforce_schema(frame, schema)) == {"d": "float64", "l": "int64", "f": "float32"}


def test_integers_too_large_for_the_target_are_refused() -> None:
    with pytest.raises(SchemaEnforcementError, match="'d' expects type 'double'"):
        enforce_schema(pd.DataFrame({"d": [2**60]}), Schema([ColSpec("double", "d")]))
    with pytest.raises(SchemaEnforcementError, match="'i' expects type 'integer'"):
        enforce_schema(pd.DataFrame({"i": [2**40]}), Schema([ColSpec("integer", "i")]))


def test_optional_columns_may_be_absent_or_hold_nulls() -> None:
    schema = Schema([ColSpec("long", "n", required=False), ColSpec("string", "s", required=False)])
    out = enforce_schema(pd.DataFrame({"n": [1, None, 3]}), schema)
    assert list(out.columns) == ["n"]
    assert out["n"].tolist()[0] == 1 and out["n"].tolist()[1] is None
    # An optional double column holds a missing value as NaN.
    optional_x = Schema([ColSpec("double", "x", required=False), ColSpec("long", "n")])
    nan_out = enforce_schema(pd.DataFrame({"x": [None, 1.0], "n": [1, 2]}), optional_x)
    assert np.isnan(nan_out["x"].iloc[0])


@pytest.mark.parametrize(
    "x",
    [[None, 1.0], [np.nan, 1.0], pd.array([None, 1.0], dtype="Float64"), ["1.5", None]],
    ids=["None", "NaN", "pd.NA", "text-and-None"],
)
def test_a_required_double_column_refuses_missing_values(x: object) -> None:
    # NaN is a float, but in a required column it is a value the caller did not send.
    with pytest.raises(SchemaEnforcementError) as info:
        enforce_schema(pd.DataFrame({"x": x, "n": [1, 2]}), SCHEMA)
    assert (info.value.column, info.value.expected_type) == ("x", "double")
    assert "'x' expects type 'double': it is required but has 1 missing value(s)" in str(info.value)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_conforming_frame_with_nan_in_a_required_column_is_refused(dtype: str) -> None:
    schema = Schema(
        [
            ColSpec("double" if dtype == "float64" else "float", "a", required=False),
            ColSpec("long", "b"),
            ColSpec("double" if dtype == "float64" else "float", "c"),
        ]
    )
    frame = pd.DataFrame(
        {
            "a": np.array([np.nan, 1.0], dtype=dtype),
            "b": np.array([1, 2], dtype="int64"),
            "c": np.array([0.5, np.nan], dtype=dtype),
        }
    )
    with pytest.raises(SchemaEnforcementError, match="column 'c' expects") as info:
        enforce_schema(frame, schema)
    assert info.value.column == "c"
    # NaN in the optional column alone is a value.
    filled = frame.assign(c=np.array([0.5, 2.0], dtype=dtype))
    assert enforce_schema(filled, schema) is filled


def test_boolean_binary_datetime_and_arrays() -> None:
    schema = Schema(
        [
            ColSpec("boolean", "b"),
            ColSpec("binary", "raw"),
            ColSpec("datetime", "t"),
            ColSpec(Array("long"), "v"),
        ]
    )
    frame = pd.DataFrame(
        {"b": [True], "raw": [b"\x00"], "t": ["2024-05-01T10:00:00"], "v": [[1, 2]]}
    )
    out = enforce_schema(frame, schema)
    assert out["t"].iloc[0] == pd.Timestamp(dt.datetime(2024, 5, 1, 10))
    assert out["v"].iloc[0] == [1, 2]
    for bad, column in [
        ({"b": [1]}, "b"),
        ({"raw": ["text"]}, "raw"),
        ({"t": ["not a date"]}, "t"),
        ({"t": [3]}, "t"),
        ({"v": [5]}, "v"),
    ]:
        with pytest.raises(SchemaEnforcementError, match=f"column {column!r}"):
            enforce_schema(frame.assign(**bad), schema)


def test_unnamed_column_schema_matches_by_position() -> None:
    out = enforce_schema([1, 2, 3], Schema([ColSpec("double")]))
    assert out.iloc[:, 0].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(SchemaEnforcementError, match="column 0 expects type 'string'"):
        enforce_schema(["a", 3], Schema([ColSpec("string")]))


def test_series_input() -> None:
    out = enforce_schema(pd.Series([1, 2], name="x"), Schema([ColSpec("double", "x")]))
    assert _dtypes(out) == {"x": "float64"}


def test_tensor_schema_casts_safely_and_checks_shape() -> None:
    schema = Schema([TensorSpec("float64", (-1, 3))])
    out = enforce_schema([[1, 2, 3]], schema)
    assert out.dtype == np.float64 and out.shape == (1, 3)
    assert enforce_schema(np.zeros((4, 3), dtype="float32"), schema).dtype == np.float64
    with pytest.raises(SchemaEnforcementError, match=r"shape \(-1, 3\): got shape \(2, 4\)"):
        enforce_schema(np.zeros((2, 4)), schema)
    narrow = Schema([TensorSpec("float32", (-1, 3))])
    with pytest.raises(SchemaEnforcementError, match=r"dtype float32.*got dtype float64"):
        enforce_schema(np.zeros((2, 3)), narrow)
    with pytest.raises(SchemaEnforcementError, match="got dtype <U"):
        enforce_schema([["a", "b", "c"]], schema)


def test_named_tensors() -> None:
    schema = Schema([TensorSpec("float64", (-1,), "a"), TensorSpec("int64", (-1, 2), "b")])
    out = enforce_schema({"a": [1, 2], "b": np.ones((2, 2), dtype="int32")}, schema)
    assert out["a"].dtype == np.float64 and out["b"].dtype == np.int64
    with pytest.raises(
        SchemaEnforcementError, match=r"missing required tensor\(s\) \['b'\]"
    ) as info:
        enforce_schema({"a": [1.0]}, schema)
    assert info.value.column == "b"
    with pytest.raises(SchemaEnforcementError, match="Input tensor 'b' expects dtype int64"):
        enforce_schema({"a": [1.0], "b": np.ones((1, 2))}, schema)


def test_empty_schema_passes_input_through() -> None:
    data = {"anything": 1}
    assert enforce_schema(data, Schema([])) is data


PARAMS = ParamSchema(
    [
        ParamSpec("k", "long", 3),
        ParamSpec("temperature", "double", 0.5),
        ParamSpec("mode", "string", "fast"),
        ParamSpec("ids", "long", [1], (-1,)),
        ParamSpec("on", "boolean", False),
        ParamSpec("at", "datetime", None),
    ]
)


def test_params_get_defaults_and_conversions() -> None:
    out = enforce_params(
        {"k": 5.0, "temperature": 1, "ids": np.array([4, 5]), "at": "2024-01-02"}, PARAMS
    )
    assert out == {
        "k": 5,
        "temperature": 1.0,
        "mode": "fast",
        "ids": [4, 5],
        "on": False,
        "at": dt.datetime(2024, 1, 2),
    }
    assert enforce_params(None, PARAMS)["k"] == 3


def test_undeclared_params_are_dropped() -> None:
    assert enforce_params({"other": 1}, None) == {}
    assert "other" not in enforce_params({"other": 1}, PARAMS)


@pytest.mark.parametrize(
    ("params", "name", "type_name"),
    [
        ({"k": 1.5}, "k", "long"),
        ({"k": True}, "k", "long"),
        ({"temperature": "hot"}, "temperature", "double"),
        ({"mode": 1}, "mode", "string"),
        ({"ids": 3}, "ids", "long"),
        ({"ids": [1, "a"]}, "ids", "long"),
        ({"on": 1}, "on", "boolean"),
        ({"at": "yesterday"}, "at", "datetime"),
    ],
)
def test_bad_params_name_parameter_and_type(
    params: dict[str, object], name: str, type_name: str
) -> None:
    with pytest.raises(
        SchemaEnforcementError, match=f"Parameter {name!r} expects type '{type_name}'"
    ) as info:
        enforce_params(params, PARAMS)
    assert (info.value.column, info.value.expected_type) == (name, type_name)


def test_object_and_map_columns() -> None:
    schema = Schema.from_dict(
        [
            {
                "type": "object",
                "properties": {
                    "z": {"type": "long", "required": True},
                    "y": {"type": "string", "required": False},
                },
                "name": "o",
                "required": True,
            },
            {"type": "map", "values": {"type": "double"}, "name": "m", "required": False},
            {"type": "some_future_type", "name": "f", "required": False},
        ]
    )
    good = [{"o": {"z": 1}, "m": {"a": 1.0}, "f": object()}]
    out = enforce_schema(good, schema)
    assert out["o"].iloc[0] == {"z": 1}
    with pytest.raises(SchemaEnforcementError, match=r"column 'o' expects type 'object'.*\['z'\]"):
        enforce_schema([{"o": {"y": "a"}}], schema)
    with pytest.raises(
        SchemaEnforcementError, match=r"column 'm' expects type 'map'.*expected a dict"
    ):
        enforce_schema([{"o": {"z": 1}, "m": [1.0]}], schema)


def test_pandas_extension_dtypes() -> None:
    schema = Schema(
        [
            ColSpec("long", "i"),
            ColSpec("double", "f", required=False),
            ColSpec("boolean", "b"),
            ColSpec("string", "s"),
            ColSpec("long", "opt", required=False),
        ]
    )
    frame = pd.DataFrame(
        {
            "i": pd.array([1, 2], dtype="Int64"),
            "f": pd.array([0.5, None], dtype="Float64"),
            "b": pd.array([True, False], dtype="boolean"),
            "s": pd.array(["a", "b"], dtype="string"),
            "opt": pd.array([None, 3], dtype="Int64"),
        }
    )
    out = enforce_schema(frame, schema)
    assert _dtypes(out)["i"] == "int64" and _dtypes(out)["f"] == "float64"
    assert out["opt"].tolist() == [None, 3]
    with pytest.raises(SchemaEnforcementError, match="column 'i' expects type 'long'"):
        enforce_schema(frame.assign(i=pd.array([1, None], dtype="Int64")), schema)


def test_unreadable_tables_are_bad_input() -> None:
    schema = Schema([ColSpec("long", "a"), ColSpec("long", "b")])
    with pytest.raises(SchemaEnforcementError, match="Cannot read the input as a table"):
        enforce_schema({"a": [1, 2], "b": [1]}, schema)
    with pytest.raises(SchemaEnforcementError, match="1- or 2-dimensional"):
        enforce_schema(np.zeros((1, 2, 2)), schema)
    out = enforce_schema([[1, 2], [3, 4]], schema)
    assert out.to_dict("list") == {"a": [1, 3], "b": [2, 4]}


def test_a_conforming_numeric_frame_is_used_as_it_is() -> None:
    schema = Schema(
        [ColSpec("double", "a", required=False), ColSpec("long", "b"), ColSpec("float", "c")]
    )
    frame = pd.DataFrame(
        {
            "a": np.array([1.5, np.nan]),
            "b": np.array([1, 2], dtype="int64"),
            "c": np.array([0.5, 1.0], dtype="float32"),
        }
    )
    assert enforce_schema(frame, schema) is frame
    # What the column-by-column path makes of the same frame is equal.
    shuffled = frame[["c", "a", "b"]]
    slow = enforce_schema(shuffled, schema)
    assert slow is not shuffled
    pd.testing.assert_frame_equal(slow, frame)


def test_a_frame_with_other_dtypes_or_columns_still_goes_through_the_checks() -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("long", "b")])
    ints = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    out = enforce_schema(ints, schema)
    assert out["a"].dtype == np.float64
    extra = pd.DataFrame({"a": [1.0], "b": [3], "z": ["x"]})
    assert list(enforce_schema(extra, schema).columns) == ["a", "b"]
    with pytest.raises(SchemaEnforcementError, match="'b'"):
        enforce_schema(pd.DataFrame({"a": [1.0], "b": [1.5]}), schema)


def test_a_column_named_twice_is_a_schema_error() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["x", "x"])
    with pytest.raises(SchemaEnforcementError, match="'x' more than once"):
        enforce_schema(frame, Schema([ColSpec("double", "x")]))


def test_a_zero_dimensional_array_is_one_value_for_a_column_schema() -> None:
    schema = Schema([ColSpec("string")])
    out = enforce_schema(np.array("a string"), schema)
    assert out.shape == (1, 1)
    assert out.iloc[0, 0] == "a string"

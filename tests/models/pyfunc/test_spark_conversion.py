"""The batch conversions behind spark_udf, without a Spark session: model inputs from pandas and
Arrow batches, predictions to each result type, and the errors for what cannot be converted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from runlab.errors import InvalidParameter
from runlab.models.pyfunc.spark_conversion import (
    ResultShape,
    describe_result_type,
    model_input,
    to_spark_result,
)

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
T = pytest.importorskip("pyspark.sql.types")

from runlab.models.pyfunc.spark_arrow import arrow_model_input, to_arrow  # noqa: E402

DOUBLE = ResultShape("scalar", scalar="double")


def _shape(ddl_type: object) -> ResultShape:
    return describe_result_type(ddl_type)


# -- inputs ---------------------------------------------------------------------------------------
def test_pandas_columns_are_named_by_the_signature_in_one_numeric_block() -> None:
    batch = (pd.Series([1.0, 2.0]), pd.Series([3.0, 4.0]))
    frame = model_input(batch, ["a", "b"])
    assert list(frame.columns) == ["a", "b"]
    assert frame.to_numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    # One block: reading it back as an array does not copy.
    assert np.shares_memory(frame.to_numpy(), frame.to_numpy())


def test_pandas_mixed_columns_without_signature_are_positional_and_structs_become_dicts() -> None:
    struct = pd.DataFrame({"k": [1, 2]})
    frame = model_input((pd.Series(["x", "y"]), struct), None)
    assert list(frame.columns) == ["0", "1"]
    assert frame["1"].tolist() == [{"k": 1}, {"k": 2}]
    lone_struct = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert model_input(lone_struct, ["b", "a"]) is lone_struct


def test_more_arguments_than_signature_inputs_is_refused() -> None:
    with pytest.raises(InvalidParameter, match=r"called with 3 columns.*2 inputs \(a, b\)"):
        model_input(tuple(pd.Series([1.0]) for _ in range(3)), ["a", "b"])


def test_arrow_numeric_columns_become_one_block_like_the_pandas_path() -> None:
    arrays = (pa.array([1.0, 2.0]), pa.array([3.0, 4.0]))
    frame = arrow_model_input([arrays], ["a", "b"], "UTC")
    expected = model_input(tuple(a.to_pandas() for a in arrays), ["a", "b"])
    pd.testing.assert_frame_equal(frame, expected)


def test_several_arrow_batches_become_one_frame_in_order() -> None:
    first = (pa.array([1.0, 2.0]), pa.array([3.0, 4.0]))
    second = (pa.array([5.0]), pa.array([6.0]))
    frame = arrow_model_input([first, second], ["a", "b"], "UTC")
    assert frame.to_dict(orient="list") == {"a": [1.0, 2.0, 5.0], "b": [3.0, 4.0, 6.0]}
    with_null = (pa.array(["x", None]), pa.array([1, None]))
    mixed = arrow_model_input([with_null, (pa.array(["y"]), pa.array([2]))], None, "UTC")
    assert mixed["0"].tolist()[::2] == ["x", "y"]
    assert mixed["1"].isna().tolist() == [False, True, False]


def test_arrow_columns_with_nulls_dates_timestamps_maps_and_structs() -> None:
    moment = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.timezone.utc)
    arrays = (
        pa.array([1, None], type=pa.int64()),
        pa.array([dt.date(2026, 1, 2), None]),
        pa.array([moment, moment], type=pa.timestamp("us", tz="UTC")),
        pa.array([[("k", 1.0)], None], type=pa.map_(pa.string(), pa.float64())),
        pa.array([{"p": 1}, {"p": 2}]),
    )
    frame = arrow_model_input([arrays], None, "Europe/Paris")
    assert frame["0"].isna().tolist() == [False, True]
    assert frame["1"].tolist()[0] == dt.date(2026, 1, 2)
    # Naive times in the session's zone, as pyspark gives a pandas UDF.
    assert frame["2"].tolist()[0] == pd.Timestamp("2026-01-02 13:00")
    assert frame["3"].tolist() == [{"k": 1.0}, None]
    assert frame["4"].tolist() == [{"p": 1}, {"p": 2}]


def test_a_lone_arrow_struct_gives_its_fields_as_columns() -> None:
    struct = pa.StructArray.from_arrays(
        [pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["b", "a"]
    )
    frame = arrow_model_input([struct, struct], ["a", "b"], "UTC")
    assert list(frame.columns) == ["b", "a"]
    assert frame["a"].tolist() == [3.0, 4.0, 3.0, 4.0]


# -- results --------------------------------------------------------------------------------------
def test_scalar_results_take_the_leftmost_fitting_column() -> None:
    out = pd.DataFrame(
        {
            "label": ["a", None],
            "score": [0.5, np.nan],
            "count": np.array([1, 2], dtype="int64"),
            "flag": [True, False],
        }
    )
    assert to_spark_result(out, DOUBLE, 2).tolist()[0] == 0.5
    assert to_spark_result(out, ResultShape("scalar", scalar="long"), 2).tolist() == [1, 2]
    assert to_spark_result(out, ResultShape("scalar", scalar="boolean"), 2).tolist() == [
        True,
        False,
    ]
    # Text keeps its missing value missing (Spark gets a null), rather than writing "None".
    text = ResultShape("scalar", scalar="string")
    assert to_arrow(to_spark_result(out, text, 2), text).to_pylist() == ["a", None]
    as_text = to_spark_result(out[["count", "label"]].astype(object), text, 2)
    assert to_arrow(as_text, text).to_pylist() == ["1", "2"]
    with pytest.raises(InvalidParameter, match="nothing that fits the result type 'int'"):
        to_spark_result(out, ResultShape("scalar", scalar="int"), 2)


def test_one_dimensional_outputs_and_row_counts() -> None:
    assert to_spark_result(np.array([1, 2], dtype="int32"), DOUBLE, 2).dtype == np.float64
    assert to_spark_result([1.5, 2.5], DOUBLE, 2).tolist() == [1.5, 2.5]
    with pytest.raises(InvalidParameter, match="returned 2 predictions for a batch of 3 rows"):
        to_spark_result(np.array([1.0, 2.0]), DOUBLE, 3)
    with pytest.raises(InvalidParameter, match="nothing that fits the result type 'double'"):
        to_spark_result(np.array(["a", "b"]), DOUBLE, 2)
    with pytest.raises(InvalidParameter, match="returned int"):
        to_spark_result(7, ResultShape("struct", fields=(("a", DOUBLE),)), 1)
    with pytest.raises(InvalidParameter, match="3 dimensions"):
        to_spark_result(np.zeros((2, 2, 2)), _shape(T.ArrayType(T.DoubleType())), 2)


def test_array_results_from_columns_and_from_one_sequence_per_row() -> None:
    shape = _shape(T.ArrayType(T.DoubleType()))
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert [list(r) for r in to_spark_result(probabilities, shape, 2)] == [[0.2, 0.8], [0.6, 0.4]]
    ragged = pd.Series([[1, 2, 3], None])
    assert [None if r is None else list(r) for r in to_spark_result(ragged, shape, 2)] == [
        [1.0, 2.0, 3.0],
        None,
    ]
    with pytest.raises(InvalidParameter, match="needs a sequence for every row"):
        to_spark_result([[[1.0]], 5], _shape(T.ArrayType(T.ArrayType(T.DoubleType()))), 2)


def test_struct_results_and_their_arrow_arrays() -> None:
    shape = _shape(
        T.StructType(
            [
                T.StructField("label", T.StringType()),
                T.StructField("scores", T.ArrayType(T.FloatType())),
            ]
        )
    )
    out = {"label": ["a", "b"], "scores": [[0.5, 0.5], [1.0]], "extra": [1, 2]}
    result = to_spark_result(out, shape, 2)
    assert list(result.columns) == ["label", "scores"]
    arrow = to_arrow(result, shape)
    assert arrow.type == pa.struct(
        [pa.field("label", pa.string()), pa.field("scores", pa.list_(pa.float32()))]
    )
    assert arrow.to_pylist() == [
        {"label": "a", "scores": [0.5, 0.5]},
        {"label": "b", "scores": [1.0]},
    ]
    with pytest.raises(InvalidParameter, match=r"field 'missing'.*label, scores, extra"):
        to_spark_result(out, ResultShape("struct", fields=(("missing", DOUBLE),)), 2)


def test_floating_nan_goes_to_spark_as_null() -> None:
    arrow = to_arrow(to_spark_result(np.array([1.0, np.nan]), DOUBLE, 2), DOUBLE)
    assert arrow.type == pa.float64()
    assert arrow.to_pylist() == [1.0, None]


def test_result_types_spark_cannot_get_from_a_model_are_refused() -> None:
    assert str(_shape(T.ArrayType(T.ArrayType(T.LongType())))) == "array<array<long>>"
    with pytest.raises(InvalidParameter, match="cannot return map<string,double>"):
        _shape(T.MapType(T.StringType(), T.DoubleType()))
    with pytest.raises(InvalidParameter, match="at least one field"):
        _shape(T.StructType([]))

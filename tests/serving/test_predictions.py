"""The response codec on its own: every value a model may return, in MLflow's shapes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pandas as pd
import pytest

from runlab.serving.predictions import encode_predictions, jsonable


def test_numeric_arrays_of_every_kind() -> None:
    grid = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert jsonable(grid) == [[0, 1, 2], [3, 4, 5]]
    assert jsonable(grid.T) == [[0, 3], [1, 4], [2, 5]]  # not contiguous
    assert jsonable(np.array([0.5], dtype=np.float32)) == [0.5]
    assert jsonable(np.array([True, False])) == [True, False]
    assert jsonable(np.array([1, 2], dtype=">i4")) == [1, 2]  # not native byte order
    assert jsonable(np.array([np.inf, np.nan])) == [None, None]
    assert jsonable(np.array(["2026-11-27"], dtype="datetime64[s]")) == ["2026-11-27T00:00:00"]
    with_nat = np.array([["2026-11-27", "NaT"]], dtype="datetime64[s]")
    assert jsonable({"when": with_nat, "n": np.int64(1)}) == {
        "when": [["2026-11-27T00:00:00", None]],
        "n": 1,
    }


def test_text_object_and_scalar_values() -> None:
    assert jsonable(np.array(["a", "b"])) == ["a", "b"]
    assert jsonable(np.array([{"a": 1}, None], dtype=object)) == [{"a": 1}, None]
    assert jsonable(np.float64(1.5)) == 1.5
    assert jsonable(b"abc") == "YWJj"
    assert jsonable((1, 2)) == [1, 2]
    assert jsonable({1: "one"}) == {"1": "one"}
    assert jsonable(dt.date(2026, 11, 27)) == "2026-11-27"


def test_pandas_values() -> None:
    frame = pd.DataFrame(
        {"n": pd.array([1, None], dtype="Int64"), "t": pd.to_datetime(["2026-01-02", None])}
    )
    assert jsonable(frame) == [{"n": 1, "t": "2026-01-02T00:00:00"}, {"n": None, "t": None}]
    assert jsonable({"s": pd.Series([1, 2], name="k")}) == {"s": [{"k": 1}, {"k": 2}]}
    assert jsonable(pd.Index(["x"])) == ["x"]
    assert jsonable(pd.Timedelta(seconds=1)) == "P0DT0H0M1S"
    assert jsonable(pd.DataFrame({"a": []})) == []


def test_the_document_layout() -> None:
    assert orjson.loads(encode_predictions([1])) == {"predictions": [1]}


def test_a_value_without_a_json_form_names_its_type() -> None:
    with pytest.raises(TypeError, match="object"):
        encode_predictions(object())

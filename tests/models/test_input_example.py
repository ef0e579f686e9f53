"""Input examples: saved in MLflow's layout, with a serving body, and read back as their type."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from runlab.errors import InvalidParameter
from runlab.models.input_example import load_input_example, save_input_example, to_jsonable

pd = pytest.importorskip("pandas")


def test_dataframe_is_saved_split_and_served_as_dataframe_split(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"], "c": [1, 2]})
    info = save_input_example(tmp_path, frame)
    assert info == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    saved = json.loads((tmp_path / "input_example.json").read_text())
    assert saved == {"columns": ["a", "b", "c"], "data": [[1.0, "x", 1], [None, "y", 2]]}
    serving = json.loads((tmp_path / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": saved}
    back = load_input_example(tmp_path, info)
    assert list(back.columns) == ["a", "b", "c"]
    assert back["b"].tolist() == ["x", "y"]


def test_ndarray_and_dict_of_arrays_are_served_as_inputs(tmp_path: Path) -> None:
    info = save_input_example(tmp_path, np.array([[1, 2], [3, 4]], dtype=np.int32))
    assert info["type"] == "ndarray"
    assert json.loads((tmp_path / "serving_input_example.json").read_text()) == {
        "inputs": [[1, 2], [3, 4]]
    }
    assert np.array_equal(load_input_example(tmp_path, info), [[1, 2], [3, 4]])
    info = save_input_example(tmp_path, {"x": np.array([1.5]), "y": np.array([2.5])})
    back = load_input_example(tmp_path, info)
    assert set(back) == {"x", "y"}
    assert back["y"].tolist() == [2.5]


def test_plain_json_values_are_kept_as_they_are(tmp_path: Path) -> None:
    example = {"question": "why?", "n": np.int64(3), "when": dt.date(2026, 1, 2)}
    info = save_input_example(tmp_path, example)
    assert info["type"] == "json_object"
    assert load_input_example(tmp_path, info) == {"question": "why?", "n": 3, "when": "2026-01-02"}


def test_an_unserializable_example_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="cannot be saved as JSON"):
        save_input_example(tmp_path, {"f": object()})
    assert list(tmp_path.iterdir()) == []


def test_missing_example_reads_as_none(tmp_path: Path) -> None:
    assert load_input_example(tmp_path, None) is None
    assert load_input_example(tmp_path, {"artifact_path": "input_example.json"}) is None


def test_to_jsonable_handles_numpy_pandas_and_bytes() -> None:
    assert to_jsonable(np.float32(1.5)) == 1.5
    assert to_jsonable(float("nan")) is None
    assert to_jsonable(b"\x00\x01") == "AAE="
    assert to_jsonable(pd.Series([1, 2])) == [1, 2]
    assert to_jsonable(pd.Timestamp("2026-01-02")) == "2026-01-02T00:00:00"

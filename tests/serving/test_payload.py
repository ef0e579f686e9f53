"""The request codec on its own: the numeric fast path builds the frame pandas would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runlab.serving.errors import BadRequest, UnsupportedContentType
from runlab.serving.payload import parse_body, parse_json_document


@pytest.mark.parametrize(
    "split",
    [
        {"columns": ["a", "b"], "data": [[1.5, 2.0], [3.0, 4.25]]},  # floats: fast path
        {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]},  # ints: fast path
        {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.5]]},  # mixed: per-column dtypes
        {"columns": ["a", "b"], "data": [[True, 1.0], [False, 2.0]]},
        {"columns": ["a", "b"], "data": [["x", 1.0], ["y", None]]},
        {"columns": ["a", "b"], "data": [[1.0, 2.0]], "index": [0]},
        {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]], "index": [10, 11]},
        {"data": [[1.0, 2.0]]},
        {"columns": [1, 2], "data": [[1.0, 2.0]]},
        {"columns": ["a"], "data": []},
    ],
)
def test_dataframe_split_matches_pandas(split: dict[str, object]) -> None:
    frame, params = parse_json_document({"dataframe_split": split})
    expected = pd.DataFrame(split["data"], columns=split.get("columns"), index=split.get("index"))
    pd.testing.assert_frame_equal(frame, expected, check_index_type=False)
    assert params is None


def test_a_float_table_with_an_int_column_keeps_the_int_column() -> None:
    frame, _ = parse_json_document(
        {"dataframe_split": {"columns": ["n", "x"], "data": [[1, 0.5], [2, 1.5]]}}
    )
    assert frame["n"].dtype == np.int64 and frame["x"].dtype == np.float64


def test_params_come_back_with_the_input() -> None:
    data, params = parse_body(b'{"inputs": [[1, 2]], "params": {"k": 3}}', "application/json")
    assert isinstance(data, np.ndarray) and data.shape == (1, 2)
    assert params == {"k": 3}


def test_content_type_is_matched_without_case_and_parameters() -> None:
    data, _ = parse_body(b"a,b\n1,2\n", "Text/CSV; charset=utf-8")
    assert data.to_dict(orient="list") == {"a": [1], "b": [2]}
    with pytest.raises(UnsupportedContentType) as caught:
        parse_body(b"{}", "application/xml")
    assert caught.value.get_http_status_code() == 415


def test_a_bad_request_is_a_400_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_body(b"[]", "application/json")
    assert caught.value.get_http_status_code() == 400
    assert caught.value.error_code == "BAD_REQUEST"


def test_frames_with_the_same_columns_share_one_index() -> None:
    body = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}
    first, _ = parse_json_document(body)
    second, _ = parse_json_document(body)
    assert first.columns is second.columns
    second["c"] = 0.0  # adding a column to one frame leaves the other's as it was
    assert first.columns.tolist() == ["a", "b"]

"""The request codec on its own: the numeric fast path builds the frame pandas would, and every
layout counts its columns and rows against the limits before building anything."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from runlab.serving.errors import BadRequest, ShapeLimitExceeded, UnsupportedContentType
from runlab.serving.payload import parse_body, parse_json_document
from runlab.serving.request_shape import ShapeLimits


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


# -- the columns and rows a request may carry ------------------------------------------------------
LIMITS = ShapeLimits(max_columns=3, max_rows=2)


def _csv(columns: int, rows: int) -> bytes:
    frame = pd.DataFrame([[float(r)] * columns for r in range(rows)])
    return frame.to_csv(index=False, header=[f"c{i}" for i in range(columns)]).encode()


def _parquet(columns: int, rows: int) -> bytes:
    buffer = io.BytesIO()
    frame = pd.DataFrame({f"c{i}": [1.0] * rows for i in range(columns)})
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _layouts(columns: int, rows: int) -> dict[str, tuple[bytes, str]]:
    """One body per layout holding ``columns`` columns and ``rows`` rows."""
    names = [f"c{i}" for i in range(columns)]
    table = [[1.0] * columns for _ in range(rows)]
    records = [dict.fromkeys(names, 1.0) for _ in range(rows)]
    by_column = {name: [1.0] * rows for name in names}
    return {
        "csv": (_csv(columns, rows), "text/csv"),
        "parquet": (_parquet(columns, rows), "application/vnd.apache.parquet"),
        "split": (_json({"dataframe_split": {"columns": names, "data": table}}), JSON),
        "split-unnamed": (_json({"dataframe_split": {"data": table}}), JSON),
        "records": (_json({"dataframe_records": records}), JSON),
        "instances-records": (_json({"instances": records}), JSON),
        "instances-tensor": (_json({"instances": table}), JSON),
        "inputs-tensor": (_json({"inputs": table}), JSON),
        "inputs-columns": (_json({"inputs": by_column}), JSON),
        "inputs-records": (_json({"inputs": records}), JSON),
    }


JSON = "application/json"
LAYOUTS = list(_layouts(1, 1))


def _shape(data: object) -> tuple[int, int]:
    """(rows, columns) of what a layout became: a frame, an array, a dict of arrays, records."""
    if isinstance(data, (pd.DataFrame, np.ndarray)):
        rows, columns = data.shape
        return rows, columns
    if isinstance(data, dict):
        return len(next(iter(data.values()))), len(data)
    assert isinstance(data, list)
    return len(data), len(data[0])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_read_up_to_the_limits(layout: str) -> None:
    body, content_type = _layouts(3, 2)[layout]
    data, _ = parse_body(body, content_type, LIMITS)
    assert _shape(data) == (2, 3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_refuses_one_column_too_many(layout: str) -> None:
    body, content_type = _layouts(4, 1)[layout]
    with pytest.raises(ShapeLimitExceeded, match="more than 3 columns") as caught:
        parse_body(body, content_type, LIMITS)
    assert caught.value.dimension == "columns"
    assert "--max-columns" in str(caught.value)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_refuses_one_row_too_many(layout: str) -> None:
    body, content_type = _layouts(1, 3)[layout]
    with pytest.raises(ShapeLimitExceeded, match="more than 2 rows") as caught:
        parse_body(body, content_type, LIMITS)
    assert caught.value.dimension == "rows"
    assert "--max-rows" in str(caught.value)


def test_a_csv_header_is_counted_before_pandas_reads_the_body() -> None:
    # The data row is broken (an unclosed quote): had pandas read it, the error would say so.
    header = b",".join(b"c%d" % i for i in range(100_000))
    with pytest.raises(ShapeLimitExceeded, match="more than 10,000 columns"):
        parse_body(header + b'\n"1,2\n', "text/csv", ShapeLimits(10_000, 1_000_000))


def test_records_with_different_keys_count_every_key() -> None:
    body = _json({"dataframe_records": [{"a": 1}, {"b": 1}, {"c": 1}, {"d": 1}]})
    with pytest.raises(ShapeLimitExceeded, match="columns"):
        parse_body(body, JSON, ShapeLimits(max_columns=3, max_rows=10))


def test_split_rows_wider_than_their_columns_are_counted() -> None:
    body = _json({"dataframe_split": {"columns": ["a"], "data": [[1, 2, 3, 4]]}})
    with pytest.raises(ShapeLimitExceeded, match="columns"):
        parse_body(body, JSON, LIMITS)


def test_a_csv_row_wider_than_its_header_is_refused() -> None:
    # pandas would turn the extra leading fields into an index, one level per field.
    body = b"a\n" + b",".join([b"1"] * 3) + b"\n"
    with pytest.raises(BadRequest, match="first row has more fields than its header's 1"):
        parse_body(body, "text/csv", ShapeLimits(max_columns=10, max_rows=10))


def test_without_limits_nothing_is_counted() -> None:
    # Batch scoring of a local file passes no limits.
    data, _ = parse_body(_csv(50, 20), "text/csv")
    assert data.shape == (20, 50)
    data, _ = parse_body(_parquet(50, 20), "application/vnd.apache.parquet")
    assert data.shape == (20, 50)


def test_a_broken_parquet_body_is_a_bad_request_with_limits_too() -> None:
    with pytest.raises(BadRequest, match="Parquet body cannot be read"):
        parse_body(b"PAR1 not really", "application/vnd.apache.parquet", LIMITS)

"""Counting a request's columns and rows cheaply: the counts agree with the frames pandas builds."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from runlab.serving.errors import BadRequest, ShapeLimitExceeded
from runlab.serving.request_shape import ShapeLimits, csv_widths, keys_in, widest

CSV_BODIES = [
    b"a,b,c\n1,2,3\n",
    b"a,b,c\r\n1,2,3\r\n",
    b"a,b,c",  # a header alone, without a line break
    b"\n\n\na,b\n\n1,2\n",  # blank lines before the header and the first row are skipped
    b'"a,1","b\nstill b",c\n1,2,3\n',  # quoted names hold commas and line breaks
    b'"say ""hi""",b\n"x, y",2\n',  # doubled quotes inside quotes
    b'"a"b,c\n1,2\n',  # text after a closing quote belongs to the field
    b"a,b,\n1,2,3\n",  # a trailing comma: an unnamed last column
    b",a,b\n0,1,2\n",  # DataFrame.to_csv() with its index: an unnamed first column
    b"a,b,c\n1,2\n",  # a short row: pandas fills it with NaN
    "é,ü\n1,2\n".encode(),
]


@pytest.mark.parametrize("body", CSV_BODIES)
def test_csv_widths_count_the_columns_pandas_reads(body: bytes) -> None:
    header, first_row = csv_widths(body, stop_after=100)
    assert header == pd.read_csv(io.BytesIO(body)).shape[1]
    assert first_row <= header


def test_csv_widths_see_a_first_row_wider_than_the_header() -> None:
    assert csv_widths(b"a\n1,2,3\n", stop_after=100) == (1, 3)
    assert csv_widths(b'a\n"1,2",3\n', stop_after=100) == (1, 2)
    assert csv_widths(b"", stop_after=100) == (0, 0)


def test_csv_widths_stop_counting_past_the_limit() -> None:
    # Quoted fields are counted one by one, so counting stops just past the limit.
    quoted = b",".join(b'"c%d"' % i for i in range(1000)) + b"\n"
    assert csv_widths(quoted, stop_after=10) == (11, 0)
    plain = b",".join(b"c%d" % i for i in range(1000)) + b"\n"
    header, first_row = csv_widths(plain, stop_after=10)
    assert header > 10 and first_row == 0


def test_keys_in_counts_the_union_of_the_records_keys() -> None:
    records = [{"a": 1}, {"b": 2}, {"a": 3, "c": 4}]
    assert keys_in(records, stop_after=10) == 3
    many = ({f"k{i}": i} for i in range(1_000_000))
    assert keys_in(many, stop_after=10) == 11  # stops at the first key past the limit


def test_widest_is_the_longest_list() -> None:
    assert widest([[1, 2], [1, 2, 3], "text", {"a": 1}, (1,)]) == 3
    assert widest([1, 2]) == 0


def test_limits_name_the_dimension_and_the_option() -> None:
    limits = ShapeLimits(max_columns=10, max_rows=100)
    limits.check(columns=10, rows=100)
    with pytest.raises(ShapeLimitExceeded) as columns:
        limits.check(columns=11, rows=1)
    assert columns.value.dimension == "columns" and columns.value.limit == 10
    assert str(columns.value) == (
        "The request holds more than 10 columns; this server takes at most 10 per request. "
        "Send fewer, or raise the limit with `runlab models serve --max-columns N`."
    )
    with pytest.raises(ShapeLimitExceeded, match=r"more than 100 rows.*--max-rows N") as rows:
        limits.check(rows=101)
    assert isinstance(rows.value, BadRequest)
    assert rows.value.get_http_status_code() == 400
    assert rows.value.error_code == "BAD_REQUEST"

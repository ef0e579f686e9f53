"""How many columns and rows a scoring request may carry, counted before anything is built.

Turning a body into a DataFrame costs pandas (and then the signature check) tens of microseconds
per column, whatever the number of rows: 700 KB of CSV with 100,000 one-letter columns takes
seconds. The body's byte limit cannot stop that, so the readers in
:mod:`runlab.serving.payload` count a request's columns and rows from what is cheap to see —
a CSV's first records, a Parquet file's metadata, the lengths of a decoded JSON document's
lists and objects — and refuse an oversized request with
:class:`~runlab.serving.errors.ShapeLimitExceeded` before any frame or array exists.

What counts: a table's columns and rows; a dict of inputs' keys (columns) and longest value
(rows); a tensor's first dimension (rows) and second dimension (columns).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runlab.serving.errors import ShapeLimitExceeded

__all__ = ["ShapeLimits", "csv_widths", "keys_in", "widest"]


@dataclass(frozen=True)
class ShapeLimits:
    """The most columns and rows one request may carry."""

    max_columns: int
    max_rows: int

    def check(self, *, columns: int = 0, rows: int = 0) -> None:
        """Raise :class:`ShapeLimitExceeded` when ``columns`` or ``rows`` is over its limit."""
        if columns > self.max_columns:
            raise ShapeLimitExceeded("columns", self.max_columns, "--max-columns")
        if rows > self.max_rows:
            raise ShapeLimitExceeded("rows", self.max_rows, "--max-rows")


def widest(rows: Iterable[Any]) -> int:
    """The length of the longest list (or tuple) among ``rows``; 0 when there is none."""
    return max((len(r) for r in rows if isinstance(r, (list, tuple))), default=0)


def keys_in(records: Iterable[Mapping[str, Any]], stop_after: int) -> int:
    """How many distinct keys ``records`` have together; counting stops past ``stop_after``.

    Records with different keys each add columns to the frame they make, so the union counts,
    not one record's keys.
    """
    seen: set[str] = set()
    for record in records:
        seen.update(record)
        if len(seen) > stop_after:
            break
    return len(seen)


# -- CSV ------------------------------------------------------------------------------------------
# One field as pandas' C parser reads it: a quoted field (quotes doubled inside, anything after
# the closing quote up to the delimiter kept), or plain text up to a comma or line break. An
# unclosed quote falls to the plain branch, which can only count more fields than pandas would.
_FIELD = re.compile(rb'"[^"]*(?:""[^"]*)*"[^,\r\n]*|[^,\r\n]*')
_LINE_BREAK = re.compile(rb"[\r\n]")
_BLANK = b"\r\n"


def csv_widths(body: bytes, stop_after: int) -> tuple[int, int]:
    """The number of fields of a CSV body's header and of its first data row (0: none).

    Counting stops past ``stop_after`` fields, so a header of a million names costs no more than
    one just over the limit. Blank lines before a record are skipped, as pandas skips them.
    """
    header, position = _record_width(body, 0, stop_after)
    if header > stop_after:
        return header, 0
    first_row, _ = _record_width(body, position, stop_after)
    return header, first_row


def _record_width(body: bytes, position: int, stop_after: int) -> tuple[int, int]:
    """The fields of the record starting at ``position`` (after blank lines), and its end."""
    size = len(body)
    while position < size and body[position] in _BLANK:
        position += 1
    if position >= size:
        return 0, size
    line_break = _LINE_BREAK.search(body, position)
    line_end = line_break.start() if line_break else size
    if body.find(b'"', position, line_end) < 0:
        # No quotes: every comma separates two fields (counted in C, however long the line).
        return body.count(b",", position, line_end) + 1, line_end
    # Quoted fields may hold commas and line breaks: one field at a time.
    fields = 0
    while True:
        match = _FIELD.match(body, position)
        assert match is not None  # the plain branch matches the empty string
        position = match.end()
        fields += 1
        if position >= size or body[position] in _BLANK or fields > stop_after:
            return fields, position
        position += 1  # the comma

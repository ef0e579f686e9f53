"""The preview of one artifact file, from bytes in memory: the edges the HTTP tests do not reach."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest

from runlab.server.artifact_preview import MAX_COLUMNS, kind_from_name, preview


def _preview(name: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
    return preview(name, len(data), io.BytesIO(data), **kwargs)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("model/MLmodel", "mlmodel"),
        ("a/b/c.JSON", "json"),
        ("env.yml", "yaml"),
        ("x.tsv", "table"),
        ("x.parquet", "table"),
        ("pic.JPEG", "image"),
        ("pic.webp", "image"),
        ("train.py", "text"),
        ("weights.bin", None),
        ("README", None),
    ],
)
def test_kind_from_name(name: str, kind: str | None) -> None:
    assert kind_from_name(name) == kind


def test_unknown_name_is_sniffed() -> None:
    assert _preview("README", b"plain words\n")["kind"] == "text"
    assert _preview("blob", b"\xff\xfe\xfd not utf-8")["kind"] == "binary"
    assert _preview("blob", b"text\x00with a nul")["kind"] == "binary"
    # A multi-byte character cut by the sniffing window does not make text look binary.
    cut = b"a" * (8 * 1024 - 1) + "é".encode() + b"rest"
    assert _preview("notes", cut)["kind"] == "text"


def test_empty_files() -> None:
    assert _preview("empty.txt", b"") == {"kind": "text", "size": 0, "truncated": False, "text": ""}
    assert _preview("empty.csv", b"")["rows"] == []
    assert _preview("empty.csv", b"")["total_rows"] == 0


def test_csv_that_does_not_parse_is_shown_as_text() -> None:
    # The csv module refuses fields over its limit (128 KiB).
    data = b'a\n"' + b"x" * 200_000 + b'"\n'
    reply = _preview("odd.csv", data)
    assert reply["kind"] == "text"
    assert "does not parse as a table" in reply["message"]
    assert reply["text"].startswith('a\n"xxx')


def test_wide_tables_are_cut_to_the_first_columns() -> None:
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 5))
    row = ",".join(str(i) for i in range(MAX_COLUMNS + 5))
    reply = _preview("wide.csv", f"{header}\n{row}\n".encode())
    assert len(reply["columns"]) == MAX_COLUMNS
    assert reply["total_columns"] == MAX_COLUMNS + 5
    assert len(reply["rows"][0]) == MAX_COLUMNS


def test_parquet_cells_become_json_values_and_big_row_groups_are_not_read() -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "f": [float("nan"), float("inf"), 1.5],
            "b": [b"\x00\x01", b"\xff", None],
            "t": [datetime.datetime(2026, 1, 2, 3, 4, 5)] * 3,
            "flag": [True, False, None],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()

    reply = _preview("cells.parquet", data)
    assert reply["rows"] == [
        ["nan", "0001", "2026-01-02 03:04:05", True],
        ["inf", "ff", "2026-01-02 03:04:05", False],
        [1.5, None, "2026-01-02 03:04:05", None],
    ]
    assert reply["total_rows"] == 3
    assert reply["truncated"] is False

    too_large = _preview("cells.parquet", data, max_row_group_bytes=10)
    assert too_large["kind"] == "too_large"
    assert "download" in too_large["message"]

"""What the UI's artifact browser shows for one file: its kind and the first part of its content.

Everything here reads from an already opened binary stream and never more than a fixed number of
bytes (or, for parquet, one batch of the first row group), so a preview costs the same for a
10 KB file and a 10 GB one. Nothing here knows about HTTP or where the bytes are stored; see
:mod:`runlab.server.routes.artifact_download` for that.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from pathlib import PurePosixPath
from typing import Any, BinaryIO

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_TEXT_BYTES",
    "kind_from_name",
    "preview",
]

#: How much of a text file is sent: enough to read, small enough to render at once.
MAX_TEXT_BYTES = 256 * 1024
#: Rows of a table shown (after the header).
MAX_ROWS = 100
#: Columns of a table shown; a wider table is cut, its full width is still reported.
MAX_COLUMNS = 200
#: Most bytes read from a CSV looking for its first rows (a pathological line cannot cost more).
MAX_CSV_BYTES = 1024 * 1024
#: A parquet file whose first row group is bigger than this (uncompressed) is not opened.
MAX_PARQUET_ROW_GROUP_BYTES = 64 * 1024 * 1024
#: Bytes looked at to decide whether a file with an unknown name is text.
_SNIFF_BYTES = 8 * 1024

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
_TEXT_SUFFIXES = frozenset(
    {
        ".txt", ".log", ".md", ".rst", ".py", ".r", ".sh", ".sql", ".cfg", ".ini", ".toml",
        ".conf", ".html", ".htm", ".xml", ".js", ".css", ".tex", ".pbtxt", ".prototxt",
    }
)  # fmt: skip
_NAMED_KINDS = {"MLmodel": "mlmodel"}
_SUFFIX_KINDS = {
    ".json": "json",
    ".ipynb": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".csv": "table",
    ".tsv": "table",
    ".parquet": "table",
}
#: The kinds whose preview is the file's text.
TEXT_KINDS = frozenset({"text", "json", "yaml", "mlmodel"})


def kind_from_name(name: str) -> str | None:
    """The preview kind a file name implies, or None when only its content can tell."""
    base = PurePosixPath(name).name
    if base in _NAMED_KINDS:
        return _NAMED_KINDS[base]
    suffix = PurePosixPath(base).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    return _SUFFIX_KINDS.get(suffix)


def preview(
    name: str,
    size: int,
    stream: BinaryIO,
    *,
    max_row_group_bytes: int = MAX_PARQUET_ROW_GROUP_BYTES,
) -> dict[str, Any]:
    """The preview of the file ``name`` of ``size`` bytes, read from the start of ``stream``.

    ``stream`` must be seekable for parquet files (their index is at the end). A parquet file
    whose first row group is larger than ``max_row_group_bytes`` gives ``"too_large"``.
    """
    kind = kind_from_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    if kind == "image":
        # The browser loads the image itself from the download endpoint.
        return {"kind": "image", "size": size, "truncated": False}
    if kind == "table" and suffix == ".parquet":
        return _parquet(size, stream, max_row_group_bytes)
    if kind == "table":
        return _csv(size, stream, "\t" if suffix == ".tsv" else ",")
    if kind is None:
        head = stream.read(_SNIFF_BYTES)
        if not _looks_like_text(head, complete=len(head) >= size):
            return {"kind": "binary", "size": size, "truncated": False}
        stream.seek(0)
        kind = "text"
    return _text(kind, size, stream)


def _looks_like_text(head: bytes, *, complete: bool) -> bool:
    """True when ``head`` is UTF-8 without NUL bytes (a cut multi-byte character is allowed)."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _decode(data: bytes, *, complete: bool) -> str:
    # An incremental decoder drops a multi-byte character cut at the end of a partial read
    # instead of showing it as a replacement character.
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=complete)


def _text(kind: str, size: int, stream: BinaryIO) -> dict[str, Any]:
    data = stream.read(MAX_TEXT_BYTES)
    truncated = size > len(data)
    return {
        "kind": kind,
        "size": size,
        "truncated": truncated,
        "text": _decode(data, complete=not truncated),
    }


def _csv(size: int, stream: BinaryIO, delimiter: str) -> dict[str, Any]:
    data = stream.read(MAX_CSV_BYTES)
    complete = size <= len(data)
    text = _decode(data, complete=complete)
    if not complete:
        # The last line is probably cut; a row made of half a line would be wrong.
        text = text[: text.rfind("\n") + 1]
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        # Not quite CSV (a stray NUL, an enormous field): the text itself is still worth seeing.
        stream.seek(0)
        result = _text("text", size, stream)
        result["message"] = f"Shown as text: it does not parse as a table ({exc})."
        return result
    header = records[0] if records else []
    body = records[1:]
    return {
        "kind": "table",
        "size": size,
        "columns": header[:MAX_COLUMNS],
        "total_columns": len(header),
        "rows": [row[:MAX_COLUMNS] for row in body[:MAX_ROWS]],
        # The row count is known only when the whole file was read.
        "total_rows": len(body) if complete else None,
        "truncated": len(body) > MAX_ROWS or not complete,
    }


def _parquet(size: int, stream: BinaryIO, max_row_group_bytes: int) -> dict[str, Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {
            "kind": "binary",
            "size": size,
            "truncated": False,
            "message": "Install pyarrow to preview parquet files.",
        }
    import pyarrow

    try:
        parquet = pq.ParquetFile(stream)
        metadata = parquet.metadata
        names = list(parquet.schema_arrow.names)
        shown = names[:MAX_COLUMNS]
        total_rows = metadata.num_rows
        rows: list[list[Any]] = []
        if metadata.num_row_groups:
            if metadata.row_group(0).total_byte_size > max_row_group_bytes:
                return {
                    "kind": "too_large",
                    "size": size,
                    "truncated": True,
                    "message": "Its first row group is too large to preview; download it.",
                }
            batches = parquet.iter_batches(batch_size=MAX_ROWS, row_groups=[0], columns=shown)
            batch = next(batches, None)
            if batch is not None:
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                rows = [[_cell(column[r]) for column in columns] for r in range(batch.num_rows)]
    except (pyarrow.ArrowException, OSError) as exc:
        return {
            "kind": "binary",
            "size": size,
            "truncated": False,
            "message": f"Not a readable parquet file: {exc}",
        }
    return {
        "kind": "table",
        "size": size,
        "columns": shown,
        "total_columns": len(names),
        "rows": rows,
        "total_rows": total_rows,
        "truncated": total_rows > len(rows) or len(names) > len(shown),
    }


def _cell(value: Any) -> Any:
    """A table cell as JSON can carry it: numbers, strings, booleans and null as they are."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity; show them as the words (as the REST API does).
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 64 else value[:64].hex() + "…"
    return str(value)

"""Spool files: append-only, locked files that keep what a process logged until a store has it.

Each process that logs has one spool file per store it logs to, in the spool folder
(``RUNLAB_SPOOL_DIR``). Three things go into it:

* which runs the process has open: a line when ``start_run`` opens one and another when the run
  is ended, so that ``runlab runs recover`` can end the runs of a process that died as KILLED;
* in durable mode (``RUNLAB_DURABLE``), every record, appended by the logging call itself before
  it returns; the background writer sends from the file (see :mod:`runlab.tracking.durable_writer`);
* batches the remote writer spilled while a tracking server was away (in files of their own).

Format: a header line, the JSON object ``{"runlab_spool": 2, "tracking_uri", "pid",
"created_ms"}``, then one line per entry:

* a JSON object: a batch the remote writer spilled (the only kind of line in format 1),
  ``{"seq", "run_id", "metrics": [[key, value, timestamp, step], …], "params": [[key, value],
  …], "tags": […], "end": [status, end_time]}``;
* a JSON array: one record. ``[0, run_id, key, value, timestamp, step]`` a metric point (followed
  by ``dataset_name, dataset_digest, model_id`` when one of them is set), ``[1, run_id, key,
  value]`` a param, ``[2, run_id, key, value]`` a tag, ``[4, run_id, status, end_time]`` the end
  of a run, ``[5, run_id]`` "this process opened the run", ``[6, run_id]`` "this process ended
  the run".

NaN and the infinities are written as proto3 JSON strings. A sidecar ``<name>.sent`` holds how
many bytes were delivered, replaced atomically after each batch the store took, so delivery
resumes where it stopped and, after a crash, at most the one batch that was being sent is sent
again (a runlab store keeps such a resent batch once).

While a process owns a file it holds an exclusive ``flock`` on it. The kernel drops the lock when
the process dies, however it dies, so a file whose lock can be taken belongs to no live process:
that is how recovery tells a dead process's file from a live one's, without trusting process ids
that the system may have reused. Files are created 0600 in a 0700 folder, because they hold the
logged values and the tracking URI as it was given, with any password in it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runlab import uris
from runlab.entities import Metric, Param, RunTag
from runlab.errors import InvalidParameter, InvalidState, NotFound
from runlab.protocol import decode_double, encode_double
from runlab.store.base import TrackingStore
from runlab.tracking.batch_writer import END, METRIC, PARAM, TAG, Batch
from runlab.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)

__all__ = [
    "CLOSED",
    "FORMAT",
    "OPENED",
    "SPOOL_SUFFIX",
    "Counts",
    "SpoolFile",
    "canonical_uri",
    "decode_batch",
    "encode_batch",
    "encode_record",
    "encode_state",
    "group_records",
    "in_use",
    "locks_work",
    "pending_spools",
    "store_uri",
]

_logger = logging.getLogger("runlab")

#: Record kinds that are notes about runs rather than data for the store.
OPENED, CLOSED = 5, 6
#: File name suffix of spool files.
SPOOL_SUFFIX = ".spool"
_SENT_SUFFIX = ".sent"
#: The format this version writes; it reads format 1 (spilled batches only) too.
FORMAT = 2
_READABLE_FORMATS = (1, 2)
# Bytes read per system call when reading lines back; a batch of 1000 records is about 100 KB.
_READ_CHUNK = 256 * 1024


def pending_spools(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Spool files in ``directory`` (default: the spool folder), oldest first."""
    from runlab.tracking.config import spool_dir

    folder = Path(directory) if directory is not None else spool_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{SPOOL_SUFFIX}"))


# -- tracking URIs ----------------------------------------------------------------------------
def canonical_uri(uri: str) -> str:
    """A tracking URI in the form a spool file records: one spelling per store.

    A folder (or ``file:`` URI) becomes the SQLite file inside it, a relative SQLite path an
    absolute one, and a server URL loses its trailing slash, so that a recovery started from
    another working directory reaches the same store and ``--tracking-uri`` compares equal.
    """
    if uris.is_local_path_uri(uri):
        folder = Path(uris.file_uri_to_path(uri)).resolve()
        return f"sqlite:///{folder / uris.DEFAULT_DB_FILENAME}"
    if uris.scheme_of(uri) == "sqlite":
        path = uris.sqlite_path(uri)
        if path is None:
            return uri
        query = uri.split("?", 1)[1] if "?" in uri else ""
        return f"sqlite:///{Path(path).resolve()}" + (f"?{query}" if query else "")
    if uris.is_http_uri(uri):
        return uri.rstrip("/")
    return uri


def store_uri(store: TrackingStore) -> str | None:
    """The URI a later process can reach ``store`` by, or None (an in-memory database)."""
    config = getattr(store, "config", None)
    base_url = getattr(config, "base_url", None)
    if isinstance(base_url, str) and uris.is_http_uri(base_url):
        return canonical_uri(base_url)
    db_uri = getattr(store, "db_uri", None)
    if not isinstance(db_uri, str):
        return None
    if uris.scheme_of(db_uri) == "sqlite" and uris.sqlite_path(db_uri) is None:
        return None  # in memory: gone with the process, nothing to recover into
    return canonical_uri(db_uri)


# -- counting -----------------------------------------------------------------------------------
@dataclass
class Counts:
    """How many records of each kind: metric points, params, tags, and run ends."""

    metrics: int = 0
    params: int = 0
    tags: int = 0
    run_ends: int = 0

    @classmethod
    def of(cls, batches: Sequence[Batch]) -> Counts:
        """The records in some batches."""
        counts = cls()
        for batch in batches:
            counts.add(batch)
        return counts

    def add(self, batch: Batch, sign: int = 1) -> None:
        """Count a batch in (or out, with ``sign=-1``)."""
        self.metrics += sign * len(batch.metrics)
        self.params += sign * len(batch.params)
        self.tags += sign * len(batch.tags)
        self.run_ends += sign * (batch.end is not None)

    def add_kind(self, kind: int, sign: int = 1) -> None:
        """Count one record of a kind (METRIC, PARAM, TAG, END); notes about runs count as none."""
        if kind == METRIC:
            self.metrics += sign
        elif kind == PARAM:
            self.params += sign
        elif kind == TAG:
            self.tags += sign
        elif kind == END:
            self.run_ends += sign

    def merge(self, other: Counts, sign: int = 1) -> None:
        """Add (or subtract) another count."""
        self.metrics += sign * other.metrics
        self.params += sign * other.params
        self.tags += sign * other.tags
        self.run_ends += sign * other.run_ends

    @property
    def empty(self) -> bool:
        """True when nothing is counted."""
        return not (self.metrics or self.params or self.tags or self.run_ends)

    def describe(self) -> str:
        """E.g. ``"1,200 metric points, 0 params and 3 tags (and the end of 1 run)"``."""
        text = f"{self.metrics:,} metric points, {self.params:,} params and {self.tags:,} tags"
        if self.run_ends:
            runs = "1 run" if self.run_ends == 1 else f"{self.run_ends:,} runs"
            text += f" (and the end of {runs})"
        return text


# -- lines --------------------------------------------------------------------------------------
def encode_batch(batch: Batch) -> bytes:
    """One spilled batch's line (JSON object, newline-terminated)."""
    doc: dict[str, Any] = {"seq": batch.seq, "run_id": batch.run_id}
    if batch.metrics:
        doc["metrics"] = [
            [m.key, encode_double(m.value), m.timestamp, m.step] for m in batch.metrics
        ]
    if batch.params:
        doc["params"] = [[p.key, p.value] for p in batch.params]
    if batch.tags:
        doc["tags"] = [[t.key, t.value] for t in batch.tags]
    if batch.end is not None:
        doc["end"] = list(batch.end)
    return orjson.dumps(doc) + b"\n"


def decode_batch(line: bytes) -> Batch:
    """The batch of a spilled batch's line."""
    doc = orjson.loads(line)
    end = doc.get("end")
    return Batch(
        doc["run_id"],
        [Metric(k, decode_double(v), int(ts), int(st)) for k, v, ts, st in doc.get("metrics", ())],
        [Param(k, v) for k, v in doc.get("params", ())],
        [RunTag(k, v) for k, v in doc.get("tags", ())],
        end=None if end is None else (str(end[0]), int(end[1])),
        seq=int(doc.get("seq", 0)),
    )


def encode_record(run_id: str, kind: int, entity: Any) -> bytes:
    """One record's line: ``entity`` is a Metric, Param or RunTag, or ``(status, end_time)``."""
    doc: tuple[Any, ...]
    if kind == METRIC:
        value = entity.value
        if not math.isfinite(value):
            value = encode_double(value)
        doc = (METRIC, run_id, entity.key, value, entity.timestamp, entity.step)
        if (
            entity.dataset_name is not None
            or entity.dataset_digest is not None
            or entity.model_id is not None
        ):
            doc += (entity.dataset_name, entity.dataset_digest, entity.model_id)
    elif kind == END:
        status, end_time = entity
        doc = (END, run_id, status, end_time)
    else:
        doc = (kind, run_id, entity.key, entity.value)
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def encode_state(kind: int, run_id: str) -> bytes:
    """The line of a note about a run (OPENED or CLOSED)."""
    return orjson.dumps((kind, run_id), option=orjson.OPT_APPEND_NEWLINE)


def _metric(doc: list[Any]) -> Metric:
    if len(doc) > 6:
        return Metric(doc[2], decode_double(doc[3]), int(doc[4]), int(doc[5]), *doc[6:9])
    return Metric(doc[2], decode_double(doc[3]), int(doc[4]), int(doc[5]))


class _Group:
    """Consecutive records that go to the store as one batch: one run's, up to the limits.

    Only consecutive lines are grouped, so a batch is one byte range of the file and marking it
    delivered is one number. Notes about runs ride along with whatever group they fall in.
    """

    __slots__ = ("batch", "consumed", "end", "full", "metrics", "params", "run_id", "tags")

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.metrics: list[Metric] = []
        self.params: dict[str, Param] = {}
        self.tags: dict[str, RunTag] = {}
        self.end: tuple[str, int] | None = None
        self.batch: Batch | None = None  # a spilled batch: a group of its own
        self.full = False
        #: The records taken, before duplicates were merged (what leaves the file's count).
        self.consumed = Counts()

    @property
    def empty(self) -> bool:
        return self.run_id is None and self.batch is None

    def take(self, line: bytes) -> bool:
        """Add a line; False if it must start the next group instead (then nothing was taken)."""
        if line[:1] == b"{":
            if not self.empty:
                return False
            self.batch = decode_batch(line)
            self.consumed.add(self.batch)
            self.full = True
            return True
        doc = orjson.loads(line)
        kind = doc[0]
        if kind in (OPENED, CLOSED):
            return True
        if kind == METRIC:
            entity: Any = _metric(doc)
        elif kind == PARAM:
            entity = Param(doc[2], doc[3])
        elif kind == TAG:
            entity = RunTag(doc[2], doc[3])
        elif kind == END:
            entity = (str(doc[2]), int(doc[3]))
        else:
            raise ValueError(f"unknown record kind {kind!r}")
        return self.take_record(kind, doc[1], entity)

    def take_record(self, kind: int, run_id: str, entity: Any) -> bool:
        """Add a decoded record (notes included); False if it must start the next group."""
        if kind in (OPENED, CLOSED):
            return True
        if kind == END:
            if not self.empty:
                return False
            self.run_id = run_id
            self.end = entity
            self.full = True
            self.consumed.run_ends += 1
            return True
        if self.batch is not None or (self.run_id is not None and run_id != self.run_id):
            return False
        size = len(self.metrics) + len(self.params) + len(self.tags)
        if kind == METRIC:
            if len(self.metrics) >= MAX_METRICS_PER_BATCH or size >= MAX_ENTITIES_PER_BATCH:
                return False
            self.metrics.append(entity)
        elif kind == PARAM:
            previous = self.params.get(entity.key)
            if previous is not None and previous.value != entity.value:
                # Let the store judge the change on its own, as it would have without grouping.
                return False
            if previous is None:
                if len(self.params) >= MAX_PARAMS_PER_BATCH or size >= MAX_ENTITIES_PER_BATCH:
                    return False
                self.params[entity.key] = entity
        elif kind == TAG:
            if entity.key in self.tags:
                del self.tags[entity.key]  # a later value of the same tag wins, as one by one
            elif len(self.tags) >= MAX_TAGS_PER_BATCH or size >= MAX_ENTITIES_PER_BATCH:
                return False
            self.tags[entity.key] = entity
        else:
            raise ValueError(f"unknown record kind {kind!r}")
        self.run_id = run_id
        self.consumed.add_kind(kind)
        return True

    def result(self) -> Batch:
        if self.batch is not None:
            return self.batch
        return Batch(
            self.run_id or "",
            self.metrics,
            list(self.params.values()),
            list(self.tags.values()),
            end=self.end,
        )


def group_records(
    records: Iterable[tuple[int, str, Any, int]],
) -> tuple[Batch, int, Counts, int] | None:
    """The first batch of ``(kind, run_id, entity, line length)`` records, as the file gives it.

    Returns the batch, the bytes its lines span, the records it consumed and how many entries
    of ``records`` it took; None if there are none. The durable writer groups its in-memory copy
    of the file's undelivered lines with it.
    """
    group = _Group()
    nbytes = taken = 0
    for kind, run_id, entity, size in records:
        if not group.take_record(kind, run_id, entity):
            break
        nbytes += size
        taken += 1
        if group.full:
            break
    if taken == 0:
        return None
    return group.result(), nbytes, group.consumed, taken


# -- locking ------------------------------------------------------------------------------------
def locks_work() -> bool:
    """True where files can be locked (POSIX ``flock``), so a dead owner can be told apart."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another holder has it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one deliverer at a time is up to the user
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def in_use(path: Path) -> bool:
    """True if a live process holds the spool file at ``path`` (False if it is gone, too)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)  # releases the probe's lock, if it got one


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- the file -----------------------------------------------------------------------------------
class SpoolFile:
    """An open spool file: append entries, read them back in batches, mark them delivered.

    Not thread-safe: the writer that owns one serialises its calls.
    """

    def __init__(self, path: Path, fd: int, header: bytes, delivered: int, size: int) -> None:
        self.path = path
        self.fd = fd
        self._header = header
        doc = orjson.loads(header)
        self.tracking_uri = str(doc["tracking_uri"])
        #: The process that wrote the file, as recorded in its header (for reports only).
        self.pid: int | None = doc.get("pid")
        #: Bytes of the file already delivered (the header counts as delivered).
        self.delivered = delivered
        #: Bytes of complete lines in the file.
        self.size = size
        #: What the undelivered part holds.
        self.counts = Counts()
        #: Runs the writing process noted as opened and not ended (filled by :meth:`open`).
        self.open_runs: dict[str, None] = {}

    @property
    def header_end(self) -> int:
        """Bytes of the header line."""
        return len(self._header)

    @classmethod
    def create(cls, directory: Path, tracking_uri: str) -> SpoolFile:
        """A new, empty, locked spool file for records bound to ``tracking_uri``."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = directory / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SPOOL_SUFFIX}"
        header = orjson.dumps(
            {
                "runlab_spool": FORMAT,
                "tracking_uri": tracking_uri,
                "pid": os.getpid(),
                "created_ms": time.time_ns() // 1_000_000,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        # 0600: the records may be private to the user; O_EXCL: never share a file by accident;
        # O_APPEND: concurrent appends never overwrite each other.
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o600)
        try:
            _try_lock(fd)  # a brand-new file: nobody else can hold it
            _write_all(fd, header)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return cls(path, fd, header, len(header), len(header))

    @classmethod
    def open(cls, path: Path, *, lock: bool = True) -> SpoolFile:
        """An existing spool file, scanned: undelivered records counted, open runs listed.

        With ``lock`` (the default) the file is locked for delivery, and InvalidState says that
        a live process holds it. Without, it is only read (a live process may be appending).
        """
        try:
            fd = os.open(path, (os.O_RDWR if lock else os.O_RDONLY) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise NotFound(
                f"No spool file at {path}; it may have been delivered already."
            ) from None
        if lock and not _try_lock(fd):
            os.close(fd)
            raise InvalidState(
                f"The spool file {path} is in use by a process that is still running (or still "
                "delivering it); wait for that process to finish or exit."
            )
        try:
            first = os.pread(fd, _READ_CHUNK, 0)
            newline = first.find(b"\n")
            try:
                header = orjson.loads(first[: newline + 1]) if newline >= 0 else None
            except orjson.JSONDecodeError:
                header = None
            if not isinstance(header, dict) or header.get("runlab_spool") not in _READABLE_FORMATS:
                raise InvalidParameter(
                    f"{path} is not a runlab spool file (formats {_READABLE_FORMATS})."
                )
            header_end = newline + 1
            delivered = header_end
            sent = _sent_path(path)
            if sent.exists():
                delivered = max(delivered, int(sent.read_text().strip() or 0))
            spool = cls(path, fd, first[:header_end], delivered, os.fstat(fd).st_size)
            spool._scan()
        except BaseException:
            os.close(fd)
            raise
        return spool

    def _scan(self) -> None:
        """Count the undelivered records and list the runs left open; drop a torn last line."""
        counts = Counts()
        open_runs: dict[str, None] = {}
        end = self.header_end
        try:
            for offset, line in self._lines(self.header_end, self.size):
                end = offset + len(line)
                undelivered = offset >= self.delivered
                if line[:1] == b"{":
                    batch = decode_batch(line)
                    if undelivered:
                        counts.add(batch)
                    if batch.end is not None:
                        open_runs.pop(batch.run_id, None)
                    continue
                doc = orjson.loads(line)
                kind, run_id = doc[0], doc[1]
                if kind == OPENED:
                    open_runs[run_id] = None
                elif kind in (CLOSED, END):
                    open_runs.pop(run_id, None)
                if undelivered:
                    counts.add_kind(kind)
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError) as exc:
            raise InvalidParameter(
                f"The spool file {self.path} is damaged at byte {end}: {exc}. Its records up to "
                "there are intact; move the file aside to skip it."
            ) from None
        if end < self.size:
            # A crash in the middle of an append: that record's call never returned, so it was
            # never reported as logged.
            _logger.warning("runlab: ignoring a torn last line in %s", self.path)
            self.size = end
        self.counts = counts
        self.open_runs = open_runs

    @property
    def pending(self) -> bool:
        """True while some complete line is undelivered."""
        return self.delivered < self.size

    def _lines(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """The complete lines between two offsets, with the offset of each."""
        pos = start
        buffer = b""
        buffer_start = start
        while pos < end:
            chunk = os.pread(self.fd, min(_READ_CHUNK, end - pos), pos)
            if not chunk:
                return
            pos += len(chunk)
            buffer += chunk
            begin = 0
            while (newline := buffer.find(b"\n", begin)) >= 0:
                yield buffer_start + begin, buffer[begin : newline + 1]
                begin = newline + 1
            buffer = buffer[begin:]
            buffer_start += begin

    # -- appending -------------------------------------------------------------------------------
    def append(self, batches: Sequence[Batch]) -> tuple[int, Counts]:
        """Append spilled batches; returns the bytes written and what they hold."""
        data = b"".join(encode_batch(b) for b in batches)
        self._append(data)
        counts = Counts.of(batches)
        self.counts.merge(counts)
        return len(data), counts

    def append_line(self, line: bytes, kind: int, *, delivered: bool = False) -> None:
        """Append one record's (or note's) line; ``delivered`` marks a note as needing no delivery.

        Once this returns, the line is in the operating system's hands: it survives the process.
        """
        self._append(line)
        if delivered and self.delivered == self.size - len(line):
            self.delivered = self.size  # nothing reads this file back while it lives
        elif kind == METRIC:
            self.counts.metrics += 1  # the common case, once per logging call
        else:
            self.counts.add_kind(kind)

    def _append(self, data: bytes) -> None:
        try:
            written = os.write(self.fd, data)
            if written < len(data):
                _write_all(self.fd, data[written:])
        except OSError:
            # A short write (disk full) would leave half a line that later lines follow; cut it
            # off, so the file holds whole lines only.
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    # -- reading back and delivering -------------------------------------------------------------
    def read_next(self) -> tuple[Batch, int] | None:
        """The first undelivered batch and the bytes it spans, or None if there is none.

        The batch may be empty (only notes about runs): deliver nothing, but mark it delivered.
        """
        item = self.next_group()
        return None if item is None else (item[0], item[1])

    def next_group(self) -> tuple[Batch, int, Counts] | None:
        """Like :meth:`read_next`, with the records the batch consumed: pass those to
        :meth:`advance` (a batch merges a tag set twice, so it may hold fewer)."""
        return self._group_at(self.delivered)

    def lines(self, limit: int | None = None) -> Iterator[tuple[Batch, int]]:
        """Undelivered batches in order, with the bytes each spans (nothing is marked)."""
        pos = self.delivered
        count = 0
        while limit is None or count < limit:
            item = self._group_at(pos)
            if item is None:
                return
            yield item[0], item[1]
            pos += item[1]
            count += 1

    def _group_at(self, start: int) -> tuple[Batch, int, Counts] | None:
        end = self.size
        if start >= end:
            return None
        group = _Group()
        taken = 0
        for offset, line in self._lines(start, end):
            if not group.take(line):
                break
            taken = offset + len(line) - start
            if group.full:
                break
        if taken == 0:
            return None
        return group.result(), taken, group.consumed

    def advance(self, nbytes: int, counts: Counts) -> None:
        """Mark the next ``nbytes`` (holding ``counts``) delivered, durably for later deliveries."""
        self.delivered += nbytes
        self.counts.merge(counts, sign=-1)
        self._write_sent(self.delivered)

    def _write_sent(self, value: int) -> None:
        sent = _sent_path(self.path)
        temp = sent.with_name(sent.name + ".tmp")
        temp.write_text(str(value))
        os.replace(temp, sent)

    def compact(self, notes: bytes) -> None:
        """Start the file afresh once all of it is delivered, keeping only ``notes``.

        ``notes`` are the lines of the runs still open. The new file is written and locked beside
        the old one and renamed over it, so that the path always holds one complete version,
        locked; the sidecar is written last, and until then it holds the old file's size, which
        is at least the new one's, so nothing is ever sent twice.
        """
        if self.pending:
            raise InvalidState(f"{self.path} still holds undelivered records.")
        temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o600)
        try:
            _try_lock(fd)
            _write_all(fd, self._header + notes)
            os.replace(temp, self.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        old, self.fd = self.fd, fd
        os.close(old)
        self.size = self.delivered = len(self._header) + len(notes)
        self._write_sent(self.delivered)

    # -- upkeep --------------------------------------------------------------------------------
    def sync(self) -> None:
        """Make what was appended survive a machine crash too."""
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def touch(self) -> None:
        """Set the file's modification time to now: the owner's sign of life."""
        with contextlib.suppress(OSError):
            if os.utime in os.supports_fd:
                os.utime(self.fd)
            else:
                os.utime(self.path)

    def modified_ms(self) -> int:
        """When the owner last wrote or touched the file (ms since the epoch)."""
        return os.fstat(self.fd).st_mtime_ns // 1_000_000

    def close(self, remove: bool) -> None:
        """Close (releasing the lock); first remove the file and its sidecar if ``remove``."""
        if remove:
            for path in (_sent_path(self.path), self.path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        os.close(self.fd)


def _sent_path(path: Path) -> Path:
    return path.with_name(path.name + _SENT_SUFFIX)

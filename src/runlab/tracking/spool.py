"""Logging to a tracking server that may go away: keep records, spool them to disk, deliver later.

Against an ``http(s)`` tracking URI the fluent API's background writer is a
:class:`~runlab.tracking.remote_writer.RemoteWriter`. It sends log-batch calls like the local writer, with these differences:

* A connection error, a 5xx or a 429 does not lose or reject anything. The batch stays at the
  head of the line and is sent again after an exponential backoff (0.1 s doubling to 5 s, with
  jitter); later records queue up behind it, so they reach the server in the order they were
  logged. Each request gets no retries of its own (the writer's loop owns the backoff), so one
  request never stalls the writer for minutes.
* Records wait in memory up to ``remote_writer.MEMORY_BOUND`` (100,000); past that they are appended to a
  spool file in the spool folder (``RUNLAB_SPOOL_DIR``, default ``runlab/spool`` in the user's
  cache folder). The training loop never waits on the server: logging calls only append to the
  queue, and when the queue is long they do local work (grouping, appending to the spool file).
* A 4xx answer (a param that changed, a deleted run) is not retried: it is raised at the next
  logging call, ``flush`` or ``end_run``, as with a local store.
* ``flush()`` and ``end_run()`` wait at most ``RUNLAB_FLUSH_TIMEOUT`` seconds (default 30). What
  is still unsent then (including the end of the run) is written to the spool file, and they
  raise :class:`UnsentRecords`, which says how many metric points, params and tags are unsent and
  where they are. While the process lives the writer keeps trying; once it has exited,
  :func:`deliver` sends a spool file (from any process).

A spool file is append-only: a header line (format, tracking URI), then one JSON line per batch.
A sidecar ``<name>.sent`` holds how many bytes of it were delivered, so delivery resumes where it
stopped. The file and sidecar are removed once everything is delivered. While a writer owns a
file it holds an exclusive lock on it, so that two processes never deliver the same records.

A resent batch is stored once on a runlab server: it drops metric points identical to ones
already in a key's last chunk, accepts a param logged again with the same value, and tags are
idempotent. (An MLflow server stores a resent metric point twice; a batch is resent only when
the connection broke after the server may have stored it.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson

from runlab.entities import Metric, Param, RunInfo, RunTag
from runlab.errors import InvalidParameter, InvalidState, NotFound, RunlabError, Unavailable
from runlab.protocol import decode_double, encode_double
from runlab.store.rest.http import is_transient
from runlab.tracking.batch_writer import Batch, _describe

if TYPE_CHECKING:
    from runlab.tracking.remote_writer import RemoteWriter

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT",
    "Counts",
    "Delivery",
    "UnsentRecords",
    "deliver",
    "flush_timeout",
    "pending_spools",
    "spool_dir",
]

_logger = logging.getLogger("runlab")

#: Seconds ``flush()``/``end_run()`` wait for a tracking server before reporting what is unsent.
DEFAULT_FLUSH_TIMEOUT = 30.0
#: File name suffix of spool files.
SPOOL_SUFFIX = ".spool"
_SENT_SUFFIX = ".sent"
_FORMAT = 1


# -- settings -------------------------------------------------------------------------------------
# These two are read here rather than in runlab.tracking.config because only remote logging uses
# them; they follow config's rules (RUNLAB_ variables, checked, with a message naming the fix).
def flush_timeout() -> float:
    """Seconds to wait for the server in ``flush``/``end_run``: ``RUNLAB_FLUSH_TIMEOUT``, default 30."""
    raw = os.environ.get("RUNLAB_FLUSH_TIMEOUT")
    if not raw:
        return DEFAULT_FLUSH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects NaN
        raise InvalidParameter(
            f"RUNLAB_FLUSH_TIMEOUT={raw!r} is not a number of seconds >= 0; set it to e.g. 30."
        )
    return value


def spool_dir() -> Path:
    """Where spool files go: ``RUNLAB_SPOOL_DIR``, else ``runlab/spool`` in the user cache folder."""
    configured = os.environ.get("RUNLAB_SPOOL_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "runlab" / "spool"


def pending_spools(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Spool files waiting in ``directory`` (default: :func:`spool_dir`), oldest first."""
    folder = Path(directory) if directory is not None else spool_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{SPOOL_SUFFIX}"))


# -- counting and reporting -----------------------------------------------------------------------
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


class UnsentRecords(Unavailable):
    """Records the tracking server did not receive in time; they are kept in a spool file.

    ``counts`` says how many of each kind, ``path`` where they are (None if the spool file could
    not be written and they exist only in this process's memory).
    """

    def __init__(
        self,
        message: str,
        error_code: str | None = None,
        *,
        counts: Counts | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__(message, error_code)
        self.counts = counts or Counts()
        self.path = path


# -- the spool file -------------------------------------------------------------------------------
def encode_batch(batch: Batch) -> bytes:
    """One spool line (JSON, newline-terminated); NaN and infinities as proto3 JSON strings."""
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
    """The batch of one spool line."""
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


def _try_lock(handle: IO[bytes]) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another holder has it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one deliverer at a time is up to the user
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class SpoolFile:
    """An open, locked spool file: append batches, read them back in order, mark them sent."""

    def __init__(self, path: Path, handle: IO[bytes], tracking_uri: str, delivered: int) -> None:
        self.path = path
        self.tracking_uri = tracking_uri
        self._handle = handle
        #: Bytes of the file already delivered (the header counts as delivered).
        self.delivered = delivered
        self.size = handle.seek(0, os.SEEK_END)
        #: What the undelivered part holds.
        self.counts = Counts()

    @classmethod
    def create(cls, directory: Path, tracking_uri: str) -> SpoolFile:
        """A new, empty spool file for records bound to ``tracking_uri``."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = directory / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SPOOL_SUFFIX}"
        # 0600: the records may be private to the user; O_EXCL: never share a file by accident.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        handle = os.fdopen(fd, "r+b")
        _try_lock(handle)  # a brand-new file: nobody else can hold it
        header = orjson.dumps(
            {
                "runlab_spool": _FORMAT,
                "tracking_uri": tracking_uri,
                "pid": os.getpid(),
                "created_ms": time.time_ns() // 1_000_000,
            }
        )
        handle.write(header + b"\n")
        handle.flush()
        return cls(path, handle, tracking_uri, len(header) + 1)

    @classmethod
    def open(cls, path: Path) -> SpoolFile:
        """An existing spool file, locked for delivery; its undelivered records counted."""
        try:
            handle = path.open("r+b")
        except FileNotFoundError:
            raise NotFound(
                f"No spool file at {path}; it may have been delivered already."
            ) from None
        if not _try_lock(handle):
            handle.close()
            raise InvalidState(
                f"The spool file {path} is in use by a process that is still delivering it; "
                "wait for that process to finish or exit."
            )
        try:
            header_line = handle.readline()
            header = orjson.loads(header_line) if header_line.endswith(b"\n") else None
            if not isinstance(header, dict) or header.get("runlab_spool") != _FORMAT:
                raise InvalidParameter(f"{path} is not a runlab spool file (format {_FORMAT}).")
            delivered = len(header_line)
            sent = _sent_path(path)
            if sent.exists():
                delivered = max(delivered, int(sent.read_text().strip() or 0))
            spool = cls(path, handle, str(header["tracking_uri"]), delivered)
            spool.counts = Counts.of([batch for batch, _ in spool.lines()])
        except BaseException:
            handle.close()
            raise
        return spool

    @property
    def pending(self) -> bool:
        """True while some complete line is undelivered."""
        return self.delivered < self.size

    def append(self, batches: Sequence[Batch]) -> tuple[int, Counts]:
        """Append batches; returns the bytes written and what they hold."""
        data = b"".join(encode_batch(b) for b in batches)
        self._handle.seek(0, os.SEEK_END)
        self._handle.write(data)
        self._handle.flush()
        self.size += len(data)
        counts = Counts.of(batches)
        self.counts.merge(counts)
        return len(data), counts

    def read_next(self) -> tuple[Batch, int] | None:
        """The first undelivered batch and its line's length, or None if there is none."""
        for item in self.lines(limit=1):
            return item
        return None

    def lines(self, limit: int | None = None) -> Iterator[tuple[Batch, int]]:
        """Undelivered batches in order, with their line lengths.

        A last line without its newline was cut short by a crash while it was being written;
        it is skipped (those records were never reported as kept).
        """
        self._handle.seek(self.delivered)
        count = 0
        while limit is None or count < limit:
            line = self._handle.readline()
            if not line.endswith(b"\n"):
                if line:
                    _logger.warning("runlab: ignoring a torn last line in %s", self.path)
                    self.size = self._handle.tell() - len(line)
                return
            yield decode_batch(line), len(line)
            count += 1

    def advance(self, nbytes: int, counts: Counts) -> None:
        """Mark the next ``nbytes`` (holding ``counts``) delivered, durably for later deliveries."""
        self.delivered += nbytes
        self.counts.merge(counts, sign=-1)
        sent = _sent_path(self.path)
        temp = sent.with_name(sent.name + ".tmp")
        temp.write_text(str(self.delivered))
        os.replace(temp, sent)

    def sync(self) -> None:
        """Make what was appended survive a machine crash too."""
        self._handle.flush()
        with contextlib.suppress(OSError):
            os.fsync(self._handle.fileno())

    def close(self, remove: bool) -> None:
        """Close (and release the lock); remove the file and its sidecar if ``remove``."""
        self._handle.close()
        if remove:
            for path in (_sent_path(self.path), self.path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _sent_path(path: Path) -> Path:
    return path.with_name(path.name + _SENT_SUFFIX)


# -- sending --------------------------------------------------------------------------------------
class _RestStore(Protocol):
    """What the remote writer needs of RestTrackingStore: calls with a per-call retry budget."""

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        max_retries: int | None = None,
    ) -> None: ...

    def update_run_info(
        self,
        run_id: str,
        run_status: str | int | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
        *,
        max_retries: int | None = None,
    ) -> RunInfo: ...


def _send(store: _RestStore, batch: Batch, max_retries: int | None) -> None:
    if batch.end is not None:
        status, end_time = batch.end
        store.update_run_info(
            batch.run_id, run_status=status, end_time=end_time, max_retries=max_retries
        )
    else:
        store.log_batch(
            batch.run_id,
            metrics=batch.metrics,
            params=batch.params,
            tags=batch.tags,
            max_retries=max_retries,
        )


def _rejection(exc: Exception, batch: Batch) -> RunlabError:
    if batch.end is not None:
        message = f"Could not end run {batch.run_id} as {batch.end[0]}: {exc}"
        return type(exc)(message) if isinstance(exc, RunlabError) else RunlabError(message)
    return _describe(exc, batch.run_id, batch.metrics, batch.params, batch.tags)


# Spool files owned by a live writer of this process, so deliver() can wait on the owner.
_owners_lock = threading.Lock()
_owners: dict[Path, RemoteWriter] = {}


def claim(path: Path, writer: RemoteWriter) -> None:
    """Record that ``writer`` owns (and is delivering) the spool file at ``path``."""
    with _owners_lock:
        _owners[path.resolve()] = writer


def release(path: Path) -> None:
    """Forget the owner of the spool file at ``path`` (delivered, or its writer closed)."""
    with _owners_lock:
        _owners.pop(path.resolve(), None)


# -- delivering a spool file ----------------------------------------------------------------------
@dataclass
class Delivery:
    """What :func:`deliver` sent, and the records the server refused (4xx) with its reasons."""

    path: Path
    tracking_uri: str
    sent: Counts = field(default_factory=Counts)
    rejected: list[str] = field(default_factory=list)


def deliver(
    path: str | os.PathLike[str], tracking_uri: str | None = None, timeout: float | None = None
) -> Delivery:
    """Send the records kept in a spool file to the tracking server, in order, and remove it.

    ``tracking_uri`` overrides the server named in the file (credentials come from the
    environment, as for any REST store). Each request is retried with backoff; if the server
    still cannot be reached, :class:`UnsentRecords` says what is left and the file is kept, so
    calling again resumes. Records the server refuses (4xx) are listed in ``rejected``.

    If a writer of this process owns the file, this waits for it instead (at most ``timeout``,
    default ``RUNLAB_FLUSH_TIMEOUT``).
    """
    spool_path = Path(path)
    with _owners_lock:
        owner = _owners.get(spool_path.resolve())
    if owner is not None:
        spool = owner._spool
        before = Counts() if spool is None else dataclasses.replace(spool.counts)
        # Wait even if an earlier flush gave up: the caller says the server is back.
        wait = flush_timeout() if timeout is None else timeout
        unsent = owner.flush(raise_errors=False, timeout=wait)
        if unsent is not None:
            raise unsent
        return Delivery(spool_path, owner.tracking_uri, sent=before)

    from runlab.store.rest.tracking import RestTrackingStore
    from runlab.tracking.store_factory import rest_config

    spool = SpoolFile.open(spool_path)
    done = False
    try:
        uri = tracking_uri or spool.tracking_uri
        result = Delivery(spool_path, uri)
        store = RestTrackingStore(rest_config(uri))
        try:
            while (item := spool.read_next()) is not None:
                batch, nbytes = item
                _deliver_batch(store, batch, result)
                spool.advance(nbytes, Counts.of([batch]))
                result.sent.add(batch)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise UnsentRecords(
                f"runlab: {uri} could not be reached ({exc}); {spool.counts.describe()} are "
                f"still kept in {spool_path}. Call deliver() again once the server is up.",
                counts=spool.counts,
                path=spool_path,
            ) from exc
        finally:
            store.close()
        done = not spool.pending
    finally:
        spool.close(remove=done)
    for reason in result.rejected:
        _logger.error("runlab: the server refused records from %s: %s", spool_path, reason)
    return result


def _deliver_batch(store: _RestStore, batch: Batch, result: Delivery) -> None:
    # The store's own retries (with backoff) apply: here nothing else waits on this call.
    try:
        _send(store, batch, max_retries=None)
        return
    except Exception as exc:
        if is_transient(exc) or not isinstance(exc, RunlabError):
            raise
        pieces = batch.pieces()
        if len(pieces) <= 1:
            result.rejected.append(str(_rejection(exc, batch)))
            return
    for piece in pieces:
        _deliver_batch(store, piece, result)

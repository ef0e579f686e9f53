"""The background writer that keeps logging off the training loop's critical path.

``log_metric``/``log_param``/``set_tag`` append a record to an in-memory deque (an atomic,
lock-free operation in CPython) and return. One daemon thread per store wakes every flush interval
(default 0.1 s, ``RUNLAB_FLUSH_INTERVAL``, at most 1 s), or as soon as a full batch is waiting,
and turns the queue into ``store.log_batch`` calls of at most 1000 metrics and 100 params/tags.

Guarantees:

* Order: records of a run reach the store in the order they were queued; ``flush`` returns only
  after everything queued before it is written (writes are serialised by one lock).
* Errors are not dropped silently: an error the store reports is kept and raised by the next
  logging call, ``flush`` or ``end_run``. When a batch fails, its parts are retried separately so
  one bad record does not take the good ones down with it.
* Memory is bounded: past ``MAX_PENDING`` queued records the caller writes synchronously
  (back-pressure) instead of growing the queue.
* A normal exit, an uncaught exception and Ctrl-C all write the queue before the process ends
  (``flush``, ``end_run`` and the interpreter-exit handler drain it).

Not guaranteed: the queue lives in this process's memory. A process that dies without exiting
(SIGKILL, the OOM killer, a crash of the interpreter, a power loss) loses what was queued and not
yet written, about the last flush interval of logging while the store keeps up, more while it is
slow or away. Its runs stay RUNNING: each writer notes in its process's spool file which runs the
process opened (:meth:`BatchWriter.run_started`), so that ``runlab runs recover`` can end them as
KILLED. Durable mode (``RUNLAB_DURABLE``, :mod:`runlab.tracking.durable_writer`) writes every
record to that file before the logging call returns, so that a killed process loses none of it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from runlab.entities import Metric, Param, RunTag
from runlab.errors import InvalidParameter, RunlabError, Unavailable
from runlab.store.base import TrackingStore
from runlab.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)

if TYPE_CHECKING:
    from runlab.tracking.spool_file import SpoolFile

__all__ = [
    "END",
    "METRIC",
    "PARAM",
    "TAG",
    "Batch",
    "BatchWriter",
    "chunk_batch",
    "close_all",
    "existing_writer",
    "flush_all",
    "raise_all_errors",
    "writer_for",
]

_logger = logging.getLogger("runlab")

#: Record kinds on the queue.
METRIC, PARAM, TAG = 0, 1, 2
# A flush marker: its entity is a threading.Event the writer sets once everything queued before
# the marker is written.
_FLUSH = 3
#: The end of a run, queued behind its records by the remote writer; the entity is
#: ``(status, end_time)``.
END = 4

#: Wake the writer early once this many records wait: a full batch is ready.
WAKE_AT = MAX_METRICS_PER_BATCH
#: Past this many queued records the logging call drains the queue itself (back-pressure).
MAX_PENDING = 200_000
# At most this many records are taken off the queue per pass, so a flood of logging cannot make
# one pass hold millions of records in memory twice.
_DRAIN_CHUNK = 20_000


def take_chunk(queue: deque[tuple[str, int, Any]]) -> list[tuple[str, int, Any]]:
    """Pop up to ``_DRAIN_CHUNK`` records from the front of the queue (fewer if it runs dry)."""
    records: list[tuple[str, int, Any]] = []
    popleft = queue.popleft
    try:
        for _ in range(_DRAIN_CHUNK):
            records.append(popleft())
    except IndexError:
        pass
    return records


# Transient store errors (database locked, server away) are retried with these waits (seconds).
_RETRY_WAITS = (0.05, 0.2, 1.0)
#: Seconds between touches of the spool file by a writer with runs open: the time of a process's
#: death is read from it (a run it leaves open is ended as KILLED at about that time).
HEARTBEAT = 1.0
#: A spool file past this size, with everything in it delivered, starts afresh.
COMPACT_AT = 1 << 20


def chunk_batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> Iterator[tuple[list[Metric], list[Param], list[RunTag]]]:
    """Split one logical batch into store-sized ones.

    Each chunk holds at most 100 params and 100 tags, and metrics fill it up to 1000 entities.
    """
    mi = pi = ti = 0
    while mi < len(metrics) or pi < len(params) or ti < len(tags):
        p = list(params[pi : pi + MAX_PARAMS_PER_BATCH])
        t = list(tags[ti : ti + MAX_TAGS_PER_BATCH])
        room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(p) - len(t))
        m = list(metrics[mi : mi + room])
        pi += len(p)
        ti += len(t)
        mi += len(m)
        yield m, p, t


class Batch:
    """One store call's worth of records for one run, or the end of a run (``end`` is set)."""

    __slots__ = ("end", "metrics", "params", "run_id", "seq", "tags")

    def __init__(
        self,
        run_id: str,
        metrics: list[Metric],
        params: list[Param],
        tags: list[RunTag],
        end: tuple[str, int] | None = None,
        seq: int = 0,
    ) -> None:
        self.run_id = run_id
        self.metrics = metrics
        self.params = params
        self.tags = tags
        #: ``(status, end_time)`` when this entry ends the run instead of logging to it.
        self.end = end
        #: Position in the writer's stream of batches; flush markers wait for a position.
        self.seq = seq

    @property
    def size(self) -> int:
        """Records in the batch (an end of run counts as none)."""
        return len(self.metrics) + len(self.params) + len(self.tags)

    def pieces(self) -> list[Batch]:
        """The batch split so that one rejected record cannot take the others down with it."""
        out: list[Batch] = []
        if self.metrics:
            out.append(Batch(self.run_id, self.metrics, [], [], seq=self.seq))
        if self.tags:
            out.append(Batch(self.run_id, [], [], self.tags, seq=self.seq))
        out.extend(Batch(self.run_id, [], [p], [], seq=self.seq) for p in self.params)
        if self.end is not None:
            out.append(Batch(self.run_id, [], [], [], self.end, seq=self.seq))
        return out


class _RunRecords:
    """One run's share of a drained queue, deduplicated the way the store would apply it."""

    __slots__ = ("metrics", "params", "tags")

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: dict[str, Param] = {}
        self.tags: dict[str, RunTag] = {}


class BatchWriter:
    """Queues records for one store and writes them in batches from a daemon thread."""

    #: True for a writer that keeps records while a server is away (see runlab.tracking.spool).
    remote = False
    #: True for a writer that puts every record on disk before the logging call returns.
    durable = False

    def __init__(self, store: TrackingStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._reset_journal()
        #: Records as ``(run_id, kind, entity)``; appended by loggers, popped by the writer.
        self.queue: deque[tuple[str, int, Any]] = deque()
        #: Errors the store reported for queued records, waiting to be raised to the user.
        self.errors: list[BaseException] = []
        # Only taken when an error is recorded or raised, never on the logging fast path.
        self._errors_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    # -- this process's spool file: the runs it has open ---------------------------------------
    def _reset_journal(self) -> None:
        # Guards the spool file, its notes and the set of open runs; never held across a store
        # call, so logging never waits on the store for it.
        self._journal_lock = threading.Lock()
        self._journal: SpoolFile | None = None
        self._journal_error: str | None = None
        #: Runs opened through this writer (start_run) and not ended yet, in order.
        self._open_runs: dict[str, None] = {}
        self._last_touch = 0.0

    def prepare(self) -> None:
        """Get ready to log to a new run (``start_run`` calls it before creating the run).

        Nothing to do here; the durable writer creates its spool file, so that a run is not
        started when nothing could be logged to it.
        """

    def run_started(self, run_id: str) -> None:
        """Note in this process's spool file that it has ``run_id`` open (``start_run``).

        If the process dies before ending the run, ``runlab runs recover`` ends it as KILLED.
        A note that cannot be written (no spool folder) costs only that: it is logged once.
        """
        from runlab.tracking.spool_file import OPENED, encode_state

        with self._journal_lock:
            self._open_runs[run_id] = None
            self._note_locked(encode_state(OPENED, run_id), OPENED)
        if self._thread is None:
            self._start()  # its heartbeat dates the process's death, should it die

    def _run_ended(self, run_id: str) -> None:
        """Note that the process ended ``run_id`` (its end is written or kept for delivery)."""
        from runlab.tracking.spool_file import CLOSED, encode_state

        with self._journal_lock:
            if run_id in self._open_runs:
                del self._open_runs[run_id]
                self._note_locked(encode_state(CLOSED, run_id), CLOSED)
                if self.durable:
                    return  # its file holds records too: closed by end_run once delivered
                if not self._open_runs:
                    # Nothing left to note: the next start_run starts a new file.
                    self._close_journal_locked()
                else:
                    self._compact_locked()

    def _note_locked(self, line: bytes, kind: int) -> None:
        journal = self._journal_locked(required=False)
        if journal is None:
            return
        try:
            # Nothing delivers from this file without durable mode: the note needs no delivery.
            journal.append_line(line, kind, delivered=not self.durable)
        except OSError as exc:
            self._journal_failed(exc, journal)

    def _journal_locked(self, required: bool) -> SpoolFile | None:
        """This writer's spool file, created on first use; None if it cannot be (and logged).

        With ``required`` (durable mode) a file that cannot be created raises instead.
        """
        if self._journal is not None:
            return self._journal
        if self._journal_error is not None and not required:
            return None  # said once already; run notes are best effort
        from runlab.tracking.config import spool_dir
        from runlab.tracking.spool_file import SpoolFile, store_uri

        uri = store_uri(self.store)
        if uri is None:
            return None  # an in-memory database: nothing to recover into
        directory = spool_dir()
        try:
            self._journal = SpoolFile.create(directory, uri)
        except OSError as exc:
            if required:
                raise RunlabError(
                    f"runlab: cannot create a spool file in {directory} ({exc}); with "
                    "RUNLAB_DURABLE set, a record is logged only once it is on disk, so nothing "
                    "was logged. Set RUNLAB_SPOOL_DIR to a writable folder."
                ) from exc
            self._journal_failed(exc, None)
            return None
        self._journal_error = None
        return self._journal

    def _journal_failed(self, exc: OSError, journal: SpoolFile | None) -> None:
        if self._journal_error is None:
            where = journal.path if journal is not None else "the spool folder"
            _logger.warning(
                "runlab: cannot note open runs in %s (%s); if this process dies, "
                "`runlab runs recover` will not know to end its runs.",
                where,
                exc,
            )
        self._journal_error = f"{type(exc).__name__}: {exc}"

    def _compact_locked(self) -> None:
        journal = self._journal
        if journal is None or journal.pending or journal.size < COMPACT_AT:
            return
        from runlab.tracking.spool_file import OPENED, encode_state

        notes = b"".join(encode_state(OPENED, run_id) for run_id in self._open_runs)
        try:
            journal.compact(notes)
        except OSError as exc:
            self._journal_failed(exc, journal)

    def _heartbeat(self) -> None:
        """Touch the spool file about every second while runs are open (from the thread)."""
        if not self._open_runs or self._journal is None:
            return
        now = time.monotonic()
        if now - self._last_touch < HEARTBEAT:
            return
        self._last_touch = now
        with self._journal_lock:
            if self._journal is not None:
                self._journal.touch()

    def _close_journal(self) -> None:
        """Close the spool file: removed, unless it still names open runs or holds records."""
        with self._journal_lock:
            self._close_journal_locked()

    def _close_journal_locked(self) -> None:
        journal, self._journal = self._journal, None
        if journal is None:
            return
        keep = bool(self._open_runs) or journal.pending
        if keep:
            journal.sync()
        with contextlib.suppress(OSError):
            journal.close(remove=not keep)

    def release_at_exit(self) -> None:
        """At interpreter exit, after the runs were ended: close the spool file."""
        self._close_journal()

    # -- producer side (the training loop) -----------------------------------------------------
    def add(self, run_id: str, kind: int, entity: Any) -> None:
        """Queue one record; returns at once."""
        queue = self.queue
        queue.append((run_id, kind, entity))
        if self._thread is None:
            self._start()
        if len(queue) >= WAKE_AT:
            if len(queue) >= MAX_PENDING:
                # The store cannot keep up: write from the caller rather than buffer without bound.
                self.flush(raise_errors=False)
            elif not self._wake.is_set():
                self._wake.set()

    def raise_errors(self) -> None:
        """Raise the errors the store reported for queued records, if any, and forget them."""
        if not self.errors:
            return
        with self._errors_lock:
            errors, self.errors = self.errors, []
        if not errors:
            return
        first = errors[0]
        message = str(first)
        if len(errors) > 1:
            others = "; ".join(str(e) for e in errors[1:4])
            more = f" (and {len(errors) - 4} more)" if len(errors) > 4 else ""
            message += f" Also failed: {others}{more}"
        if isinstance(first, RunlabError):
            raise type(first)(message, first.error_code) from first
        raise RunlabError(f"Writing queued records failed: {message}") from first

    def _record(self, error: BaseException) -> None:
        with self._errors_lock:
            self.errors.append(error)

    @property
    def pending(self) -> int:
        """How many records wait in the queue."""
        return len(self.queue)

    # -- draining ------------------------------------------------------------------------------
    def has_pending(self) -> bool:
        """True while records are queued or a batch is being written."""
        return bool(self.queue) or self._write_lock.locked()

    def flush(self, raise_errors: bool = True, timeout: float | None = None) -> Exception | None:
        """Write everything queued so far; then raise stored errors unless told not to.

        A local store is always written before this returns (``timeout`` is for remote writers,
        which return what they could not deliver in time); so this returns None.
        """
        if self.has_pending() and not self._flush_through_thread():
            with self._write_lock:
                self._drain()
        if raise_errors:
            self.raise_errors()
        return None

    def end_run(self, run_id: str, status: str, end_time: int) -> Exception | None:
        """Write what is queued, then end the run in the store.

        Returns None; a remote writer returns what it could not deliver in time instead.
        """
        try:
            self.flush(raise_errors=False)
            self.store.update_run_info(run_id, run_status=status, end_time=end_time)
        finally:
            # Ended or not, this process is done with the run: an error is the caller's to see.
            self._run_ended(run_id)
        return None

    def _flush_through_thread(self) -> bool:
        """Ask the writer thread to write up to a marker and wait for it; False if it cannot.

        Waiting, rather than writing from the caller's thread, means a Ctrl-C during
        ``end_run`` interrupts only the wait: records already taken off the queue are still
        written, and the atexit handler finishes the rest.
        """
        thread = self._thread
        if (
            thread is None
            or thread is threading.current_thread()
            or self._closed
            or not thread.is_alive()
        ):
            return False
        done = threading.Event()
        self.queue.append(("", _FLUSH, done))
        self._wake.set()
        while not done.wait(0.5):
            if not thread.is_alive():
                return False
        return True

    def close(self) -> None:
        """Write what is queued and stop the thread; later records are written synchronously."""
        # With no thread, the next add() goes through _start(), which writes synchronously.
        self._stop_thread()
        self.flush(raise_errors=False)
        self._close_journal()

    def _stop_thread(self) -> None:
        """Mark the writer closed, wake its thread and wait (up to 5 s) for it to end."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            if self._closed:
                self.flush(raise_errors=False)
                return
            thread = threading.Thread(target=self._loop, name="runlab-batch-writer", daemon=True)
            thread.start()
            self._thread = thread

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self.queue:
                with self._write_lock:
                    self._drain()
            self._heartbeat()

    def _drain(self) -> None:
        # Caller holds _write_lock. Loops until the queue is empty, a bounded chunk at a time.
        queue = self.queue
        while queue:
            records = take_chunk(queue)
            try:
                self._write_records(records)
            except Exception as exc:  # a bug here must surface, not kill the thread quietly
                self._record(exc)
                for _, kind, entity in records:
                    if kind == _FLUSH:
                        entity.set()  # never leave a flush() waiting forever

    def _write_records(self, records: list[tuple[str, int, Any]]) -> None:
        for item in self._group(records):
            if isinstance(item, Batch):
                self._write_batch(item.run_id, item.metrics, item.params, item.tags)
            else:
                item.set()

    def _group(self, records: list[tuple[str, int, Any]]) -> Iterator[Batch | threading.Event]:
        """Records as store-sized batches per run, in order; flush markers where they were.

        Within a stretch between markers, params and tags are deduplicated the way the store
        would apply them, and a param given two values is recorded as an error.
        """
        by_run: dict[str, _RunRecords] = {}
        for run_id, kind, entity in records:
            if kind in (_FLUSH, END):
                yield from self._batches(by_run)
                by_run = {}
                if kind == _FLUSH:
                    yield entity
                else:
                    yield Batch(run_id, [], [], [], end=entity)
                continue
            group = by_run.get(run_id)
            if group is None:
                group = by_run[run_id] = _RunRecords()
            if kind == METRIC:
                group.metrics.append(entity)
            elif kind == TAG:
                # A later value of the same tag wins, as it would have with one call per tag.
                group.tags.pop(entity.key, None)
                group.tags[entity.key] = entity
            else:
                previous = group.params.get(entity.key)
                if previous is None:
                    group.params[entity.key] = entity
                elif previous.value != entity.value:
                    self._record(_param_conflict(run_id, previous, entity))
        yield from self._batches(by_run)

    @staticmethod
    def _batches(by_run: dict[str, _RunRecords]) -> Iterator[Batch]:
        for run_id, group in by_run.items():
            for metrics, params, tags in chunk_batch(
                group.metrics, list(group.params.values()), list(group.tags.values())
            ):
                yield Batch(run_id, metrics, params, tags)

    def _write_batch(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        try:
            self._log_batch_with_retries(run_id, metrics, params, tags)
            return
        except Exception as exc:
            parts = len(params) + (1 if metrics else 0) + (1 if tags else 0)
            if parts <= 1:
                self._record(_describe(exc, run_id, metrics, params, tags))
                return
        # A batch is all-or-nothing; retry its parts separately so that, say, one param that
        # conflicts with a value stored by another process does not drop the run's metrics.
        pieces: list[tuple[list[Metric], list[Param], list[RunTag]]] = []
        if metrics:
            pieces.append((metrics, [], []))
        if tags:
            pieces.append(([], [], tags))
        pieces.extend(([], [p], []) for p in params)
        for m, p, t in pieces:
            try:
                self._log_batch_with_retries(run_id, m, p, t)
            except Exception as exc:
                self._record(_describe(exc, run_id, m, p, t))

    def _log_batch_with_retries(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        for wait in (*_RETRY_WAITS, None):
            try:
                self.store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
                return
            except Unavailable:
                if wait is None:
                    raise
                time.sleep(wait)

    def _after_fork_in_child(self) -> None:
        # The thread does not survive a fork, and the parent still owns what it had queued:
        # writing those records from the child too would store them twice.
        journal = self._journal
        if journal is not None:
            # The parent's file and its runs stay the parent's. Closing the child's copy of the
            # descriptor keeps the parent's lock (it belongs to the shared open file) and
            # means the file stops looking alive once the parent is gone.
            with contextlib.suppress(OSError):
                journal.close(remove=False)
        self._reset_journal()
        self.queue = deque()
        self.errors = []
        self._errors_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


def _param_conflict(run_id: str, old: Param, new: Param) -> RunlabError:
    return InvalidParameter(
        f"Param {new.key!r} of run {run_id} was logged with value {old.value!r} and then "
        f"{new.value!r}; params cannot change. Log the new value under another key."
    )


def _describe(
    exc: Exception,
    run_id: str,
    metrics: list[Metric],
    params: list[Param],
    tags: list[RunTag],
) -> RunlabError:
    what = []
    if metrics:
        what.append(f"{len(metrics)} metric point(s)")
    if params:
        what.append("param(s) " + ", ".join(repr(p.key) for p in params))
    if tags:
        what.append("tag(s) " + ", ".join(repr(t.key) for t in tags[:5]))
    if isinstance(exc, RunlabError):
        message = f"Could not write {' and '.join(what)} to run {run_id}: {exc.message}"
        return type(exc)(message, exc.error_code)
    error = RunlabError(
        f"Could not write {' and '.join(what)} to run {run_id}: {type(exc).__name__}: {exc}"
    )
    error.__cause__ = exc
    return error


# -- one writer per store ------------------------------------------------------------------------
_writers_lock = threading.Lock()
_writers: dict[int, BatchWriter] = {}


def writer_for(store: TrackingStore, interval: float | None = None) -> BatchWriter:
    """The writer of a store, created (with ``interval``, or the configured one) on first use."""
    writer = _writers.get(id(store))
    if writer is not None and writer.store is store:
        return writer
    with _writers_lock:
        writer = _writers.get(id(store))
        if writer is None or writer.store is not store:
            if interval is None:
                from runlab.tracking.config import flush_interval

                interval = flush_interval()
            writer = _new_writer(store, interval)
            _writers[id(store)] = writer
        return writer


def _new_writer(store: TrackingStore, interval: float) -> BatchWriter:
    from runlab.tracking.config import durable_mode

    mode = durable_mode()
    if mode is not None:
        from runlab.tracking.spool_file import store_uri

        if store_uri(store) is not None:
            from runlab.tracking.durable_writer import DurableWriter

            return DurableWriter(store, interval, sync_every_call=mode == "fsync")
        _logger.warning(
            "runlab: RUNLAB_DURABLE is ignored for an in-memory database: its records could not "
            "outlive the process anyway."
        )
    # Looked up in sys.modules rather than imported: a process that never opened a REST store
    # has no RestTrackingStore to find, and must not pay for importing httpx to learn that.
    rest = sys.modules.get("runlab.store.rest.tracking")
    if rest is not None and isinstance(store, rest.RestTrackingStore):
        from runlab.tracking.remote_writer import RemoteWriter

        return RemoteWriter(store, interval)
    return BatchWriter(store, interval)


def existing_writer(store: TrackingStore) -> BatchWriter | None:
    """The store's writer if one was ever created, without creating one."""
    writer = _writers.get(id(store))
    return writer if writer is not None and writer.store is store else None


def flush_all(raise_errors: bool = True) -> list[Exception]:
    """Flush every writer; raise the first stored error afterwards unless told not to.

    Remote writers wait a bounded time; what they could not deliver comes back as a list of
    reports (:class:`runlab.tracking.spool.UnsentRecords`), and with ``raise_errors`` the first
    one is raised once the stored errors have been.
    """
    with _writers_lock:
        writers = list(_writers.values())
    unsent = [report for w in writers if (report := w.flush(raise_errors=False)) is not None]
    if raise_errors:
        raise_all_errors()
        if unsent:
            raise unsent[0]
    return unsent


def raise_all_errors() -> None:
    """Raise the first error any writer has stored for its records."""
    with _writers_lock:
        writers = list(_writers.values())
    for writer in writers:
        writer.raise_errors()


def close_all() -> None:
    """Flush and stop every writer and forget them (tests; before closing stores)."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close()


def _release_at_exit() -> None:
    # Registered at import, before the fluent API's exit handler (which ends the runs and
    # flushes), so it runs after it: atexit calls handlers last-registered first.
    with _writers_lock:
        writers = list(_writers.values())
    for writer in writers:
        try:
            writer.release_at_exit()
        except Exception as exc:  # the process is exiting: report, do not mask other handlers
            _logger.error("runlab: could not close the spool file at exit: %s", exc)


atexit.register(_release_at_exit)


def _after_fork_in_child() -> None:
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in list(_writers.values()):
        writer._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""The background writer of a REST store: never blocks on the server, outlasts its outages.

See :mod:`runlab.tracking.spool` for the behaviour: batches that meet a connection error, a 5xx or
a 429 stay at the head of the line and are retried with a capped exponential backoff; records
wait in memory up to ``MEMORY_BOUND`` and then in a spool file; ``flush``/``end_run`` wait a
bounded time and report what is still unsent and where. A server outage loses nothing while the
process lives and exits normally; what waits in memory is lost if the process is killed (durable
mode, :mod:`runlab.tracking.durable_writer`, keeps it on disk instead).

Threads: the training loop only appends to ``queue`` (and, when it is very long, moves it into
the backlog itself). The writer thread owns the network. ``_lock`` guards the backlog, the spool
file and the in-flight batch; it is held for local work only, never across a request, so a
flush that times out can always move everything unsent to disk without waiting on the server.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from runlab.store.base import TrackingStore
from runlab.store.rest.http import is_transient
from runlab.tracking import spool as spool_module
from runlab.tracking.batch_writer import (
    _FLUSH,
    END,
    MAX_PENDING,
    WAKE_AT,
    Batch,
    take_chunk,
)
from runlab.tracking.retrying_writer import BACKOFF_FIRST, BACKOFF_MAX, RetryingWriter
from runlab.tracking.spool import (
    Counts,
    SpoolFile,
    UnsentRecords,
    _rejection,
    _RestStore,
    _send,
    spool_dir,
)

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "MEMORY_BOUND", "RemoteWriter"]

_logger = logging.getLogger("runlab")

#: Records kept in memory while the server is away; past this they go to the spool file.
MEMORY_BOUND = 100_000


class _Inflight:
    """The batch at the head of the line, possibly split into pieces after a 4xx answer."""

    __slots__ = ("pieces", "seq", "spool_bytes", "spooled")

    def __init__(self, batch: Batch, spool_bytes: int = 0) -> None:
        self.pieces: deque[Batch] = deque([batch])
        self.seq = batch.seq
        #: Bytes of spool file holding it (0 while it exists only in memory).
        self.spool_bytes = spool_bytes
        #: What those spool lines hold.
        self.spooled = Counts.of([batch]) if spool_bytes else Counts()


class RemoteWriter(RetryingWriter):
    """The background writer of a REST store: keeps, spools and retries (see the module doc)."""

    remote = True
    thread_name = "runlab-remote-writer"

    def __init__(
        self,
        store: TrackingStore,
        interval: float,
        *,
        memory_bound: int | None = None,
        directory: Path | None = None,
    ) -> None:
        super().__init__(store, interval)
        # Only created for RestTrackingStore (see batch_writer.writer_for).
        self.rest = cast(_RestStore, store)
        config = getattr(store, "config", None)
        self.tracking_uri: str = getattr(config, "base_url", "") or "the tracking server"
        #: Records held in memory before they go to the spool file (default MEMORY_BOUND).
        self.memory_bound = MEMORY_BOUND if memory_bound is None else memory_bound
        self._directory = directory
        self._reset_state()

    def _reset_state(self) -> None:
        # Guards everything below. Held only for local work (grouping, file appends), never
        # across a network call, and never by the logging fast path.
        self._lock = threading.Lock()
        self._backlog: deque[Batch] = deque()
        self._backlog_records = 0
        self._spool: SpoolFile | None = None
        self._spool_error: str | None = None
        self._inflight: _Inflight | None = None
        self._markers: list[tuple[int, threading.Event]] = []
        self._last_seq = 0  # position of the newest batch formed
        self._done_seq = 0  # position of the newest batch delivered (or rejected)

    # -- producer side ----------------------------------------------------------------------------
    def add(self, run_id: str, kind: int, entity: Any) -> None:
        """Queue one record; returns at once (never waits for the server)."""
        queue = self.queue
        queue.append((run_id, kind, entity))
        if self._thread is None:
            self._start()
        if len(queue) >= WAKE_AT:
            if len(queue) >= MAX_PENDING:
                # The server is slow or away: move the queue into the backlog here (local work:
                # grouping, maybe appending to the spool file) so memory stays bounded.
                self._absorb()
            elif not self._wake.is_set():
                self._wake.set()

    def end_run(self, run_id: str, status: str, end_time: int) -> UnsentRecords | None:
        """Queue the end of a run behind its records and flush; the report of what is unsent.

        An end that is not delivered in time is kept in the spool file with the records, so
        delivering the file ends the run as the process asked.
        """
        try:
            self.add(run_id, END, (status, end_time))
            return self.flush(raise_errors=False)
        finally:
            self._run_ended(run_id)

    @property
    def pending(self) -> int:
        """Records not yet delivered: queued, held in memory, or in the spool file."""
        spool = self._spool
        inflight = self._inflight
        return (
            len(self.queue)
            + self._backlog_records
            + (sum(b.size for b in inflight.pieces) if inflight and not inflight.spool_bytes else 0)
            + (spool.counts.metrics + spool.counts.params + spool.counts.tags if spool else 0)
        )

    def unsent_counts(self) -> Counts:
        """What the spool file holds undelivered (a copy)."""
        counts = Counts()
        spool = self._spool
        if spool is not None:
            counts.merge(spool.counts)
        return counts

    def has_pending(self) -> bool:
        """True while anything is undelivered."""
        spool = self._spool
        return bool(
            self.queue
            # Held while records move from the queue to the backlog: they are in neither.
            or self._lock.locked()
            or self._backlog
            or self._inflight is not None
            or (spool is not None and spool.pending)
        )

    # -- flushing ---------------------------------------------------------------------------------
    def _mark_flush(self) -> Callable[[float], bool]:
        """Queue a flush marker behind the records; the thread sets it once they are delivered."""
        done = threading.Event()
        self.queue.append(("", _FLUSH, done))
        return functools.partial(self._wait, done)

    def _wait(self, done: threading.Event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if done.wait(max(0.0, min(left, 0.5))):
                return True
            thread = self._thread
            if left <= 0 or thread is None or not thread.is_alive():
                return done.is_set()

    def _report_unsent(self, timeout: float) -> UnsentRecords | None:
        """Write what is unsent to the spool file (if it can be written) and describe it."""
        with self._lock:
            self._absorb_locked()
            self._spill_locked()
            spool = self._spool
            counts = Counts.of(list(self._backlog))
            inflight = self._inflight
            if inflight is not None and not inflight.spool_bytes:
                counts.merge(Counts.of(list(inflight.pieces)))
            in_memory = not counts.empty
            if spool is not None:
                counts.merge(spool.counts)
                # Under the lock: the writer thread closes the file once it has delivered it.
                spool.sync()
        if counts.empty:
            return None  # delivered after all, just after the wait ended
        message = (
            f"runlab: {counts.describe()} were not delivered to {self.tracking_uri} within "
            f"{timeout:g} s{self._unsent_reason('the server')}. "
        )
        if in_memory:
            message += (
                f"They are held in this process's memory only, because the spool file could not "
                f"be written ({self._spool_error}); they are lost if the process exits before "
                "the server answers."
            )
            path = None
        else:
            assert spool is not None
            path = spool.path
            message += (
                f"They are kept in the spool file {path}. This process keeps sending them while "
                "it runs; after it exits, send them with "
                f"runlab.tracking.spool.deliver({str(path)!r})."
            )
        return UnsentRecords(message, counts=counts, path=path)

    def close(self) -> None:
        """Deliver what is queued (bounded wait), stop the thread, keep the rest in the spool file."""
        if self._thread is not None and self.has_pending():
            self.flush(raise_errors=False)
        self._stop_thread()
        with self._lock:
            self._absorb_locked()
            self._spill_locked()
            spool, self._spool = self._spool, None
            if spool is not None:
                spool.sync()
                spool.close(remove=not spool.pending)
                spool_module.release(spool.path)
        self._close_journal()

    # -- the writer thread ------------------------------------------------------------------------
    def _absorb(self) -> None:
        if self.queue:
            with self._lock:
                self._absorb_locked()

    def _absorb_locked(self) -> None:
        """Turn queued records into batches at the back of the line (and spill past the bound)."""
        queue = self.queue
        while queue:
            records = take_chunk(queue)
            for item in self._group(records):
                if isinstance(item, Batch):
                    self._last_seq += 1
                    item.seq = self._last_seq
                    self._backlog.append(item)
                    self._backlog_records += max(item.size, 1)
                elif self._done_seq >= self._last_seq:
                    item.set()  # a flush marker with nothing before it left to deliver
                else:
                    self._markers.append((self._last_seq, item))
            if self._backlog_records > self.memory_bound:
                self._spill_locked()

    def _spill_locked(self) -> bool:
        """Append the in-memory line (head first) to the spool file; False if it cannot."""
        inflight = self._inflight
        head = list(inflight.pieces) if inflight is not None and not inflight.spool_bytes else []
        if not head and not self._backlog:
            return True
        try:
            spool = self._spool
            if spool is None:
                directory = self._directory or spool_dir()
                spool = self._spool = SpoolFile.create(directory, self.tracking_uri)
                spool_module.claim(spool.path, self)
            if head:
                assert inflight is not None
                inflight.spool_bytes, inflight.spooled = spool.append(head)
            if self._backlog:
                spool.append(list(self._backlog))
                self._backlog.clear()
                self._backlog_records = 0
        except OSError as exc:
            if self._spool_error is None:
                _logger.warning(
                    "runlab: cannot write the spool file (%s); unsent records stay in memory", exc
                )
            self._spool_error = f"{type(exc).__name__}: {exc}"
            return False
        self._spool_error = None
        return True

    def _take_locked(self) -> _Inflight | None:
        """The head of the line: the in-flight batch, else the spool's first, else memory's."""
        if self._inflight is not None:
            return self._inflight
        spool = self._spool
        if spool is not None and spool.pending:
            item = spool.read_next()
            if item is not None:
                self._inflight = _Inflight(item[0], spool_bytes=item[1])
                return self._inflight
        if self._backlog:
            batch = self._backlog.popleft()
            self._backlog_records -= max(batch.size, 1)
            self._inflight = _Inflight(batch)
        return self._inflight

    def _deliver(self) -> None:
        """Move the queue into the line, then send from its head until empty or the server fails."""
        self._absorb()
        while time.monotonic() >= self._next_attempt:
            with self._lock:
                inflight = self._take_locked()
            if inflight is None or not self._send_inflight(inflight):
                return
            if len(self.queue) >= WAKE_AT:
                self._absorb()

    def _send_inflight(self, inflight: _Inflight) -> bool:
        """Send the head batch's pieces; False (and a backoff) on a transient failure."""
        while inflight.pieces:
            piece = inflight.pieces[0]
            try:
                _send(self.rest, piece, max_retries=0)
            except Exception as exc:
                if is_transient(exc):
                    self._offline(exc)
                    return False
                replacement = piece.pieces()
                with self._lock:
                    inflight.pieces.popleft()
                    if len(replacement) > 1:
                        # All-or-nothing batch refused: send its parts one by one, so one bad
                        # record does not take the good ones down with it.
                        inflight.pieces.extendleft(reversed(replacement))
                if len(replacement) <= 1:
                    self._record(_rejection(exc, piece))
                continue
            with self._lock:
                inflight.pieces.popleft()
            self._online()
        with self._lock:
            self._commit_locked(inflight)
        return True

    def _commit_locked(self, inflight: _Inflight) -> None:
        self._inflight = None
        spool = self._spool
        if inflight.spool_bytes and spool is not None:
            spool.advance(inflight.spool_bytes, inflight.spooled)
            if not spool.pending:
                spool.close(remove=True)
                self._spool = None
                spool_module.release(spool.path)
        self._done_seq = max(self._done_seq, inflight.seq)
        keep = []
        for seq, event in self._markers:
            if seq <= self._done_seq:
                event.set()
            else:
                keep.append((seq, event))
        self._markers = keep

    def _offline_message(self, exc: Exception) -> str:
        return (
            f"runlab: cannot deliver records to {self.tracking_uri} ({exc}); they are kept and "
            "sent when it answers again."
        )

    def _online_message(self) -> str:
        return f"runlab: {self.tracking_uri} answers again; sending the records kept"

    def _after_fork_in_child(self) -> None:
        # The parent owns its backlog and spool file; the child starts afresh, and closes its
        # copy of the file's descriptor so that the file looks abandoned once the parent is gone.
        spool = self._spool
        if spool is not None:
            with contextlib.suppress(OSError):
                spool.close(remove=False)
        super()._after_fork_in_child()
        self._reset_state()

"""Durable mode (``RUNLAB_DURABLE``): a record is on disk before its logging call returns.

In durable mode the spool file is the writer's queue. ``add`` appends the record's line to this
process's spool file (see :mod:`runlab.tracking.spool_file`) with one ``write`` system call; the
background thread takes the records from where delivery stopped, groups consecutive records of a
run into store-sized batches, sends each batch and then marks its bytes delivered. It takes them
from a copy in memory of the file's undelivered records while that copy is small (so it need
not decode what was just encoded), and reads the file back past ``MIRROR_BOUND``.

What that buys, and what it costs:

* A process killed at any moment (SIGKILL, the OOM killer, a crash of the interpreter) loses
  nothing it logged: once a logging call has returned, its record is in the operating system's
  page cache, which the kernel writes to the file although the process is gone. ``runlab runs
  recover`` then sends what was not delivered and ends the runs the process had open as KILLED.
* Power loss or a kernel crash can still lose what the OS had not yet written to the disk. The
  thread fsyncs the file once per pass, before sending from it, so that window is about one
  flush interval (0.1 s by default) instead of the OS's ~30 s. ``RUNLAB_DURABLE=fsync`` fsyncs in
  every logging call instead, which closes the window and costs a disk flush per call (see
  BENCHMARKS.md for both costs).
* Nothing is stored twice: a batch is marked delivered only after the store took it, so a crash
  leaves at most the one batch that was being sent unmarked, and runlab's stores keep such a
  resent batch once (metric points identical to ones in a key's last chunk are dropped; a param
  with the same value and tags are idempotent). An MLflow server would store that one batch's
  metric points twice.
* It works the same for a local database and a tracking server: transient errors (a server away,
  a database restarting: ``Unavailable``, 408, 429, 5xx) keep the batch at the head of the line,
  retried with a backoff of 0.1 s doubling to 5 s; ``flush``/``end_run`` wait at most
  ``RUNLAB_FLUSH_TIMEOUT`` seconds (default 30) and then raise
  :class:`~runlab.tracking.spool.UnsentRecords` naming the file. Other errors (a changed param, a
  deleted run) are raised at the next call, as without durable mode.
* The file grows with the logging; once everything in it is delivered and it is past 1 MiB, it
  starts afresh (keeping the notes of the runs still open).
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from runlab.errors import RunlabError
from runlab.store.base import TrackingStore
from runlab.tracking import spool as spool_module
from runlab.tracking.batch_writer import END, MAX_PENDING, WAKE_AT, Batch
from runlab.tracking.retrying_writer import BACKOFF_FIRST, BACKOFF_MAX, RetryingWriter
from runlab.tracking.spool import UnsentRecords, _rejection, _send, transient
from runlab.tracking.spool_file import (
    OPENED,
    Counts,
    SpoolFile,
    encode_record,
    encode_state,
    group_records,
)

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "MIRROR_BOUND", "DurableWriter"]

_logger = logging.getLogger("runlab")

#: Undelivered records kept in memory beside the file at most; past this (a store away for long)
#: the copy is dropped and the thread reads the file back until it has caught up.
MIRROR_BOUND = 100_000
# Records looked at per batch: a batch holds at most 1000, plus the notes between them.
_SNAPSHOT = 2048
# At exit, how long to wait for a delivery in progress before leaving the file as it is (it keeps
# everything: a later `runlab runs recover` or `runlab spool deliver` sends the rest).
_EXIT_LOCK_WAIT = 1.0


class DurableWriter(RetryingWriter):
    """The writer of a store in durable mode: this process's spool file is its queue."""

    durable = True
    thread_name = "runlab-durable-writer"

    def __init__(
        self, store: TrackingStore, interval: float, *, sync_every_call: bool = False
    ) -> None:
        super().__init__(store, interval)
        rest = sys.modules.get("runlab.store.rest.tracking")
        #: True for a tracking server: its requests get no retries of their own (see _send).
        self.remote = rest is not None and isinstance(store, rest.RestTrackingStore)
        #: ``RUNLAB_DURABLE=fsync``: every logging call also forces its record to the disk.
        self.sync_every_call = sync_every_call
        #: Where the records go, as the spool file names it (set with the file).
        self.tracking_uri = ""
        self._reset_delivery()

    def _reset_delivery(self) -> None:
        self._appended = 0  # records appended (under _journal_lock)
        self._delivered = 0  # records delivered or refused (by the thread)
        # Bytes appended and bytes delivered since the writer started: unlike offsets in the
        # file, they keep growing when the file starts afresh, so flush() can wait on them.
        self._appended_bytes = 0
        self._delivered_bytes = 0
        # (kind, run_id, entity, line length) of exactly the file's undelivered lines, in order;
        # None once dropped (past MIRROR_BOUND) until the thread has caught up with the file.
        # Producers append under _journal_lock; only the thread removes, also under it.
        self._mirror: deque[tuple[int, str, Any, int]] | None = deque()
        # Notified whenever delivery moves on or fails, so flush() can wait on it.
        self._progress = threading.Condition(threading.Lock())
        self._synced_size = 0

    # -- producer side ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the spool file now, so that a run is not started when nothing could be logged."""
        with self._journal_lock:
            self._require_journal_locked()

    def _require_journal_locked(self) -> SpoolFile:
        journal = self._journal
        if journal is None:
            journal = self._journal_locked(required=True)
            if journal is None:  # the store has no URI a later process could reach
                raise RunlabError(f"runlab: durable mode cannot keep records for {self.store!r}.")
            self.tracking_uri = journal.tracking_uri
            # deliver(path) in this process waits for this writer instead of failing on the lock.
            spool_module.claim(journal.path, self)
        return journal

    def unsent_counts(self) -> Counts:
        """What the spool file holds undelivered (a copy)."""
        counts = Counts()
        with self._journal_lock:
            if self._journal is not None:
                counts.merge(self._journal.counts)
        return counts

    def _close_journal_locked(self) -> None:
        journal = self._journal
        if journal is not None:
            spool_module.release(journal.path)
        super()._close_journal_locked()
        # What the closed file still holds is recovery's now; a new file starts from nothing.
        self._mirror = deque()
        self._delivered_bytes = self._appended_bytes
        self._delivered = self._appended
        self._synced_size = 0

    def _append_locked(self, line: bytes, kind: int, run_id: str = "", entity: Any = None) -> None:
        """Append a line (caller holds _journal_lock); raise RunlabError if it is not written."""
        journal = self._require_journal_locked()
        try:
            journal.append_line(line, kind)
            if self.sync_every_call:
                journal.sync()
        except OSError as exc:
            raise RunlabError(
                f"runlab: could not write to the spool file {journal.path} ({exc}); with "
                "RUNLAB_DURABLE set, a record is logged only once it is on disk, so this one "
                "was not logged. Free some space, or set RUNLAB_SPOOL_DIR to another folder."
            ) from exc
        self._appended_bytes += len(line)
        mirror = self._mirror
        if mirror is not None:
            if len(mirror) >= MIRROR_BOUND:
                self._mirror = None  # the file has them all; the thread reads it back
            else:
                mirror.append((kind, run_id, entity, len(line)))

    def add(self, run_id: str, kind: int, entity: Any) -> None:
        """Append one record to the spool file and return once the OS has it.

        Never waits on the store. Raises RunlabError, having logged nothing, if the file cannot
        be written.
        """
        line = encode_record(run_id, kind, entity)
        with self._journal_lock:
            self._append_locked(line, kind, run_id, entity)
            self._appended += 1
            waiting = self._appended - self._delivered
        if self._thread is None:
            self._start()
        if waiting >= WAKE_AT:
            if waiting >= MAX_PENDING and not self.remote:
                # A local store that cannot keep up: wait for it rather than let the file grow
                # without bound (as the in-memory writer does). A server never blocks the loop.
                self.flush(raise_errors=False)
            elif not self._wake.is_set():
                self._wake.set()

    def run_started(self, run_id: str) -> None:
        """Note the run as open; the note goes through the file in order with the records."""
        with self._journal_lock:
            self._append_locked(encode_state(OPENED, run_id), OPENED)
            self._open_runs[run_id] = None
        if self._thread is None:
            self._start()

    def _note_locked(self, line: bytes, kind: int) -> None:
        try:
            self._append_locked(line, kind)
        except RunlabError as exc:
            _logger.warning("%s", exc)

    def end_run(self, run_id: str, status: str, end_time: int) -> UnsentRecords | None:
        """Append the end of the run behind its records and flush; the report of what is unsent.

        An end that is not delivered in time stays in the file, so delivering the file later
        ends the run as the process asked.
        """
        try:
            self.add(run_id, END, (status, end_time))
        except BaseException:
            self._run_ended(run_id)
            raise
        with self._journal_lock:
            # The END record itself tells a recovery that the process ended the run.
            self._open_runs.pop(run_id, None)
        unsent = self.flush(raise_errors=False)
        if unsent is None and not self._open_runs:
            # Everything delivered and no run left open: the file has nothing left to keep.
            # (The next record starts a new one.)
            with self._write_lock, self._journal_lock:
                if not self._open_runs and self._delivered_bytes >= self._appended_bytes:
                    self._close_journal_locked()
        return unsent

    @property
    def pending(self) -> int:
        """Records appended and not yet delivered."""
        return self._appended - self._delivered

    def has_pending(self) -> bool:
        """True while the file holds lines not yet delivered."""
        return self._delivered_bytes < self._appended_bytes

    # -- flushing --------------------------------------------------------------------------------
    def _mark_flush(self) -> Callable[[float], bool]:
        """The flush waits until delivery has passed every byte appended so far."""
        return functools.partial(self._wait_delivered, self._appended_bytes)

    def _wait_delivered(self, target: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._progress:
            while True:
                if self._delivered_bytes >= target or self._journal is None:
                    return True
                left = deadline - time.monotonic()
                thread = self._thread
                if left <= 0 or thread is None or not thread.is_alive():
                    return False
                self._progress.wait(min(left, 0.5))

    def _report_unsent(self, timeout: float) -> UnsentRecords | None:
        """Make the file's undelivered records survive a power loss too, and describe them."""
        with self._journal_lock:
            journal = self._journal
            if journal is None or not journal.pending:
                return None  # delivered after all, just after the wait ended
            counts = Counts()
            counts.merge(journal.counts)
            journal.sync()  # what is kept should survive a power loss as well
            path = journal.path
        if counts.empty:
            return None  # only notes about runs were left; nothing the store lacks
        return UnsentRecords(
            f"runlab: {counts.describe()} were not delivered to {journal.tracking_uri} within "
            f"{timeout:g} s{self._unsent_reason('the store')}. They are kept in the spool file {path}. This process keeps "
            "sending them while it runs; after it exits, `runlab runs recover` sends them.",
            counts=counts,
            path=path,
        )

    # -- the writer thread -----------------------------------------------------------------------
    def _deliver(self) -> None:
        """Send from the file until it is delivered or the store fails (a backoff then)."""
        if time.monotonic() < self._next_attempt:
            return
        with self._write_lock:
            journal = self._journal
            if journal is None or not journal.pending:
                return
            if journal.size > self._synced_size and not self.sync_every_call:
                # Before anything is sent: a power loss must not lose records that the store
                # has not got either. Once per pass, so it costs little.
                size = journal.size
                journal.sync()
                self._synced_size = size
            while (item := self._next_group(journal)) is not None:
                batch, nbytes, consumed, mirrored = item
                if not self._send(batch):
                    return
                with self._journal_lock:
                    journal.advance(nbytes, consumed)
                    self._delivered += (
                        consumed.metrics + consumed.params + consumed.tags + consumed.run_ends
                    )
                    self._delivered_bytes += nbytes
                    mirror = self._mirror
                    if mirror is not None:
                        for _ in range(mirrored):
                            mirror.popleft()
                    elif not journal.pending:
                        self._mirror = deque()  # caught up: copy new records again
                    if not journal.pending:
                        # Caught up: start the file afresh if it has grown large (before the
                        # waiters hear of it, so that what they see next is settled).
                        self._compact_locked()
                        self._synced_size = min(self._synced_size, journal.size)
                self._online()
                self._notify()

    def _next_group(self, journal: SpoolFile) -> tuple[Batch, int, Counts, int] | None:
        """The next batch to send, the bytes it spans, the records it consumed, and how many of
        them came from the in-memory copy (to drop from it once delivered)."""
        with self._journal_lock:
            mirror = self._mirror
            # Only this thread removes from the copy, so its head stays what was seen here.
            head = None if mirror is None else list(itertools.islice(mirror, _SNAPSHOT))
        if head is None:
            item = journal.next_group()
            return None if item is None else (*item, 0)
        return group_records(head)

    def _send(self, batch: Batch) -> bool:
        """Send one batch; False (after a backoff is set) if the store is away for now.

        A batch the store refuses is split so one bad record does not take the others down;
        what it still refuses is recorded as an error for the user, and counts as delivered.
        """
        try:
            _send(self.store, batch, max_retries=0 if self.remote else None)
            return True
        except Exception as exc:
            if transient(exc):
                self._offline(exc)
                return False
            pieces = batch.pieces()
            if len(pieces) <= 1:
                self._record(_rejection(exc, batch))
                return True
        # Pieces already sent are sent again if a later piece meets a transient error; the
        # store keeps a resent piece once.
        return all(self._send(piece) for piece in pieces)

    def _notify(self) -> None:
        """Wake the flushes waiting in _wait_delivered: delivery moved on or failed."""
        with self._progress:
            self._progress.notify_all()

    def _offline_message(self, exc: Exception) -> str:
        journal = self._journal
        return (
            "runlab: cannot deliver records to "
            f"{journal.tracking_uri if journal else 'the store'} ({exc}); they are kept in "
            f"{journal.path if journal else 'the spool file'} and sent when it answers again."
        )

    def _online_message(self) -> str:
        return "runlab: the store answers again; sending the records kept"

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Deliver what is in the file (bounded wait), stop the thread, close the file.

        The file is removed if everything in it was delivered and no run is left open; else it
        is kept for ``runlab runs recover`` or ``runlab spool deliver``.
        """
        if self.has_pending():
            self.flush(raise_errors=False)
        self._stop_thread()
        with self._write_lock:
            self._close_journal()

    def release_at_exit(self) -> None:
        """At interpreter exit (runs ended, flushed): close the file unless a send is under way.

        A send in progress may take up to the HTTP timeout against a hung server; then the file
        is left as it is, which loses nothing: it holds every undelivered record.
        """
        if self._write_lock.acquire(timeout=_EXIT_LOCK_WAIT):
            try:
                self._close_journal()
            finally:
                self._write_lock.release()

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._reset_delivery()

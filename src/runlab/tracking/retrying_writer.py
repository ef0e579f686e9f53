"""The part the remote and the durable writers share: a thread that outlasts a store's outages.

Both writers keep what they could not deliver (in memory and a spool file, or in the spool file
alone) and send it from one background thread. This class holds what is the same for both:

* The thread wakes every flush interval, or sooner when the next attempt after a failure is due,
  and makes one delivery pass (:meth:`RetryingWriter._deliver`, the subclass's job). A bug in a
  pass is recorded for the user instead of killing the thread.
* A transient failure (the store or server away) keeps the batch at the head of the line and
  sets a backoff: 0.1 s doubling to 5 s, with jitter so that many processes do not come back in
  step. The first failure of an outage logs a warning; the first delivery after it, a notice.
* ``flush`` waits a bounded time (``RUNLAB_FLUSH_TIMEOUT``) and reports what is still unsent.
  Once a flush timed out, later ones report at once until a delivery succeeds, rather than wait
  again for a store that is known to be away.
* A closed writer starts its thread again on the next record: the thread is the only thing that
  delivers (a remote store would block the caller; a durable writer's records are in its file).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from runlab.store.base import TrackingStore
from runlab.tracking.batch_writer import BatchWriter
from runlab.tracking.config import flush_timeout
from runlab.tracking.spool import UnsentRecords

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "RetryingWriter"]

_logger = logging.getLogger("runlab")

#: Backoff between attempts while the store is away: first wait and cap, in seconds.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


class RetryingWriter(BatchWriter):
    """A writer whose thread keeps what a store did not take and retries it with a backoff.

    Subclasses say what one delivery pass does (:meth:`_deliver`), what a flush waits for
    (:meth:`_mark_flush`), how unsent records are reported (:meth:`_report_unsent`) and what
    the outage messages say (:meth:`_offline_message`, :meth:`_online_message`).
    """

    #: The name of the writer's thread (seen in thread dumps and by debuggers).
    thread_name = "runlab-retrying-writer"

    def __init__(self, store: TrackingStore, interval: float) -> None:
        super().__init__(store, interval)
        self._reset_retry()

    def _reset_retry(self) -> None:
        self._failures = 0  # consecutive transient failures
        self._next_attempt = 0.0  # time.monotonic() of the next delivery attempt
        self._last_error: str | None = None
        # Set when a flush timed out; cleared by the next delivery. Until then flushes report
        # at once instead of waiting again for a store that is known to be away.
        self._gave_up = False

    # -- what subclasses provide ------------------------------------------------------------------
    def _deliver(self) -> None:
        """One pass of the thread: send until everything is delivered or the store fails."""
        raise NotImplementedError

    def _mark_flush(self) -> Callable[[float], bool]:
        """Mark what a flush must see delivered: everything logged so far.

        Returns a function that waits at most the given seconds for it and says whether it was
        delivered.
        """
        raise NotImplementedError

    def _report_unsent(self, timeout: float) -> UnsentRecords | None:
        """Keep what a timed-out flush left unsent and describe it; None if nothing is left."""
        raise NotImplementedError

    def _offline_message(self, exc: Exception) -> str:
        """The warning logged when an outage starts, ``exc`` being its first failure."""
        raise NotImplementedError

    def _online_message(self) -> str:
        """The notice logged when the store answers again after an outage."""
        raise NotImplementedError

    def _notify(self) -> None:
        """Wake whoever waits on delivery progress; nothing to do unless a subclass waits so."""

    # -- flushing ---------------------------------------------------------------------------------
    def flush(
        self, raise_errors: bool = True, timeout: float | None = None
    ) -> UnsentRecords | None:
        """Deliver everything logged so far, waiting at most ``timeout`` seconds.

        ``timeout`` defaults to ``RUNLAB_FLUSH_TIMEOUT`` (30 s), or to 0 while the store has
        not answered since the last flush timed out. What is then still unsent is kept in the
        spool file and described by the returned :class:`UnsentRecords` (raised instead when
        ``raise_errors``, after the errors the store reported for records).
        """
        unsent: UnsentRecords | None = None
        if self.has_pending():
            if timeout is None:
                timeout = 0.0 if self._gave_up else flush_timeout()
            delivered = self._mark_flush()
            if self._thread is None:
                self._start()
            self._next_attempt = 0.0  # the caller is waiting: try now, not after the backoff
            self._wake.set()
            if not delivered(timeout):
                unsent = self._report_unsent(timeout)
                self._gave_up = unsent is not None
        if raise_errors:
            self.raise_errors()
            if unsent is not None:
                raise unsent
        return unsent

    def _unsent_reason(self, who: str) -> str:
        """Why a flush found records unsent, for its report; ``who`` names the store."""
        if self._failures and self._last_error:
            return f" (last error: {self._last_error})"
        return f" ({who} is answering, but had not caught up with the logging yet)"

    # -- the writer thread ------------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            # Unlike the local in-memory writer, a closed one starts again: its thread is the
            # only thing that delivers what it keeps.
            self._closed = False
            thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            thread.start()
            self._thread = thread

    def _loop(self) -> None:
        while not self._closed:
            wait = self.interval
            if self._failures:
                wait = min(wait, max(0.0, self._next_attempt - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            try:
                self._deliver()
            except Exception as exc:  # a bug must surface, not kill the thread quietly
                self._record(exc)
                self._notify()
                time.sleep(self.interval)
            self._heartbeat()

    def _offline(self, exc: Exception) -> None:
        """A delivery met a transient failure: back off before the next attempt."""
        self._failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self._failures - 1, 16))
        self._next_attempt = time.monotonic() + delay * (0.5 + random.random() / 2)
        self._last_error = str(exc)
        if self._failures == 1:
            _logger.warning("%s", self._offline_message(exc))
        self._notify()

    def _online(self) -> None:
        """A delivery succeeded: the outage, if any, is over."""
        if self._failures:
            _logger.info("%s", self._online_message())
        self._failures = 0
        self._gave_up = False

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._reset_retry()

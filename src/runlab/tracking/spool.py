"""Logging to a store that may go away: keep records, spool them to disk, deliver them later.

Against an ``http(s)`` tracking URI the fluent API's background writer is a
:class:`~runlab.tracking.remote_writer.RemoteWriter`. It sends log-batch calls like the local
writer, with these differences:

* A connection error, a 5xx or a 429 does not drop or reject anything. The batch stays at the
  head of the line and is sent again after an exponential backoff (0.1 s doubling to 5 s, with
  jitter); later records queue up behind it, so they reach the server in the order they were
  logged. Each request gets no retries of its own (the writer's loop owns the backoff), so one
  request never stalls the writer for minutes.
* Records wait in this process's memory up to ``remote_writer.MEMORY_BOUND`` (100,000); past
  that they are appended to a spool file in the spool folder (``RUNLAB_SPOOL_DIR``, default
  ``runlab/spool`` in the user's cache folder). The training loop never waits on the server:
  logging calls only append to the queue, and when the queue is long they do local work
  (grouping, appending to the spool file).
* A 4xx answer (a param that changed, a deleted run) is not retried: it is raised at the next
  logging call, ``flush`` or ``end_run``, as with a local store.
* ``flush()`` and ``end_run()`` wait at most ``RUNLAB_FLUSH_TIMEOUT`` seconds (default 30). What
  is still unsent then (including the end of the run) is written to the spool file, and they
  raise :class:`UnsentRecords`, which says how many metric points, params and tags are unsent and
  where they are. While the process lives the writer keeps trying; once it has exited,
  :func:`deliver` (``runlab spool deliver``) or ``runlab runs recover`` sends the file.

What this does not cover: records still in memory when the process dies without exiting
(SIGKILL, the OOM killer, a crash, power loss) are lost, up to all 100,000 of them while the
server is away. Durable mode (``RUNLAB_DURABLE=1``, :mod:`runlab.tracking.durable_writer`) writes
every record to the spool file before the logging call returns, for this process's local store
or server alike.

The file format and its lock are described in :mod:`runlab.tracking.spool_file`.

A resent batch is stored once by runlab (a local store or a server): it drops metric points
identical to ones already in a key's last chunk, accepts a param logged again with the same
value, and tags are idempotent. (An MLflow server stores a resent metric point twice; a batch is
resent only when the connection broke, or the process died, after the store may have taken it.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from runlab import uris
from runlab.entities import Metric, Param, RunInfo, RunTag
from runlab.errors import NotFound, RunlabError, Unavailable
from runlab.store.base import TrackingStore
from runlab.tracking.batch_writer import Batch, _describe
from runlab.tracking.config import DEFAULT_FLUSH_TIMEOUT, flush_timeout, spool_dir
from runlab.tracking.spool_file import Counts, SpoolFile, pending_spools

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT",
    "Counts",
    "Delivery",
    "SpoolFile",
    "UnsentRecords",
    "deliver",
    "flush_timeout",
    "open_store",
    "pending_spools",
    "spool_dir",
    "transient",
]

_logger = logging.getLogger("runlab")


def transient(error: BaseException) -> bool:
    """True for errors that may go away by themselves: a store or server unavailable, 408, 429, 5xx.

    Looks the REST helpers up in ``sys.modules``: a process that never opened a REST store has no
    HTTP error to classify, and must not pay for importing httpx to learn that.
    """
    if isinstance(error, Unavailable):
        return True
    http = sys.modules.get("runlab.store.rest.http")
    return http is not None and bool(http.is_transient(error))


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


def _send(store: TrackingStore | _RestStore, batch: Batch, max_retries: int | None) -> None:
    """Send one batch (or end of run); with ``max_retries``, to a REST store with that budget."""
    if batch.end is None and not batch.size:
        return  # only notes about runs: nothing for the store
    if max_retries is not None:
        rest = cast(_RestStore, store)
        if batch.end is not None:
            status, end_time = batch.end
            rest.update_run_info(
                batch.run_id, run_status=status, end_time=end_time, max_retries=max_retries
            )
        else:
            rest.log_batch(
                batch.run_id,
                metrics=batch.metrics,
                params=batch.params,
                tags=batch.tags,
                max_retries=max_retries,
            )
        return
    local = cast(TrackingStore, store)
    if batch.end is not None:
        status, end_time = batch.end
        local.update_run_info(batch.run_id, run_status=status, end_time=end_time)
    else:
        local.log_batch(batch.run_id, metrics=batch.metrics, params=batch.params, tags=batch.tags)


def _rejection(exc: Exception, batch: Batch) -> RunlabError:
    if batch.end is not None:
        message = f"Could not end run {batch.run_id} as {batch.end[0]}: {exc}"
        return type(exc)(message) if isinstance(exc, RunlabError) else RunlabError(message)
    return _describe(exc, batch.run_id, batch.metrics, batch.params, batch.tags)


class _Owner(Protocol):
    """A writer of this process that owns a spool file and delivers it (remote or durable)."""

    tracking_uri: str

    def flush(
        self, raise_errors: bool = True, timeout: float | None = None
    ) -> UnsentRecords | None: ...

    def unsent_counts(self) -> Counts: ...


# Spool files owned by a live writer of this process, so deliver() can wait on the owner.
_owners_lock = threading.Lock()
_owners: dict[Path, _Owner] = {}


def claim(path: Path, writer: _Owner) -> None:
    """Record that ``writer`` owns (and is delivering) the spool file at ``path``."""
    with _owners_lock:
        _owners[path.resolve()] = writer


def release(path: Path) -> None:
    """Forget the owner of the spool file at ``path`` (delivered, or its writer closed)."""
    with _owners_lock:
        _owners.pop(path.resolve(), None)


# -- delivering a spool file ----------------------------------------------------------------------
@contextlib.contextmanager
def open_store(tracking_uri: str) -> Iterator[TrackingStore]:
    """The store a spool file's records go to, for the length of a delivery.

    A server gets a client of its own (credentials from the environment, as for any REST store),
    closed afterwards. A SQLite file must exist: delivering into a new, empty database would
    only fail later with "no such run" for every record.
    """
    from runlab.tracking.store_factory import get_tracking_store

    if uris.is_http_uri(tracking_uri):
        from runlab.store.rest.tracking import RestTrackingStore
        from runlab.tracking.store_factory import rest_config

        rest = RestTrackingStore(rest_config(tracking_uri))
        try:
            yield rest
        finally:
            rest.close()
        return
    if uris.scheme_of(tracking_uri) == "sqlite":
        db_path = uris.sqlite_path(tracking_uri)
        if db_path is None or not Path(db_path).is_file():
            raise NotFound(
                f"The database {tracking_uri} that the spool file names does not exist; pass the "
                "tracking URI it moved to."
            )
    yield get_tracking_store(tracking_uri)


@dataclass
class Delivery:
    """What :func:`deliver` sent, and the records the store refused (4xx) with its reasons.

    ``open_runs`` are the runs the file says its process had open and had not ended; deliver
    leaves them (and the file, if there are any) for ``runlab runs recover``, which ends them.
    """

    path: Path
    tracking_uri: str
    sent: Counts = field(default_factory=Counts)
    rejected: list[str] = field(default_factory=list)
    open_runs: list[str] = field(default_factory=list)


def deliver(
    path: str | os.PathLike[str], tracking_uri: str | None = None, timeout: float | None = None
) -> Delivery:
    """Send the records kept in a spool file to their store, in order, and remove the file.

    ``tracking_uri`` overrides the store named in the file (a server's credentials come from the
    environment, as for any REST store). Each request is retried with backoff; if the store
    still cannot be reached, :class:`UnsentRecords` says what is left and the file is kept, so
    calling again resumes. Records the store refuses (4xx) are listed in ``rejected``. A file
    that also says its process had runs open is kept (delivered) for ``runlab runs recover``.

    If a writer of this process owns the file, this waits for it instead (at most ``timeout``,
    default ``RUNLAB_FLUSH_TIMEOUT``); ``sent`` then counts what was still unsent when the wait
    began, since that writer keeps retrying on its own and may already have sent the rest. A
    file that another live process holds raises InvalidState.
    """
    spool_path = Path(path)
    with _owners_lock:
        owner = _owners.get(spool_path.resolve())
    if owner is not None:
        before = owner.unsent_counts()
        # Wait even if an earlier flush gave up: the caller says the server is back.
        wait = flush_timeout() if timeout is None else timeout
        unsent = owner.flush(raise_errors=False, timeout=wait)
        if unsent is not None:
            raise unsent
        return Delivery(spool_path, owner.tracking_uri, sent=before)

    spool = SpoolFile.open(spool_path)
    remove = False
    try:
        uri = tracking_uri or spool.tracking_uri
        result = Delivery(spool_path, uri, open_runs=list(spool.open_runs))
        with open_store(uri) as store:
            send_pending(spool, store, result)
        remove = not spool.pending and not spool.open_runs
    finally:
        spool.close(remove=remove)
    for reason in result.rejected:
        _logger.error("runlab: the store refused records from %s: %s", spool_path, reason)
    return result


def send_pending(spool: SpoolFile, store: TrackingStore, result: Delivery) -> None:
    """Send a locked spool file's undelivered batches, marking each delivered once it is taken.

    Counts what was sent and what was refused into ``result``; raises UnsentRecords (the file
    keeps the rest) if the store cannot be reached.
    """
    try:
        while (item := spool.next_group()) is not None:
            batch, nbytes, consumed = item
            _deliver_batch(store, batch, result)
            spool.advance(nbytes, consumed)
            result.sent.add(batch)
    except Exception as exc:
        if not transient(exc):
            raise
        raise UnsentRecords(
            f"runlab: {result.tracking_uri} could not be reached ({exc}); "
            f"{spool.counts.describe()} are still kept in {spool.path}. Deliver it again once "
            "the store is up.",
            counts=spool.counts,
            path=spool.path,
        ) from exc


def _deliver_batch(store: TrackingStore, batch: Batch, result: Delivery) -> None:
    # A REST store's own retries (with backoff) apply: here nothing else waits on this call.
    try:
        _send(store, batch, max_retries=None)
        return
    except Exception as exc:
        if transient(exc) or not isinstance(exc, RunlabError):
            raise
        pieces = batch.pieces()
        if len(pieces) <= 1:
            result.rejected.append(str(_rejection(exc, batch)))
            return
    for piece in pieces:
        _deliver_batch(store, piece, result)

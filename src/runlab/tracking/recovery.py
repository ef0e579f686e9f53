"""After a process died: send what its spool files hold and end its open runs as KILLED.

A process that logs keeps a spool file per store (see :mod:`runlab.tracking.spool_file`): it
notes there which runs it opened with ``start_run``, in durable mode every record it logged, and
while a server is away the batches it could not send. A process that exits normally ends its runs
and removes its files. One that dies without exiting (SIGKILL, the OOM killer, a crash, a power
loss) leaves them behind, unlocked, and its runs RUNNING. :func:`recover` (``runlab runs
recover``) finds those files, sends what they hold to the stores they name, in order, and then
ends the runs the dead process had open as KILLED, dated when the process was last seen alive
(the time its file was last written or touched; a writer touches it every second while runs are
open).

It never touches a live process's file (a live process holds a lock on it), nor a run that a live
process has open (one that resumed it), nor a run that is no longer RUNNING. Running it again
does nothing more: delivered files are removed, and ended runs stay as they are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runlab.errors import InvalidParameter, InvalidState, NotFound, RunlabError
from runlab.store.base import TrackingStore
from runlab.tracking.spool import Delivery, UnsentRecords, open_store, send_pending, transient
from runlab.tracking.spool_file import (
    Counts,
    SpoolFile,
    canonical_uri,
    locks_work,
    pending_spools,
)

__all__ = ["Recovered", "Recovery", "recover"]

# The store of a tracking URI, opened once per recovery.
_StoreFor = Callable[[str], TrackingStore]


@dataclass
class Recovered:
    """What was done with one dead process's spool file."""

    path: Path
    pid: int | None
    tracking_uri: str
    #: Records sent to the store.
    sent: Counts = field(default_factory=Counts)
    #: Records (or run ends) the store refused, with its reasons.
    rejected: list[str] = field(default_factory=list)
    #: Runs the process had open, ended now as KILLED.
    killed: list[str] = field(default_factory=list)
    #: Runs the process had open that were already ended (run id, status), left as they were.
    already_ended: list[tuple[str, str]] = field(default_factory=list)
    #: Runs the process had open that a live process has open again (resumed), left alone.
    resumed: list[str] = field(default_factory=list)
    #: Why the file was kept (the store could not be reached); None once it is done and removed.
    error: str | None = None


@dataclass
class Recovery:
    """What :func:`recover` found and did."""

    #: The spool files of dead processes, one entry each.
    recovered: list[Recovered] = field(default_factory=list)
    #: Spool files that live processes hold: left alone.
    live: list[Path] = field(default_factory=list)
    #: Dead processes' files bound to another store than the one asked for: left alone.
    other_stores: list[Path] = field(default_factory=list)
    #: Files that are not readable spool files, with the reason: left alone.
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True if some file could not be read or delivered (and is kept for another try)."""
        return bool(self.unreadable) or any(r.error for r in self.recovered)


def recover(
    directory: str | os.PathLike[str] | None = None, tracking_uri: str | None = None
) -> Recovery:
    """Recover what processes that died left in the spool folder (default: ``RUNLAB_SPOOL_DIR``).

    With ``tracking_uri``, only the files bound to that store are recovered (a folder, a
    relative SQLite path or a server URL with a trailing slash names the same store as the
    spelling the file records). Each file's records are sent first, all of a process's files
    before any of its runs is ended; a store that cannot be reached leaves the files and the runs
    for another try, reported in ``Recovered.error``.
    """
    if not locks_work():
        raise InvalidState(
            "runlab runs recover tells a dead process's spool files from a live one's by their "
            "lock, and files cannot be locked on this system; deliver a file you know to be "
            "abandoned with `runlab spool deliver PATH`."
        )
    result = Recovery()
    wanted = canonical_uri(tracking_uri) if tracking_uri is not None else None
    spools: list[SpoolFile] = []
    live_runs: set[str] = set()
    done: set[Path] = set()
    try:
        for path in pending_spools(directory):
            try:
                spool = SpoolFile.open(path)
            except InvalidState:
                result.live.append(path)
                live_runs.update(_open_runs_of_live(path))
                continue
            except NotFound:
                continue  # delivered and removed meanwhile
            except (InvalidParameter, OSError) as exc:
                result.unreadable.append((path, str(exc)))
                continue
            if wanted is not None and canonical_uri(spool.tracking_uri) != wanted:
                result.other_stores.append(path)
                spool.close(remove=False)
                continue
            spools.append(spool)
        with contextlib.ExitStack() as stack:
            opened: dict[str, TrackingStore] = {}

            def store_for(uri: str) -> TrackingStore:
                if uri not in opened:
                    opened[uri] = stack.enter_context(open_store(uri))
                return opened[uri]

            items = [_send_records(spool, store_for) for spool in spools]
            # A process's runs are ended only once everything it left has been sent.
            failed = {s.pid for s, item in zip(spools, items, strict=True) if item.error}
            for spool, item in zip(spools, items, strict=True):
                if item.error is None and spool.pid not in failed:
                    _end_open_runs(spool, store_for, item, live_runs)
                    if item.error is None:
                        done.add(spool.path)
                result.recovered.append(item)
    finally:
        for spool in spools:
            with contextlib.suppress(OSError):
                spool.close(remove=spool.path in done)
    return result


def _open_runs_of_live(path: Path) -> list[str]:
    """The runs a live process's file names as open (read without taking its lock)."""
    try:
        peek = SpoolFile.open(path, lock=False)
    except (RunlabError, OSError):
        return []  # being rewritten or removed right now
    try:
        return list(peek.open_runs)
    finally:
        peek.close(remove=False)


def _send_records(spool: SpoolFile, store_for: _StoreFor) -> Recovered:
    item = Recovered(spool.path, spool.pid, spool.tracking_uri)
    delivery = Delivery(spool.path, spool.tracking_uri)
    try:
        send_pending(spool, store_for(spool.tracking_uri), delivery)
    except UnsentRecords as exc:
        item.error = str(exc)
    except (RunlabError, OSError) as exc:
        item.error = f"{type(exc).__name__}: {exc}"
    item.sent = delivery.sent
    item.rejected = delivery.rejected
    return item


def _end_open_runs(
    spool: SpoolFile, store_for: _StoreFor, item: Recovered, live_runs: set[str]
) -> None:
    """End as KILLED the runs the file names as open and the store still has RUNNING."""
    store = store_for(spool.tracking_uri)
    died_ms = spool.modified_ms()
    for run_id in spool.open_runs:
        if run_id in live_runs:
            item.resumed.append(run_id)
            continue
        try:
            status = store.get_run(run_id).info.status
            if status != "RUNNING":
                item.already_ended.append((run_id, status))
                continue
            store.update_run_info(run_id, run_status="KILLED", end_time=died_ms)
        except Exception as exc:
            if transient(exc):  # the store is away: keep the file for another try
                item.error = f"Could not end run {run_id} as KILLED: {exc}"
                return
            if not isinstance(exc, RunlabError):
                raise
            # Refused for good (no such run, a deleted run): trying again would not help.
            item.rejected.append(f"Could not end run {run_id} as KILLED: {exc}")
            continue
        item.killed.append(run_id)

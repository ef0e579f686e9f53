"""The fluent run API: ``start_run`` / ``end_run`` and logging to the active run.

Each thread has its own stack of active runs (nested runs sit on top of their parent). Logging
calls queue their records on the store's :class:`~runlab.tracking.batch_writer.BatchWriter` and
return at once; ``synchronous=True`` writes before returning, as MLflow does. At interpreter
exit every run still active is flushed and ended, so a script that forgets ``end_run`` does not
leave its run RUNNING.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from runlab.entities import Metric, Param, Run, RunStatus, RunTag
from runlab.errors import InvalidParameter, InvalidState
from runlab.tracking import batch_writer, config, deferred, system_metrics
from runlab.tracking.batch_writer import METRIC, PARAM, TAG, BatchWriter
from runlab.tracking.client import Client
from runlab.tracking.fluent_experiments import current_experiment_id, default_client
from runlab.tracking.system_tags import (
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NAME,
    MLFLOW_RUN_NOTE,
    default_run_tags,
)
from runlab.validation import (
    validate_key,
    validate_metric_step,
    validate_metric_timestamp,
    validate_metric_value,
    validate_param,
    validate_tag,
)

__all__ = [
    "ActiveRun",
    "active_run",
    "delete_run",
    "delete_tag",
    "end_run",
    "flush",
    "get_parent_run",
    "get_run",
    "last_active_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "start_run",
]

_logger = logging.getLogger("runlab")
_time_ns = time.time_ns


class _RunTarget:
    """What logging needs to know about a run: where to write and which params it has."""

    __slots__ = ("client", "monitor", "params", "run_id", "stack", "writer")

    def __init__(self, run_id: str, client: Client, stack: list[ActiveRun] | None) -> None:
        self.run_id = run_id
        self.client = client
        self.writer: BatchWriter = batch_writer.writer_for(client.store)
        #: Params logged to this run (by this process or before a resume): immutability check.
        self.params: dict[str, str] = {}
        #: The thread stack the run sits on, or None for runs addressed only by run_id.
        self.stack = stack
        #: The system metrics sampler this run asked for, if any.
        self.monitor: system_metrics.SystemMetricsMonitor | None = None

    def stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop()


class ActiveRun(Run):
    """The run returned by :func:`start_run`: a :class:`Run` snapshot and a context manager.

    Leaving the ``with`` block ends the run: FINISHED, FAILED on an exception, KILLED on
    KeyboardInterrupt.
    """

    _t: _RunTarget

    def __init__(self, run: Run, target: _RunTarget) -> None:
        Run.__init__(self, run.info, run.data, run.inputs)
        # Run is a frozen slots dataclass whose __setattr__ refuses subclasses; bypass it for
        # this one private, non-field attribute.
        object.__setattr__(self, "_t", target)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        try:
            _end_through(self, status)
        except Exception as err:
            if exc is None:
                raise
            # Do not replace the user's exception with ours; report ours alongside it.
            _logger.error("runlab: while ending run %s: %s", self._t.run_id, err)
            add_note = getattr(exc, "add_note", None)
            if add_note is not None:
                add_note(f"runlab: while ending run {self._t.run_id}: {err}")


# -- run stacks ----------------------------------------------------------------------------------
_local = threading.local()
_live_lock = threading.Lock()
#: Every run started here and not yet ended, in start order, across threads (for atexit).
_live: dict[str, ActiveRun] = {}
#: Targets of runs addressed by ``run_id=`` without being active, by run id.
_by_id: dict[str, _RunTarget] = {}


def _stack() -> list[ActiveRun]:
    try:
        stack: list[ActiveRun] = _local.stack
    except AttributeError:
        stack = _local.stack = []
    return stack


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or None."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the run this thread ended last, freshly read; None if neither."""
    run = active_run()
    if run is not None:
        return run._t.client.get_run(run._t.run_id)
    last: _RunTarget | None = getattr(_local, "last", None)
    if last is None:
        return None
    deferred.wait_for_run(last.run_id)
    return last.client.get_run(last.run_id)


def _target(run_id: str | None) -> _RunTarget:
    """The run a logging call writes to: ``run_id``'s, else the active one (started if none)."""
    if run_id is None:
        stack = getattr(_local, "stack", None)
        if stack:
            return stack[-1]._t
        return start_run()._t
    live = _live.get(run_id)
    if live is not None:
        return live._t
    target = _by_id.get(run_id)
    if target is None:
        client = default_client()
        target = _by_id[run_id] = _RunTarget(run_id, client, None)
    return target


# -- starting and ending runs --------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``/``MLFLOW_RUN_ID``) and make it the active run.

    Use it as a context manager, or call :func:`end_run`. A run started while another is active
    must pass ``nested=True``; it gets the tag ``mlflow.parentRunId``. Resuming sets the run
    RUNNING again and applies ``tags``/``description``/``run_name``.

    ``log_system_metrics=True`` samples CPU, memory, disk, network and GPU use on a background
    thread and logs them as ``system/*`` metrics until the run ends; None follows
    :func:`runlab.enable_system_metrics_logging` / ``RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING``.
    """
    stack = _stack()
    if stack and not nested and parent_run_id is None:
        raise InvalidState(
            f"Run {stack[-1].info.run_id} is already active. End it with end_run() first, or "
            "pass nested=True to start a child run inside it."
        )
    # Read (and checked) before the run exists, so a bad setting starts nothing.
    if log_system_metrics is None:
        log_system_metrics = system_metrics.is_enabled()
    if log_system_metrics:
        interval = system_metrics.sampling_interval()
        samples = system_metrics.samples_before_logging()
    user_tags = {k: validate_tag(k, v) for k, v in (tags or {}).items()}
    if description is not None:
        if MLFLOW_RUN_NOTE in user_tags:
            raise InvalidParameter(
                f"Pass the description either as description= or as tag {MLFLOW_RUN_NOTE}, "
                "not both."
            )
        user_tags[MLFLOW_RUN_NOTE] = validate_tag(MLFLOW_RUN_NOTE, description)
    client = default_client()
    # Before the run exists: in durable mode this fails (and starts nothing) if no record could
    # be kept.
    batch_writer.writer_for(client.store).prepare()
    resume_id = run_id or config.pop_env_run_id()
    if resume_id:
        run = _resume(client, resume_id, experiment_id, run_name, user_tags)
    else:
        if parent_run_id is None and stack:
            parent_run_id = stack[-1].info.run_id
        if parent_run_id is not None:
            user_tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        exp_id = str(experiment_id) if experiment_id is not None else None
        all_tags = default_run_tags()
        all_tags.update(user_tags)  # what the user passes wins over what we infer
        run = client.create_run(
            exp_id if exp_id is not None else current_experiment_id(client),
            tags=all_tags,
            run_name=run_name or all_tags.get(MLFLOW_RUN_NAME),
        )
    target = _RunTarget(run.info.run_id, client, stack)
    target.params.update(run.data.params)
    active = ActiveRun(run, target)
    stack.append(active)
    with _live_lock:
        _live[target.run_id] = active
        _by_id.pop(target.run_id, None)
    # Noted in this process's spool file, so that `runlab runs recover` can end the run as
    # KILLED if the process dies without ending it.
    target.writer.run_started(target.run_id)
    if log_system_metrics:
        target.monitor = system_metrics.SystemMetricsMonitor(
            target.run_id, target.writer, interval, samples
        )
        target.monitor.start()
    return active


def _resume(
    client: Client,
    run_id: str,
    experiment_id: str | None,
    run_name: str | None,
    tags: dict[str, str],
) -> Run:
    if run_id in _live:
        raise InvalidState(f"Run {run_id} is already active; end it before resuming it.")
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != "active":
        raise InvalidState(
            f"Run {run_id} is deleted, so it cannot be resumed. Restore it with "
            "Client().restore_run(run_id), or start a new run."
        )
    if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
        raise InvalidParameter(
            f"Run {run_id} belongs to experiment {run.info.experiment_id}, not {experiment_id}; "
            "drop experiment_id to resume it."
        )
    client.store.update_run_info(run_id, run_status="RUNNING", run_name=run_name)
    if tags:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return client.get_run(run_id)


def end_run(status: str = "FINISHED") -> None:
    """End the innermost active run of this thread with ``status``; no-op without one.

    Queued records are written first; errors the store reported for them are raised after the
    run has been ended. Against a tracking server that has not taken everything within
    ``RUNLAB_FLUSH_TIMEOUT`` seconds (default 30), the run is ended here all the same and
    :class:`runlab.tracking.spool.UnsentRecords` says what is unsent and which spool file keeps
    it (the end of the run included, so delivering the file finishes the run on the server).
    """
    run = active_run()
    if run is not None:
        deferred.wait_for_run(run._t.run_id)
        unsent = _end(run, RunStatus.normalize(status))
        run._t.writer.raise_errors()
        if unsent is not None:
            raise unsent


def _end_through(run: ActiveRun, status: str) -> None:
    """End ``run`` and any runs still open above it on its stack (innermost first)."""
    stack = run._t.stack
    if stack is None or run not in stack:
        return  # already ended, e.g. by an explicit end_run() inside the with block
    unsent = None
    while stack and stack[-1] is not run:
        unsent = _end(stack[-1], status) or unsent
    deferred.wait_for_run(run._t.run_id)
    unsent = _end(run, status) or unsent
    run._t.writer.raise_errors()
    if unsent is not None:
        raise unsent


def _end(run: ActiveRun, status: str) -> Exception | None:
    """End one run after its queued records.

    Returns None, or, against a server that did not take everything within
    ``RUNLAB_FLUSH_TIMEOUT`` seconds, the report of what stays unsent (the end of the run too).
    """
    target = run._t
    # Stopped first, so that no system metric lands after the end of the run.
    target.stop_monitor()
    try:
        return target.writer.end_run(target.run_id, status, _time_ns() // 1_000_000)
    finally:
        detach_run(run)


def detach_run(run: ActiveRun) -> None:
    """Take ``run`` off its stack and out of the live set: no longer active here, not ended.

    For runs whose end is managed elsewhere (autologging's, see :func:`end_run_later`).
    """
    target = run._t
    target.stop_monitor()
    if target.stack is not None and run in target.stack:
        target.stack.remove(run)
    with _live_lock:
        _live.pop(target.run_id, None)
    _local.last = target


def end_run_later(
    run: ActiveRun,
    status: str,
    on_error: Callable[[BaseException], None] | None = None,
) -> None:
    """Stop ``run`` being active now, and end it once the work queued for it is done.

    Autologging ends the runs it started this way, so that ``fit()`` returns while the model and
    plots it logs are still being written; :func:`runlab.flush`, ``last_active_run()`` and
    ``get_run()`` wait for the end.
    """
    status = RunStatus.normalize(status)
    target = run._t
    detach_run(run)

    def finish() -> None:
        try:
            unsent = target.writer.end_run(target.run_id, status, _time_ns() // 1_000_000)
        except Exception:
            # The run could not be ended (deleted meanwhile, store gone): the errors stored for
            # its records go to on_error with this one, not to the user's next flush().
            with contextlib.suppress(Exception):
                target.writer.raise_errors()
            raise
        target.writer.raise_errors()
        if unsent is not None:
            raise unsent

    deferred.submit(finish, target.run_id, on_error)


# -- logging -------------------------------------------------------------------------------------
def _write_now(
    target: _RunTarget,
    metrics: list[Metric] | None = None,
    params: list[Param] | None = None,
    tags: list[RunTag] | None = None,
) -> None:
    # Queued records go first so the synchronous write lands after them, in call order.
    target.writer.flush()
    for m, p, t in batch_writer.chunk_batch(metrics or [], params or [], tags or []):
        target.client.store.log_batch(target.run_id, metrics=m, params=p, tags=t)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log one metric point to the active run (or ``run_id``); returns without waiting on I/O.

    ``timestamp`` defaults to now (ms), ``step`` to 0. ``synchronous=True`` writes before
    returning and raises store errors at once.
    """
    target = _target(run_id)
    writer = target.writer
    if writer.errors:
        writer.raise_errors()
    validate_key(key)
    if type(value) is not float:
        value = validate_metric_value(key, value)
    ts = _time_ns() // 1_000_000 if timestamp is None else validate_metric_timestamp(key, timestamp)
    if step is None:
        step = 0
    elif type(step) is not int:
        step = validate_metric_step(key, step)
    metric = Metric(key, value, ts, step)
    if synchronous:
        _write_now(target, metrics=[metric])
    else:
        writer.add(target.run_id, METRIC, metric)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log several metrics with one step and timestamp."""
    target = _target(run_id)
    writer = target.writer
    if writer.errors:
        writer.raise_errors()
    ts = (
        _time_ns() // 1_000_000
        if timestamp is None
        else validate_metric_timestamp("log_metrics", timestamp)
    )
    st = 0 if step is None else validate_metric_step("log_metrics", step)
    points = [
        Metric(validate_key(k), validate_metric_value(k, v), ts, st) for k, v in metrics.items()
    ]
    if synchronous:
        _write_now(target, metrics=points)
    else:
        for metric in points:
            writer.add(target.run_id, METRIC, metric)


def _new_params(target: _RunTarget, params: Mapping[str, Any]) -> list[Param]:
    """The params not logged yet; InvalidParameter at once if one would change a logged value."""
    fresh: list[Param] = []
    for key, value in params.items():
        text = validate_param(key, value)
        previous = target.params.get(key)
        if previous is None:
            fresh.append(Param(key, text))
        elif previous != text:
            raise InvalidParameter(
                f"Param {key!r} of run {target.run_id} already has value {previous!r}; params "
                f"cannot change, so {text!r} was not logged. Log it under another key or start "
                "a new run."
            )
    return fresh


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log one param (stringified) to the active run and return ``value``.

    Logging the same value again is fine; a different value raises InvalidParameter.
    """
    log_params({key: value}, synchronous=synchronous)
    return value


def log_params(
    params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> None:
    """Log several params (stringified) to the active run."""
    target = _target(run_id)
    writer = target.writer
    if writer.errors:
        writer.raise_errors()
    fresh = _new_params(target, params)
    if synchronous:
        _write_now(target, params=fresh)
    else:
        for param in fresh:
            writer.add(target.run_id, PARAM, param)
    for param in fresh:
        target.params[param.key] = param.value


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set one tag (stringified) on the active run."""
    set_tags({key: value}, synchronous=synchronous)


def set_tags(
    tags: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> None:
    """Set several tags (stringified) on the active run."""
    target = _target(run_id)
    writer = target.writer
    if writer.errors:
        writer.raise_errors()
    run_tags = [RunTag(k, validate_tag(k, v)) for k, v in tags.items()]
    if synchronous:
        _write_now(target, tags=run_tags)
    else:
        for tag in run_tags:
            writer.add(target.run_id, TAG, tag)


def delete_tag(key: str) -> None:
    """Delete a tag from the active run (after writing what is queued)."""
    target = _target(None)
    target.writer.flush()
    target.client.delete_tag(target.run_id, key)


def flush() -> None:
    """Write everything queued by logging calls; raise errors the store reported for it.

    Work queued in the background for runs (models and plots autologging records, the end of
    the runs it started) is finished first.
    """
    deferred.wait()
    batch_writer.flush_all()


def get_run(run_id: str) -> Run:
    """The run with this id, freshly read (queued records are written first)."""
    deferred.wait_for_run(run_id)
    return default_client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or None."""
    return default_client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    """Soft-delete a run."""
    default_client().delete_run(run_id)


# -- interpreter exit ----------------------------------------------------------------------------
def exit_status() -> str:
    """The status runs left active get at interpreter exit: FINISHED, FAILED or KILLED."""
    # An uncaught exception in a script leaves sys.last_value set before atexit handlers run;
    # in an interactive session it only means some earlier command failed.
    if hasattr(sys, "ps1"):
        return "FINISHED"
    last = getattr(sys, "last_value", None)
    if last is None:
        return "FINISHED"
    return "KILLED" if isinstance(last, KeyboardInterrupt) else "FAILED"


def _on_exit() -> None:
    status = exit_status()
    try:
        deferred.wait()
    except Exception as err:
        _logger.error("runlab: background work for a run failed at exit: %s", err)
    with _live_lock:
        runs = list(_live.values())
    reports: list[Exception] = []
    for run in reversed(runs):  # children before their parents
        try:
            report = _end(run, status)
        except Exception as err:
            _logger.error("runlab: could not end run %s at exit: %s", run._t.run_id, err)
        else:
            if report is not None:
                reports.append(report)
    try:
        # What is still unsent after this (if anything) is the up-to-date report; the ones from
        # ending runs would repeat it with older counts.
        reports = batch_writer.flush_all(raise_errors=False) or reports
        batch_writer.raise_all_errors()
    except Exception as err:
        _logger.error("runlab: records queued before exit could not be written: %s", err)
    for report in reports:
        _logger.error("%s", report)


atexit.register(_on_exit)

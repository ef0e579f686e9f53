"""Plain PyTorch loops: what they write through ``torch.utils.tensorboard.SummaryWriter``.

* ``add_scalar(tag, value, global_step, walltime)`` logs the metric ``tag`` at step
  ``global_step`` (0 when it is None), timestamped ``walltime`` when given; with
  ``log_every_n_step`` only steps that are a multiple of it are logged.
* ``add_scalars(main_tag, {tag: value}, global_step)`` logs one metric per entry, named
  ``<main_tag>/<tag>``. (MLflow logs every entry under ``main_tag`` alone, so the entries of one
  call overwrite each other; TensorBoard itself shows them as separate series.)
* ``add_hparams(hparam_dict, metric_dict)`` logs the hyperparameters as params and the metrics
  at ``global_step`` (0). A call whose hyperparameters differ from params the run already has
  — the usual sweep, one ``add_hparams`` per trial on one writer, which TensorBoard shows as
  one run per call — logs into a child run of its own instead (named ``run_name`` if given).

Everything goes into the active run. With none, a writer logs into a run of its own, started at
its first value and tagged ``mlflow.autologging=pytorch``; that run is not made the active run
(the user's own ``start_run()`` still works while the writer is open) and it ends FINISHED when
the writer is closed (``close()`` or leaving its ``with`` block) or garbage-collected, and at
interpreter exit otherwise (FAILED if the script died of an exception).

Writers Lightning (or any other patched training call) uses inside ``fit`` run bare: that
training is logged once, by its own integration.
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runlab.autologging.patching import PatchedCall, Patcher
from runlab.autologging.pytorch_model import plain_value
from runlab.autologging.training_run import AUTOLOGGING_TAG, TrainingRun
from runlab.errors import InvalidParameter
from runlab.tracking import fluent

if TYPE_CHECKING:
    from runlab.autologging.integration import Integration

__all__ = ["install"]


class _WriterRun:
    """The run one writer logs into while no run is active; holds no reference to the writer."""

    def __init__(self, integration: Integration, active: fluent.ActiveRun) -> None:
        self.integration = integration
        self.active = active
        self.run_id = active.info.run_id
        self.ended = False

    def end(self, status: str) -> None:
        with _lock:
            if self.ended:
                return
            self.ended = True
            _open.discard(self)
        fluent.end_run_later(self.active, status, self.integration.report)


_lock = threading.RLock()
#: Each writer's own run (the writer is weakly held: the run ends when it is collected).
_runs: weakref.WeakKeyDictionary[Any, _WriterRun] = weakref.WeakKeyDictionary()
#: Writer runs not ended yet, for interpreter exit.
_open: set[_WriterRun] = set()
#: Writers whose run could not be started (the store was unreachable): they log nothing.
_unavailable: weakref.WeakSet[Any] = weakref.WeakSet()
#: User runs already tagged mlflow.autologging=pytorch by a writer.
_tagged: set[str] = set()
_exit_hook_installed = False
#: Runs of collected writers, waiting for the ender thread (see _end_soon).
_collected: queue.SimpleQueue[_WriterRun] = queue.SimpleQueue()
_ender: threading.Thread | None = None
_ender_lock = threading.Lock()


def install(integration: Integration, patcher: Patcher, module: ModuleType) -> None:
    """Patch ``SummaryWriter``'s ``add_scalar``, ``add_scalars``, ``add_hparams`` and ``close``."""
    global _exit_hook_installed
    writer_class = module.SummaryWriter
    patcher.wrap(writer_class, "add_scalar", functools.partial(_add_scalar, integration))
    patcher.wrap(writer_class, "add_scalars", functools.partial(_add_scalars, integration))
    patcher.wrap(writer_class, "add_hparams", functools.partial(_add_hparams, integration))
    patcher.wrap(writer_class, "close", _close)
    with _lock:
        if not _exit_hook_installed:
            # Registered after runlab's tracking exit hook, so it runs before it: the runs it
            # ends are queued while that hook still waits for queued work.
            atexit.register(_end_all_at_exit)
            _exit_hook_installed = True


def _add_scalar(
    integration: Integration,
    call: PatchedCall,
    writer: Any,
    tag: str,
    scalar_value: Any,
    global_step: Any = None,
    walltime: float | None = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    result = call.original(writer, tag, scalar_value, global_step, walltime, *args, **kwargs)
    _log_scalars(integration, writer, {tag: scalar_value}, global_step, walltime)
    return result


def _add_scalars(
    integration: Integration,
    call: PatchedCall,
    writer: Any,
    main_tag: str,
    tag_scalar_dict: Mapping[str, Any],
    global_step: Any = None,
    walltime: float | None = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    result = call.original(
        writer, main_tag, tag_scalar_dict, global_step, walltime, *args, **kwargs
    )
    values = {f"{main_tag}/{tag}": value for tag, value in tag_scalar_dict.items()}
    _log_scalars(integration, writer, values, global_step, walltime)
    return result


def _log_scalars(
    integration: Integration,
    writer: Any,
    values: Mapping[str, Any],
    global_step: Any,
    walltime: float | None,
) -> None:
    step = 0 if global_step is None else int(global_step)
    options = integration.options
    every = options.get("log_every_n_step") if options is not None else None
    if every and step % every:
        return
    run_id = _run_id(integration, writer)
    if run_id is None:
        return
    timestamp = None if walltime is None else int(walltime * 1000)
    metrics = {key: float(value) for key, value in values.items()}
    fluent.log_metrics(metrics, step=step, timestamp=timestamp, run_id=run_id)


def _add_hparams(
    integration: Integration,
    call: PatchedCall,
    writer: Any,
    hparam_dict: Mapping[str, Any],
    metric_dict: Mapping[str, Any],
    hparam_domain_discrete: Any = None,
    run_name: str | None = None,
    global_step: Any = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    result = call.original(
        writer,
        hparam_dict,
        metric_dict,
        hparam_domain_discrete,
        run_name,
        global_step,
        *args,
        **kwargs,
    )
    params = {str(key): plain_value(value) for key, value in hparam_dict.items()}
    step = 0 if global_step is None else int(global_step)
    run_id = _run_id(integration, writer)
    if run_id is None:
        return result
    run = TrainingRun(integration, run_id, managed=False)
    try:
        run.log_params(params)
    except InvalidParameter:
        # Another trial's values: this call gets a child run (nothing was logged above).
        _log_trial(integration, run_id, run_name, params, metric_dict, step)
    else:
        run.log_metrics(metric_dict, step=step)
    return result


def _log_trial(
    integration: Integration,
    parent_id: str,
    run_name: str | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    step: int,
) -> None:
    child = fluent.start_run(run_name=run_name, parent_run_id=parent_id, tags=_tags(integration))
    fluent.detach_run(child)  # a record of one trial, never the active run
    try:
        trial = TrainingRun(integration, child.info.run_id, managed=True)
        trial.log_params(params)
        trial.log_metrics(metrics, step=step)
    finally:
        fluent.end_run_later(child, "FINISHED", integration.report)


def _close(call: PatchedCall, writer: Any, *args: Any, **kwargs: Any) -> Any:
    result = call.original(writer, *args, **kwargs)
    state = _runs.pop(writer, None)
    if state is not None:
        state.end("FINISHED")
    return result


def _tags(integration: Integration) -> dict[str, str]:
    options = integration.options
    extra = options.extra_tags if options is not None else {}
    return {AUTOLOGGING_TAG: integration.name, **extra}


def _run_id(integration: Integration, writer: Any) -> str | None:
    """The active run's id (tagged once), else the writer's own run's (started if need be).

    None when the writer's run could not be started: that failure was reported once, and the
    loop is not made to wait for the tracking store again on every value it writes.
    """
    active = fluent.active_run()
    if active is not None:
        run_id = active.info.run_id
        if run_id not in _tagged:
            fluent.set_tags(_tags(integration), run_id=run_id)
            _tagged.add(run_id)
        return run_id
    state = _runs.get(writer)
    if state is not None and not state.ended:
        return state.run_id
    with _lock:
        state = _runs.get(writer)
        if state is not None and not state.ended:
            return state.run_id
        if writer in _unavailable:
            return None
        try:
            return _start_writer_run(integration, writer).run_id
        except Exception:
            _unavailable.add(writer)
            raise


def _start_writer_run(integration: Integration, writer: Any) -> _WriterRun:
    active = fluent.start_run(tags=_tags(integration))
    # Not the active run: the user's start_run() must keep working while the writer is open.
    # (last_active_run() names it, which is what a user asks it for after such a loop.)
    fluent.detach_run(active)
    state = _WriterRun(integration, active)
    _runs[writer] = state
    _open.add(state)
    # The run ends when the writer is collected; exit is _end_all_at_exit's job (a finalizer
    # run at exit could come after runlab's exit hook has stopped waiting for queued work).
    _start_ender()
    finalizer = weakref.finalize(writer, _end_soon, state)
    finalizer.atexit = False
    return state


def _end_soon(state: _WriterRun) -> None:
    """A collected writer's run: ended by the ender thread, not here.

    A finalizer runs wherever the collector happens to run — possibly in a thread that holds
    one of the tracking layer's locks at that moment — so it only queues (``SimpleQueue.put``
    may be called from finalizers) and takes no lock.
    """
    _collected.put(state)


def _start_ender() -> None:
    """Start the thread that ends collected writers' runs, once (from ordinary code only)."""
    global _ender
    with _ender_lock:
        if _ender is None or not _ender.is_alive():
            _ender = threading.Thread(target=_end_collected, name="runlab-writer-runs", daemon=True)
            _ender.start()


def _end_collected() -> None:
    while True:
        state = _collected.get()
        try:
            state.end("FINISHED")
        except Exception as err:  # a thread of ours must not die of one run
            state.integration.report(err)


def _end_all_at_exit() -> None:
    status = fluent.exit_status()
    with _lock:
        states = list(_open)
    for state in states:
        try:
            state.end(status)
        except Exception:  # exit goes on: the other writers' runs still get ended
            continue

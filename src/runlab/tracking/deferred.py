"""Work done for a run after the call that asked for it has returned.

Autologging records a model, its plots and its training metrics for a run, and ends the run it
started, without making ``fit()`` wait for any of it: the work is queued here and done by one
background thread, in the order it was queued. What a user reads back is complete all the same,
because the calls that read or finish runs wait first:

* :func:`runlab.flush` waits for everything queued;
* ``last_active_run()``, ``get_run(run_id)`` and ``end_run()`` wait for the run's own work;
* interpreter exit waits for everything (the runs it ends included).

A task's exception does not travel to the caller that queued it (that caller has moved on); it
goes to the ``on_error`` callback given with the task, which is where autologging warns about it,
or, when the callback raises, it is raised again by the next :func:`wait` that covers the task.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["pending", "submit", "wait", "wait_for_run"]

_logger = logging.getLogger("runlab")


@dataclass
class _Task:
    run_id: str | None
    fn: Callable[[], object]
    on_error: Callable[[BaseException], None] | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_lock = threading.Lock()
_queue: queue.SimpleQueue[_Task] = queue.SimpleQueue()
#: Tasks queued and not yet done, in queue order.
_open: list[_Task] = []
_worker: threading.Thread | None = None
#: Errors of finished tasks whose on_error re-raised; raised by the next wait() that covers them.
_failed: list[tuple[str | None, BaseException]] = []


def _run_tasks() -> None:
    while True:
        task = _queue.get()
        try:
            task.fn()
        except BaseException as err:  # a task must never kill the worker
            _report(task, err)
        finally:
            with _lock:
                _open.remove(task)
            task.done.set()


def _report(task: _Task, err: BaseException) -> None:
    if task.on_error is None:
        _logger.warning("runlab: background work for run %s failed: %s", task.run_id, err)
        return
    try:
        task.on_error(err)
    except BaseException as raised:
        with _lock:
            _failed.append((task.run_id, raised))


def submit(
    fn: Callable[[], object],
    run_id: str | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> None:
    """Queue ``fn`` to run on the background thread, after everything queued before it."""
    global _worker
    task = _Task(run_id, fn, on_error)
    with _lock:
        _open.append(task)
        if _worker is None or not _worker.is_alive():
            # A daemon thread: interpreter exit drains the queue through wait() (atexit) first.
            _worker = threading.Thread(target=_run_tasks, name="runlab-deferred", daemon=True)
            _worker.start()
    _queue.put(task)


def pending(run_id: str | None = None) -> int:
    """How many tasks (for ``run_id``, or in all) are queued or running."""
    with _lock:
        return sum(1 for t in _open if run_id is None or t.run_id == run_id)


def _wait(tasks: list[_Task], run_id: str | None) -> None:
    """Wait for ``tasks``; then raise a re-raised error of ``run_id``'s tasks (of all if None)."""
    if threading.current_thread() is _worker:
        return  # a task that reads a run must not wait for itself
    for task in tasks:
        task.done.wait()
    with _lock:
        raised = [item for item in _failed if run_id is None or item[0] == run_id]
        for item in raised:
            _failed.remove(item)
    if raised:
        raise raised[0][1]


def wait() -> None:
    """Wait for every queued task; raise the first error a task's ``on_error`` re-raised."""
    with _lock:
        tasks = list(_open)
    _wait(tasks, None)


def wait_for_run(run_id: str) -> None:
    """Wait for the tasks queued for ``run_id`` and, so that order holds, those queued before."""
    with _lock:
        last = max((i for i, t in enumerate(_open) if t.run_id == run_id), default=-1)
        tasks = _open[: last + 1]
        if not tasks and not _failed:
            return
    _wait(tasks, run_id)

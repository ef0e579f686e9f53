"""The background queue that autologging's model, plots and run ends go through."""

from __future__ import annotations

import logging
import threading

import pytest

import runlab
from runlab.tracking import deferred


def test_tasks_run_in_order_and_wait_covers_them() -> None:
    done: list[int] = []
    gate = threading.Event()
    deferred.submit(lambda: gate.wait(10), "run-a")
    for i in range(5):
        deferred.submit(lambda i=i: done.append(i), "run-b")
    assert deferred.pending() == 6
    gate.set()
    deferred.wait()
    assert done == [0, 1, 2, 3, 4]
    assert deferred.pending() == 0


def test_wait_for_run_waits_for_its_tasks_and_those_before_only() -> None:
    order: list[str] = []
    first, last = threading.Event(), threading.Event()
    deferred.submit(lambda: (first.wait(10), order.append("a")), "run-a")
    deferred.submit(lambda: order.append("b"), "run-b")
    deferred.submit(lambda: (last.wait(10), order.append("c")), "run-c")
    first.set()
    deferred.wait_for_run("run-b")
    assert order == ["a", "b"]
    assert deferred.pending("run-c") == 1
    last.set()
    deferred.wait_for_run("run-c")
    assert order == ["a", "b", "c"]


def test_an_error_goes_to_on_error_and_is_raised_if_it_raises_again() -> None:
    seen: list[BaseException] = []

    def broken() -> None:
        raise OSError("no space left")

    deferred.submit(broken, "run-a", seen.append)
    deferred.wait()
    assert [str(e) for e in seen] == ["no space left"]

    def reraise(err: BaseException) -> None:
        raise err

    deferred.submit(broken, "run-a", reraise)
    deferred.wait_for_run("run-b")  # another run's wait does not raise run-a's error
    with pytest.raises(OSError, match="no space left"):
        deferred.wait_for_run("run-a")
    deferred.wait()  # raised once, then forgotten


def test_an_error_without_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ValueError("bad plot")

    with caplog.at_level(logging.WARNING, logger="runlab"):
        deferred.submit(broken, "run-x")
        deferred.wait()
    assert any("bad plot" in r.getMessage() for r in caplog.records)


def test_a_run_ended_later_is_finished_once_its_work_is_done(
    client: runlab.MlflowClient,
) -> None:
    from runlab.tracking import fluent

    run = runlab.start_run()
    gate = threading.Event()
    deferred.submit(
        lambda: (gate.wait(10), runlab.log_metric("late", 1.0, run_id=run.info.run_id)),
        run.info.run_id,
    )
    fluent.end_run_later(run, "FINISHED")
    assert runlab.active_run() is None  # no longer active at once
    assert client.store.get_run(run.info.run_id).info.status == "RUNNING"
    gate.set()
    stored = client.get_run(run.info.run_id)  # waits for the metric and the end
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"late": 1.0}

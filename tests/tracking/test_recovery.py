"""A logging process SIGKILLed right after its logging calls returned, then ``recover()``.

Each test runs a real child process (support/logging_child.py). While the child logs, the test
holds the store's write locks (or pauses the server), so the child's background writer cannot
deliver anything before the kill: what the store holds afterwards is exactly what recovery sent.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from runlab.entities import Metric, Param
from runlab.tracking import Client
from runlab.tracking.batch_writer import METRIC, PARAM
from runlab.tracking.recovery import recover
from runlab.tracking.spool_file import (
    OPENED,
    SpoolFile,
    canonical_uri,
    encode_record,
    encode_state,
)
from support.cli_server import runlab_cli_server
from support.logging_child import LoggingChild, block_writes
from support.servers import ServerProcess, running

pytestmark = pytest.mark.slow


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """Where the children (and recover) keep spool files: a folder of this test."""
    return tmp_path / "spool"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``runlab server`` started through its command line, stopped after the test."""
    with running(runlab_cli_server(tmp_path)) as proc:
        yield proc


def _steps(client: Client, run_id: str, key: str) -> list[int]:
    return sorted(int(s) for s in client.get_metric_history(run_id, key).steps)


def _killed_after_logging(
    child: LoggingChild, block: contextlib.AbstractContextManager[None]
) -> str:
    """Start the child's run, let it log while ``block`` holds the store, SIGKILL it."""
    try:
        run_id = child.start_run()
        with block:
            child.log()
            child.kill()
    finally:
        child.cleanup()
    return run_id


def test_durable_mode_loses_nothing_to_sigkill(
    db_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    child = LoggingChild(tmp_path, db_url, spool_dir, durable="1", steps=400)
    run_id = _killed_after_logging(child, block_writes(db_url))

    client = Client(db_url)
    assert _steps(client, run_id, "loss") == []  # the store got nothing before the kill...
    (path,) = spool_dir.glob("*.spool")
    kept = SpoolFile.open(path, lock=False)  # ...the file got everything
    assert (kept.counts.metrics, kept.counts.params, kept.counts.tags) == (800, 1, 1)
    assert list(kept.open_runs) == [run_id]
    kept.close(remove=False)

    result = recover(spool_dir)
    (item,) = result.recovered
    assert item.error is None and item.rejected == []
    assert (item.sent.metrics, item.sent.params, item.sent.tags) == (800, 1, 1)
    assert item.killed == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert run.data.params == {"lr": "0.01"}
    assert run.data.tags["phase"] == "last"
    assert _steps(client, run_id, "loss") == list(range(400))
    assert _steps(client, run_id, "acc") == list(range(400))
    assert list(spool_dir.iterdir()) == []  # the file and its sidecar are gone

    # Recovering again finds nothing and changes nothing.
    again = recover(spool_dir)
    assert again.recovered == [] and not again.failed
    assert client.get_run(run_id).info.end_time == run.info.end_time


def test_without_durable_mode_the_queue_dies_but_the_run_is_still_ended(
    sqlite_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    child = LoggingChild(tmp_path, sqlite_url, spool_dir, durable=None, steps=400)
    run_id = _killed_after_logging(child, block_writes(sqlite_url))

    result = recover(spool_dir)
    (item,) = result.recovered
    assert item.sent.empty  # the records were in the dead process's memory only: lost
    assert item.killed == [run_id]
    client = Client(sqlite_url)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.params == {}
    assert _steps(client, run_id, "loss") == []
    assert list(spool_dir.iterdir()) == []


def test_killed_while_delivering_nothing_is_stored_twice(
    sqlite_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    # No lock this time: the child's writer delivers while it logs, and the kill lands
    # wherever it lands; the last batch it sent may not be marked delivered yet.
    child = LoggingChild(tmp_path, sqlite_url, spool_dir, durable="1", steps=20_000)
    try:
        run_id = child.start_run()
        child.log()
        child.kill()
    finally:
        child.cleanup()
    result = recover(spool_dir)
    (item,) = result.recovered
    assert item.killed == [run_id]
    client = Client(sqlite_url)
    for key in ("loss", "acc"):
        steps = np.sort(client.get_metric_history(run_id, key).steps)
        assert np.array_equal(steps, np.arange(20_000)), f"{key}: {len(steps)} points stored"
    assert client.get_run(run_id).info.status == "KILLED"


def test_a_batch_sent_but_not_marked_is_stored_once(sqlite_url: str, spool_dir: Path) -> None:
    # What a crash between the store taking a batch and the file marking it leaves behind.
    client = Client(sqlite_url)
    run_id = client.create_run("0").info.run_id
    spool = SpoolFile.create(spool_dir, canonical_uri(sqlite_url))
    spool.append_line(encode_state(OPENED, run_id), OPENED)
    spool.append_line(encode_record(run_id, PARAM, Param("p", "1")), PARAM)
    for step in range(1500):
        point = Metric("m", step * 0.5, 1_000 + step, step)
        spool.append_line(encode_record(run_id, METRIC, point), METRIC)
    batch, _ = spool.read_next() or pytest.fail("nothing to read")
    client.store.log_batch(run_id, batch.metrics, batch.params, batch.tags)  # sent, not marked
    spool.close(remove=False)

    last_seen_ms = 1_700_000_123_000
    os.utime(spool.path, ns=(last_seen_ms * 1_000_000, last_seen_ms * 1_000_000))

    (item,) = recover(spool_dir).recovered
    assert item.sent.metrics == 1500  # the first batch went again...
    history = client.get_metric_history(run_id, "m")
    assert np.array_equal(np.sort(history.steps), np.arange(1500))  # ...and was stored once
    run = client.get_run(run_id)
    assert run.data.params == {"p": "1"}
    assert run.info.status == "KILLED"
    # Ended when the process was last seen alive: when it last wrote or touched its file.
    assert run.info.end_time == last_seen_ms


def test_runs_that_were_ended_meanwhile_are_left_as_they_are(
    sqlite_url: str, spool_dir: Path
) -> None:
    client = Client(sqlite_url)
    finished = client.create_run("0").info.run_id
    client.set_terminated(finished, "FINISHED")
    deleted = client.create_run("0").info.run_id
    spool = SpoolFile.create(spool_dir, canonical_uri(sqlite_url))
    for run_id in (finished, deleted, "0" * 32):
        spool.append_line(encode_state(OPENED, run_id), OPENED)
    spool.close(remove=False)
    client.delete_run(deleted)

    (item,) = recover(spool_dir).recovered
    assert item.killed == []
    assert item.already_ended == [(finished, "FINISHED")]
    # A deleted run and a run the store never had are refused for good: reported, not retried.
    assert [reason.split(":")[0] for reason in item.rejected] == [
        f"Could not end run {deleted} as KILLED",
        f"Could not end run {'0' * 32} as KILLED",
    ]
    assert "Restore it first" in item.rejected[0]
    assert item.error is None and list(spool_dir.iterdir()) == []
    assert client.get_run(finished).info.status == "FINISHED"


def test_recover_leaves_a_live_process_alone(
    sqlite_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    child = LoggingChild(tmp_path, sqlite_url, spool_dir, durable="1", steps=200)
    try:
        run_id = child.start_run()
        with block_writes(sqlite_url):
            child.log()
            result = recover(spool_dir)
            assert result.recovered == []
            (path,) = result.live
            kept = SpoolFile.open(path, lock=False)
            assert kept.counts.metrics == 400  # untouched: nothing was sent from it
            kept.close(remove=False)
        err = child.exit()
    finally:
        child.cleanup()
    assert "Traceback" not in err
    client = Client(sqlite_url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"  # ended by the child itself at exit
    assert _steps(client, run_id, "loss") == list(range(200))
    assert list(spool_dir.iterdir()) == []  # a normal exit leaves no file behind


def test_a_run_resumed_by_a_live_process_is_not_ended(
    sqlite_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    dead = LoggingChild(tmp_path, sqlite_url, spool_dir, durable=None, steps=10)
    run_id = _killed_after_logging(dead, block_writes(sqlite_url))
    live = LoggingChild(
        tmp_path, sqlite_url, spool_dir, durable=None, steps=10, env={"RUNLAB_RUN_ID": run_id}
    )
    try:
        assert live.start_run() == run_id  # the live process resumed the dead one's run
        result = recover(spool_dir)
        (item,) = result.recovered
        assert item.resumed == [run_id] and item.killed == []
        assert len(result.live) == 1
        assert Client(sqlite_url).get_run(run_id).info.status == "RUNNING"
    finally:
        live.cleanup()


def test_a_forked_child_does_not_keep_its_dead_parents_file_alive(
    sqlite_url: str, tmp_path: Path, spool_dir: Path
) -> None:
    script = """
    import os, signal, sys
    import runlab

    run = runlab.start_run()
    runlab.log_metric("m", 1.0)
    ready = os.path.abspath("grandchild-ready-%d" % os.getpid())
    pid = os.fork()
    if pid == 0:  # the grandchild (say, a data-loader worker) lives on until killed
        # fork() has returned here, so runlab's after-fork handler has run: say so.
        open(ready, "w").close()
        signal.pause()
        os._exit(0)
    import time
    while not os.path.exists(ready):  # killed before the grandchild ran, the test proves nothing
        time.sleep(0.01)
    print(run.info.run_id, pid, flush=True)
    sys.stdin.readline()
    """
    child = LoggingChild(tmp_path, sqlite_url, spool_dir, durable="1", script=script)
    grandchild = 0
    try:
        run_id, pid = child.read_line().split()
        grandchild = int(pid)
        child.kill()
        # The grandchild still runs, with a copy of everything its parent had open.
        os.kill(grandchild, 0)
        (item,) = recover(spool_dir).recovered
        assert item.killed == [run_id]
    finally:
        if grandchild:  # reparented when its parent died; the system reaps it
            with contextlib.suppress(ProcessLookupError):
                os.kill(grandchild, signal.SIGKILL)
        child.cleanup()
    client = Client(sqlite_url)
    assert client.get_run(run_id).info.status == "KILLED"
    assert _steps(client, run_id, "m") == [0]


@pytest.mark.parametrize("durable", ["1", None], ids=["durable", "not-durable"])
def test_a_process_logging_to_a_server_is_recovered(
    server: ServerProcess, tmp_path: Path, spool_dir: Path, durable: str | None
) -> None:
    child = LoggingChild(tmp_path, server.url, spool_dir, durable=durable, steps=300)
    try:
        run_id = child.start_run()
        server.pause()  # the server takes connections but answers nothing
        try:
            child.log()
            child.kill()
        finally:
            server.resume()
    finally:
        child.cleanup()

    result = recover(spool_dir)
    (item,) = result.recovered
    assert item.error is None and item.killed == [run_id]
    client = Client(server.url)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    steps = _steps(client, run_id, "loss")
    if durable:
        assert (item.sent.metrics, item.sent.params, item.sent.tags) == (600, 1, 1)
        # A request the paused server had buffered may have been stored too; the resent batch
        # is then stored once.
        assert steps == list(range(300))
        assert run.data.params == {"lr": "0.01"}
    else:
        assert item.sent.empty
        # Only what was already on its way to the server (buffered by its kernel) can have
        # arrived; the rest died with the process. Never twice.
        assert len(steps) == len(set(steps)) <= 300
    assert list(spool_dir.iterdir()) == []

"""Durable mode (RUNLAB_DURABLE) in this process: records on disk first, then in the store."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import runlab
from runlab.errors import InvalidParameter, RunlabError
from runlab.tracking import Client, batch_writer, durable_writer, fluent
from runlab.tracking.durable_writer import DurableWriter
from runlab.tracking.recovery import recover
from runlab.tracking.spool import UnsentRecords, deliver
from runlab.tracking.spool_file import SpoolFile
from support.logging_child import LoggingChild, block_writes
from support.servers import ServerProcess, runlab_server, running


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Durable mode on, with the spool files in a folder of this test."""
    folder = tmp_path / "spool"
    monkeypatch.setenv("RUNLAB_SPOOL_DIR", str(folder))
    monkeypatch.setenv("RUNLAB_DURABLE", "1")
    return folder


def _only_spool(folder: Path) -> SpoolFile:
    (path,) = folder.glob("*.spool")
    return SpoolFile.open(path, lock=False)


def test_records_reach_the_spool_file_before_the_call_returns(db_url: str, spool_dir: Path) -> None:
    runlab.set_tracking_uri(db_url)
    run_id = runlab.start_run().info.run_id
    assert isinstance(fluent.active_run()._t.writer, DurableWriter)  # type: ignore[union-attr]
    with block_writes(db_url):  # the writer cannot deliver anything meanwhile
        runlab.log_param("lr", 0.1)
        for step in range(50):
            runlab.log_metric("loss", 1.0 / (step + 1), step=step)
        runlab.set_tag("t", "v")
        kept = _only_spool(spool_dir)
        assert (kept.counts.metrics, kept.counts.params, kept.counts.tags) == (50, 1, 1)
        assert list(kept.open_runs) == [run_id]
        kept.close(remove=False)
    runlab.end_run()

    client = Client(db_url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"} and run.data.tags["t"] == "v"
    steps = client.get_metric_history(run_id, "loss").steps
    assert np.array_equal(np.sort(steps), np.arange(50))
    assert list(spool_dir.iterdir()) == []  # delivered and no run open: nothing left to keep


def test_client_calls_that_queue_are_durable_too(sqlite_url: str, spool_dir: Path) -> None:
    client = Client(sqlite_url)
    run_id = client.create_run("0").info.run_id
    with block_writes(sqlite_url):
        client.log_metric(run_id, "m", 1.5, step=3, synchronous=False)
        kept = _only_spool(spool_dir)
        assert kept.counts.metrics == 1
        assert kept.open_runs == {}  # a client's run is the client's to end, not recovery's
        kept.close(remove=False)
    assert [(m.value, m.step) for m in client.get_metric_history(run_id, "m")] == [(1.5, 3)]


def test_fsync_mode_logs_the_same(
    sqlite_url: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_DURABLE", "fsync")
    runlab.set_tracking_uri(sqlite_url)
    with runlab.start_run() as run:
        writer = run._t.writer
        assert isinstance(writer, DurableWriter) and writer.sync_every_call
        for step in range(20):
            runlab.log_metric("m", float(step), step=step)
    client = Client(sqlite_url)
    assert len(client.get_metric_history(run.info.run_id, "m")) == 20
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_a_bad_setting_starts_no_run(
    sqlite_url: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RUNLAB_DURABLE", value)
    runlab.set_tracking_uri(sqlite_url)
    with pytest.raises(InvalidParameter, match="RUNLAB_DURABLE"):
        runlab.start_run()
    assert runlab.active_run() is None
    assert Client(sqlite_url).search_runs(["0"]) == []
    assert not spool_dir.exists()


def test_an_unwritable_spool_folder_starts_no_run_and_logs_nothing(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_DURABLE", "1")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    monkeypatch.setenv("RUNLAB_SPOOL_DIR", str(blocker))
    runlab.set_tracking_uri(sqlite_url)
    with pytest.raises(RunlabError, match="RUNLAB_SPOOL_DIR"):
        runlab.start_run()
    client = Client(sqlite_url)
    assert client.search_runs(["0"]) == []
    run_id = client.create_run("0").info.run_id
    with pytest.raises(RunlabError, match="nothing was logged"):
        client.log_metric(run_id, "m", 1.0, synchronous=False)
    assert len(client.get_metric_history(run_id, "m")) == 0
    assert blocker.read_text() == "a file where the spool folder should be"


def test_an_in_memory_database_is_not_made_durable(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("sqlite:///:memory:")
    with caplog.at_level(logging.WARNING, logger="runlab"):
        writer = batch_writer.writer_for(client.store)
    assert not writer.durable
    assert "RUNLAB_DURABLE is ignored for an in-memory database" in caplog.text


def test_the_file_starts_afresh_once_delivered_and_keeps_the_open_runs(
    sqlite_url: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_writer, "COMPACT_AT", 4096)
    runlab.set_tracking_uri(sqlite_url)
    run_id = runlab.start_run().info.run_id
    for step in range(500):
        runlab.log_metric("m", float(step), step=step)
    runlab.flush()
    kept = _only_spool(spool_dir)
    assert kept.size < 4096  # ~40 KB of records were delivered, then dropped
    assert not kept.pending and list(kept.open_runs) == [run_id]
    kept.close(remove=False)
    for step in range(500, 510):
        runlab.log_metric("m", float(step), step=step)
    runlab.end_run()
    steps = Client(sqlite_url).get_metric_history(run_id, "m").steps
    assert np.array_equal(np.sort(steps), np.arange(510))
    assert list(spool_dir.iterdir()) == []


def test_a_long_backlog_is_read_back_from_the_file(
    sqlite_url: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the bound the writer drops its in-memory copy and reads the file back; once it has
    # caught up it copies again. Both halves must hand the store every record once, in order.
    monkeypatch.setattr(durable_writer, "MIRROR_BOUND", 100)
    runlab.set_tracking_uri(sqlite_url)
    run_id = runlab.start_run().info.run_id
    with block_writes(sqlite_url):
        for step in range(1000):
            runlab.log_metric("m", float(step), step=step)
            if step % 100 == 99:
                runlab.set_tag("progress", str(step))
    runlab.flush()
    for step in range(1000, 1050):  # copied in memory again
        runlab.log_metric("m", float(step), step=step)
    runlab.end_run()
    client = Client(sqlite_url)
    history = client.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(1050))
    assert client.get_run(run_id).data.tags["progress"] == "999"
    assert list(spool_dir.iterdir()) == []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A runlab server process over a fresh SQLite file."""
    with running(runlab_server(tmp_path)) as proc:
        yield proc


@pytest.mark.slow
def test_a_server_outage_in_durable_mode(
    server: ServerProcess, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "1")
    runlab.set_tracking_uri(server.url)
    run_id = runlab.start_run().info.run_id
    for step in range(100):
        runlab.log_metric("m", float(step), step=step)
    runlab.flush()
    server.kill()
    for step in range(100, 2100):  # returns at once: the records only go to the file
        runlab.log_metric("m", float(step), step=step)
    with pytest.raises(UnsentRecords) as caught:
        runlab.end_run()
    unsent = caught.value
    assert unsent.counts.metrics == 2000 and unsent.counts.run_ends == 1
    assert unsent.path is not None and unsent.path.parent == spool_dir
    assert "runlab runs recover" in str(unsent)
    assert recover(spool_dir).live == [unsent.path]  # this process still owns it

    server.start()
    delivery = deliver(unsent.path, timeout=120)  # waits for this process's writer to send it
    # The writer's own retry may have sent some batches between the restart and this call;
    # deliver counts only what was still unsent when it began waiting. The history below says
    # whether anything was lost.
    assert delivery.sent.metrics <= 2000 and not delivery.rejected
    client = Client(server.url)
    steps = client.get_metric_history(run_id, "m").steps
    assert np.array_equal(np.sort(steps), np.arange(2100))
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_full_disk_fails_the_call_and_leaves_whole_records(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = """
    import resource, signal, sys
    import runlab
    from runlab.errors import RunlabError

    run = runlab.start_run()
    print(run.info.run_id, flush=True)
    sys.stdin.readline()
    # From here, no file of this process may grow past 8 KB: the spool file fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    logged = 0
    try:
        for step in range(10_000):
            runlab.log_metric("m", float(step), step=step)
            logged += 1
    except RunlabError as err:
        print(logged, "not logged:", err, flush=True)
    sys.stdin.readline()
    """
    spool = tmp_path / "spool"
    child = LoggingChild(tmp_path, sqlite_url, spool, durable="1", script=script)
    try:
        run_id = child.start_run()
        with block_writes(sqlite_url):
            child.say("go")
            logged_text, message = child.read_line().split(" not logged: ", 1)
            child.kill()
    finally:
        child.cleanup()
    logged = int(logged_text)
    assert 0 < logged < 10_000
    assert "could not write to the spool file" in message and "was not logged" in message
    (item,) = recover(spool).recovered  # the file holds whole lines only: every logged point
    assert item.sent.metrics == logged
    history = Client(sqlite_url).get_metric_history(run_id, "m")
    assert np.array_equal(np.sort(history.steps), np.arange(logged))

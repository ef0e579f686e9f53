"""``runlab runs recover`` (and ``runlab spool``) on what real SIGKILLed processes left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from runlab.cli.main import cli
from runlab.tracking import Client
from runlab.tracking.spool_file import OPENED, SpoolFile, encode_state
from support.logging_child import LoggingChild, block_writes

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

pytestmark = pytest.mark.slow


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """The spool folder the children use and the commands are pointed at."""
    return tmp_path / "spool"


@pytest.fixture
def children() -> Iterator[list[LoggingChild]]:
    """Children started by a test; any still running afterwards are killed."""
    started: list[LoggingChild] = []
    yield started
    for child in started:
        child.cleanup()


def _killed(
    tmp_path: Path, uri: str, spool_dir: Path, durable: str | None, children: list[LoggingChild]
) -> str:
    child = LoggingChild(tmp_path, uri, spool_dir, durable=durable, steps=200)
    children.append(child)
    run_id = child.start_run()
    with block_writes(uri):
        child.log()
        child.kill()
    return run_id


@pytest.mark.parametrize(("durable", "points"), [("1", 400), (None, 0)])
def test_recover_sends_what_a_killed_process_left_and_ends_its_run(
    runlab: Runner,
    tmp_path: Path,
    spool_dir: Path,
    children: list[LoggingChild],
    durable: str | None,
    points: int,
) -> None:
    run_id = _killed(tmp_path, runlab.uri, spool_dir, durable, children)
    assert runlab.json("runs", "describe", "-r", run_id)["info"]["status"] == "RUNNING"

    out = runlab.ok("runs", "recover", "--dir", str(spool_dir))
    params, tags = (1, 1) if durable else (0, 0)
    assert f"sent {points} metric points, {params} params, {tags} tags and 0 run ends." in out
    assert f"ended run {run_id} as KILLED" in out
    assert f"Recovered 1 spool file(s): sent {points} metric points, ended 1 run(s)" in out
    run = runlab.json("runs", "describe", "-r", run_id)
    assert run["info"]["status"] == "KILLED"
    assert run["data"]["params"] == ({"lr": "0.01"} if durable else {})
    assert list(spool_dir.iterdir()) == []

    # Idempotent: a second pass finds nothing and changes nothing.
    assert runlab.ok("runs", "recover", "--dir", str(spool_dir)) == (
        f"Nothing to recover in {spool_dir}.\n"
    )
    assert runlab.json("runs", "describe", "-r", run_id)["info"] == run["info"]


def test_recover_leaves_running_processes_and_other_stores_alone(
    runlab: Runner, tmp_path: Path, spool_dir: Path, children: list[LoggingChild]
) -> None:
    other_uri = f"sqlite:///{tmp_path / 'other.db'}"
    dead_run = _killed(tmp_path, other_uri, spool_dir, "1", children)
    live = LoggingChild(tmp_path, runlab.uri, spool_dir, durable="1", steps=50)
    children.append(live)
    live_run = live.start_run()
    live.log()  # and waits, alive, holding its spool file

    out = runlab.ok("runs", "recover", "--dir", str(spool_dir))  # only runlab.uri's files
    assert "Left alone 1 spool file(s) of running processes." in out
    assert f"Left alone 1 spool file(s) of other stores than {runlab.uri}." in out
    assert f"Nothing to recover in {spool_dir}." in out
    assert runlab.json("runs", "describe", "-r", live_run)["info"]["status"] == "RUNNING"
    assert Client(other_uri).get_run(dead_run).info.status == "RUNNING"

    # The listing marks the live file; delivering skips it.
    listed = _cli("spool", "list", "--dir", str(spool_dir)).output
    assert listed.count("(in use by a running process)") == 1
    delivered = _cli("spool", "deliver", "--dir", str(spool_dir)).output
    assert "in use by a running process; skipped." in delivered

    out = _cli("runs", "recover", "--dir", str(spool_dir), "--tracking-uri", other_uri).output
    assert f"ended run {dead_run} as KILLED" in out
    assert Client(other_uri).get_run(dead_run).info.status == "KILLED"
    live.exit()
    assert runlab.json("runs", "describe", "-r", live_run)["info"]["status"] == "FINISHED"
    assert list(spool_dir.iterdir()) == []


def test_a_damaged_file_and_a_missing_database_are_reported_and_kept(
    tmp_path: Path, spool_dir: Path
) -> None:
    spool_dir.mkdir()
    damaged = spool_dir / "20260101T000000-1-deadbeef.spool"
    damaged.write_bytes(b"this is not a spool file\n")
    missing_db = tmp_path / "moved-away.db"
    orphan = SpoolFile.create(spool_dir, f"sqlite:///{missing_db}")
    orphan.append_line(encode_state(OPENED, "c" * 32), OPENED)
    orphan.close(remove=False)

    result = _cli("runs", "recover", "--dir", str(spool_dir))
    assert result.exit_code == 1
    assert f"{damaged}: not recovered:" in result.stderr
    assert "not a runlab spool file" in result.stderr
    assert "kept for another try" in result.stderr and "does not exist" in result.stderr
    assert "Some spool files were kept" in result.stderr
    # Nothing was half-done: both files are still there, and no database was created.
    assert damaged.exists() and orphan.path.exists()
    assert not missing_db.exists()
    assert SpoolFile.open(orphan.path).open_runs == {"c" * 32: None}


def test_spool_deliver_on_a_dead_process_file_leaves_its_runs_to_recover(
    runlab: Runner, tmp_path: Path, spool_dir: Path, children: list[LoggingChild]
) -> None:
    run_id = _killed(tmp_path, runlab.uri, spool_dir, "1", children)
    out = _cli("spool", "deliver", "--dir", str(spool_dir)).output
    assert "sent 400 metric points, 1 params, 1 tags and 0 run ends" in out
    assert "left 1 run(s) open; `runlab runs recover` ends them as KILLED." in out
    assert runlab.json("runs", "describe", "-r", run_id)["info"]["status"] == "RUNNING"
    out = runlab.ok("runs", "recover", "--dir", str(spool_dir))
    assert "sent 0 metric points" in out and f"ended run {run_id} as KILLED" in out
    assert list(spool_dir.iterdir()) == []

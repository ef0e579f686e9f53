"""Project runs as processes: background runs, cancel(), Ctrl-C and SIGTERM of `runlab run`, and
the whole process tree going away with the run marked KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from runlab.projects.runner import run
from runlab.tracking.client import Client
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

# The command starts a grandchild (sleep) and a great-grandchild (a subshell's sleep), notes
# their pids, says it is ready, and waits: cancelling must take all of them down.
TREE = """\
sleep 300 &
echo $! > grandchild.pid
( sleep 300 & echo $! > greatgrandchild.pid; wait ) &
while [ ! -s greatgrandchild.pid ]; do sleep 0.05; done
echo ready > ready
wait
"""

MLPROJECT = """\
name: tree
entry_points:
  main:
    parameters:
      seconds: {type: float, default: 0}
      code: {type: int, default: 0}
    command: "sleep {seconds}; echo slept; exit {code}"
  tree:
    command: "bash tree.sh"
  single:
    command: "python wait.py"
"""

# One command (bash execs it): the entry point's own process is the command's first process.
WAIT = """\
import os, pathlib, time
import runlab
runlab.start_run()  # the project's run, opened by its entry point
runlab.log_param("started", "yes")
pathlib.Path("single.pid").write_text(str(os.getpid()))
time.sleep(300)
"""


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "tree.sh").write_text(TREE)
    (folder / "wait.py").write_text(WAIT)
    return folder


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def tree_pids(folder: Path) -> list[int]:
    wait_for(folder / "ready")
    return [int((folder / n).read_text()) for n in ("grandchild.pid", "greatgrandchild.pid")]


def wait_until_gone(pids: list[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"still running: {[p for p in pids if alive(p)]}")
        time.sleep(0.05)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tracking.db'}"


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_background_run_finishes_and_cleans_up(tmp_path: Path, uri: str, scratch: Path) -> None:
    started = time.monotonic()
    submitted = run(
        str(project(tmp_path)),
        parameters={"seconds": "0.5"},
        env_manager="local",
        tracking_uri=uri,
        synchronous=False,
    )
    assert time.monotonic() - started < 5  # returned without waiting for the command
    assert submitted.get_status() == "RUNNING"
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    recorded = Client(uri).get_run(submitted.run_id)
    assert recorded.info.status == "FINISHED"  # recorded by the supervisor
    assert recorded.info.end_time is not None
    assert list(scratch.iterdir()) == []  # the supervisor removed the temporary folder


def test_background_failure(tmp_path: Path, uri: str) -> None:
    submitted = run(
        str(project(tmp_path)),
        parameters={"code": "4"},
        env_manager="local",
        tracking_uri=uri,
        synchronous=False,
    )
    assert submitted.wait() is False
    assert submitted.get_status() == "FAILED"
    assert Client(uri).get_run(submitted.run_id).info.status == "FAILED"


def test_cancel_stops_the_whole_tree(tmp_path: Path, uri: str, scratch: Path) -> None:
    folder = project(tmp_path)
    submitted = run(
        str(folder), entry_point="tree", env_manager="local", tracking_uri=uri, synchronous=False
    )
    pids = tree_pids(folder)
    assert all(alive(p) for p in pids)
    submitted.cancel()
    wait_until_gone(pids)
    assert submitted.get_status() == "KILLED"
    assert submitted.wait() is False
    assert Client(uri).get_run(submitted.run_id).info.status == "KILLED"
    submitted.cancel()  # cancelling an ended run changes nothing
    assert Client(uri).get_run(submitted.run_id).info.status == "KILLED"
    assert list(scratch.iterdir()) == []


def test_a_killed_supervisor_still_ends_the_run(tmp_path: Path, uri: str) -> None:
    # If the supervisor dies without a word (SIGKILL), the process that started the run
    # records the end when it looks.
    submitted = run(
        str(project(tmp_path)),
        parameters={"seconds": "30"},
        env_manager="local",
        tracking_uri=uri,
        synchronous=False,
    )
    os.kill(submitted.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    assert submitted.wait() is False
    assert Client(uri).get_run(submitted.run_id).info.status == "KILLED"


def _as_from_a_terminal() -> None:
    """Ctrl-C's signal at its default, as a shell starts a command. A program started with
    SIGINT ignored keeps ignoring it (Python installs its KeyboardInterrupt handler only when
    it is not), and the process running the tests may have it ignored: then `runlab run`
    never heard the Ctrl-C below, and the test waited for it until its timeout."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(tmp_path: Path, uri: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runlab.cli", "run", *args, "--tracking-uri", uri],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so the signal below reaches only this `runlab run`
        preexec_fn=_as_from_a_terminal,
    )


@pytest.mark.parametrize(("sig", "expected_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 130)])
def test_ctrl_c_or_sigterm_of_runlab_run_kills_the_tree(
    tmp_path: Path, uri: str, sig: int, expected_code: int
) -> None:
    folder = project(tmp_path)
    proc = _cli(tmp_path, uri, str(folder), "-e", "tree", "--env-manager", "local")
    try:
        pids = tree_pids(folder)
        os.kill(proc.pid, sig)  # what Ctrl-C in a terminal sends to `runlab run`
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == expected_code, stderr
    assert "Interrupted" in stderr
    wait_until_gone(pids)
    client = Client(uri)
    (recorded,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert recorded.info.status == "KILLED"


def test_a_sigkilled_runlab_run_takes_its_entry_point_along(tmp_path: Path, uri: str) -> None:
    # SIGKILL leaves `runlab run` no chance to stop anything: the kernel's parent-death signal
    # has to.
    folder = project(tmp_path)
    proc = _cli(tmp_path, uri, str(folder), "-e", "single", "--env-manager", "local")
    try:
        wait_for(folder / "single.pid")
        time.sleep(0.2)  # the pid file is written before sleep() starts; either way it must go
        pid = int((folder / "single.pid").read_text())
        assert alive(pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        wait_until_gone([pid])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Nobody ended the run; `runlab runs recover` does, from the entry point's spool note.
    client = Client(uri)
    (recorded,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert recorded.info.status == "RUNNING"
    recover = subprocess.run(
        [sys.executable, "-m", "runlab.cli", "runs", "recover", "--tracking-uri", uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recover.returncode == 0, recover.stderr
    ended = client.get_run(recorded.info.run_id)
    assert ended.info.status == "KILLED"
    assert ended.data.params["started"] == "yes"


def test_no_wait_returns_the_run_id_and_the_run_goes_on(tmp_path: Path, uri: str) -> None:
    folder = project(tmp_path)
    proc = _cli(
        tmp_path, uri, str(folder), "-P", "seconds=1", "--env-manager", "local", "--no-wait"
    )
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    run_id = stdout.strip()
    client = Client(uri)
    assert client.get_run(run_id).info.status == "RUNNING"  # `runlab run` has exited already
    deadline = time.monotonic() + 30
    while client.get_run(run_id).info.status == "RUNNING":
        assert time.monotonic() < deadline, "the background run never ended"
        time.sleep(0.1)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert "slept" not in stdout  # the command's output went to a file, then to the run
    log = client.download_artifacts(run_id, "project/output.log", str(tmp_path / "dl"))
    assert Path(log).read_text() == "slept\n"
    assert "project/output.log" in stderr

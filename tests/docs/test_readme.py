"""The README's promises: its two commands, its example, and .ci/run running command 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """The shell commands of the "Two commands" block (comment lines dropped)."""
    section = README.split("## Two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README has no ```bash block under 'Two commands'"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_readme_has_exactly_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0] == "python3 -m pip install -e . && runlab server"
    assert (ROOT / "examples" / "quickstart.py").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = readme_commands()[1]
    first_step = command.split(" && ")[0]
    ci_commands = [line for line in ci.splitlines() if line.startswith(first_step)]
    assert ci_commands == [command]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_test_command_installs_chromium_for_the_browser_tests() -> None:
    # tests/browser fail (never skip) without Chromium, so the command installs it before pytest;
    # a fresh machine's package lists are empty or stale, hence the update first.
    steps = readme_commands()[1].split(" && ")
    assert steps[:2] == ["apt-get update", "apt-get install -y chromium"]
    assert steps[2] == "python3 -m pip install -e '.[test]'"


def test_test_command_fails_when_no_test_is_collected() -> None:
    # `pytest` exits 5 when it collects nothing; the && chain must pass that on, not hide it.
    command = readme_commands()[1]
    assert "|| true" not in command
    assert command.split(" && ")[-1].startswith("python3 -m pytest")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RUNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI")
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_quickstart_then_runs_list(tmp_path: Path) -> None:
    done = _run([sys.executable, str(ROOT / "examples" / "quickstart.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runlab.db").is_file()
    listed = _run([sys.executable, "-m", "runlab.cli", "runs", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in ("lr=0.01", "lr=0.03", "lr=0.1"):
        assert name in listed.stdout


@pytest.mark.slow
def test_ten_line_example_runs(tmp_path: Path) -> None:
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 10
    done = _run([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "{'loss': 0.01}" in done.stdout


@pytest.mark.slow
def test_runlab_server_serves_the_quickstart_runs(tmp_path: Path) -> None:
    # Command 1 starts `runlab server` in the folder; the README promises that runs logged there
    # (the quickstart's, the ten-line example's) appear in it.
    import httpx

    from support.servers import ServerProcess, free_port

    done = _run([sys.executable, str(ROOT / "examples" / "quickstart.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "runlab.cli", "server", "--port", str(port)]
    server = ServerProcess(argv, port, tmp_path.parent / f"{tmp_path.name}.log", env=env)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)  # the server process starts in the quickstart's folder
        server.start()
    try:
        api = f"{server.url}/api/2.0/mlflow"
        experiment = httpx.get(
            f"{api}/experiments/get-by-name", params={"experiment_name": "quickstart"}
        ).json()["experiment"]
        found = httpx.post(
            f"{api}/runs/search", json={"experiment_ids": [experiment["experiment_id"]]}
        ).json()["runs"]
        names = {r["info"]["run_name"] for r in found}
        assert names == {"lr=0.01", "lr=0.03", "lr=0.1"}
    finally:
        server.stop()

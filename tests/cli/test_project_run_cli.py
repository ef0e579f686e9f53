"""``runlab run``: options, output, exit statuses, refusals, and ``--from-run``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from runlab.cli.main import cli
from runlab.cli.project_run import ENV_MANAGER_CHOICES
from runlab.tracking.client import Client

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

# Writes its argv to argv.json in the working directory (the project folder); exits with the
# value of --code. It imports nothing of runlab, so each run costs little.
SCRIPT = """\
import json, sys
with open("argv.json", "w") as f:
    json.dump(sys.argv[1:], f)
sys.exit(int(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else 0)
"""

MLPROJECT = """\
name: cli
entry_points:
  main:
    parameters:
      lr: {type: float, default: 0.01}
      label: string
    command: "python script.py --lr {lr} --label {label}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "script.py").write_text(SCRIPT)
    return folder


def argv_of(project: Path) -> list[str]:
    value: list[str] = json.loads((project / "argv.json").read_text())
    return value


def every_run(uri: str) -> list[object]:
    client = Client(uri)
    return list(client.search_runs([e.experiment_id for e in client.search_experiments()]))


def test_run_with_options(runlab: Runner, project: Path) -> None:
    result = runlab(
        "run", str(project), "-P", "label=a b", "-P", "lr=0.5", "-P", "extra=1",
        "--experiment-name", "cli runs", "--run-name", "first", "--env-manager", "local",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert argv_of(project) == ["--lr", "0.5", "--label", "a b", "--extra", "1"]
    client = Client(runlab.uri)
    experiment = client.get_experiment_by_name("cli runs")
    assert experiment is not None
    (recorded,) = client.search_runs([experiment.experiment_id])
    assert recorded.info.run_name == "first"
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params == {"lr": "0.5", "label": "a b", "extra": "1"}
    assert "=== Running command" in result.stderr
    assert f"=== Run {recorded.info.run_id} FINISHED ===" in result.stderr


def test_entry_point_file_and_experiment_id(runlab: Runner, project: Path) -> None:
    experiment_id = Client(runlab.uri).create_experiment("by id")
    result = runlab(
        "run", str(project), "-e", "script.py", "-P", "k=v",
        "--experiment-id", experiment_id, "--env-manager", "local",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert argv_of(project) == ["--k", "v"]
    (recorded,) = every_run(runlab.uri)
    assert recorded.info.experiment_id == experiment_id  # type: ignore[attr-defined]


def test_failure_exits_1_with_the_status(runlab: Runner, project: Path) -> None:
    result = runlab("run", str(project), "-P", "label=x", "-P", "code=3", "--env-manager", "local")
    assert result.exit_code == 1
    (recorded,) = every_run(runlab.uri)
    run_id = recorded.info.run_id  # type: ignore[attr-defined]
    assert recorded.info.status == "FAILED"  # type: ignore[attr-defined]
    assert (
        f"Error: Run {run_id} FAILED: the entry point's command exited with status 3."
        in result.stderr
    )


def test_run_id_resumes(runlab: Runner, project: Path) -> None:
    client = Client(runlab.uri)
    existing = client.create_run("0").info.run_id
    result = runlab(
        "run", str(project), "-P", "label=x", "--run-id", existing, "--env-manager", "local"
    )
    assert result.exit_code == 0, result.output
    assert client.get_run(existing).info.status == "FINISHED"
    assert client.get_run(existing).data.tags["mlflow.source.type"] == "PROJECT"


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["-P", "label"], 2, "'label' is not KEY=VALUE"),
        (["-P", "label=a", "-P", "label=b"], 2, "'label' is given twice"),
        (["-P", "=a"], 2, "has no name before '='"),
        (["--env-manager", "pipenv"], 2, "'pipenv' is not one of"),
        (["-P", "label=x", "--backend", "databricks"], 1, "the local backend only"),
        (["-P", "label=x", "--build-image"], 1, "docker_env only"),
        (["-P", "label=x", "-A", "gpus=all"], 1, "docker_env only"),
        (["-P", "label=x", "--experiment-id", "77"], 1, "77"),
        (["-P", "label=x", "--experiment-id", "0", "--experiment-name", "n"], 1, "not both"),
        (["-P", "lr=fast", "-P", "label=x"], 1, "lr"),
        ([], 1, "label"),  # the required parameter
        (["-e", "nope"], 1, "Unknown entry point 'nope'"),
        (["-P", "label=x", "--run-id", "f" * 32], 1, "f" * 32),
        (["-P", "label=x", "--version", "main"], 1, "needs a git repository"),
    ],
)
def test_refusals(
    runlab: Runner, project: Path, args: list[str], exit_code: int, message: str
) -> None:
    result = runlab("run", str(project), "--env-manager", "local", *args)
    assert result.exit_code == exit_code, result.output
    assert message in result.stderr
    assert every_run(runlab.uri) == []
    assert not (project / "argv.json").exists()


def test_uri_is_required_without_from_run(runlab: Runner) -> None:
    result = runlab("run")
    assert result.exit_code == 2
    assert "Missing argument 'URI'" in result.stderr


def test_from_run_refuses_what_it_would_replace(runlab: Runner, project: Path) -> None:
    result = runlab("run", str(project), "-P", "a=b", "-e", "x", "--from-run", "0" * 32)
    assert result.exit_code == 2
    assert "drop URI, --entry-point, --param-list" in result.stderr


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def test_from_run_re_executes_the_recorded_run(runlab: Runner, project: Path) -> None:
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "one")
    first_commit = git(project, "rev-parse", "HEAD")
    assert runlab("run", str(project), "-P", "label=orig", "--env-manager", "local").exit_code == 0
    client = Client(runlab.uri)
    (original,) = every_run(runlab.uri)
    original_id = original.info.run_id  # type: ignore[attr-defined]
    # The code moves on; the re-run must still run the recorded commit with the recorded values.
    (project / "MLproject").write_text(MLPROJECT.replace("0.01", "0.02"))
    git(project, "commit", "--quiet", "-am", "two")
    (project / "argv.json").unlink()

    result = runlab("run", "--from-run", original_id, "--run-name", "again")
    assert result.exit_code == 0, result.output
    assert f"Re-running run {original_id}" in result.stderr
    assert not (project / "argv.json").exists()  # it ran in a checkout of the old commit
    reruns = [r for r in every_run(runlab.uri) if r.info.run_id != original_id]  # type: ignore[attr-defined]
    (rerun,) = reruns
    tags = rerun.data.tags  # type: ignore[attr-defined]
    assert tags["runlab.project.reproducesRun"] == original_id
    assert tags["mlflow.source.git.commit"] == first_commit
    assert rerun.data.params == {"lr": "0.01", "label": "orig"}  # type: ignore[attr-defined]
    assert rerun.info.run_name == "again"  # type: ignore[attr-defined]
    assert rerun.info.experiment_id == original.info.experiment_id  # type: ignore[attr-defined]
    dl = Path(runlab.uri.removeprefix("sqlite:///")).parent / "dl"
    locks = [
        Path(client.download_artifacts(i, "project/environment.lock", str(dl / i))).read_text()
        for i in (original_id, rerun.info.run_id)  # type: ignore[attr-defined]
    ]
    assert locks[0] == locks[1]


def test_from_run_of_an_unknown_run(runlab: Runner) -> None:
    result = runlab("run", "--from-run", "a" * 32)
    assert result.exit_code == 1
    assert "a" * 32 in result.stderr


def test_env_manager_choices_match_the_environments() -> None:
    from runlab.projects.environments import ENV_MANAGERS

    assert tuple(ENV_MANAGER_CHOICES) == tuple(ENV_MANAGERS)


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    for option in (
        "--entry-point", "--version", "--param-list", "--docker-args", "--experiment-name",
        "--experiment-id", "--run-name", "--env-manager", "--backend", "--run-id",
        "--build-image", "--storage-dir", "--no-wait", "--from-run", "--tracking-uri",
    ):  # fmt: skip
        assert option in result.output

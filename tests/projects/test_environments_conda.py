"""Conda environments through a stand-in ``conda`` executable (no conda is installed here).

The stand-in records each call and does what conda would for it: ``create`` / ``env create``
make an environment at ``--prefix`` (a ``python -m venv`` without pip, so nothing is
downloaded), and ``env export`` prints an environment file. That checks what runlab asks conda
for, how it finds it, caches the result and runs commands in it. The error when no conda exists
at all is in test_environments.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runlab.projects.environments import prepare_environment
from runlab.projects.environments_conda import CondaEnvironment, find_conda
from runlab.projects.environments_python import current_python_version
from runlab.projects.spec import Project, load_project

EXPORT = "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11.7=h955ad1f_0\n"


@pytest.fixture
def conda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A stand-in conda on PATH: ``(executable, record of calls)``."""
    record = tmp_path / "conda-calls.jsonl"
    bin_dir = tmp_path / "conda-bin"
    bin_dir.mkdir()
    executable = bin_dir / "conda"
    executable.write_text(
        f"""#!{sys.executable}
import json, subprocess, sys
args = sys.argv[1:]
with open({str(record)!r}, "a") as out:
    out.write(json.dumps(args) + "\\n")
if args[:2] == ["env", "export"]:
    print({EXPORT!r}, end="")
elif args[0] == "create" or args[:2] == ["env", "create"]:
    prefix = args[args.index("--prefix") + 1]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
else:
    sys.exit(2)
""",
        encoding="utf-8",
    )
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("MLFLOW_CONDA_HOME", raising=False)
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.setenv("RUNLAB_PROJECTS_CACHE", str(tmp_path / "cache"))
    return executable, record


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def project_with(folder: Path, field: str, file_name: str, text: str) -> Project:
    folder.mkdir()
    (folder / file_name).write_text(text, encoding="utf-8")
    (folder / "MLproject").write_text(
        f"name: demo\n{field}: {file_name}\nentry_points:\n  main:\n    command: 'true'\n",
        encoding="utf-8",
    )
    return load_project(folder)


def test_conda_env_project(conda: tuple[Path, Path], tmp_path: Path) -> None:
    executable, record = conda
    assert find_conda() == str(executable)
    conda_file = "name: demo\ndependencies:\n  - python=3.11\n"
    project = project_with(tmp_path / "p", "conda_env", "conda.yaml", conda_file)
    env = prepare_environment(project, project.directory, None)
    assert isinstance(env, CondaEnvironment) and not env.reused
    assert env.path is not None
    prefix = str(env.path)
    assert calls(record) == [
        ["env", "create", "--prefix", prefix, "--file", str(project.directory / "conda.yaml")],
        ["env", "export", "--prefix", prefix],
    ]
    assert (
        env.lock_text()
        == f"# runlab environment lock: conda, python {current_python_version()}\n" + EXPORT
    )
    assert env.env_vars()["CONDA_PREFIX"] == prefix
    done = subprocess.run(
        env.command_argv("python -c 'import sys; print(sys.prefix)'"),
        env={**os.environ, **env.env_vars()},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == prefix

    again = prepare_environment(project, project.directory, "conda")
    assert again.reused and again.path == env.path
    assert len(calls(record)) == 2  # conda was not asked again

    # A re-run: the recorded export is what conda creates the environment from.
    locked = prepare_environment(project, project.directory, "conda", lock_text=env.lock_text())
    assert locked.path != env.path and locked.path is not None
    lock_file = locked.path.parent / "runlab-lock-input.yaml"
    assert calls(record)[2] == [
        "env",
        "create",
        "--prefix",
        str(locked.path),
        "--file",
        str(lock_file),
    ]
    assert lock_file.read_text() == env.lock_text()


def test_python_env_project_with_conda(conda: tuple[Path, Path], tmp_path: Path) -> None:
    _executable, record = conda
    major_minor = ".".join(current_python_version().split(".")[:2])
    project = project_with(
        tmp_path / "p", "python_env", "python_env.yaml", f"python: '{major_minor}'\n"
    )
    env = prepare_environment(project, project.directory, "conda")
    assert env.path is not None
    assert calls(record)[0] == [
        "create",
        "--yes",
        "--prefix",
        str(env.path),
        f"python={major_minor}",
        "pip",
    ]


def test_conda_home_is_looked_at_first(
    conda: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable, _record = conda
    home = tmp_path / "miniforge"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "conda").symlink_to(executable)
    monkeypatch.setenv("MLFLOW_CONDA_HOME", str(home))
    assert find_conda() == str(home / "bin" / "conda")

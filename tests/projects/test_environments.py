"""Building, reusing and running in project environments: uv, virtualenv and local (conda's
missing-tool error too: no conda is installed here).

Environments are real: uv and ``python -m venv`` make them in a per-test cache folder, and the
entry point's command runs in them with bash. Dependencies are tiny (``six``) or none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.projects.environments import (
    ProjectEnvironmentError,
    default_env_manager,
    prepare_environment,
    resolve_env_manager,
)
from runlab.projects.environments_python import current_python_version, runlab_source
from runlab.projects.spec import Project, load_project

MAJOR_MINOR = ".".join(current_python_version().split(".")[:2])
# Prints the interpreter's prefix and whether `six` imports: where the command ran, and with what.
PROBE = (
    'python -c "import sys, importlib.util as u; '
    "print(sys.prefix); print(u.find_spec('six') is not None)\""
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RUNLAB_PROJECTS_CACHE", str(folder))
    return folder


def make_project(folder: Path, env_yaml: str | None, *, conda: str | None = None) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    env_line = ""
    if env_yaml is not None:
        (folder / "python_env.yaml").write_text(env_yaml, encoding="utf-8")
        env_line = "python_env: python_env.yaml\n"
    if conda is not None:
        (folder / "conda.yaml").write_text(conda, encoding="utf-8")
        env_line = "conda_env: conda.yaml\n"
    (folder / "MLproject").write_text(
        f"name: demo\n{env_line}entry_points:\n  main:\n    command: 'echo hi'\n",
        encoding="utf-8",
    )
    return load_project(folder)


def run_in(env: object, command: str) -> list[str]:
    """Run ``command`` as the runner does: the environment's argv and variables."""
    argv = env.command_argv(command)  # type: ignore[attr-defined]
    variables = {**os.environ, **env.env_vars()}  # type: ignore[attr-defined]
    done = subprocess.run(argv, env=variables, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def cache_entries(cache: Path) -> tuple[list[str], list[str]]:
    """The published environments and the build folders in the cache."""
    published = sorted(p.name for p in cache.iterdir() if p.is_symlink()) if cache.exists() else []
    builds_dir = cache / ".builds"
    builds = sorted(p.name for p in builds_dir.iterdir()) if builds_dir.exists() else []
    return published, builds


def test_uv_environment_is_built_once_then_reused(cache: Path, tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", f"python: '{MAJOR_MINOR}'\ndependencies:\n  - six==1.17.0\n"
    )
    env = prepare_environment(project, project.directory, "uv")
    assert env.kind == "uv" and not env.reused
    assert env.path is not None and env.path.is_relative_to(cache)
    prefix, has_six = run_in(env, PROBE)
    assert Path(prefix) == env.path  # `python` is the environment's interpreter
    assert has_six == "True"
    lock = env.lock_text()
    assert lock.startswith(f"# runlab environment lock: uv, python {MAJOR_MINOR}.")
    assert "six==1.17.0" in lock.splitlines()

    again = prepare_environment(project, project.directory, "uv")
    assert again.reused and again.path == env.path  # the same folder, nothing rebuilt
    assert again.lock_text() == lock
    assert cache_entries(cache) == ([env.path.name.rsplit("-", 1)[0]], [env.path.name])


def test_uv_is_the_default_manager_for_python_env(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "dependencies: []\n")
    assert default_env_manager() == "uv"
    env = prepare_environment(project, project.directory, None)
    assert env.kind == "uv"
    # No python: the running interpreter's version; no dependencies: not even six.
    assert env.lock_text() == f"# runlab environment lock: uv, python {current_python_version()}\n"
    assert run_in(env, PROBE)[1] == "False"


def test_exact_lock_is_installed_and_cached_by_its_hash(cache: Path, tmp_path: Path) -> None:
    # The spec asks for any six; the lock pins the version a recorded run had.
    project = make_project(tmp_path / "p", "dependencies:\n  - six\n")
    lock = f"# runlab environment lock: uv, python {current_python_version()}\nsix==1.16.0\n"
    env = prepare_environment(project, project.directory, "uv", lock_text=lock)
    assert not env.reused
    assert env.lock_text() == lock  # exactly the lock: nothing more, nothing else
    again = prepare_environment(project, project.directory, "uv", lock_text=lock)
    assert again.reused and again.path == env.path
    fresh = prepare_environment(project, project.directory, "uv")
    assert fresh.path != env.path and "six==1.16.0" not in fresh.lock_text()


def test_virtualenv_environment_and_lock(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", f"python: '{MAJOR_MINOR}'\ndependencies: []\n")
    env = prepare_environment(project, project.directory, "virtualenv")
    assert env.kind == "virtualenv" and not env.reused
    prefix, has_six = run_in(env, PROBE)
    assert Path(prefix) == env.path and has_six == "False"
    lock = env.lock_text()
    assert lock.startswith(f"# runlab environment lock: virtualenv, python {MAJOR_MINOR}.")
    assert any(line.startswith("pip==") for line in lock.splitlines())  # freeze --all

    again = prepare_environment(project, project.directory, "virtualenv")
    assert again.reused and again.path == env.path

    # A re-run with a lock that adds six==1.17.0 gets exactly that, with pip install -r.
    pinned = lock + "six==1.17.0\n"
    locked = prepare_environment(project, project.directory, "virtualenv", lock_text=pinned)
    assert locked.path != env.path
    assert run_in(locked, PROBE)[1] == "True"
    assert sorted(locked.lock_text().splitlines()[1:]) == sorted(pinned.splitlines()[1:])


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_python_version_not_installed_is_a_clear_error(
    cache: Path, tmp_path: Path, manager: str
) -> None:
    project = make_project(tmp_path / "p", "python: '2.1'\ndependencies: []\n")
    with pytest.raises(ProjectEnvironmentError) as caught:
        prepare_environment(project, project.directory, manager)
    message = str(caught.value)
    assert "Python 2.1" in message and "is not installed" in message
    assert "does not download" in message
    assert str(project.directory / "python_env.yaml") in message
    assert cache_entries(cache) == ([], [])  # nothing half-made left behind


def test_failed_install_leaves_nothing_in_the_cache(cache: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-package"
    project = make_project(tmp_path / "p", f"dependencies:\n  - '{missing}'\n")
    with pytest.raises(ProjectEnvironmentError) as caught:
        prepare_environment(project, project.directory, "uv")
    message = str(caught.value)
    assert "Could not install runlab-requirements.txt" in message
    assert "no-such-package" in message  # the tool's own words about the cause
    assert cache_entries(cache) == ([], [])


def test_unusable_environment_is_rebuilt(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "dependencies: []\n")
    env = prepare_environment(project, project.directory, "uv")
    assert env.path is not None
    (env.path / "bin" / "python").unlink()  # as if its base interpreter were uninstalled
    rebuilt = prepare_environment(project, project.directory, "uv")
    assert not rebuilt.reused and rebuilt.path != env.path
    assert not env.path.exists()
    assert Path(run_in(rebuilt, PROBE)[0]) == rebuilt.path


def test_leftovers_of_a_dead_build_are_cleared(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "dependencies: []\n")
    env = prepare_environment(project, project.directory, "uv")
    assert env.path is not None
    key = env.path.name.rsplit("-", 1)[0]
    (cache / key).unlink()  # unpublished, as if the build had died before the symlink
    half = cache / ".builds" / f"{key}-halfdone"
    (half / "bin").mkdir(parents=True)
    rebuilt = prepare_environment(project, project.directory, "uv")
    assert not rebuilt.reused
    assert rebuilt.path is not None
    assert cache_entries(cache) == ([key], [rebuilt.path.name])


def test_concurrent_prepares_build_once(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "dependencies: []\n")
    results: list[object] = []
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            results.append(prepare_environment(project, project.directory, "uv"))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    paths = {env.path for env in results}  # type: ignore[attr-defined]
    assert len(paths) == 1
    assert sorted(env.reused for env in results) == [False, True, True]  # type: ignore[attr-defined]
    assert len(cache_entries(cache)[1]) == 1


def test_conda_env_project_with_uv_is_read_as_python(cache: Path, tmp_path: Path) -> None:
    conda = f"dependencies:\n  - python={MAJOR_MINOR}\n  - pip:\n    - six==1.17.0\n"
    project = make_project(tmp_path / "p", None, conda=conda)
    assert resolve_env_manager(project, None) == "conda"
    env = prepare_environment(project, project.directory, "uv")
    assert "six==1.17.0" in env.lock_text().splitlines()


def test_conda_missing_says_what_to_install(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_CONDA_HOME", raising=False)
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no conda on it
    project = make_project(tmp_path / "p", None, conda="dependencies:\n  - python=3.11\n")
    with pytest.raises(ProjectEnvironmentError) as caught:
        prepare_environment(project, project.directory, None)
    message = str(caught.value)
    assert "needs conda" in message and "Miniforge" in message
    assert "--env-manager uv, virtualenv or local" in message
    assert cache_entries(cache) == ([], [])


def test_local_runs_the_current_interpreter(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", None)
    assert resolve_env_manager(project, None) == "local"  # no environment named
    env = prepare_environment(project, project.directory, None)
    assert env.kind == "local" and env.path is None
    assert env.env_vars()["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    prefix, _ = run_in(env, PROBE)
    assert prefix == sys.prefix
    lock = env.lock_text()
    assert lock.startswith(f"# runlab environment lock: local, python {current_python_version()}")
    assert any("runlab" in line for line in lock.splitlines()[1:])
    assert env.lock_text() is lock  # unchanged packages: the freeze is not run again
    # A lock does not touch the current interpreter: it is used as it is.
    again = prepare_environment(project, project.directory, "local", lock_text="six==0.1\n")
    assert again.lock_text() == lock


def test_uv_missing_falls_back_to_virtualenv_and_says_so(tmp_path: Path) -> None:
    # A child process where neither the uv package nor a uv executable can be found.
    script = (
        "import sys; sys.modules['uv'] = None\n"
        "from pathlib import Path\n"
        "from runlab.projects.environments import default_env_manager, prepare_environment\n"
        "from runlab.projects.spec import load_project\n"
        "print(default_env_manager())\n"
        "project = load_project(Path(sys.argv[1]))\n"
        "try:\n"
        "    prepare_environment(project, project.directory, 'uv')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    project = make_project(tmp_path / "p", "dependencies: []\n")
    done = subprocess.run(
        [sys.executable, "-c", script, str(project.directory)],
        env={**os.environ, "PATH": "/nonexistent", "RUNLAB_PROJECTS_CACHE": str(tmp_path / "c")},
        capture_output=True,
        text=True,
        check=True,
    )
    manager, error = done.stdout.splitlines()
    assert manager == "virtualenv"
    assert error.startswith("ProjectEnvironmentError The uv environment manager needs uv")
    assert "pip install uv" in error and "--env-manager virtualenv" in error
    assert not (tmp_path / "c").exists()


def test_bad_manager_choices(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "dependencies: []\n")
    with pytest.raises(InvalidParameter, match=r"Unknown environment manager 'pipenv'"):
        prepare_environment(project, project.directory, "pipenv")
    with pytest.raises(InvalidParameter, match=r"build_image applies to projects with a docker"):
        prepare_environment(project, project.directory, "uv", build_image=True)
    with pytest.raises(InvalidParameter, match=r"docker_args applies to projects with a docker"):
        prepare_environment(project, project.directory, "local", docker_args={"gpus": "all"})
    (project.directory / "python_env.yaml").unlink()
    with pytest.raises(InvalidParameter, match=r"python_env\.yaml does not exist"):
        prepare_environment(project, project.directory, "uv")


def test_runlab_dependency_is_the_running_runlab(cache: Path, tmp_path: Path) -> None:
    # runlab is on no index here: `runlab` in a python_env installs the runlab that runs the
    # project (this checkout, editable), so an entry point logs through it.
    project = make_project(tmp_path / "p", "dependencies:\n  - runlab\n")
    env = prepare_environment(project, project.directory, "uv")
    (where,) = run_in(env, "python -c 'import runlab; print(runlab.__file__)'")
    source = runlab_source()
    if source is not None and source[1]:  # an editable install: the same source tree
        assert Path(where).resolve() == Path(runlab.__file__).resolve()
    else:  # a copy inside the environment
        assert Path(where).resolve().is_relative_to(env.path)
    assert any(line.startswith("sqlalchemy==") for line in env.lock_text().splitlines())
    # That environment has no pip: runlab run from it lists the local interpreter with uv, and
    # without uv from the packages' metadata.
    listing = "from runlab.projects.environments_local import LocalEnvironment as L; print(L().lock_text())"
    with_uv = run_in(env, f'python -c "{listing}"')
    hide_uv = f"import sys; sys.modules['uv'] = None; {listing}"
    no_uv_path = {**os.environ, "PATH": f"{env.path}/bin{os.pathsep}/usr/bin{os.pathsep}/bin"}
    without_uv = subprocess.run(
        [str(env.python), "-c", hide_uv],
        env=no_uv_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for lines in (with_uv, without_uv):
        assert lines[0].startswith("# runlab environment lock: local, python")
        assert any(line.startswith("sqlalchemy==") for line in lines)


def test_project_without_environment_isolated_on_request(cache: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", None)
    env = prepare_environment(project, project.directory, "uv")
    assert env.kind == "uv"
    assert env.lock_text() == f"# runlab environment lock: uv, python {current_python_version()}\n"
    assert Path(run_in(env, PROBE)[0]) == env.path

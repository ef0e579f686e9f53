"""Reading python_env.yaml (and conda.yaml as a Python environment), the cache key, interpreters.

Pure logic and file reading: nothing here builds an environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects.environments import ProjectEnvironmentError
from runlab.projects.environments_base import lock_header, lock_python_version
from runlab.projects.environments_cache import cache_key, cache_root
from runlab.projects.environments_python import (
    PythonEnvSpec,
    current_python_version,
    find_interpreter,
    load_conda_as_python_env,
    load_python_env,
    runlab_source,
    version_matches,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_python_env_yaml_is_read(tmp_path: Path) -> None:
    # Unquoted 3.10 is the float 3.1 to YAML; the version is taken from the source text.
    path = _write(
        tmp_path / "python_env.yaml",
        "python: 3.10\nbuild_dependencies:\n  - pip\ndependencies:\n  - six==1.17.0\n",
    )
    spec = load_python_env(path)
    assert spec.python == "3.10"
    assert spec.build_dependencies == ("pip",)
    assert spec.dependencies == ("six==1.17.0",)
    assert spec.source == path


def test_python_env_without_python_or_lists(tmp_path: Path) -> None:
    spec = load_python_env(_write(tmp_path / "python_env.yaml", "dependencies:\n"))
    assert spec == PythonEnvSpec(source=tmp_path / "python_env.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python: '3.11'\nextras: [x]\n", "line 2, extras: unknown field"),
        ("python: latest\n", "line 1, python: expected a Python version"),
        ("python:\n", "line 1, python: expected a Python version"),
        ("dependencies: six\n", "line 1, dependencies: expected a list"),
        ("dependencies:\n  - six\n  - {a: 1}\n", "line 3, dependencies[1]: expected a requirement"),
        ("dependencies:\n  - 3\n", "line 2, dependencies[0]: expected a requirement"),
        ("python: '3.11'\npython: '3.12'\n", "line 2, python: appears twice"),
        ("", "line 1, (document): the file is empty"),
        ("- six\n", "line 1, (document): expected a mapping"),
        ("python: [3.11\n", "(YAML syntax)"),
    ],
)
def test_bad_python_env_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path / "python_env.yaml", text)
    with pytest.raises(InvalidParameter) as caught:
        load_python_env(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_requirement_files_are_absolute_and_in_the_key(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "requirements.txt", "six\n-r sub/more.txt\n")
    _write(tmp_path / "sub" / "more.txt", "idna\n")
    path = _write(tmp_path / "python_env.yaml", "dependencies:\n  - -r requirements.txt\n")
    spec = load_python_env(path)
    assert spec.requirement_lines("deps") == [f"-r {tmp_path / 'requirements.txt'}"]
    included = dict(spec.included)
    assert included[str(tmp_path / "requirements.txt")] == "six\n-r sub/more.txt\n"
    assert included[str(tmp_path / "sub" / "more.txt")] == "idna\n"
    key = cache_key("uv", spec.fingerprint())
    # Editing a nested requirement file makes another environment.
    _write(tmp_path / "sub" / "more.txt", "idna==3.7\n")
    assert cache_key("uv", load_python_env(path).fingerprint()) != key


def test_missing_requirement_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "python_env.yaml", "dependencies:\n  - -r nowhere.txt\n")
    with pytest.raises(InvalidParameter, match=r"nowhere\.txt cannot be read"):
        load_python_env(path)


def test_cache_key_follows_what_decides_the_contents() -> None:
    base = PythonEnvSpec("3.11", ("pip",), ("six",))
    key = cache_key("uv", base.fingerprint())
    assert key.startswith("uv-")
    assert cache_key("uv", PythonEnvSpec("3.11", ("pip",), ("six",)).fingerprint()) == key
    assert cache_key("virtualenv", base.fingerprint()) != key
    assert cache_key("uv", PythonEnvSpec("3.12", ("pip",), ("six",)).fingerprint()) != key
    assert cache_key("uv", PythonEnvSpec("3.11", (), ("six",)).fingerprint()) != key
    assert cache_key("uv", PythonEnvSpec("3.11", ("pip",), ("idna",)).fingerprint()) != key


def test_cache_root_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLAB_PROJECTS_CACHE", str(tmp_path / "envs"))
    assert cache_root() == tmp_path / "envs"
    monkeypatch.delenv("RUNLAB_PROJECTS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "runlab" / "projects" / "envs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "runlab" / "projects" / "envs"


def test_conda_yaml_read_as_a_python_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conda.yaml",
        "name: demo\nchannels: [conda-forge]\ndependencies:\n"
        "  - python=3.11\n  - pip=24.0\n  - setuptools\n  - pip:\n    - six==1.17.0\n",
    )
    spec = load_conda_as_python_env(path)
    assert spec.python == "3.11"
    assert spec.build_dependencies == ("pip==24.0.*", "setuptools")
    assert spec.dependencies == ("six==1.17.0",)


def test_conda_only_packages_are_refused_with_the_way_out(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conda.yaml",
        "dependencies:\n  - python=3.11\n  - numpy=1.26=py311_0\n  - cudatoolkit\n",
    )
    with pytest.raises(ProjectEnvironmentError) as caught:
        load_conda_as_python_env(path)
    message = str(caught.value)
    assert "numpy=1.26=py311_0, cudatoolkit" in message
    assert "--env-manager conda" in message


@pytest.mark.parametrize(
    "text",
    ["dependencies:\n  - python>=3.9\n", "channels: []\n", "dependencies: [python=3.11\n"],
)
def test_bad_conda_yaml(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "conda.yaml", text)
    with pytest.raises(InvalidParameter, match=str(path).replace(".", r"\.")):
        load_conda_as_python_env(path)


def test_version_matching() -> None:
    assert version_matches(None, "3.11.7")
    assert version_matches("3", "3.11.7")
    assert version_matches("3.11", "3.11.7")
    assert version_matches("3.11.7", "3.11.7")
    assert not version_matches("3.1", "3.11.7")
    assert not version_matches("3.11.6", "3.11.7")


def test_find_interpreter_prefers_the_running_one() -> None:
    major_minor = ".".join(current_python_version().split(".")[:2])
    assert find_interpreter(major_minor) == (Path(sys.executable), current_python_version())
    assert find_interpreter(None) == (Path(sys.executable), current_python_version())


def test_find_interpreter_on_path_skips_ones_that_do_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shim that fails (as pyenv's do for a version not selected) comes first on PATH; the
    # real interpreter behind a second name is found after it.
    broken, good = tmp_path / "broken", tmp_path / "good"
    broken.mkdir()
    good.mkdir()
    _write(broken / "python2.9", "#!/bin/sh\nexit 127\n").chmod(0o755)
    _write(good / "python2.9", '#!/bin/sh\nif [ "$1" = -c ]; then echo 2.9.4; fi\n').chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}:{good}")
    assert find_interpreter("2.9") == (good / "python2.9", "2.9.4")
    with pytest.raises(ProjectEnvironmentError) as caught:
        find_interpreter("2.9.5", tmp_path / "python_env.yaml")
    message = str(caught.value)
    assert "Python 2.9.5" in message and "is not installed" in message
    assert str(broken / "python2.9") in message  # what was tried
    assert "does not download" in message


def test_runlab_dependency_means_the_running_runlab() -> None:
    spec = PythonEnvSpec(None, (), ("runlab", "runlab[models]>=0.1", "runlabx", "six"))
    lines = spec.requirement_lines("deps")
    source = runlab_source()
    assert lines[2:] == ["runlabx", "six"]
    if source is None:  # installed from an index: the index's runlab
        assert lines[:2] == ["runlab", "runlab[models]>=0.1"]
    elif source[1]:  # an editable install stays editable, on the same source tree
        folder = str(Path(__file__).resolve().parents[2])
        assert lines[:2] == [f"-e {folder}", f"-e {folder}[models]"]
    else:
        assert lines[:2] == [f"runlab @ {source[0]}", f"runlab[models] @ {source[0]}"]


def test_lock_header_round_trip() -> None:
    text = lock_header("uv", "3.11.7") + "six==1.17.0\n"
    assert text.startswith("# ")  # a comment: the lock stays a valid requirements file
    assert lock_python_version(text) == "3.11.7"
    assert lock_python_version("six==1.17.0\n") is None

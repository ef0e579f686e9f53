"""requirements.txt, python_env.yaml and conda.yaml: pinned to what is installed, MLflow's layout."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

import pytest
import yaml

from runlab.errors import InvalidParameter
from runlab.models.environment import (
    pinned,
    read_requirements,
    resolve_requirements,
    write_environment,
)


def test_pinned_uses_the_installed_version_without_local_suffix() -> None:
    assert pinned("pyyaml") == f"pyyaml=={importlib.metadata.version('pyyaml')}"
    torch_version = pytest.importorskip("torch").__version__
    assert pinned("torch") == f"torch=={torch_version.split('+')[0]}"
    assert pinned("no-such-distribution-xyz") == "no-such-distribution-xyz"


def test_defaults_are_pinned_and_include_runlab() -> None:
    lines = resolve_requirements(["pyyaml", "numpy"])
    assert lines[0].startswith("runlab==")
    assert f"numpy=={importlib.metadata.version('numpy')}" in lines
    assert len(lines) == 3


def test_extra_requirements_add_and_duplicates_are_dropped() -> None:
    lines = resolve_requirements(["numpy"], extra_pip_requirements=["requests>=2", "NumPy<3"])
    assert "requests>=2" in lines
    assert [line for line in lines if line.lower().startswith("numpy")] == [pinned("numpy")]


def test_pip_requirements_replace_the_defaults(tmp_path: Path) -> None:
    assert resolve_requirements(["numpy"], pip_requirements=["a==1", " ", "b"]) == ["a==1", "b"]
    req = tmp_path / "req.txt"
    req.write_text("# comment\nc==2  # pinned\n\nd\n")
    assert resolve_requirements(["numpy"], pip_requirements=str(req)) == ["c==2", "d"]


@pytest.mark.parametrize(
    ("pip", "extra"),
    [(["a"], ["b"]), ("missing-file.txt", None), ([1], None)],
)
def test_bad_requirement_arguments_are_refused(pip: object, extra: object) -> None:
    with pytest.raises(InvalidParameter):
        resolve_requirements([], pip_requirements=pip, extra_pip_requirements=extra)  # type: ignore[arg-type]


def test_written_files_follow_mlflows_layout(tmp_path: Path) -> None:
    env = write_environment(tmp_path, ["runlab==0.1.0", "numpy==2.0.0"])
    assert env == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert read_requirements(tmp_path / "requirements.txt") == ["runlab==0.1.0", "numpy==2.0.0"]
    python_env = yaml.safe_load((tmp_path / "python_env.yaml").read_text())
    assert python_env["python"] == platform.python_version()
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert any(dep.startswith("pip") for dep in python_env["build_dependencies"])
    conda = yaml.safe_load((tmp_path / "conda.yaml").read_text())
    assert f"python={platform.python_version()}" in conda["dependencies"]
    assert {"pip": ["runlab==0.1.0", "numpy==2.0.0"]} in conda["dependencies"]

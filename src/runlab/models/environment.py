"""A saved model's environment: ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.

Requirements are pinned to the versions installed when the model is saved, so the environment
that serves the model later can be rebuilt exactly. The three files follow MLflow's layout, so
``mlflow models serve --env-manager virtualenv`` (or conda) can rebuild them too.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from runlab.errors import InvalidParameter

__all__ = [
    "CONDA_FILE",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "pinned",
    "read_requirements",
    "resolve_requirements",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

# A requirement's distribution name at the start of a line (PEP 508).
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(distribution: str) -> str:
    """``name==version`` for an installed distribution, else the bare name.

    A local-version suffix (``2.13.0+cpu``) is dropped: it names a build, not a release, and
    PyPI would not find it.
    """
    version = _version(distribution)
    if version is None:
        return distribution
    return f"{distribution}=={version.split('+', 1)[0]}"


def _requirement_name(line: str) -> str | None:
    match = _NAME.match(line)
    return match.group(1).lower().replace("_", "-") if match else None


def resolve_requirements(
    defaults: Sequence[str],
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
) -> list[str]:
    """The model's requirement lines.

    ``defaults`` are distribution names the flavor needs (pinned here); ``pip_requirements``
    replaces them and ``extra_pip_requirements`` adds to them, as in MLflow. Either may be a
    list of lines or the path of a requirements file.
    """
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameter(
            "Give pip_requirements (the whole list) or extra_pip_requirements (additions), "
            "not both."
        )
    if pip_requirements is not None:
        return _lines(pip_requirements, "pip_requirements")
    lines = [pinned("runlab"), *(pinned(name) for name in defaults)]
    if extra_pip_requirements is not None:
        lines.extend(_lines(extra_pip_requirements, "extra_pip_requirements"))
    return _dedupe(lines)


def _lines(value: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise InvalidParameter(
                f"{what} must be a list of requirement lines or the path of a requirements "
                f"file; {value!r} is neither."
            )
        return read_requirements(path)
    lines = []
    for line in value:
        if not isinstance(line, str):
            raise InvalidParameter(f"{what} must hold strings, got {line!r}.")
        if line.strip():
            lines.append(line.strip())
    return lines


def _dedupe(lines: list[str]) -> list[str]:
    """Drop a requirement whose distribution an earlier line already names (first one wins)."""
    seen: set[str] = set()
    out = []
    for line in lines:
        name = _requirement_name(line)
        if name is not None and name in seen:
            continue
        if name is not None:
            seen.add(name)
        out.append(line)
    return out


def read_requirements(path: str | Path) -> list[str]:
    """The requirement lines of a requirements file (comments and blank lines dropped)."""
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def write_environment(model_dir: str | Path, requirements: Sequence[str]) -> dict[str, str]:
    """Write the three environment files into ``model_dir``.

    Returns the ``env`` entry of the ``python_function`` flavor (file names by environment
    manager).
    """
    model_dir = Path(model_dir)
    python = platform.python_version()
    (model_dir / REQUIREMENTS_FILE).write_text(
        "".join(f"{line}\n" for line in requirements), encoding="utf-8"
    )
    python_env = {
        "python": python,
        "build_dependencies": [pinned("pip"), pinned("setuptools"), pinned("wheel")],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (model_dir / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8"
    )
    conda = {
        "name": "runlab-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": list(requirements)}],
    }
    (model_dir / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=False), encoding="utf-8")
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}

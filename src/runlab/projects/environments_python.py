"""A project's Python environment spec (python_env.yaml, or a conda.yaml read as one) and the
interpreter that serves its Python version.

``python_env.yaml`` is MLflow's format::

    python: "3.11"                 # the Python version (X, X.Y or X.Y.Z)
    build_dependencies: [pip]      # installed first
    dependencies:                  # then these: requirement strings, or -r / -c files
      - six==1.17.0
      - -r requirements.txt

A ``-r`` / ``-c`` file is found beside the python_env.yaml, and its text counts in the cache
key, so editing it makes a new environment.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from runlab.errors import InvalidParameter
from runlab.projects.environments_base import ProjectEnvironmentError

__all__ = [
    "PythonEnvSpec",
    "current_python_version",
    "find_interpreter",
    "load_conda_as_python_env",
    "load_python_env",
    "version_matches",
]

_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")
_FILE_OPTION = re.compile(r"^(-r|-c|--requirement|--constraint)(=|\s+)(?P<path>.+)$")
# Conda packages that are pip's own tooling: a conda.yaml lists them to get pip, so they become
# build dependencies when the file is read as a Python environment.
_BUILD_TOOLS = ("pip", "setuptools", "wheel")
# A requirement file may include another; past this depth it is a loop, not a layout.
_MAX_INCLUDE_DEPTH = 10
_CONDA_PACKAGE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9_.\-]+)\s*(?:(?P<op>==|=|>=|<=|!=|>|<)\s*(?P<version>[^\s=]+))?\s*$"
)
_RUNLAB_REQUIREMENT = re.compile(
    r"^runlab\s*(?P<extras>\[[A-Za-z0-9_,\s-]*\])?\s*(?:[<>=!~][^;@]*)?$", re.IGNORECASE
)
_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


@dataclass(frozen=True)
class PythonEnvSpec:
    """What a Python environment holds: the Python version (``None``: the current one), build
    dependencies and dependencies. ``source`` is the file it came from (``None``: no file)."""

    python: str | None = None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    source: Path | None = None
    # The text of each -r / -c file named (recursively), by absolute path: part of the cache key.
    included: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def requirement_lines(self, which: str) -> list[str]:
        """``build_dependencies`` or ``dependencies`` as requirement-file lines, with -r / -c
        paths made absolute (pip reads them relative to the working directory otherwise)."""
        items = self.build_dependencies if which == "build" else self.dependencies
        base = self.source.parent if self.source is not None else Path.cwd()
        lines = []
        for item in items:
            match = _FILE_OPTION.match(item.strip())
            if match:
                path = (base / match.group("path").strip()).resolve()
                lines.append(f"{match.group(1)} {path}")
            else:
                lines.append(_runlab_from_here(item.strip()))
        return lines

    def _names_runlab(self) -> bool:
        return any(
            _RUNLAB_REQUIREMENT.match(item.strip())
            for item in self.build_dependencies + self.dependencies
        )

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides the environment's contents, for the cache key."""
        return {
            # A runlab installed from a folder (not editable) is a copy: a new version is a new
            # environment.
            "runlab": _runlab_version() if self._names_runlab() else None,
            "python": self.python,
            "build_dependencies": self.requirement_lines("build"),
            "dependencies": self.requirement_lines("deps"),
            "included": [list(pair) for pair in self.included],
        }


def load_python_env(path: Path) -> PythonEnvSpec:
    """Read and check a python_env.yaml; a problem names the file, the line and the field."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidParameter(f"{path}: cannot be read ({error}).") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise _error(path, line, "(YAML syntax)", f"{error.problem or error}.") from None
    except yaml.YAMLError as error:
        raise _error(path, 0, "(YAML syntax)", str(error)) from None
    if root is None or _is_null(root):
        raise _error(
            path,
            1,
            "(document)",
            "the file is empty; it must be a mapping with python, "
            "build_dependencies and dependencies.",
        )
    if not isinstance(root, yaml.MappingNode):
        raise _error(path, _line(root), "(document)", "expected a mapping of fields.")
    python: str | None = None
    lists: dict[str, tuple[str, ...]] = {"build_dependencies": (), "dependencies": ()}
    seen: set[str] = set()
    for key_node, value in root.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        if key not in ("python", *lists):
            raise _error(
                path,
                _line(key_node),
                key,
                "unknown field; the fields are python, build_dependencies and dependencies.",
            )
        if key in seen:
            raise _error(path, _line(key_node), key, "appears twice; give each field once.")
        seen.add(key)
        if key == "python":
            python = _python_version(path, value)
        elif not _is_null(value):
            lists[key] = _requirement_list(path, key, value)
    spec = PythonEnvSpec(python, lists["build_dependencies"], lists["dependencies"], path)
    return _with_included(spec)


def load_conda_as_python_env(path: Path) -> PythonEnvSpec:
    """Read a conda.yaml as a Python environment: its ``python=`` version, pip/setuptools/wheel
    as build dependencies and its ``pip:`` list as dependencies.

    Other conda packages cannot come from PyPI, so they are refused with the way out (conda, or
    moving them under ``pip:``) rather than silently left out.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidParameter(f"{path}: cannot be read as YAML ({error}).") from None
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        raise InvalidParameter(f"{path}, dependencies: expected a list of conda packages.")
    python: str | None = None
    build: list[str] = []
    pip_deps: list[str] = []
    conda_only: list[str] = []
    for item in deps:
        if isinstance(item, dict) and set(item) == {"pip"} and isinstance(item["pip"], list):
            pip_deps.extend(str(req) for req in item["pip"])
            continue
        if not isinstance(item, str):
            raise InvalidParameter(f"{path}, dependencies: unexpected entry {item!r}.")
        match = _CONDA_PACKAGE.match(item)
        name = match.group("name") if match else ""
        operator = (match.group("op") or "") if match else ""
        # conda's `=3.11` and `=3.11.*` both mean "3.11.anything", as pip's ==3.11.* does.
        version = ((match.group("version") or "") if match else "").removesuffix(".*")
        if name == "python":
            if operator not in ("=", "==") or not _VERSION.match(version):
                raise InvalidParameter(
                    f"{path}, dependencies: pin python to a version (python=3.11), got {item!r}."
                )
            python = version
        elif name in _BUILD_TOOLS and match:
            pin = f"{'==' if operator == '=' else operator}{version}" if operator else ""
            build.append(f"{name}{pin}{'.*' if operator == '=' and version else ''}")
        else:
            conda_only.append(item)
    if conda_only:
        raise ProjectEnvironmentError(
            f"{path} lists conda packages that PyPI does not serve as such: "
            f"{', '.join(conda_only)}. Run with --env-manager conda, or move them under "
            "`- pip:` in the file."
        )
    spec = PythonEnvSpec(python, tuple(build), tuple(pip_deps), path)
    return _with_included(spec)


@functools.lru_cache(maxsize=1)
def runlab_source() -> tuple[str, bool] | None:
    """Where the running runlab was installed from, when that was a local folder or file:
    ``(file URL, editable)``; None for an install from an index."""
    try:
        direct = importlib.metadata.distribution("runlab").read_text("direct_url.json")
        data = json.loads(direct) if direct else None
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith("file://"):
        return None
    editable = bool((data.get("dir_info") or {}).get("editable"))
    return url, editable


def _runlab_from_here(line: str) -> str:
    """A ``runlab`` requirement as the runlab that runs the project, when that one came from a
    local folder (an entry point logs through runlab, and a development install is on no
    index); any other requirement unchanged."""
    match = _RUNLAB_REQUIREMENT.match(line)
    source = runlab_source() if match else None
    if match is None or source is None:
        return line
    url, editable = source
    extras = match.group("extras") or ""
    if editable:
        # Editable stays editable: the environment sees the same source tree, changes included.
        return f"-e {unquote(urlparse(url).path)}{extras}"
    return f"runlab{extras} @ {url}"


def _runlab_version() -> str:
    try:
        return importlib.metadata.version("runlab")
    except importlib.metadata.PackageNotFoundError:
        return ""


def current_python_version() -> str:
    """The running interpreter's version as ``X.Y.Z``."""
    return ".".join(str(part) for part in sys.version_info[:3])


def version_matches(request: str | None, actual: str) -> bool:
    """True when ``actual`` (``X.Y.Z``) is the version ``request`` (``X``, ``X.Y`` or ``X.Y.Z``)
    asks for; no request matches anything."""
    if request is None:
        return True
    wanted = request.split(".")
    return actual.split(".")[: len(wanted)] == wanted


def find_interpreter(request: str | None, source: Path | None = None) -> tuple[Path, str]:
    """An installed interpreter of version ``request``: ``(path, X.Y.Z)``.

    The running interpreter when it matches; otherwise ``pythonX.Y`` (or ``pythonX``) on PATH,
    each candidate asked for its version, since a name on PATH may be a shim that fails or a
    different build. Nothing is downloaded: no match is a ProjectEnvironmentError.
    """
    current = current_python_version()
    if version_matches(request, current):
        return Path(sys.executable), current
    assert request is not None  # no request matches the running interpreter above
    parts = request.split(".")
    names = [f"python{'.'.join(parts[:2])}"] if len(parts) >= 2 else [f"python{parts[0]}"]
    tried: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        for name in names:
            candidate = shutil.which(name, path=directory) if directory else None
            if candidate is None or candidate in tried:
                continue
            tried.append(candidate)
            version = _probe(candidate)
            if version is not None and version_matches(request, version):
                return Path(candidate), version
    where = f" (asked for by {source})" if source is not None else ""
    raise ProjectEnvironmentError(
        f"Python {request}{where} is not installed on this machine: no working "
        f"{' or '.join(names)} on PATH"
        + (f" (tried {', '.join(tried)})" if tried else "")
        + ". runlab does not download interpreters; install that Python (your system's "
        "packages, pyenv, or `uv python install`), or change the version in the file."
    )


def _probe(executable: str) -> str | None:
    """The ``X.Y.Z`` an interpreter reports, or None when it does not run."""
    try:
        done = subprocess.run(
            [executable, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and _VERSION.match(version) else None


def _error(path: Path, line: int, field: str, problem: str) -> InvalidParameter:
    where = f"{path}, line {line}" if line else str(path)
    return InvalidParameter(f"{where}, {field}: {problem}")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _python_version(path: Path, node: yaml.Node) -> str:
    # The source text, not the constructed value: YAML reads `python: 3.10` as the float 3.1.
    text = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
    if _is_null(node) or not _VERSION.match(text):
        got = f", got {text!r}" if text and not _is_null(node) else ""
        raise _error(path, _line(node), "python", f'expected a Python version such as "3.11"{got}.')
    return text


def _requirement_list(path: Path, key: str, node: yaml.Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _error(path, _line(node), key, "expected a list of requirement strings.")
    items = []
    for index, item in enumerate(node.value):
        if not isinstance(item, yaml.ScalarNode) or item.tag != "tag:yaml.org,2002:str":
            raise _error(
                path,
                _line(item),
                f"{key}[{index}]",
                'expected a requirement string such as "six==1.17.0".',
            )
        items.append(str(item.value))
    return tuple(items)


def _with_included(spec: PythonEnvSpec) -> PythonEnvSpec:
    """``spec`` with the text of every -r / -c file it names, checked to exist."""
    included: dict[str, str] = {}
    lines = spec.requirement_lines("build") + spec.requirement_lines("deps")
    _collect_included(spec.source, lines, included, depth=0)
    return PythonEnvSpec(
        spec.python,
        spec.build_dependencies,
        spec.dependencies,
        spec.source,
        tuple(sorted(included.items())),
    )


def _collect_included(
    source: Path | None, lines: list[str], included: dict[str, str], depth: int
) -> None:
    for line in lines:
        match = _FILE_OPTION.match(line.strip())
        if not match:
            continue
        path = Path(match.group("path").strip())
        if str(path) in included:
            continue
        if depth >= _MAX_INCLUDE_DEPTH:
            raise InvalidParameter(f"{source}: requirement files include each other too deeply.")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidParameter(
                f"{source}: the requirement file {path} cannot be read ({error.strerror})."
            ) from None
        included[str(path)] = text
        nested = []
        for raw in text.splitlines():
            inner = _FILE_OPTION.match(raw.strip())
            if inner:
                nested.append(f"{inner.group(1)} {(path.parent / inner.group('path').strip())}")
        _collect_included(path, nested, included, depth + 1)

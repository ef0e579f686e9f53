"""The MLproject format: a project's name, environment and entry points, read and checked.

A project is a directory. Its ``MLproject`` file (the name is matched in any letter case, as
MLflow does) is YAML::

    name: tutorial
    python_env: python_env.yaml        # or conda_env: conda.yaml, or docker_env: {image: ...}
    entry_points:
      main:
        parameters:
          alpha: {type: float, default: 0.5}
          data: path                   # no default: required
        command: "python train.py --alpha {alpha} --data {data}"

Everything is checked when the project is loaded — the shape of each field, the parameter types
and defaults, and that every ``{placeholder}`` in a command names a parameter — and a problem is
an :class:`~runlab.projects.spec_yaml.MLprojectError` naming the file, the line and the field.

Without an MLproject, or for a name not among its entry points, a ``.py`` or ``.sh`` file of the
project is an entry point of its own (``python <file>`` / ``bash <file>``), as in MLflow; its
parameters all reach it as ``--key value``. With no environment field, ``python_env.yaml`` (or
else ``conda.yaml``) beside the MLproject is the project's environment, as in MLflow.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runlab.errors import InvalidParameter
from runlab.projects.parameters import (
    Parameter,
    extra_arguments,
    quote,
    recorded_values,
    resolve_values,
)
from runlab.projects.spec_yaml import MLprojectError

__all__ = [
    "ENV_KINDS",
    "MLPROJECT_FILE",
    "EntryPoint",
    "EnvSpec",
    "MLprojectError",
    "Parameter",
    "Project",
    "find_mlproject",
    "load_project",
]

MLPROJECT_FILE = "MLproject"
#: The environment kinds a project can have; ``none`` when it names no environment at all.
ENV_KINDS: tuple[str, ...] = ("python_env", "conda_env", "docker_env", "none")
#: Files that stand for the environment when the MLproject names none, in MLflow's order.
DEFAULT_ENV_FILES: tuple[tuple[str, str], ...] = (
    ("python_env", "python_env.yaml"),
    ("conda_env", "conda.yaml"),
)
#: How a file entry point is run, by its suffix.
SCRIPT_RUNNERS: dict[str, str] = {".py": "python", ".sh": "bash"}


@dataclass(frozen=True)
class EnvSpec:
    """The environment a project asks for.

    ``kind`` is one of :data:`ENV_KINDS`. ``path`` is the absolute path of the python_env or
    conda file (``None`` for docker and none). For ``docker_env``: ``image``, ``volumes``
    (``docker run -v`` specifications as written) and ``environment``: ``(NAME, value)`` pairs,
    where a value of ``None`` means "copy NAME from the host's environment".
    """

    kind: str = "none"
    path: Path | None = None
    image: str | None = None
    volumes: tuple[str, ...] = ()
    environment: tuple[tuple[str, str | None], ...] = ()

    def docker_environment(self, host: Mapping[str, str]) -> dict[str, str]:
        """The variables to set in the container: copied ones taken from ``host`` when set there."""
        result: dict[str, str] = {}
        for name, value in self.environment:
            if value is not None:
                result[name] = value
            elif name in host:
                result[name] = host[name]
        return result


def parse_template(command: str) -> list[tuple[str, str | None]]:
    """A command template as ``(literal text, placeholder name or None)`` pieces.

    ``{name}`` is a placeholder and ``{{`` / ``}}`` are literal braces, as in Python's
    ``str.format``; attribute access, indexes, conversions and format specs are refused (the
    value is inserted as one quoted word, so they would have nothing to act on). Raises
    ValueError with the problem.
    """
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in string.Formatter().parse(command):
        if name is None:
            pieces.append((literal, None))
            continue
        if name == "" or name.isdigit():
            raise ValueError(
                f"the placeholder {{{name}}} names no parameter; write {{name}} with a parameter's "
                "name, or {{ and }} for literal braces"
            )
        if spec or conversion or any(c in name for c in ".["):
            raise ValueError(
                f"the placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not a plain {{name}}: values are inserted as "
                "quoted text, so attributes, indexes, conversions and format specs do not apply"
            )
        pieces.append((literal, name))
    return pieces


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@dataclass
class EntryPoint:
    """One entry point: its parameters and its command template.

    ``project_dir`` is the folder relative defaults are read from; ``line`` is where the
    MLproject declares the entry point (0 for a file entry point).
    """

    name: str
    parameters: dict[str, Parameter]
    command: str
    project_dir: Path
    line: int = 0
    _pieces: list[tuple[str, str | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            self._pieces = parse_template(self.command)
        except ValueError as error:
            raise InvalidParameter(f"Entry point {self.name!r}: {error}.") from None
        unknown = [n for _, n in self._pieces if n is not None and n not in self.parameters]
        if unknown:
            raise InvalidParameter(
                f"Entry point {self.name!r}: the command's placeholder {{{unknown[0]}}} names no "
                f"parameter of it (parameters: {', '.join(self.parameters) or 'none'})."
            )

    def compute_parameters(
        self,
        user_params: Mapping[str, object],
        storage_dir: Path,
        tracking_uri: str | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Check and resolve the values: ``(declared parameters, undeclared ones)``.

        See :func:`runlab.projects.parameters.resolve_values`; ``path`` values that are URIs are
        downloaded under ``storage_dir``.
        """
        return resolve_values(
            self.name,
            self.parameters,
            user_params,
            project_dir=self.project_dir,
            storage_dir=storage_dir,
            tracking_uri=tracking_uri,
        )

    def compute_command(
        self,
        user_params: Mapping[str, object],
        storage_dir: Path,
        tracking_uri: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """The shell command to run and the resolved value of every parameter.

        Each value enters the command quoted (one shell word whatever it holds); declared
        parameters fill their placeholders, with defaults for those not given; undeclared ones
        are appended as ``--key value``. The returned values are the declared parameters in
        declaration order, then the undeclared ones. Raises
        :class:`~runlab.errors.InvalidParameter` for a missing or ill-typed value. ``runs:/``
        and ``models:/`` path values are downloaded through ``tracking_uri``.
        """
        declared, extras = self.compute_parameters(user_params, storage_dir, tracking_uri)
        command = "".join(
            literal + ("" if name is None else quote(declared[name]))
            for literal, name in self._pieces
        )
        if extras:
            # On the command's last line: a block-scalar command ends with a newline, and words
            # after it would run as a command of their own; a final backslash continued the line.
            body = command.rstrip()
            if body.endswith("\\"):
                body = body[:-1].rstrip()
            command = f"{body} {extra_arguments(extras)}".lstrip()
        return command, {**declared, **extras}

    def recorded_parameters(
        self, user_params: Mapping[str, object], resolved: Mapping[str, str]
    ) -> dict[str, str]:
        """The values to record for a run given ``user_params`` (see
        :func:`runlab.projects.parameters.recorded_values`): ``resolved`` with downloaded
        ``path`` values replaced by the URI they came from."""
        return recorded_values(self.parameters, user_params, resolved)


@dataclass
class Project:
    """A loaded project: its name, environment and entry points, and where it came from.

    ``mlproject_path`` and ``mlproject_text`` are the MLproject file and its text (``None``
    when the directory has none).
    """

    name: str
    directory: Path
    env: EnvSpec
    entry_points: dict[str, EntryPoint]
    mlproject_path: Path | None = None
    mlproject_text: str | None = None

    def get_entry_point(self, name: str) -> EntryPoint:
        """The entry point ``name``, or a ``.py`` / ``.sh`` file of the project run directly.

        Raises :class:`~runlab.errors.InvalidParameter` listing the entry points when ``name``
        is neither.
        """
        if name in self.entry_points:
            return self.entry_points[name]
        suffix = os.path.splitext(name)[1]
        if suffix in SCRIPT_RUNNERS:
            script = self._script_path(name)
            if script is not None:
                # A name starting with "-" would read as an option of python or bash.
                word = quote(name if not name.startswith("-") else f"./{name}")
                command = _escape_braces(f"{SCRIPT_RUNNERS[suffix]} {word}")
                return EntryPoint(name, {}, command, self.directory)
        declared = ", ".join(repr(n) for n in self.entry_points) or "none"
        where = (
            f"the MLproject's entry points are {declared}"
            if self.mlproject_path
            else ("the project has no MLproject file")
        )
        raise InvalidParameter(
            f"Unknown entry point {name!r} in project {self.name!r}: {where}; a .py or .sh file "
            f"of the project can also be named (it must exist under {self.directory})."
        )

    def _script_path(self, name: str) -> Path | None:
        """The file ``name`` names inside the project, or None (missing, or outside it)."""
        if os.path.isabs(name):
            return None
        root = self.directory.resolve()
        path = (root / name).resolve()
        if path != root and root not in path.parents:
            return None
        return path if path.is_file() else None

    def describe(self, entry_point: str | None = None) -> str:
        """The MLproject text to record for a run: the file's own text, or one generated.

        A project without an MLproject gets a description of what ran: its name, its
        environment file and the file entry point ``entry_point``.
        """
        if self.mlproject_text is not None:
            return self.mlproject_text
        import yaml

        data: dict[str, object] = {"name": self.name}
        if self.env.kind in ("python_env", "conda_env") and self.env.path is not None:
            data[self.env.kind] = os.path.relpath(self.env.path, self.directory)
        if entry_point is not None:
            chosen = self.get_entry_point(entry_point)
            data["entry_points"] = {chosen.name: {"command": chosen.command}}
        header = "# Generated by runlab: the project had no MLproject file.\n"
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def find_mlproject(directory: Path) -> Path | None:
    """The MLproject file of ``directory`` (any letter case; ``MLproject`` itself first)."""
    exact = directory / MLPROJECT_FILE
    if exact.is_file():
        return exact
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    for name in names:
        if name.lower() == MLPROJECT_FILE.lower() and (directory / name).is_file():
            return directory / name
    return None


def default_env(directory: Path) -> EnvSpec:
    """The environment of a project that names none: python_env.yaml, conda.yaml, or none."""
    for kind, filename in DEFAULT_ENV_FILES:
        candidate = directory / filename
        if candidate.is_file():
            return EnvSpec(kind, candidate.resolve())
    return EnvSpec("none")


def load_project(directory: Path | str) -> Project:
    """Read and check the project in ``directory``.

    Raises :class:`~runlab.errors.InvalidParameter` when ``directory`` is not a folder and
    :class:`~runlab.projects.spec_yaml.MLprojectError` (an InvalidParameter) for a malformed
    MLproject, naming the file, the line and the field.
    """
    directory = Path(directory).absolute()
    if not directory.is_dir():
        raise InvalidParameter(f"No project folder at {directory}.")
    mlproject = find_mlproject(directory)
    if mlproject is None:
        return Project(directory.name, directory, default_env(directory), {})
    from runlab.projects.spec_reader import read_mlproject

    return read_mlproject(directory, mlproject)

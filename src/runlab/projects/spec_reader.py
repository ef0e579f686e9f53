"""Building a :class:`~runlab.projects.spec.Project` from an MLproject file's nodes.

Every field is checked where it is written, so an error names its line: the shape of each value,
that the project names at most one environment and that its file lies inside the project, the
Docker settings, the parameter types and defaults, and each command's placeholders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from runlab.projects.parameters import PARAMETER_TYPES, Parameter, check_value
from runlab.projects.spec import EntryPoint, EnvSpec, Project, default_env, parse_template
from runlab.projects.spec_yaml import MLprojectError, NodeReader

__all__ = ["read_mlproject"]

_ENV_FIELDS = ("python_env", "conda_env", "docker_env")
_TOP_FIELDS = ("name", *_ENV_FIELDS, "entry_points")
_ENTRY_POINT_FIELDS = ("parameters", "command")
_PARAMETER_FIELDS = ("type", "default")
_DOCKER_FIELDS = ("image", "volumes", "environment")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_mlproject(directory: Path, path: Path) -> Project:
    """The project described by the MLproject file ``path`` in ``directory``, checked."""
    reader = NodeReader.from_file(path)
    try:
        root = reader.root()
        fields = {
            key: (key_node, value) for key, key_node, value in reader.items(root, "", _TOP_FIELDS)
        }
        name = directory.name
        if "name" in fields:
            name = _name(reader, fields["name"][1]) or name
        env_keys = [key for key in fields if key in _ENV_FIELDS]
        if len(env_keys) > 1:
            raise reader.error(
                fields[env_keys[1]][0],
                env_keys[1],
                f"a project names one environment, but {env_keys[0]} and {env_keys[1]} both "
                "appear; keep one.",
            )
        if not env_keys:
            env = default_env(directory)
        elif env_keys[0] == "docker_env":
            env = _docker_env(reader, fields["docker_env"][1])
        else:
            env = _env_file(reader, directory, env_keys[0], fields[env_keys[0]][1])
        entry_points: dict[str, EntryPoint] = {}
        if "entry_points" in fields and not reader.is_null(fields["entry_points"][1]):
            for key, key_node, node in reader.items(fields["entry_points"][1], "entry_points"):
                entry_points[key] = _entry_point(reader, directory, key, key_node, node)
        return Project(name, directory, env, entry_points, path, reader.source)
    finally:
        reader.close()


def _name(reader: NodeReader, node: yaml.Node) -> str:
    if reader.is_null(node):
        return ""
    if not isinstance(node, yaml.ScalarNode):
        raise reader.error(node, "name", "expected the project's name (text).")
    # As written: a name like 2024 stays "2024" rather than becoming a number first.
    return str(node.value).strip()


def _env_file(reader: NodeReader, directory: Path, kind: str, node: yaml.Node) -> EnvSpec:
    """A python_env or conda_env file: relative, inside the project, and present."""
    relative = reader.text(node, kind, "the environment file's path (text)")
    if not relative.strip():
        raise reader.error(node, kind, "the environment file's path is empty.")
    if os.path.isabs(relative) or relative.startswith("~"):
        raise reader.error(
            node, kind, f"{relative!r} must be a path relative to the project folder."
        )
    root = directory.resolve()
    resolved = (root / relative).resolve()
    if root not in resolved.parents:
        raise reader.error(node, kind, f"{relative!r} points outside the project folder.")
    if not resolved.is_file():
        raise reader.error(
            node, kind, f"names {relative!r}, but the project folder has no such file."
        )
    return EnvSpec(kind, resolved)


def _docker_env(reader: NodeReader, node: yaml.Node) -> EnvSpec:
    fields = {
        key: (key_node, value)
        for key, key_node, value in reader.items(node, "docker_env", _DOCKER_FIELDS)
    }
    if "image" not in fields or reader.is_null(fields["image"][1]):
        raise reader.error(node, "docker_env.image", "a docker_env needs an image to run in.")
    image = reader.text(fields["image"][1], "docker_env.image", "an image name (text)").strip()
    if not image:
        raise reader.error(fields["image"][1], "docker_env.image", "the image name is empty.")
    volumes: list[str] = []
    if "volumes" in fields and not reader.is_null(fields["volumes"][1]):
        for index, item in enumerate(reader.sequence(fields["volumes"][1], "docker_env.volumes")):
            where = f"docker_env.volumes[{index}]"
            volume = reader.text(item, where, 'a volume like "/host/path:/container/path"')
            if not volume.strip():
                raise reader.error(item, where, "the volume is empty.")
            volumes.append(volume)
    environment: list[tuple[str, str | None]] = []
    if "environment" in fields and not reader.is_null(fields["environment"][1]):
        items = reader.sequence(fields["environment"][1], "docker_env.environment")
        for index, item in enumerate(items):
            environment.append(_docker_variable(reader, item, f"docker_env.environment[{index}]"))
    return EnvSpec("docker_env", None, image, tuple(volumes), tuple(environment))


def _docker_variable(reader: NodeReader, node: yaml.Node, where: str) -> tuple[str, str | None]:
    """``"NAME"`` (copied from the host) or ``["NAME", "value"]`` (set to value)."""
    shape = 'either "NAME" (copied from the host) or ["NAME", "value"]'
    if isinstance(node, yaml.SequenceNode):
        if len(node.value) != 2:
            raise reader.error(
                node, where, f"expected {shape}; this list has {len(node.value)} items."
            )
        name_node, value_node = node.value
        name = reader.text(name_node, where, "a variable name (text)")
        if not isinstance(value_node, yaml.ScalarNode) or reader.is_null(value_node):
            raise reader.error(value_node, where, f"the value of {name!r} must be a single value.")
        value: str | None = str(value_node.value)  # as written: 08 stays "08"
    elif isinstance(node, yaml.ScalarNode):
        name, value = reader.text(node, where, shape), None
    else:
        raise reader.error(node, where, f"expected {shape}.")
    if not _ENV_VAR_NAME.fullmatch(name):
        raise reader.error(
            node,
            where,
            f"{name!r} is not a variable name (letters, digits and _, not first a digit).",
        )
    return name, value


def _entry_point(
    reader: NodeReader, directory: Path, name: str, key_node: yaml.Node, node: yaml.Node
) -> EntryPoint:
    where = f"entry_points.{name}"
    fields = {key: (k, value) for key, k, value in reader.items(node, where, _ENTRY_POINT_FIELDS)}
    if "command" not in fields:
        raise reader.error(key_node, f"{where}.command", "the entry point has no command.")
    command_node = fields["command"][1]
    command = reader.text(command_node, f"{where}.command", "the command (text)")
    if not command.strip():
        raise reader.error(command_node, f"{where}.command", "the command is empty.")
    parameters: dict[str, Parameter] = {}
    if "parameters" in fields and not reader.is_null(fields["parameters"][1]):
        for key, param_key, param_node in reader.items(
            fields["parameters"][1], f"{where}.parameters"
        ):
            parameters[key] = _parameter(
                reader, f"{where}.parameters.{key}", key, param_key, param_node
            )
    _check_placeholders(reader, f"{where}.command", name, command, command_node, parameters)
    return EntryPoint(name, parameters, command, directory, reader.line(key_node))


def _parameter(
    reader: NodeReader, where: str, name: str, key_node: yaml.Node, node: yaml.Node
) -> Parameter:
    """``name: type`` or ``name: {type: ..., default: ...}``; no default means required."""
    types = ", ".join(PARAMETER_TYPES)
    type_node: yaml.Node = node
    default_node: yaml.Node = node
    default: str | None = None
    if isinstance(node, yaml.MappingNode):
        fields = {key: value for key, _, value in reader.items(node, where, _PARAMETER_FIELDS)}
        type_node = fields.get("type", node)
        type_ = "string"
        if "type" in fields:
            type_ = reader.text(type_node, f"{where}.type", f"one of {types}")
        if "default" in fields and not reader.is_null(fields["default"]):
            default_node = fields["default"]
            default = _default(reader, default_node, f"{where}.default")
    elif isinstance(node, yaml.ScalarNode) and not reader.is_null(node):
        type_ = reader.text(node, where, f"a type ({types}) or {{type: ..., default: ...}}")
    else:
        raise reader.error(
            node if not reader.is_null(node) else key_node,
            where,
            f"expected a type ({types}) or a mapping {{type: ..., default: ...}}.",
        )
    if type_ not in PARAMETER_TYPES:
        field = f"{where}.type" if type_node is not node else where
        raise reader.error(type_node, field, f"unknown type {type_!r}; the types are {types}.")
    if default is not None:
        problem = check_value(type_, default)
        if problem:
            raise reader.error(
                default_node,
                f"{where}.default",
                f"the default does not fit the type {type_}: {problem}.",
            )
    return Parameter(name, type_, default, reader.line(key_node))


def _default(reader: NodeReader, node: yaml.Node, where: str) -> str:
    value = reader.scalar_value(node, where)
    # As MLflow does: the value YAML reads, as text (0.10 -> "0.1", true -> "True").
    return value if isinstance(value, str) else str(value)


def _check_placeholders(
    reader: NodeReader,
    where: str,
    entry_point: str,
    command: str,
    node: yaml.Node,
    parameters: dict[str, Parameter],
) -> None:
    try:
        pieces = parse_template(command)
    except ValueError as error:
        raise reader.error(node, where, f"{error}.") from None
    for _, name in pieces:
        if name is not None and name not in parameters:
            declared = ", ".join(parameters) or "none"
            line = reader.line_of(node, "{" + name + "}")
            raise MLprojectError(
                reader.path,
                line,
                where,
                f"the placeholder {{{name}}} names no parameter of entry point {entry_point!r} "
                f"(its parameters: {declared}); declare it under parameters, or write "
                f"{{{{{name}}}}} for literal braces.",
            )

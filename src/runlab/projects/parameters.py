"""Entry-point parameters of an MLproject: types, defaults, checking, resolving and quoting.

A parameter has a type — ``string``, ``float``, ``int``, ``path`` or ``uri`` — and an optional
default; one without a default is required. Before anything runs, every value is checked
against its type, and then resolved:

- ``string``, ``float``, ``int``: the text as given (``float`` and ``int`` must read as numbers);
- ``path``: a local path (plain or ``file:``) is made absolute and must exist; any other URI
  (``runs:/``, ``models:/``, ``s3://``, ``mlflow-artifacts:/``, a tracking server's artifact
  address) is downloaded with runlab's artifact code into a fresh folder under the run's storage
  folder, and the downloaded copy's local path is the value;
- ``uri``: a URI with a scheme is passed on unchanged; a plain path is made absolute.

A relative path given by the user is read from the current directory; a relative default, from
the project's directory (its author wrote it relative to the project).

Values reach the command through :func:`shlex.quote`, so each one is exactly one word of the
shell command, whatever it holds (``"; rm -rf ~"`` included). Parameters the entry point does
not declare are appended as ``--key value``, both quoted, as MLflow does.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runlab.errors import InvalidParameter, RunlabError

__all__ = [
    "PARAMETER_TYPES",
    "Parameter",
    "check_value",
    "extra_arguments",
    "quote",
    "recorded_values",
    "resolve_values",
    "value_text",
]

#: The types a parameter may declare, in the order messages list them.
PARAMETER_TYPES: tuple[str, ...] = ("string", "float", "int", "path", "uri")

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)",
    re.IGNORECASE,
)
# A one-letter "scheme" is a Windows drive (C:\data), i.e. a plain path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of an entry point.

    ``default`` is the default's text (``None``: the parameter is required). ``line`` is where
    the MLproject declares it (1-based; 0 when it comes from no file), for messages.
    """

    name: str
    type: str = "string"
    default: str | None = None
    line: int = 0

    @property
    def required(self) -> bool:
        """True when the parameter has no default, so every run must give a value."""
        return self.default is None


def value_text(name: str, value: object) -> str:
    """A parameter value as the text the command gets: ``str`` for numbers, as MLflow does.

    ``None`` (no value) and text with a NUL character (which no program argument can hold) are
    refused.
    """
    if value is None:
        raise InvalidParameter(f"Parameter {name!r} has no value (None); give it a text value.")
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise InvalidParameter(
            f"The value of parameter {name!r} contains a NUL character, which a command-line "
            "argument cannot hold."
        )
    return text


def check_value(type_: str, value: str) -> str | None:
    """What is wrong with ``value`` for a parameter of type ``type_``, or None when it fits."""
    if type_ == "int" and not _INT.fullmatch(value):
        return f"expected an int (like 3 or -10), got {value!r}"
    if type_ == "float" and not _FLOAT.fullmatch(value):
        return f"expected a float (like 0.5, 1e-3 or 2), got {value!r}"
    if type_ in ("path", "uri") and not value:
        return f"expected a {type_}, got an empty value"
    return None


def quote(text: str) -> str:
    """``text`` as one word of a POSIX shell command (single-quoted when it needs to be)."""
    return shlex.quote(text)


def extra_arguments(extras: Mapping[str, str]) -> str:
    """Undeclared parameters as ``--key value`` words, each quoted (key and value alike)."""
    return " ".join(f"{quote('--' + key)} {quote(value)}" for key, value in extras.items())


def _scheme(value: str) -> str:
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else ""


def _local_path(value: str) -> str | None:
    """The local path ``value`` names (a plain path or ``file:`` URI), or None for other URIs."""
    scheme = _scheme(value)
    if scheme == "":
        return value
    if scheme == "file":
        from runlab import uris

        return uris.file_uri_to_path(value)
    return None


def _absolute(path: str, base: Path) -> str:
    # abspath, not resolve(): keep the user's symlinks, as MLflow does.
    return os.path.abspath(os.path.join(base, os.path.expanduser(path)))


@dataclass
class _Resolver:
    """Resolves path and uri values, keeping the folders it made so a failure removes them."""

    cwd: Path
    project_dir: Path
    storage_dir: Path
    made: list[Path]
    tracking_uri: str | None = None

    def base(self, given: bool) -> Path:
        return self.cwd if given else self.project_dir

    def path(self, param: Parameter, value: str, given: bool, position: int) -> str:
        local = _local_path(value)
        if local is None:
            return self._download(param, value, position)
        absolute = _absolute(local, self.base(given))
        if not os.path.exists(absolute):
            origin = "" if given else " (its default)"
            raise InvalidParameter(
                f"Parameter {param.name!r} (path){origin} is {value!r}, but there is no file or "
                f"folder at {absolute}."
            )
        return absolute

    def uri(self, value: str, given: bool) -> str:
        local = _local_path(value)
        if local is None or _scheme(value) == "file":
            return value  # a URI: passed on as written
        return _absolute(local, self.base(given))

    def _download(self, param: Parameter, value: str, position: int) -> str:
        from runlab.tracking.artifact_reading import download_artifacts
        from runlab.tracking.config import get_registry_uri

        self.storage_dir.mkdir(parents=True, exist_ok=True)
        # A fresh folder per parameter: two parameters naming files of the same name never meet.
        target = Path(tempfile.mkdtemp(prefix=f"param_{position}_", dir=self.storage_dir))
        self.made.append(target)
        try:
            local = download_artifacts(
                artifact_uri=value,
                dst_path=target,
                tracking_uri=self.tracking_uri,
                registry_uri=get_registry_uri(self.tracking_uri) if self.tracking_uri else None,
            )
            return os.path.abspath(local)
        except RunlabError as error:
            raise InvalidParameter(
                f"Parameter {param.name!r} (path): could not download {value!r}: {error.message}"
            ) from error
        except OSError as error:
            raise InvalidParameter(
                f"Parameter {param.name!r} (path): could not download {value!r}: {error}"
            ) from error

    def discard(self) -> None:
        for folder in self.made:
            shutil.rmtree(folder, ignore_errors=True)
        self.made.clear()


def _missing(params: Iterable[Parameter], given: Mapping[str, str]) -> list[Parameter]:
    return [p for p in params if p.required and p.name not in given]


def resolve_values(
    entry_point: str,
    params: Mapping[str, Parameter],
    user_params: Mapping[str, object],
    *,
    project_dir: Path,
    storage_dir: Path,
    tracking_uri: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Check and resolve an entry point's parameter values.

    Returns ``(declared, extras)``: every declared parameter's resolved value in declaration
    order (defaults filled in), and the undeclared ones the user passed, in the user's order.
    Every value is checked (missing required ones, types) before any path is looked at or
    downloaded; if a later download fails, the folders made for earlier ones are removed.
    ``runs:/`` and ``models:/`` path values are looked up through ``tracking_uri`` (default:
    the current tracking URI). Raises :class:`~runlab.errors.InvalidParameter` naming the
    parameter.
    """
    given = {str(key): value_text(str(key), value) for key, value in user_params.items()}
    for key in given:
        if not key:
            raise InvalidParameter("A parameter name cannot be empty (pass -P name=value).")
    missing = _missing(params.values(), given)
    if missing:
        names = ", ".join(f"{p.name!r} ({p.type})" for p in missing)
        example = " ".join(f"-P {p.name}=..." for p in missing)
        raise InvalidParameter(
            f"Entry point {entry_point!r} needs a value for its required parameter(s) {names}: "
            f"pass {example}."
        )
    problems = []
    for name, param in params.items():
        if name in given:
            problem = check_value(param.type, given[name])
            if problem:
                problems.append(f"{name!r} ({param.type}): {problem}")
    if problems:
        raise InvalidParameter(
            f"Invalid parameter value(s) for entry point {entry_point!r}: " + "; ".join(problems)
        )
    resolver = _Resolver(Path.cwd(), project_dir, storage_dir, [], tracking_uri)
    declared: dict[str, str] = {}
    try:
        for position, (name, param) in enumerate(params.items()):
            was_given = name in given
            value = given[name] if was_given else param.default
            assert value is not None  # required ones were checked above
            if param.type == "path":
                value = resolver.path(param, value, was_given, position)
            elif param.type == "uri":
                value = resolver.uri(value, was_given)
            declared[name] = value
    except BaseException:
        resolver.discard()
        raise
    extras = {key: value for key, value in given.items() if key not in params}
    return declared, extras


def recorded_values(
    params: Mapping[str, Parameter],
    user_params: Mapping[str, object],
    resolved: Mapping[str, str],
) -> dict[str, str]:
    """The values a run records: the resolved ones, except that a ``path`` parameter downloaded
    from a URI keeps the URI (its downloaded copy is a temporary folder that a re-run, or a
    reader of the run, cannot use)."""
    recorded = dict(resolved)
    for name, param in params.items():
        if param.type != "path" or name not in recorded:
            continue
        source = user_params.get(name, param.default)
        if source is None:
            continue
        text = value_text(name, source)
        if _local_path(text) is None:
            recorded[name] = text
    return recorded

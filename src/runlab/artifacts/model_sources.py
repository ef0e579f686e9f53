"""The one place that decides whether a model version's source may be registered.

A model version points at files through its ``source``. Whoever later loads ``models:/name/3``
reads whatever that source names, often with a server's rights, so a source must not reach
files its run never owned (``/etc``, ``../../`` out of the run's folder) nor make the server
connect to a host a client picked. Within those limits the rules are the ones MLflow's tracking
server (3.17.2) applies, so a source one server takes the other takes too:

* ``runs:/<run_id>/<path>``: the request's ``run_id`` must be the run the URI names. The run is
  not looked up: the tracking server may be another one than the registry's.
* ``models:/m-<id>[/<path>]`` (a logged model): the request's ``model_id`` must be that id.
* ``models:/<name>/<version>`` (a registered version, e.g. a copy): accepted as it stands; the
  registry store has already resolved stages, ``latest`` and aliases to a version number.
* a local path or ``file:`` URI: with ``run_id``, it must lie inside the run's local artifact
  directory; with ``model_id``, inside the logged model's. ``..`` and symbolic links are
  resolved first, so ``<root>/model/..`` is fine and ``<root>/../other`` is not.
* a URI whose scheme makes the server connect to the host in it (``http``, ``https``, ``ftp``,
  ``sftp``, ``hdfs``, ``viewfs``, ``abfss``, ``r2``, ``b2``, ``mlflow-artifacts://host``): only
  inside the artifact root of that run or logged model, which is storage the server was set up
  with. MLflow refuses these too unless they point at its own artifact store.
* ``mlflow-artifacts:/<path>`` (the server's own artifact proxy), and an http(s) URL of the
  proxy's route: inside the artifact root of that run or logged model.
* any other URI (``s3://``, ``gs://``, ``wasbs://``, ``dbfs:/`` …): accepted, with or without a
  run, and the run need not be in this store.

With ``model_id`` the logged model's rules apply (its root, never a ``runs:/`` URI); otherwise
the run's. Every source other than a local path must have an absolute path without relative
parts: ``.`` and ``..`` parts (also percent-encoded, once or several times), an encoded ``/``,
backslashes and control characters are refused, as
:func:`~runlab.artifacts.path_safety.validate_artifact_path` refuses them in artifact paths.
Empty parts (``//``) and a trailing ``/`` are allowed. ``#``, ``?`` and ``;`` are refused
anywhere: they change which object a URL names. Every refusal is :class:`~runlab.errors.InvalidParameter` with a message
that starts with MLflow's "Invalid model version source".
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from runlab import model_uris, validation
from runlab.artifacts.path_safety import validate_artifact_path
from runlab.errors import InvalidParameter

__all__ = [
    "HOST_ADDRESSED_SCHEMES",
    "MAX_SOURCE_LENGTH",
    "check_model_source",
    "names_registered_version",
]

#: Longest source accepted, in characters.
MAX_SOURCE_LENGTH = 4096

#: Schemes whose artifact repositories connect to the host and port the URI names (for
#: ``mlflow-artifacts`` only when the URI has a host; without one it is the server's own proxy).
HOST_ADDRESSED_SCHEMES = frozenset(
    {"ftp", "sftp", "hdfs", "viewfs", "http", "https", "mlflow-artifacts", "r2", "b2", "abfss"}
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_URL_SPECIAL = frozenset("#?;\\")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: The artifact proxy's download route, as it appears inside an http(s) source.
_PROXY_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")
_LOCAL_HINT = (
    "To use a local path as a model version source, the run_id request parameter has to be "
    "specified and the local path has to be contained within the artifact directory of that "
    "run (or, with model_id, of that logged model)"
)
_RELATIVE_HINT = (
    "If supplying a source as an http, https, local file path, ftp, object store or "
    "mlflow-artifacts URI, give an absolute path without relative path references"
)


def _refuse(source: str, reason: str) -> InvalidParameter:
    shown = source if len(source) <= 200 else source[:200] + "..."
    return InvalidParameter(f"Invalid model version source: {shown!r}. {reason}.")


@dataclass(frozen=True)
class _Owner:
    """What the version is registered from: a run or (with model_id) a logged model."""

    kind: str  # "run" or "logged model"
    field: str  # the request parameter that names it
    id: str | None
    root: str | None  # its artifact root, None when this store does not hold it

    def needed(self, source: str) -> str:
        """The owner's artifact root, refusing when no owner was named or it is unknown."""
        if self.id is None:
            raise _refuse(
                source,
                f"The {self.field} request parameter must identify the {self.kind} whose "
                "artifacts contain the source; none was given",
            )
        if self.root is None:
            raise _refuse(
                source,
                f"The {self.field} request parameter must identify the {self.kind} whose "
                f"artifacts contain the source; {self.kind} {self.id!r} is not in this "
                "server's tracking store",
            )
        return self.root


def _scheme(source: str) -> str:
    """The lower-case scheme, or "" for a plain path (a one-letter "scheme" is a drive)."""
    match = _SCHEME.match(source)
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def names_registered_version(source: object) -> bool:
    """True for a ``models:/<name>/…`` or ``models:/<name>@alias`` source, which names a
    registered model version (the registry resolves it); False for ``models:/m-<id>`` and
    everything else."""
    if not isinstance(source, str) or _scheme(source) != model_uris.MODELS_SCHEME:
        return False
    try:
        return model_uris.parse_models_uri(source).kind != "logged_model"
    except InvalidParameter:
        return False


def _check_text(source: object) -> str:
    if not isinstance(source, str):
        raise InvalidParameter(
            f"Invalid model version source: {source!r}. Expected a string URI or path, got "
            f"{type(source).__name__}."
        )
    if not source:
        raise _refuse(source, "It is empty; give the URI of the model's files")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _refuse(source, f"It is longer than {MAX_SOURCE_LENGTH} characters")
    if source != source.strip():
        raise _refuse(source, "It starts or ends with white space")
    for char in source:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise _refuse(source, f"It contains the control character {char!r}")
        if char in _URL_SPECIAL:
            what = "a backslash" if char == "\\" else repr(char)
            raise _refuse(source, f"It contains {what}, which can change what the URI names")
    return source


def _parts(path: str) -> list[str]:
    """The parts of a URI path; empty parts (``//``, a trailing ``/``) name no folder."""
    return [part for part in path.split("/") if part]


def _relative_path(source: str, parts: list[str]) -> None:
    """Refuse relative references (``.``, ``..``, encoded ones, encoded ``/``) among a path's
    parts. MLflow refuses ``.`` too: only a local path is resolved before it is checked."""
    if "." in parts:
        raise _refuse(source, f"{_RELATIVE_HINT} (it has a '.' part)")
    try:
        validate_artifact_path("/".join(parts))
    except InvalidParameter as exc:
        raise _refuse(source, f"{_RELATIVE_HINT} ({exc.message})") from None


# -- runs:/ and models:/ ----------------------------------------------------------------------


def _check_runs_uri(source: str, run_id: str | None, model_id: str | None) -> None:
    split = urlsplit(source)
    if split.netloc:
        raise _refuse(source, "A runs:/ URI has the form runs:/<run_id>/<path>, without a host")
    parts = _parts(split.path)
    if not parts:
        raise _refuse(source, "A runs:/ URI has the form runs:/<run_id>/<path>")
    try:
        validation.validate_run_id(parts[0])
    except InvalidParameter:
        raise _refuse(
            source, "A runs:/ URI has the form runs:/<run_id>/<path> with a valid run id"
        ) from None
    _relative_path(source, parts[1:])
    if model_id is not None:
        raise _refuse(
            source,
            "The model_id request parameter must identify the logged model that contains the "
            f"source; a runs:/ URI names run {parts[0]!r}. Register models:/{model_id}, or "
            "leave model_id out",
        )
    if run_id != parts[0]:
        given = "none was given" if run_id is None else f"it is {run_id!r}"
        raise _refuse(
            source,
            f"The run_id request parameter must identify the run that contains the source "
            f"(run {parts[0]!r}); {given}",
        )


def _check_models_uri(source: str, model_id: str | None) -> None:
    if urlsplit(source).netloc:
        raise _refuse(
            source,
            "A models:/ source names a model of this registry (models:/<name>/<version> or "
            "models:/m-<id>), without a host",
        )
    try:
        parsed = model_uris.parse_models_uri(source)
    except InvalidParameter as exc:
        raise _refuse(source, exc.message.rstrip(".")) from None
    if parsed.kind != "logged_model":
        return  # a registered version, already resolved by the registry
    if parsed.model_id is None or len(parsed.model_id) <= 2:
        raise _refuse(source, "A models:/m-<id> source must name a logged model")
    if model_id != parsed.model_id:
        given = "none was given" if model_id is None else f"it is {model_id!r}"
        raise _refuse(
            source,
            f"The model_id request parameter must identify the logged model that contains the "
            f"source ({parsed.model_id!r}); {given}",
        )


# -- local paths ------------------------------------------------------------------------------


def _local_path(uri: str) -> str | None:
    """The absolute filesystem path of a plain path or ``file:`` URI; None if relative.

    A ``file:`` URI's path is percent-decoded once, as it is when the file is opened.
    """
    if _scheme(uri) == "file":
        split = urlsplit(uri)
        path = unquote(split.path)
    else:
        path = uri
    return path if path.startswith("/") else None


def _file_host(source: str) -> str:
    """The host of a ``file://host/...`` URI ("" for none or the local machine)."""
    if _scheme(source) != "file":
        return ""
    host = urlsplit(source).netloc
    return "" if host.lower() in ("", "localhost", "127.0.0.1") else host


def _check_local(source: str, owner: _Owner) -> None:
    host = _file_host(source)
    if host:
        raise _refuse(
            source,
            f"{source!r} is not a valid remote uri: the file: scheme names this server's own "
            f"files, not those of {host!r}",
        )
    if owner.id is None:
        raise _refuse(source, f"{_LOCAL_HINT}; no {owner.field} was given")
    root = owner.root
    if root is None:
        raise _refuse(
            source,
            f"{_LOCAL_HINT}; {owner.kind} {owner.id!r} is not in this server's tracking store",
        )
    root_path = _local_path(root) if _scheme(root) in ("", "file") else None
    if root_path is None:
        raise _refuse(
            source,
            f"{_LOCAL_HINT}; the artifacts of {owner.kind} {owner.id!r} are not in a local "
            f"directory ({root})",
        )
    path = _local_path(source)
    if path is None:
        raise _refuse(source, f"{_LOCAL_HINT}; a relative path does not say where it is")
    # Resolving `..` and symbolic links first is what makes `<root>/model/..` the root itself
    # and a link inside the run's folder that leads elsewhere a path outside it.
    real = os.path.realpath(path)
    real_root = os.path.realpath(root_path)
    if os.path.commonpath([real, real_root]) != real_root:
        raise _refuse(source, f"{_LOCAL_HINT}; it lies outside {root}")
    below = posixpath.relpath(real, real_root)
    try:
        validate_artifact_path("" if below == "." else below)
    except InvalidParameter as exc:
        raise _refuse(source, f"Its path inside {root} is not allowed ({exc.message})") from None


# -- other URIs -------------------------------------------------------------------------------


def _within(source: str, root: str) -> bool:
    """True if the URI ``source`` lies inside the URI ``root``: same scheme and host, and the
    root's path parts followed by the source's (empty parts skipped)."""
    found, base = urlsplit(source), urlsplit(root)
    if (found.scheme.lower(), found.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return False
    root_parts = _parts(base.path)
    return bool(root_parts) and _parts(found.path)[: len(root_parts)] == root_parts


def _has_proxy_route(parts: list[str]) -> bool:
    size = len(_PROXY_ROUTE)
    return any(tuple(parts[i : i + size]) == _PROXY_ROUTE for i in range(len(parts) - size + 1))


def _check_remote(source: str, scheme: str, owner: _Owner) -> None:
    split = urlsplit(source)
    if not split.path.startswith("/"):
        raise _refuse(source, f"{_RELATIVE_HINT}; its path {split.path!r} is not absolute")
    if split.netloc in (".", ".."):
        raise _refuse(source, f"{_RELATIVE_HINT} (its host is {split.netloc!r})")
    parts = _parts(split.path)
    _relative_path(source, parts)
    host_addressed = scheme in HOST_ADDRESSED_SCHEMES and (
        scheme != "mlflow-artifacts" or bool(split.netloc)
    )
    proxied = scheme == "mlflow-artifacts" or (
        scheme in ("http", "https") and _has_proxy_route(parts)
    )
    if not (host_addressed or proxied):
        return
    if host_addressed and owner.id is None:
        raise _refuse(
            source,
            f"'source' cannot use the '{scheme}' scheme: the server would connect to the host "
            "it names. Register a location inside the artifact root of the run (run_id) or "
            "logged model (model_id) instead",
        )
    root = owner.needed(source)
    if not _within(source, root):
        if host_addressed:
            raise _refuse(
                source,
                f"'source' cannot use the '{scheme}' scheme outside the artifact root of "
                f"{owner.kind} {owner.id!r} ({root}): the server would connect to the host "
                "it names",
            )
        raise _refuse(
            source,
            f"The {owner.field} request parameter must identify the {owner.kind} whose "
            f"artifacts contain the source; it lies outside {root}",
        )


def check_model_source(
    source: str,
    *,
    run_id: str | None = None,
    run_artifact_uri: str | None = None,
    model_id: str | None = None,
    model_artifact_uri: str | None = None,
) -> str:
    """Return ``source`` unchanged if a model version may be registered from it.

    ``run_id`` and ``model_id`` are the request's; ``run_artifact_uri`` and
    ``model_artifact_uri`` are their artifact roots as the caller's tracking store holds them
    (None when it does not hold the run or model). A source that needs a root it cannot have
    is refused; one that needs none (``runs:/``, ``s3://`` …) is checked without it. See the
    module docstring for the rules. Raises InvalidParameter, naming the reason.
    """
    source = _check_text(source)
    scheme = _scheme(source)
    owner = (
        _Owner("logged model", "model_id", model_id, model_artifact_uri)
        if model_id is not None
        else _Owner("run", "run_id", run_id, run_artifact_uri)
    )
    if scheme == model_uris.RUNS_SCHEME:
        _check_runs_uri(source, run_id, model_id)
    elif scheme == model_uris.MODELS_SCHEME:
        _check_models_uri(source, model_id)
    elif scheme in ("", "file"):
        _check_local(source, owner)
    else:
        _check_remote(source, scheme, owner)
    return source

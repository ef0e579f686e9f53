"""The one place that decides whether a model version's source may be registered.

A model version points at files through its ``source``. Whoever later loads ``models:/name/3``
reads whatever that source names, with the server's rights, so a source must not reach files
its run never owned: ``/etc``, another tenant's bucket, ``../../`` out of the run's folder. The
rule: a source lies inside the artifact root of the run (``run_id``) or logged model
(``model_id``) it is registered from.

Accepted forms:

* ``runs:/<run_id>/<path>``: the URI's run id must be the version's ``run_id``;
* ``models:/m-<id>[/<path>]``: the URI's id must be the version's ``model_id``;
* any other URI or path (``mlflow-artifacts:/``, ``s3://``, ``file:``, an absolute local path)
  must lie under the run's or the logged model's artifact root: same scheme and host, and a
  path that starts with the root's path, segment by segment.

The part below the root goes through :func:`~runlab.artifacts.path_safety.validate_artifact_path`,
so ``..``, percent-encoded traversal (once or several times), backslashes, empty parts and
control characters are refused there as they are for artifact paths. ``#``, ``?`` and ``;``
anywhere in a source are refused too: they would change which object a URL names.

A source registered with neither ``run_id`` nor ``model_id`` belongs to no artifact root. Then
local paths and ``file:`` URIs are refused (nothing says which folder they may read), and a
remote URI is accepted only with one of the known storage schemes and a path that passes the
same traversal checks. A run or logged model with no recorded artifact root accepts only its
``runs:/`` or ``models:/`` URI. Every refusal is :class:`~runlab.errors.InvalidParameter`.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from urllib.parse import unquote, urlsplit

from runlab import validation
from runlab.artifacts.path_safety import validate_artifact_path
from runlab.errors import InvalidParameter

__all__ = [
    "MAX_SOURCE_LENGTH",
    "REMOTE_SCHEMES",
    "check_model_source",
    "source_run_id",
]

#: Longest source accepted, in characters.
MAX_SOURCE_LENGTH = 4096

#: Storage schemes a source may use when it belongs to no run or logged model.
REMOTE_SCHEMES = frozenset(
    {
        "mlflow-artifacts",
        "s3",
        "s3a",
        "gs",
        "wasbs",
        "abfss",
        "hdfs",
        "dbfs",
        "http",
        "https",
    }
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_RUNS_URI = re.compile(r"^runs:/([^/]*)(?:/(.*))?$", re.DOTALL)
_LOGGED_MODEL_URI = re.compile(r"^models:/(m-[^/]*)(?:/(.*))?$", re.DOTALL)
_URL_SPECIAL = frozenset("#?;\\")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _refuse(source: str, reason: str) -> InvalidParameter:
    shown = source if len(source) <= 200 else source[:200] + "..."
    return InvalidParameter(f"Invalid model version source {shown!r}: {reason}.")


def _scheme(source: str) -> str:
    """The lower-case scheme, or "" for a plain path (a one-letter "scheme" is a drive)."""
    match = _SCHEME.match(source)
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def _valid_run_id(text: str) -> bool:
    try:
        validation.validate_run_id(text)
    except InvalidParameter:
        return False
    return True


def source_run_id(source: object) -> str | None:
    """The run id a ``runs:/<run_id>/...`` source names, or None for any other source (and
    for a runs:/ URI whose run id is malformed, which :func:`check_model_source` refuses)."""
    match = _RUNS_URI.match(source) if isinstance(source, str) else None
    return match.group(1) if match and _valid_run_id(match.group(1)) else None


def _check_text(source: object) -> str:
    if not isinstance(source, str):
        raise InvalidParameter(
            f"Invalid model version source {source!r}: expected a string URI or path, got "
            f"{type(source).__name__}."
        )
    if not source:
        raise _refuse(source, "it is empty; give the URI of the model's files")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _refuse(source, f"it is longer than {MAX_SOURCE_LENGTH} characters")
    if source != source.strip():
        raise _refuse(source, "it starts or ends with white space")
    for char in source:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise _refuse(source, f"it contains the control character {char!r}")
        if char in _URL_SPECIAL:
            what = "a backslash" if char == "\\" else repr(char)
            raise _refuse(source, f"it contains {what}, which can change what the URI names")
    return source


def _relative(source: str, path: str, what: str) -> str:
    """Check the part of a source below its root (a relative artifact path)."""
    try:
        return validate_artifact_path(path)
    except InvalidParameter as exc:
        raise _refuse(source, f"its path inside {what} is not allowed ({exc.message})") from None


def _location(uri: str) -> tuple[str, str, str] | None:
    """``(scheme, authority, absolute path)`` of a URI or a local path; None if unusable.

    Local paths and ``file:`` URIs share the scheme ``file``; a ``file:`` URI's path is
    percent-decoded once, as it is when the file is opened. Other URIs keep their path as
    written: the traversal checks look at every decoding of what lies below the root.
    """
    scheme = _scheme(uri)
    if scheme == "":
        if not uri.startswith("/"):
            return None  # relative, or a Windows drive: not comparable with a POSIX root
        return "file", "", uri
    parts = urlsplit(uri)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return None
        path = unquote(parts.path)
        return ("file", "", path) if path.startswith("/") else None
    return scheme, parts.netloc.lower(), parts.path


def _below(source: str, root: str) -> str | None:
    """The path of ``source`` below ``root`` ("" for the root itself), or None if outside it.

    The root is compared segment by segment: ``.`` and empty segments of the source are
    skipped on the way down (they name the same folder), anything else must equal the root's
    segment. What remains is returned unnormalised for the traversal checks.
    """
    found = _location(source)
    base = _location(root)
    if found is None or base is None or found[:2] != base[:2]:
        return None
    root_segments = [s for s in posixpath.normpath(base[2] or "/").split("/") if s]
    segments = found[2].removeprefix("/").split("/")
    index = 0
    for expected in root_segments:
        while index < len(segments) and segments[index] in ("", "."):
            index += 1
        if index >= len(segments) or segments[index] != expected:
            return None
        index += 1
    # An empty first part here is a "//" after the root: the traversal checks refuse it.
    return "/".join(segments[index:])


def check_model_source(
    source: str,
    *,
    run_id: str | None = None,
    run_artifact_uri: str | None = None,
    model_id: str | None = None,
    model_artifact_uri: str | None = None,
) -> str:
    """Return ``source`` unchanged if a model version may be registered from it.

    ``run_id``/``run_artifact_uri`` and ``model_id``/``model_artifact_uri`` describe what the
    version is registered from (each pair may be absent); the caller looks the artifact roots
    up. See the module docstring for the rules. Raises InvalidParameter, naming the reason,
    for any source that is not allowed.
    """
    source = _check_text(source)
    scheme = _scheme(source)

    if scheme == "runs":
        match = _RUNS_URI.match(source)
        if match is None or not _valid_run_id(match.group(1)):
            raise _refuse(
                source, "a runs:/ URI has the form runs:/<run_id>/<path> with a valid run id"
            )
        if run_id is None:
            raise _refuse(source, "a runs:/ source needs the version's run_id")
        if match.group(1) != run_id:
            raise _refuse(
                source, f"it names run {match.group(1)!r}, but the version's run_id is {run_id!r}"
            )
        _relative(source, match.group(2) or "", f"run {run_id}")
        return source

    if scheme == "models":
        match = _LOGGED_MODEL_URI.match(source)
        if match is None or len(match.group(1)) <= 2:
            raise _refuse(
                source,
                "a models:/ source must name a logged model (models:/m-<id>); register other "
                "versions from their own source",
            )
        if model_id is None:
            raise _refuse(source, "a models:/m-<id> source needs the version's model_id")
        if match.group(1) != model_id:
            raise _refuse(
                source,
                f"it names logged model {match.group(1)!r}, but the version's model_id is "
                f"{model_id!r}",
            )
        _relative(source, match.group(2) or "", f"logged model {model_id}")
        return source

    roots = [
        (f"the artifact root of run {run_id}", run_artifact_uri),
        (f"the artifact root of logged model {model_id}", model_artifact_uri),
    ]
    owned = [(what, root) for what, root in roots if root]
    if owned:
        for what, root in owned:
            below = _below(source, root)
            if below is not None:
                _relative(source, below, what)
                return source
        places = " or ".join(f"{what} ({root})" for what, root in owned)
        raise _refuse(source, f"it must lie inside {places}")
    if run_id is not None or model_id is not None:
        # Registered from a run or model that has no artifact root: nothing it may point into.
        raise _refuse(
            source, "the run or logged model it comes from has no artifact root to lie inside"
        )

    if scheme in ("", "file"):
        raise _refuse(
            source,
            "a local path can be registered only from a run or logged model whose artifacts "
            "it lies in; give run_id (or model_id), or use a runs:/ URI",
        )
    if scheme not in REMOTE_SCHEMES:
        raise _refuse(
            source,
            f"the scheme {scheme!r} is not a known artifact store; use one of "
            f"{', '.join(sorted(REMOTE_SCHEMES))}, or a runs:/ or models:/ URI",
        )
    _relative(source, urlsplit(source).path.removeprefix("/"), "its store")
    return source

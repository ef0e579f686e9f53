"""The one place that decides whether an artifact path is allowed.

Every artifact entry point (repositories, the server's artifact proxy, the fluent API) passes the
paths it receives through :func:`validate_artifact_path` before using them, and local repositories
turn a validated path into a filesystem path only through :func:`safe_join`.

An artifact path is a relative POSIX path such as ``"plots/loss.png"``; ``""`` means the root of a
repository. A path is refused when it, or any reading of it that some component on its way might
apply (percent-decoding, once or several times, and Unicode NFKC normalization), could climb out of
the root, name an absolute location, or change the meaning of a URL it is placed in.

A refusal is an :class:`InvalidArtifactPath` whose message says why. The tracking server answers
it with MLflow's exact body (``Invalid path``, which MLflow's clients and tests compare whole) and
writes the reason to its log; a client checks its paths with the same function before sending
them, so its user sees the reason.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from runlab.errors import InvalidParameter

__all__ = [
    "MAX_ARTIFACT_PATH_LENGTH",
    "InvalidArtifactPath",
    "join_artifact_path",
    "safe_join",
    "validate_artifact_path",
]

#: Longest artifact path accepted, in characters. Generous (S3 keys stop at 1024 bytes), but bounded
#: so a request cannot make us decode and normalize megabytes.
MAX_ARTIFACT_PATH_LENGTH = 4096

# How many rounds of percent-decoding we follow. Real names never need more than one; a path that is
# still changing after this many rounds is refused outright as an obfuscation attempt.
_MAX_DECODE_ROUNDS = 4

# `#` starts a URL fragment, `?` a query, `;` path parameters (and the `..;/` trick some servers
# accept as `..`). None of them is needed in an artifact name, and each can change what a URL that
# carries the path points at, so they are refused everywhere rather than escaped in some places.
_URL_SPECIAL = frozenset("#?;")

# A Windows drive (`C:`, `C:\`, `C:/`) or a URL scheme (`s3:`, `file:`, `runs:`) at the start. A
# relative reference whose first segment contains a colon is parsed as a scheme by URL resolvers.
_DRIVE_OR_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

# Unicode categories refused anywhere: control characters (C0, DEL, C1, including NUL), lone
# surrogates (not encodable as UTF-8 on disk or on the wire) and line/paragraph separators (which
# break headers and logs).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class InvalidArtifactPath(InvalidParameter):
    """An artifact path that :func:`validate_artifact_path` (or :func:`safe_join`) refused."""


def _refuse(path: str, reason: str) -> InvalidArtifactPath:
    return InvalidArtifactPath(
        f"Invalid artifact path {path!r}: {reason}. An artifact path is a relative path with "
        "'/' between its parts, such as 'plots/loss.png'."
    )


def _check_reading(original: str, reading: str, slash_count: int, how: str) -> None:
    """Check one reading of a path (the raw text, or a decoded or normalized form of it)."""
    for char in reading:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise _refuse(original, f"it contains the control character {char!r}{how}")
        if char == "\\":
            raise _refuse(original, f"it contains a backslash{how}; use '/' between parts")
        if char in _URL_SPECIAL:
            raise _refuse(original, f"it contains {char!r}{how}, which can alter a URL")
    if reading.startswith("/"):
        raise _refuse(original, f"it is absolute{how}")
    if _DRIVE_OR_SCHEME.match(reading):
        raise _refuse(original, f"it starts with a drive letter or a URL scheme{how}")
    # A decoded `%2f` would add a separator that the raw path does not show.
    if reading.count("/") != slash_count:
        raise _refuse(original, f"it contains an encoded '/'{how}")
    for segment in reading.split("/"):
        if segment == "":
            raise _refuse(original, f"it contains an empty part ('//'){how}")
        # `..` climbs out; Windows also strips trailing dots and spaces, so `...` or `.. ` act like
        # `..` there. Plain `.` was already collapsed in the raw path, so seeing one here means it
        # was encoded on purpose.
        if segment.strip(". ") == "":
            raise _refuse(original, f"it contains the part {segment!r}{how}")


def validate_artifact_path(path: str) -> str:
    """Return ``path`` as a normalized relative POSIX path, or raise if it is not allowed.

    ``""``, ``"."`` and ``"./"`` all mean the repository root and give ``""``. Single-dot parts and
    one trailing ``/`` are dropped (``"./plots/"`` gives ``"plots"``); nothing else is rewritten.

    Refused, with :class:`InvalidArtifactPath` (an :class:`runlab.errors.InvalidParameter`):
    ``..`` parts, absolute paths (``/x``, ``C:\\x``, ``C:/x``) and URL-like paths (``s3:x``),
    backslashes, empty parts (``a//b``), control characters including NUL, ``#``, ``?`` and ``;``,
    and any of these hidden behind percent-encoding (``%2e%2e``, ``%2f``, ``%5c``, double-encoded
    ``%252e``) or behind characters that Unicode NFKC normalization turns into them (fullwidth
    dots and slash, U+FF0E and U+FF0F).
    """
    if not isinstance(path, str):
        raise InvalidArtifactPath(
            f"Invalid artifact path {path!r}: expected a string, got {type(path).__name__}."
        )
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise _refuse(path[:64] + "...", f"it is longer than {MAX_ARTIFACT_PATH_LENGTH} characters")

    # Check the raw text before normalizing, so that e.g. a leading `/` is reported as absolute
    # rather than silently turned into an empty part.
    if path.startswith("/"):
        raise _refuse(path, "it is absolute")

    # Drop one trailing slash ("plots/" names the folder "plots") and `.` parts; neither changes
    # which object is meant. Empty parts do (`a//b` is its own key on S3), so they are refused.
    trimmed = path[:-1] if path.endswith("/") else path
    raw_segments = trimmed.split("/") if trimmed else []
    if "" in raw_segments:
        raise _refuse(path, "it contains an empty part ('//')")
    normalized = "/".join(segment for segment in raw_segments if segment != ".")
    if not normalized:
        return ""

    slash_count = normalized.count("/")
    # Every reading a component between here and the storage could produce: the text itself, each
    # round of percent-decoding, and the NFKC form of each.
    readings = [(normalized, "")]
    current = normalized
    for round_number in range(1, _MAX_DECODE_ROUNDS + 2):
        try:
            decoded = unquote(current, errors="strict") if "%" in current else current
        except UnicodeDecodeError:
            raise _refuse(path, "it percent-encodes bytes that are not UTF-8") from None
        if decoded == current:
            break
        if round_number > _MAX_DECODE_ROUNDS:
            raise _refuse(path, "it is percent-encoded too many times")
        how = (
            " once percent-decoded"
            if round_number == 1
            else f" percent-decoded {round_number} times"
        )
        readings.append((decoded, how))
        current = decoded
    for reading, how in list(readings):
        nfkc = unicodedata.normalize("NFKC", reading)
        if nfkc != reading:
            readings.append((nfkc, how + " after Unicode normalization"))

    for reading, how in readings:
        _check_reading(path, reading, slash_count, how)
    return normalized


def join_artifact_path(*parts: str | None) -> str:
    """Join artifact paths (each validated; ``None`` and ``""`` skipped) into one validated path."""
    validated = [validate_artifact_path(part) for part in parts if part]
    return validate_artifact_path("/".join(part for part in validated if part))


def safe_join(root: str | os.PathLike[str], artifact_path: str) -> Path:
    """Return the local path of ``artifact_path`` under ``root``, refusing anything outside it.

    ``artifact_path`` is validated first. The result is then checked *after resolving symlinks*: a
    symlink inside the root that points elsewhere (``root/link -> /etc``) is refused just like
    ``..``. The returned path is the lexical one (``root/<artifact_path>``), so callers still act
    on a symlink that stays inside the root rather than on its target.

    The check cannot stop another process from swapping a directory for a symlink between the
    check and the use; the artifact root is assumed to be writable only by runlab.
    """
    relative = validate_artifact_path(artifact_path)
    root_path = Path(root)
    candidate = root_path.joinpath(*PurePosixPath(relative).parts) if relative else root_path
    real_root = root_path.resolve()
    real_candidate = candidate.resolve()
    if real_candidate != real_root and real_root not in real_candidate.parents:
        raise InvalidArtifactPath(
            f"Invalid artifact path {artifact_path!r}: it leads outside the artifact root through "
            "a symbolic link."
        )
    return candidate

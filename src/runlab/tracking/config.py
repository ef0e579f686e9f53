"""Process-wide tracking settings: the tracking URI and the environment variables the client reads.

Every environment read of the tracking layer happens here, so the precedence is written down once:
a value set in code wins over ``RUNLAB_*`` variables, which win over their ``MLFLOW_*`` twins.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Literal

from runlab import uris
from runlab.errors import InvalidParameter

__all__ = [
    "DEFAULT_FLUSH_INTERVAL",
    "DEFAULT_FLUSH_TIMEOUT",
    "MAX_FLUSH_INTERVAL",
    "DurableMode",
    "durable_mode",
    "env",
    "flush_interval",
    "flush_timeout",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "pop_env_run_id",
    "resolve_uri",
    "set_registry_uri",
    "set_tracking_uri",
    "spool_dir",
]

#: Seconds between background flushes of queued metrics, params and tags.
DEFAULT_FLUSH_INTERVAL = 0.1
#: The interval is capped because records wait that long in memory, where a killed process
#: loses them (unless RUNLAB_DURABLE is on).
MAX_FLUSH_INTERVAL = 1.0
#: Seconds ``flush()``/``end_run()`` wait for a tracking server (or, in durable mode, any store)
#: before reporting what is unsent.
DEFAULT_FLUSH_TIMEOUT = 30.0

#: What ``RUNLAB_DURABLE`` asks for: ``"write"`` (each record is written to the spool file before
#: the logging call returns) or ``"fsync"`` (and forced to the disk too); None when it is off.
DurableMode = Literal["write", "fsync"]
_DURABLE_VALUES: dict[str, DurableMode | None] = {
    "": None,
    "0": None,
    "false": None,
    "no": None,
    "off": None,
    "1": "write",
    "true": "write",
    "yes": "write",
    "on": "write",
    "fsync": "fsync",
}

_lock = threading.Lock()
_tracking_uri: str | None = None
_registry_uri: str | None = None


def env(name: str) -> str | None:
    """``RUNLAB_<name>`` if set and non-empty, else ``MLFLOW_<name>``, else None."""
    for prefix in ("RUNLAB_", "MLFLOW_"):
        value = os.environ.get(prefix + name)
        if value:
            return value
    return None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the tracking URI for this process (``None`` returns to the environment/default).

    Accepts ``sqlite:///runs.db``, ``postgresql://…``, ``mysql://…``, ``http(s)://…``, a
    ``file:`` URI or a folder path. A relative folder path is resolved now, so changing the working
    directory later does not move the database.
    """
    global _tracking_uri
    resolved = None if uri is None else resolve_uri(uri)
    with _lock:
        _tracking_uri = resolved


def resolve_uri(uri: str | os.PathLike[str]) -> str:
    """Check a tracking URI and make a folder path absolute (as a ``file:`` URI)."""
    if isinstance(uri, os.PathLike):
        return uris.path_to_file_uri(uri)
    if not isinstance(uri, str):
        raise InvalidParameter(
            f"The tracking URI must be a string or a path, got {type(uri).__name__}."
        )
    if not uri.strip():
        raise InvalidParameter("The tracking URI is empty; pass a URI or a folder path.")
    return uris.path_to_file_uri(uri) if uris.scheme_of(uri) == "" else uri


def get_tracking_uri() -> str:
    """The tracking URI in effect.

    In order: the one set with :func:`set_tracking_uri`, ``RUNLAB_TRACKING_URI``,
    ``MLFLOW_TRACKING_URI``, else an embedded SQLite database ``runlab.db`` in the working
    directory (its artifacts go to ``runlab-artifacts/`` beside it).
    """
    uri = _tracking_uri
    if uri is not None:
        return uri
    from_env = env("TRACKING_URI")
    if from_env is not None:
        return from_env
    return uris.default_tracking_uri(os.getcwd())


def set_registry_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the model registry URI for this process (``None`` returns to the default).

    Takes the same forms as :func:`set_tracking_uri`. Without it the registry lives where the
    tracking data does, which is what almost everyone wants.
    """
    global _registry_uri
    resolved = None if uri is None else resolve_uri(uri)
    with _lock:
        _registry_uri = resolved


def get_registry_uri(tracking_uri: str | None = None) -> str:
    """The model registry URI in effect.

    In order: the one set with :func:`set_registry_uri`, ``RUNLAB_REGISTRY_URI``,
    ``MLFLOW_REGISTRY_URI``, else ``tracking_uri`` when given (a client's own tracking URI),
    else :func:`get_tracking_uri`.
    """
    uri = _registry_uri
    if uri is not None:
        return uri
    from_env = env("REGISTRY_URI")
    if from_env is not None:
        return from_env
    return tracking_uri if tracking_uri is not None else get_tracking_uri()


def is_tracking_uri_set() -> bool:
    """True if a tracking URI was set in code or through the environment."""
    return _tracking_uri is not None or env("TRACKING_URI") is not None


def flush_interval() -> float:
    """Seconds between background flushes: ``RUNLAB_FLUSH_INTERVAL``, default 0.1, at most 1."""
    raw = os.environ.get("RUNLAB_FLUSH_INTERVAL")
    if not raw:
        return DEFAULT_FLUSH_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(
            f"RUNLAB_FLUSH_INTERVAL={raw!r} is not a number; set it to seconds, e.g. 0.1."
        ) from None
    if not value > 0:
        raise InvalidParameter(
            f"RUNLAB_FLUSH_INTERVAL={raw!r} must be positive; set it to seconds, e.g. 0.1."
        )
    return min(value, MAX_FLUSH_INTERVAL)


def flush_timeout() -> float:
    """Seconds ``flush``/``end_run`` wait for records to be delivered: ``RUNLAB_FLUSH_TIMEOUT``.

    Default 30. It bounds the wait for a tracking server, and in durable mode for any store.
    """
    raw = os.environ.get("RUNLAB_FLUSH_TIMEOUT")
    if not raw:
        return DEFAULT_FLUSH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects NaN
        raise InvalidParameter(
            f"RUNLAB_FLUSH_TIMEOUT={raw!r} is not a number of seconds >= 0; set it to e.g. 30."
        )
    return value


def spool_dir() -> Path:
    """Where spool files go: ``RUNLAB_SPOOL_DIR``, else ``runlab/spool`` in the user cache folder."""
    configured = os.environ.get("RUNLAB_SPOOL_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "runlab" / "spool"


def durable_mode() -> DurableMode | None:
    """``RUNLAB_DURABLE``: None (off, the default), ``"write"`` (``1``/``true``) or ``"fsync"``.

    In durable mode every logging call appends its record to this process's spool file before
    it returns, so a process killed at any moment loses nothing (see docs/concepts.md).
    """
    raw = os.environ.get("RUNLAB_DURABLE", "")
    key = raw.strip().lower()
    if key not in _DURABLE_VALUES:
        raise InvalidParameter(
            f"RUNLAB_DURABLE={raw!r} is not understood; set it to 1 (each record is written to "
            "the spool file before the logging call returns), fsync (and forced to disk), or 0."
        )
    return _DURABLE_VALUES[key]


def pop_env_run_id() -> str | None:
    """The run to resume from ``RUNLAB_RUN_ID``/``MLFLOW_RUN_ID``, removed once read.

    Removing it means only the first ``start_run`` resumes the run; later ones start new runs.
    """
    run_id = env("RUN_ID")
    if run_id is not None:
        os.environ.pop("RUNLAB_RUN_ID", None)
        os.environ.pop("MLFLOW_RUN_ID", None)
    return run_id

"""Process-wide tracking settings: the tracking URI and the environment variables the client reads.

Every environment read of the tracking layer happens here, so the precedence is written down once:
a value set in code wins over ``RUNLAB_*`` variables, which win over their ``MLFLOW_*`` twins.
"""

from __future__ import annotations

import os
import threading

from runlab import uris
from runlab.errors import InvalidParameter

__all__ = [
    "DEFAULT_FLUSH_INTERVAL",
    "MAX_FLUSH_INTERVAL",
    "env",
    "flush_interval",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "pop_env_run_id",
    "resolve_uri",
    "set_registry_uri",
    "set_tracking_uri",
]

#: Seconds between background flushes of queued metrics, params and tags.
DEFAULT_FLUSH_INTERVAL = 0.1
#: The interval is capped so that a killed process loses at most about a second of logging.
MAX_FLUSH_INTERVAL = 1.0

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


def pop_env_run_id() -> str | None:
    """The run to resume from ``RUNLAB_RUN_ID``/``MLFLOW_RUN_ID``, removed once read.

    Removing it means only the first ``start_run`` resumes the run; later ones start new runs.
    """
    run_id = env("RUN_ID")
    if run_id is not None:
        os.environ.pop("RUNLAB_RUN_ID", None)
        os.environ.pop("MLFLOW_RUN_ID", None)
    return run_id

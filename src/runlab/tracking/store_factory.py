"""The one place that turns a tracking or registry URI into a store."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from runlab import uris
from runlab.errors import InvalidParameter
from runlab.store.base import RegistryStore, TrackingStore
from runlab.tracking import config

if TYPE_CHECKING:
    from runlab.store.rest.http import RestConfig

_lock = threading.Lock()
_stores: dict[tuple[str, str | None], TrackingStore] = {}
_registry_stores: dict[str, RegistryStore] = {}


def get_tracking_store(tracking_uri: str, artifact_root: str | None = None) -> TrackingStore:
    """The store for a tracking URI, created once per process and then reused.

    ``sqlite:``, ``postgresql:`` and ``mysql:`` URIs open the SQL store; a plain path or ``file:``
    URI names a folder that holds an embedded SQLite database. ``artifact_root`` is where new
    experiments put their artifacts (default: a folder beside the SQLite file, or in the working
    directory).
    """
    key = (tracking_uri, artifact_root)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _open_store(tracking_uri, artifact_root)
            _stores[key] = store
        return store


def _database_uri(uri: str) -> str:
    """A folder path or ``file:`` URI names the SQLite database inside that folder."""
    if not uris.is_local_path_uri(uri):
        return uri
    folder = Path(uris.file_uri_to_path(uri))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / uris.DEFAULT_DB_FILENAME}"


def _open_store(tracking_uri: str, artifact_root: str | None) -> TrackingStore:
    tracking_uri = _database_uri(tracking_uri)
    if uris.is_sql_uri(tracking_uri):
        from runlab.store.sql.tracking import SqlTrackingStore

        root = artifact_root or uris.default_artifact_root(tracking_uri, os.getcwd())
        return SqlTrackingStore(tracking_uri, root)
    if uris.is_http_uri(tracking_uri):
        from runlab.store.rest.tracking import RestTrackingStore

        return RestTrackingStore(rest_config(tracking_uri))
    raise InvalidParameter(
        f"Unsupported tracking URI {tracking_uri!r}: use sqlite:///path.db, "
        "postgresql://user@host/db, mysql://user@host/db or a folder path."
    )


def get_registry_store(registry_uri: str) -> RegistryStore:
    """The model registry store for a registry URI, created once per process and then reused.

    The same URIs as :func:`get_tracking_store`: a database URI or folder opens the registry
    tables of that database (the ones its tracking data sits beside, which is how a version's
    source is checked against its run); ``http(s)://`` talks to a tracking server.
    """
    with _lock:
        store = _registry_stores.get(registry_uri)
        if store is None:
            store = _open_registry_store(registry_uri)
            _registry_stores[registry_uri] = store
        return store


def _open_registry_store(registry_uri: str) -> RegistryStore:
    db_uri = _database_uri(registry_uri)
    if uris.is_sql_uri(db_uri):
        from runlab.store.sql.registry import SqlRegistryStore

        return SqlRegistryStore(db_uri)
    if uris.is_http_uri(registry_uri):
        from runlab.store.rest.registry import RestRegistryStore

        # One connection pool per server: reuse the tracking store's when it is open already.
        session = next(
            (
                getattr(store, "http", None)
                for (uri, _), store in _stores.items()
                if uri == registry_uri and getattr(store, "http", None) is not None
            ),
            None,
        )
        return RestRegistryStore(rest_config(registry_uri), session=session)
    raise InvalidParameter(
        f"Unsupported registry URI {registry_uri!r}: use sqlite:///path.db, "
        "postgresql://user@host/db, mysql://user@host/db, http(s)://server or a folder path."
    )


def rest_config(tracking_uri: str) -> RestConfig:
    """Connection settings for a tracking server, from ``RUNLAB_TRACKING_*`` (or ``MLFLOW_``) vars.

    A token is sent as ``Bearer``; a username and password as Basic auth (which wins, as in
    MLflow). ``INSECURE_TLS`` skips certificate checks; ``SERVER_CERT_PATH`` names a CA bundle;
    ``CLIENT_CERT_PATH`` a client certificate. ``HTTP_REQUEST_TIMEOUT`` and
    ``HTTP_REQUEST_MAX_RETRIES`` tune each request.
    """
    from runlab import __version__
    from runlab.store.rest.http import RestConfig

    insecure = (config.env("TRACKING_INSECURE_TLS") or "").lower() in ("1", "true", "yes")
    ca_bundle = config.env("TRACKING_SERVER_CERT_PATH")
    if insecure and ca_bundle:
        raise InvalidParameter(
            "Both TRACKING_INSECURE_TLS and TRACKING_SERVER_CERT_PATH are set; use one of them."
        )
    return RestConfig(
        base_url=tracking_uri,
        token=config.env("TRACKING_TOKEN"),
        username=config.env("TRACKING_USERNAME"),
        password=config.env("TRACKING_PASSWORD"),
        verify=False if insecure else (ca_bundle or True),
        client_cert=config.env("TRACKING_CLIENT_CERT_PATH"),
        timeout=float(config.env("HTTP_REQUEST_TIMEOUT") or 120),
        max_retries=int(config.env("HTTP_REQUEST_MAX_RETRIES") or 7),
        user_agent=f"runlab-python-client/{__version__}",
    )


def clear_store_cache() -> None:
    """Forget every opened store (tests, and after ``set_tracking_uri``)."""
    with _lock:
        for store in [*_stores.values(), *_registry_stores.values()]:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        _stores.clear()
        _registry_stores.clear()

"""Building the tracking server's app from a configuration object, in-process or in a worker.

``runlab server`` with one worker opens the stores itself and calls :func:`build_server_app`.
With several workers, uvicorn starts each worker process from an *import string* and cannot hand
it Python objects, so the CLI serialises a :class:`ServerConfig` to JSON into the environment
variable :data:`SERVER_CONFIG_ENV` before starting uvicorn, and each worker calls
:func:`create_app` (a zero-argument factory: ``uvicorn --factory runlab.server.factory:create_app``)
which reads it back.

That variable is internal plumbing between the CLI and its own workers, not a configuration
interface: only the CLI writes it and only :func:`create_app` reads it. The app that
:func:`runlab.server.app.build_app` returns still reads no environment at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from runlab.server.app import build_app
from runlab.server.artifact_roots import proxy_artifact_repository
from runlab.server.heap import settle_heap
from runlab.server.settings import ServerSettings
from runlab.store.base import RegistryStore, TrackingStore

if TYPE_CHECKING:
    from runlab.store.sql.auth import SqlAuthStore

__all__ = [
    "SERVER_CONFIG_ENV",
    "ServerConfig",
    "build_server_app",
    "create_app",
    "open_auth_store",
    "open_registry_store",
    "open_tracking_store",
]

#: Internal: the JSON-serialised :class:`ServerConfig` that ``runlab server --workers N`` passes
#: to its uvicorn worker processes. Not meant to be set by hand.
SERVER_CONFIG_ENV = "_RUNLAB_SERVER_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server process needs to build its app: the store URIs and the settings.

    ``backend_store_uri`` is a database URI (``sqlite:///…``, ``postgresql://…``, ``mysql://…``)
    already resolved by the CLI; ``default_artifact_root`` is where new experiments put their
    artifacts (``mlflow-artifacts:/`` when the server proxies them). ``auth_database_uri`` is
    the database of users and permissions when ``settings.auth_enabled`` (None otherwise).
    """

    backend_store_uri: str
    default_artifact_root: str
    settings: ServerSettings
    auth_database_uri: str | None = None

    def to_json(self) -> str:
        """This configuration as one JSON document (tuples become lists)."""
        return json.dumps(
            {
                "backend_store_uri": self.backend_store_uri,
                "default_artifact_root": self.default_artifact_root,
                "auth_database_uri": self.auth_database_uri,
                "settings": dataclasses.asdict(self.settings),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        """The configuration :meth:`to_json` wrote.

        Raises ``ValueError`` naming the problem when the document is not one: a worker should
        fail loudly at start-up rather than serve with settings it half understood.
        """
        try:
            data = json.loads(text)
            raw_settings = data["settings"]
            auth_uri = data.get("auth_database_uri")
            config = cls(
                backend_store_uri=str(data["backend_store_uri"]),
                default_artifact_root=str(data["default_artifact_root"]),
                settings=_settings_from_dict(raw_settings),
                auth_database_uri=None if auth_uri is None else str(auth_uri),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"Not a runlab server configuration: {exc}") from exc
        return config


def _settings_from_dict(raw: dict[str, Any]) -> ServerSettings:
    known = {f.name for f in dataclasses.fields(ServerSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        # A worker built from another runlab version than the CLI's would silently drop these.
        raise ValueError(f"unknown server setting(s): {', '.join(unknown)}")
    # JSON has no tuples; the settings hold them (frozen, hashable), so convert lists back.
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return ServerSettings(**values)


def open_tracking_store(config: ServerConfig) -> TrackingStore:
    """Open (and, on first use, create and migrate) the SQL tracking store the config names."""
    from runlab.store.sql.tracking import SqlTrackingStore

    return SqlTrackingStore(config.backend_store_uri, config.default_artifact_root)


def open_registry_store(config: ServerConfig) -> RegistryStore:
    """Open the SQL model-registry store on the same database as the tracking store.

    The registry lives beside the runs it registers, so one backend URI serves both (a version's
    source is checked against its run's artifact root in the same database).
    """
    from runlab.store.sql.registry import SqlRegistryStore

    return SqlRegistryStore(config.backend_store_uri)


def open_auth_store(config: ServerConfig) -> SqlAuthStore:
    """Open (and, on first use, create and migrate) the database of users and permissions."""
    from runlab.store.sql.auth import SqlAuthStore

    if config.auth_database_uri is None:
        raise ValueError(
            "Authentication is on but the configuration names no auth database (auth_database_uri)."
        )
    return SqlAuthStore(config.auth_database_uri)


def build_server_app(
    config: ServerConfig,
    tracking_store: TrackingStore | None = None,
    registry_store: RegistryStore | None = None,
    auth_store: SqlAuthStore | None = None,
) -> Starlette:
    """The server's ASGI app for ``config``, through the one app factory (``build_app``).

    ``tracking_store``, ``registry_store`` and ``auth_store`` reuse stores the caller already
    opened; whichever is not given is opened here (the single-worker CLI path passes its
    tracking and auth stores; each worker of ``--workers N`` opens all of them). The auth store
    is opened only when ``settings.auth_enabled``. The artifact proxy's repository comes from
    ``settings.artifacts_destination`` when the server serves artifacts.
    """
    store = tracking_store if tracking_store is not None else open_tracking_store(config)
    registry = registry_store if registry_store is not None else open_registry_store(config)
    settings = config.settings
    if settings.auth_enabled and auth_store is None:
        auth_store = open_auth_store(config)
    repo = proxy_artifact_repository(
        settings.artifacts_destination, serve_artifacts=settings.serve_artifacts
    )
    return build_app(
        store,
        registry_store=registry,
        artifact_repo=repo,
        settings=settings,
        auth_store=auth_store if settings.auth_enabled else None,
    )


def create_app() -> Starlette:
    """The zero-argument factory uvicorn workers call (``factory=True``).

    Reads the configuration the CLI put in :data:`SERVER_CONFIG_ENV`; this is the only
    environment read on the server side.
    """
    raw = os.environ.get(SERVER_CONFIG_ENV)
    if not raw:
        raise RuntimeError(
            f"{SERVER_CONFIG_ENV} is not set: this factory is for the worker processes that "
            "`runlab server --workers N` starts. Run `runlab server` instead."
        )
    app = build_server_app(ServerConfig.from_json(raw))
    settle_heap()
    return app

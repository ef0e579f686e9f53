"""``runlab server`` and ``runlab ui``: the MLflow-compatible tracking server under uvicorn.

This module is where the server's configuration is read (flags only; the one exception is
``RUNLAB_ADMIN_USERNAME`` / ``RUNLAB_ADMIN_PASSWORD``, which create the first administrator of a
server with ``--auth``, so that a password need not appear on a command line): it resolves the
store URIs, validates every option up front with a one-line error, opens the store once (creating
and migrating the schema before any worker starts), prints where it serves, and hands uvicorn
either the app itself (one worker) or the import string of
:func:`runlab.server.factory.create_app` (several workers).
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from runlab.cli.options import OneLineErrors

if TYPE_CHECKING:  # imported lazily at run time, so that `runlab --help` stays fast
    from runlab.server.factory import ServerConfig
    from runlab.store.base import TrackingStore
    from runlab.store.sql.auth import SqlAuthStore

F = TypeVar("F", bound=Callable[..., Any])

#: The address uvicorn binds to when the user says "every interface".
_ALL_INTERFACES = ("0.0.0.0", "::")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

#: MLflow's name for its authenticating app (``mlflow server --app-name basic-auth``), the one
#: ``--app-name`` value runlab accepts: it is the same as ``--auth``.
BASIC_AUTH_APP = "basic-auth"
#: The environment variables that create the first administrator when ``--auth`` starts with
#: none.
ADMIN_USERNAME_ENV = "RUNLAB_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "RUNLAB_ADMIN_PASSWORD"


@dataclass(frozen=True)
class ServeOptions:
    """The options of ``runlab server`` / ``runlab ui``, as typed."""

    backend_store_uri: str | None = None
    default_artifact_root: str | None = None
    artifacts_destination: str | None = None
    allowed_artifact_locations: str | None = None
    serve_artifacts: bool = True
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    allowed_hosts: str | None = None
    cors_allowed_origins: str | None = None
    max_request_bytes: int | None = None
    max_artifact_bytes: int | None = None
    log_level: str = "info"
    auth: bool = False
    app_name: str | None = None
    auth_database_uri: str | None = None
    auth_default_permission: str | None = None
    auth_trusted_header: str | None = None
    auth_trusted_proxies: str | None = None


@dataclass(frozen=True)
class ServePlan:
    """What the server will do, resolved from :class:`ServeOptions` and the working directory."""

    config: ServerConfig
    host: str
    port: int
    workers: int
    log_level: str

    @property
    def url(self) -> str:
        """The URL a client on this machine uses (loopback when bound to every interface)."""
        return f"http://{_url_host(self.host)}:{self.port}"


# -- resolving the options --------------------------------------------------------------------------


def resolve_backend_store_uri(uri: str | None, cwd: str) -> str:
    """The database URI to serve.

    None means the embedded SQLite file of ``cwd`` (the one the fluent API uses there); a folder
    path or ``file:`` URI means ``runlab.db`` inside that folder, as everywhere in runlab; a
    relative ``sqlite:///`` path is made absolute so that every worker opens the same file.
    """
    from runlab import uris

    if not uri:
        return uris.default_tracking_uri(cwd)
    if uris.is_http_uri(uri):
        raise click.ClickException(
            f"--backend-store-uri {uri!r} is a tracking server; the server needs a database "
            "(sqlite:///file.db, postgresql://…, mysql://…) or a folder."
        )
    if uris.is_local_path_uri(uri):
        folder = Path(cwd, uris.file_uri_to_path(uri))
        if folder.is_file():
            raise click.ClickException(
                f"--backend-store-uri {uri!r} is a file; a path names a folder that holds "
                f"{uris.DEFAULT_DB_FILENAME}. For a SQLite file, write sqlite:///{uri}"
            )
        return uris.default_tracking_uri(folder)
    if not uris.is_sql_uri(uri):
        raise click.ClickException(
            f"Unsupported --backend-store-uri {uri!r}: use sqlite:///file.db, "
            "postgresql://user@host/db, mysql://user@host/db or a folder path."
        )
    if uris.scheme_of(uri) == "sqlite":
        return _absolute_sqlite_uri(uri, cwd)
    return uri


def resolve_auth_database_uri(
    auth_database_uri: str | None, backend_store_uri: str | None, cwd: str
) -> str:
    """The database of users and permissions: ``auth_database_uri``, else the backend store's.

    A relative ``sqlite:///`` path is made absolute, so every worker (and ``runlab auth``) opens
    the same file.
    """
    from runlab import uris

    if not auth_database_uri:
        return resolve_backend_store_uri(backend_store_uri, cwd)
    if not uris.is_sql_uri(auth_database_uri):
        raise click.ClickException(
            f"--auth-database-uri {auth_database_uri!r} is not a database URI; use "
            "sqlite:///auth.db, postgresql://user@host/db or mysql://user@host/db."
        )
    if uris.scheme_of(auth_database_uri) == "sqlite":
        if uris.sqlite_path(auth_database_uri) is None:
            raise click.ClickException(
                f"--auth-database-uri {auth_database_uri!r} is an in-memory database, which "
                "would lose every user at exit; give a file (sqlite:///auth.db)."
            )
        return _absolute_sqlite_uri(auth_database_uri, cwd)
    return auth_database_uri


def _absolute_sqlite_uri(uri: str, cwd: str) -> str:
    from runlab import uris

    path = uris.sqlite_path(uri)
    if path is None:
        # Every pooled connection (and every worker) would get its own empty database.
        raise click.ClickException(
            f"--backend-store-uri {uri!r} is an in-memory database, which the server cannot "
            "share between connections; give a file (sqlite:///runlab.db)."
        )
    if os.path.isabs(path):
        return uri
    prefix, _, rest = uri.partition(":///")
    query = rest[len(path) :]
    return f"{prefix}:///{Path(cwd, path).resolve()}{query}"


def _local_or_remote_root(uri: str, cwd: str, option: str, *, http_ok: bool = False) -> str:
    """A plain path made into an absolute ``file:`` URI; other URIs unchanged.

    ``http_ok`` accepts an ``http(s)`` root that points into a tracking server's artifact proxy
    (``…/api/2.0/mlflow-artifacts/artifacts``): the operator configured it, so clients may write
    there (MLflow's server accepts it too). The proxy's own destination cannot be one.
    """
    from runlab import uris
    from runlab.errors import InvalidParameter

    if uris.is_local_path_uri(uri):
        try:
            path = uris.file_uri_to_path(uri)
        except InvalidParameter as exc:
            raise click.ClickException(f"{option}: {exc.message}") from None
        return uris.path_to_file_uri(Path(cwd, path))
    if uris.scheme_of(uri) in ("http", "https"):
        if not http_ok:
            raise click.ClickException(
                f"{option} {uri!r}: http(s) artifact roots are not supported here; use a folder, "
                "a file: URI, s3://bucket/prefix or mlflow-artifacts:/."
            )
        from runlab.artifacts.http_proxy import resolve_proxy_uri

        try:
            resolve_proxy_uri(uri)
        except InvalidParameter as exc:
            raise click.ClickException(f"{option}: {exc.message}") from None
    return uri


def resolve_allowed_artifact_locations(value: str | None, cwd: str) -> tuple[str, ...]:
    """The prefixes of ``--allowed-artifact-locations``: paths made absolute ``file:`` URIs.

    Each entry is a folder, a ``file:`` URI or a URI with a scheme (``s3://bucket/prefix``,
    ``https://host/api/2.0/mlflow-artifacts/artifacts/team``, ``mlflow-artifacts://host/``).
    """
    from runlab import uris

    out: list[str] = []
    for entry in _split_list(value):
        parts = urlsplit(entry)
        if uris.scheme_of(entry) and (parts.query or parts.fragment):
            raise click.ClickException(
                f"--allowed-artifact-locations: {entry!r} has a query or a fragment; give a "
                "folder or a URI prefix such as s3://bucket/prefix."
            )
        if ".." in entry.replace("\\", "/").split("/"):
            raise click.ClickException(
                f"--allowed-artifact-locations: {entry!r} contains '..'; give the folder itself."
            )
        out.append(_local_or_remote_root(entry, cwd, "--allowed-artifact-locations", http_ok=True))
    return tuple(dict.fromkeys(out))


def _split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def resolve_allowed_hosts(value: str | None, host: str) -> tuple[str, ...]:
    """The Host-header allow-list: the loopback names, ``--host``, and the given names.

    The loopback names always stay: a DNS-rebinding page sends its own domain as Host, never
    ``localhost``, so keeping them costs nothing and local health checks keep working. Entries
    may carry a port (``example.org:5000``); the guard compares host names only, so the port is
    dropped here. ``*`` allows every host; partial wildcards are refused rather than silently
    never matching.
    """
    from runlab.server.settings import DEFAULT_ALLOWED_HOSTS

    out: list[str] = list(DEFAULT_ALLOWED_HOSTS)
    if host not in _ALL_INTERFACES:
        # Clients send an IPv6 address in brackets ([fe80::1]:5000); the guard compares that form.
        out.append(_url_host(host.lower()))
    for entry in _split_list(value):
        if entry == "*":
            out.append(entry)
            continue
        if "*" in entry or "/" in entry or " " in entry:
            raise click.ClickException(
                f"--allowed-hosts: {entry!r} is not a host name; give names or addresses such "
                "as example.org or 10.0.0.5 (optionally with :port), or * for every host."
            )
        out.append(_strip_port(entry.lower()))
    return tuple(dict.fromkeys(out))


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def resolve_cors_origins(value: str | None) -> tuple[str, ...]:
    """The CORS allow-list (empty: CORS off); each entry ``*`` or ``http(s)://host[:port]``."""
    out: list[str] = []
    for entry in _split_list(value):
        origin = entry.rstrip("/")
        if origin != "*":
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise click.ClickException(
                    f"--cors-allowed-origins: {entry!r} is not an origin; write "
                    "scheme://host[:port], e.g. https://notebook.example.org, or *."
                )
        out.append(origin)
    return tuple(dict.fromkeys(out))


def plan_server(options: ServeOptions, cwd: str) -> ServePlan:
    """Resolve and validate every option; raises :class:`click.ClickException` on the first problem.

    Pure apart from looking at the file system for ``--backend-store-uri`` paths: nothing is
    opened or bound here.
    """
    from runlab import __version__, uris
    from runlab.server.artifact_roots import server_default_artifact_root
    from runlab.server.factory import ServerConfig
    from runlab.server.settings import DEFAULT_MAX_REQUEST_BYTES, ServerSettings

    backend = resolve_backend_store_uri(options.backend_store_uri, cwd)
    # The folder a script logging in this directory uses for artifacts (beside its SQLite file).
    local_artifacts = uris.default_artifact_root(backend, cwd)

    destination: str | None = None
    if options.serve_artifacts:
        destination = _local_or_remote_root(
            options.artifacts_destination or local_artifacts, cwd, "--artifacts-destination"
        )
        if uris.scheme_of(destination) == "mlflow-artifacts":
            raise click.ClickException(
                f"--artifacts-destination {destination!r} is the proxy itself; give a folder, a "
                "file: URI or s3://bucket/prefix."
            )
    elif options.artifacts_destination:
        raise click.ClickException(
            "--artifacts-destination only applies when the server proxies artifacts; drop it, "
            "or drop --no-serve-artifacts."
        )

    given_root = options.default_artifact_root
    if given_root:
        given_root = _local_or_remote_root(given_root, cwd, "--default-artifact-root", http_ok=True)
        if not options.serve_artifacts and uris.scheme_of(given_root) == "mlflow-artifacts":
            raise click.ClickException(
                f"--default-artifact-root {given_root!r} needs the artifact proxy, which "
                "--no-serve-artifacts turns off."
            )
    root = server_default_artifact_root(
        given_root, serve_artifacts=options.serve_artifacts, fallback=local_artifacts
    )
    if options.workers < 1:
        raise click.ClickException("--workers must be at least 1.")
    auth = resolve_auth_options(options, cwd)
    settings = ServerSettings(
        allowed_hosts=resolve_allowed_hosts(options.allowed_hosts, options.host),
        cors_allowed_origins=resolve_cors_origins(options.cors_allowed_origins),
        max_request_bytes=options.max_request_bytes or DEFAULT_MAX_REQUEST_BYTES,
        max_artifact_bytes=options.max_artifact_bytes,
        serve_artifacts=options.serve_artifacts,
        artifacts_destination=destination,
        allowed_artifact_locations=resolve_allowed_artifact_locations(
            options.allowed_artifact_locations, cwd
        ),
        working_directory=str(Path(cwd).resolve()),
        version=__version__,
        auth_enabled=auth.enabled,
        auth_default_permission=auth.default_permission,
        auth_trusted_header=auth.trusted_header,
        auth_trusted_proxies=auth.trusted_proxies,
        # One key for the web UI's session cookies, shared by every worker of this start (so
        # sessions end when the server restarts).
        auth_session_secret=secrets.token_urlsafe(32) if auth.enabled else None,
    )
    config = ServerConfig(
        backend_store_uri=backend,
        default_artifact_root=root,
        settings=settings,
        auth_database_uri=auth.database_uri,
    )
    return ServePlan(
        config=config,
        host=options.host,
        port=options.port,
        workers=options.workers,
        log_level=options.log_level,
    )


@dataclass(frozen=True)
class AuthPlan:
    """The authentication options, resolved (``database_uri`` None when auth is off)."""

    enabled: bool = False
    database_uri: str | None = None
    default_permission: str = "READ"
    trusted_header: str | None = None
    trusted_proxies: tuple[str, ...] = ()


def resolve_auth_options(options: ServeOptions, cwd: str) -> AuthPlan:
    """Check the ``--auth*`` options together; raises :class:`click.ClickException`."""
    from runlab.entities.auth import PERMISSIONS
    from runlab.server.auth.authentication import parse_networks

    if options.app_name is not None and options.app_name != BASIC_AUTH_APP:
        raise click.ClickException(
            f"Unknown --app-name {options.app_name!r}: runlab has one app, {BASIC_AUTH_APP!r} "
            "(MLflow's name for the authenticating server, the same as --auth)."
        )
    enabled = options.auth or options.app_name == BASIC_AUTH_APP
    given = [
        flag
        for flag, value in (
            ("--auth-database-uri", options.auth_database_uri),
            ("--auth-default-permission", options.auth_default_permission),
            ("--auth-trusted-header", options.auth_trusted_header),
            ("--auth-trusted-proxies", options.auth_trusted_proxies),
        )
        if value is not None
    ]
    if not enabled:
        if given:
            raise click.ClickException(
                f"{', '.join(given)} only apply with --auth; add --auth to turn authentication "
                "on, or drop them."
            )
        return AuthPlan()
    permission = options.auth_default_permission or "READ"
    if permission not in PERMISSIONS:
        raise click.ClickException(
            f"--auth-default-permission {permission!r} is not a permission; use one of "
            f"{', '.join(PERMISSIONS)}."
        )
    header = (options.auth_trusted_header or "").strip() or None
    proxies = _split_list(options.auth_trusted_proxies)
    if header is not None and not proxies:
        raise click.ClickException(
            f"--auth-trusted-header {header} needs --auth-trusted-proxies (the addresses of the "
            "proxies that set it); believed from anywhere, it would let anyone claim any name."
        )
    if proxies and header is None:
        raise click.ClickException(
            "--auth-trusted-proxies only applies with --auth-trusted-header (the header those "
            "proxies put the user name in)."
        )
    if header is not None and (not header.isascii() or any(c in header for c in " :\t\r\n")):
        raise click.ClickException(
            f"--auth-trusted-header {header!r} is not a header name; give one such as "
            "X-Forwarded-User."
        )
    try:
        networks = parse_networks(proxies)
    except ValueError as exc:
        raise click.ClickException(f"--auth-trusted-proxies: {exc}") from None
    return AuthPlan(
        enabled=True,
        database_uri=resolve_auth_database_uri(
            options.auth_database_uri, options.backend_store_uri, cwd
        ),
        default_permission=permission,
        trusted_header=header,
        trusted_proxies=tuple(dict.fromkeys(str(n) for n in networks)),
    )


# -- starting -------------------------------------------------------------------------------------


def _url_host(host: str) -> str:
    if host == "0.0.0.0":
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def check_port_free(host: str, port: int) -> None:
    """Fail with one line now if uvicorn could not bind ``host:port`` later.

    Binds the way uvicorn does (``SO_REUSEADDR``; IPv6 when the host has a colon) and lets go.
    Another process could still take the port in between; uvicorn then reports it itself.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
    except socket.gaierror as exc:
        raise click.ClickException(f"--host {host!r} is not a known address: {exc}") from None
    except OSError as exc:
        hint = " Pick another --port." if exc.errno == errno.EADDRINUSE else ""
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.{hint}"
        ) from None


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy wraps the driver's error (and appends a link on later lines): show the driver's.
    inner = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return lines[0] if lines else type(inner).__name__


def _shown_uri(uri: str) -> str:
    """A database URI with its password masked, for printing."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # an unparsable URI is reported by the store; show it as given
        return uri


def open_store(plan: ServePlan) -> TrackingStore:
    """Open the tracking store once: creates or migrates the schema before any worker starts.

    Any failure (server unreachable, bad credentials, driver missing) becomes one line.
    """
    from runlab import uris
    from runlab.server.factory import open_tracking_store

    backend = plan.config.backend_store_uri
    if uris.scheme_of(backend) == "sqlite":
        db_path = uris.sqlite_path(backend)
        if db_path is not None:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return open_tracking_store(plan.config)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"Cannot open the backend store {_shown_uri(backend)}: the {exc.name} driver is not "
            "installed (pip install 'runlab[postgres]' or 'runlab[mysql]')."
        ) from None
    except Exception as exc:
        raise click.ClickException(
            f"Cannot open the backend store {_shown_uri(backend)}: {_one_line(exc)}"
        ) from None


def open_auth_store(plan: ServePlan) -> SqlAuthStore:
    """Open (and on first use create) the database of users and permissions, or fail in one
    line."""
    from runlab import uris
    from runlab.store.sql.auth import SqlAuthStore

    uri = plan.config.auth_database_uri
    assert uri is not None
    if uris.scheme_of(uri) == "sqlite":
        db_path = uris.sqlite_path(uri)
        if db_path is not None:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return SqlAuthStore(uri)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"Cannot open the auth database {_shown_uri(uri)}: the {exc.name} driver is not "
            "installed (pip install 'runlab[postgres]' or 'runlab[mysql]')."
        ) from None
    except Exception as exc:
        raise click.ClickException(
            f"Cannot open the auth database {_shown_uri(uri)}: {_one_line(exc)}"
        ) from None


def ensure_admin(store: SqlAuthStore, plan: ServePlan, env: dict[str, str]) -> str | None:
    """Make sure the server has an administrator before it serves anything.

    With none, ``RUNLAB_ADMIN_USERNAME`` and ``RUNLAB_ADMIN_PASSWORD`` create one (the password
    is never printed); without them the server refuses to start and says how to make one.
    Returns a line for the banner, or None. There is no default password, ever.
    """
    from runlab.errors import RunlabError, UserNotFound

    username = env.get(ADMIN_USERNAME_ENV) or None
    password = env.get(ADMIN_PASSWORD_ENV) or None
    if store.has_admin():
        if username is not None or password is not None:
            return (
                f"{ADMIN_USERNAME_ENV}/{ADMIN_PASSWORD_ENV} ignored: the server already has an "
                "administrator (change passwords with `runlab auth users set-password`)."
            )
        return None
    uri = _shown_uri(plan.config.auth_database_uri or "")
    options = (
        f" --auth-database-uri {uri}"
        if plan.config.auth_database_uri != plan.config.backend_store_uri
        else f" --backend-store-uri {_shown_uri(plan.config.backend_store_uri)}"
    )
    if username is None or password is None:
        missing = ADMIN_PASSWORD_ENV if username is not None else ADMIN_USERNAME_ENV
        partly = f" ({missing} is not set.)" if (username is None) != (password is None) else ""
        raise click.ClickException(
            f"Authentication is on (--auth) but {uri} has no administrator, so nobody could "
            "manage this server; it did not start. Create one with\n"
            f"  runlab auth create-admin <username>{options}\n"
            f"or set {ADMIN_USERNAME_ENV} and {ADMIN_PASSWORD_ENV} for this first start." + partly
        )
    try:
        store.get_user(username)
    except UserNotFound:
        pass
    else:
        raise click.ClickException(
            f"{ADMIN_USERNAME_ENV} names {username!r}, an existing user who is not an "
            f"administrator; make them one with `runlab auth users set-admin {username}"
            f"{options}`, or choose another name."
        )
    try:
        store.create_user(username, password, is_admin=True)
    except RunlabError as exc:
        raise click.ClickException(f"Cannot create the administrator: {exc.message}") from None
    store.record_event(
        "user.create", username, f"administrator, from {ADMIN_USERNAME_ENV} at server start"
    )
    return f"Created administrator {username!r} from {ADMIN_USERNAME_ENV}/{ADMIN_PASSWORD_ENV}."


def print_banner(plan: ServePlan, command: str) -> None:
    """Say where the server listens and which store and artifact locations it uses."""
    from runlab import uris

    settings = plan.config.settings
    if plan.host in _ALL_INTERFACES and not settings.auth_enabled:
        click.echo(
            f"Warning: listening on every network interface ({plan.host}). Anyone who can reach "
            "this machine can read and write its runs: the server has no authentication "
            "(--auth turns it on). Clients must use a host name in --allowed-hosts "
            f"(now: {', '.join(settings.allowed_hosts)}).",
            err=True,
        )
    elif plan.host in _ALL_INTERFACES:
        click.echo(
            f"Note: listening on every network interface ({plan.host}) without TLS: passwords "
            "and tokens cross the network in the clear unless a proxy in front adds HTTPS. "
            f"Clients must use a host name in --allowed-hosts (now: "
            f"{', '.join(settings.allowed_hosts)}).",
            err=True,
        )
    click.echo(f"runlab {command} {settings.version} at {plan.url}")
    click.echo(f"  backend store:          {_shown_uri(plan.config.backend_store_uri)}")
    click.echo(f"  new experiments' root:  {plan.config.default_artifact_root}")
    if settings.allowed_artifact_locations:
        allowed = ", ".join(settings.allowed_artifact_locations)
        click.echo(f"  also allowed roots:     {allowed}")
    if settings.serve_artifacts:
        click.echo(f"  artifact proxy writes:  {settings.artifacts_destination}")
        beside = uris.local_proxy_destination(plan.config.backend_store_uri)
        if beside is not None and settings.artifacts_destination != beside:
            # A script that opens the SQLite file directly files mlflow-artifacts:/ paths
            # beside it (uris.local_proxy_destination); this server would not see them.
            click.echo(
                "  note: scripts that use this SQLite file directly keep mlflow-artifacts: files "
                f"in {beside}, not in the proxy's destination; point them at {plan.url}."
            )
    else:
        click.echo("  artifact proxy:         off (--no-serve-artifacts)")
    if settings.auth_enabled:
        click.echo(
            f"  authentication:         on; users in "
            f"{_shown_uri(plan.config.auth_database_uri or '')}"
        )
        click.echo(f"  default permission:     {settings.auth_default_permission}")
        if settings.auth_trusted_header:
            click.echo(
                f"  trusted user header:    {settings.auth_trusted_header} from "
                f"{', '.join(settings.auth_trusted_proxies)}"
            )
    click.echo(f"  workers:                {plan.workers}")
    click.echo(f"  allowed hosts:          {', '.join(settings.allowed_hosts)}")
    if settings.cors_allowed_origins:
        click.echo(f"  CORS origins:           {', '.join(settings.cors_allowed_origins)}")
    if command == "ui":
        click.echo(f"Open {plan.url} in a browser. Press Ctrl+C to stop.")
    else:
        click.echo(f"Point clients at it: RUNLAB_TRACKING_URI={plan.url} (or MLFLOW_TRACKING_URI).")
        click.echo(f"The web UI is at {plan.url}/ in a browser.")


def serve(options: ServeOptions, command: str) -> None:
    """Validate, open the store, print the banner, and run uvicorn until stopped."""
    try:
        import msgspec  # noqa: F401  (the usual log-batch body's decoder)
        import orjson  # noqa: F401  (the app's JSON codec)
        import starlette  # noqa: F401
        import uvicorn
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"The server needs {exc.name}, which is not installed: "
            "pip install uvicorn starlette orjson msgspec"
        ) from None
    from runlab.server.factory import SERVER_CONFIG_ENV, build_server_app
    from runlab.server.heap import settle_heap

    plan = plan_server(options, os.getcwd())
    check_port_free(plan.host, plan.port)
    store = open_store(plan)
    auth_store = None
    admin_note = None
    if plan.config.settings.auth_enabled:
        auth_store = open_auth_store(plan)
        try:
            admin_note = ensure_admin(auth_store, plan, dict(os.environ))
        except BaseException:
            auth_store.close()
            raise
        # Not handed down to the workers or anything they start.
        os.environ.pop(ADMIN_PASSWORD_ENV, None)
    try:
        app = build_server_app(plan.config, tracking_store=store, auth_store=auth_store)
    except Exception as exc:  # e.g. an artifacts destination that cannot be created
        raise click.ClickException(f"Cannot start the server: {_one_line(exc)}") from None
    print_banner(plan, command)
    if admin_note is not None:
        click.echo(admin_note)
    # uvicorn prints one access line per request at "info" and below, as MLflow's server does.
    common: dict[str, Any] = {
        "host": plan.host.strip("[]"),
        "port": plan.port,
        "log_level": plan.log_level,
        "server_header": False,
    }
    if plan.workers == 1:
        settle_heap()
        uvicorn.run(app, **common)
        return
    # Several workers: each is a fresh process that builds its own app (and database pool) from
    # the serialised configuration. The schema already exists (open_store), so workers do not
    # race to migrate it; this process's connections are closed before they start.
    close = getattr(store, "close", None)
    if close is not None:
        close()
    if auth_store is not None:
        auth_store.close()  # each worker opens its own
    os.environ[SERVER_CONFIG_ENV] = plan.config.to_json()
    uvicorn.run("runlab.server.factory:create_app", factory=True, workers=plan.workers, **common)


# -- the commands -----------------------------------------------------------------------------------


def _shared_options(func: F) -> F:
    """The options ``runlab server`` and ``runlab ui`` share (all but --workers)."""
    decorators = [
        click.option(
            "--backend-store-uri",
            metavar="URI",
            default=None,
            help="Database for experiments and runs: sqlite:///file.db, postgresql://…, "
            "mysql://…, or a folder (its runlab.db). Default: runlab.db in the working "
            "directory, the store the fluent API uses there.",
        ),
        click.option(
            "--default-artifact-root",
            metavar="URI",
            default=None,
            help="Artifact root for new experiments. Default: mlflow-artifacts:/ (through this "
            "server's proxy) when serving artifacts, else the runlab-artifacts folder beside the "
            "database. Existing experiments keep theirs.",
        ),
        click.option(
            "--artifacts-destination",
            metavar="URI",
            default=None,
            help="Where the artifact proxy stores files: a folder, a file: URI or s3://bucket/"
            "prefix. Default: the runlab-artifacts folder beside the database.",
        ),
        click.option(
            "--allowed-artifact-locations",
            metavar="PREFIX,...",
            default=None,
            help="More places a client may put a new experiment's artifacts (folders or URI "
            "prefixes such as s3://bucket/team), comma-separated. Without it, a client-chosen "
            "artifact_location must lie under the default artifact root or the proxy; the "
            "server never fetches artifacts from anywhere else.",
        ),
        click.option(
            "--serve-artifacts/--no-serve-artifacts",
            default=True,
            show_default=True,
            help="Proxy artifact uploads and downloads under /api/2.0/mlflow-artifacts.",
        ),
        click.option(
            "--host",
            metavar="HOST",
            default="127.0.0.1",
            show_default=True,
            help="Interface to listen on; 0.0.0.0 listens on every interface (without --auth, "
            "anyone who reaches it can read and write: put it behind a proxy that checks users).",
        ),
        click.option(
            "--port",
            "-p",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            default=5000,
            show_default=True,
            help="Port to listen on.",
        ),
        click.option(
            "--allowed-hosts",
            metavar="HOST,...",
            default=None,
            help="More Host header values to accept (against DNS rebinding), comma-separated; "
            "* accepts any. Always accepted: localhost, 127.0.0.1, [::1] and --host.",
        ),
        click.option(
            "--cors-allowed-origins",
            metavar="ORIGIN,...",
            default=None,
            help="Origins (https://host[:port], or *) whose browser pages may call the API. "
            "Default: none (CORS off).",
        ),
        click.option(
            "--max-request-bytes",
            type=click.IntRange(min=1),
            metavar="N",
            default=None,
            help="Largest JSON request body accepted. Default: 16 MiB.",
        ),
        click.option(
            "--max-artifact-bytes",
            type=click.IntRange(min=1),
            metavar="N",
            default=None,
            help="Largest artifact upload accepted through the proxy. Default: no limit.",
        ),
        click.option(
            "--log-level",
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            default="info",
            show_default=True,
            help="uvicorn's log level; info and below also log every request.",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def _auth_options(func: F) -> F:
    """The authentication options of ``runlab server``."""
    decorators = [
        click.option(
            "--auth",
            is_flag=True,
            default=False,
            help="Require a user name and password (HTTP Basic) or an access token (Bearer) on "
            "every request, and check permissions per experiment and registered model.",
        ),
        click.option(
            "--app-name",
            metavar="NAME",
            default=None,
            help=f"MLflow's way to turn authentication on: {BASIC_AUTH_APP} is the same as "
            "--auth (no other app exists).",
        ),
        click.option(
            "--auth-database-uri",
            metavar="URI",
            default=None,
            help="Database of users, tokens and permissions (sqlite:///auth.db, postgresql://…, "
            "mysql://…). Default: the backend store.",
        ),
        click.option(
            "--auth-default-permission",
            metavar="PERMISSION",
            default=None,
            help="What a user may do with an experiment or model they have no permission of "
            "their own on: READ (default), EDIT, MANAGE or NO_PERMISSIONS.",
        ),
        click.option(
            "--auth-trusted-header",
            metavar="HEADER",
            default=None,
            help="Behind a single-sign-on proxy: the header holding the signed-in user's name "
            "(e.g. X-Forwarded-User), believed only from --auth-trusted-proxies.",
        ),
        click.option(
            "--auth-trusted-proxies",
            metavar="CIDR,...",
            default=None,
            help="Addresses of the proxies whose --auth-trusted-header is believed, as CIDR "
            "blocks (10.0.0.0/8,192.168.1.5/32).",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


@click.command("server", cls=OneLineErrors)
@_shared_options
@_auth_options
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    metavar="N",
    default=1,
    show_default=True,
    help="Worker processes; they share one database (SQLite or a database server).",
)
def server(**options: Any) -> None:
    """Run the MLflow-compatible tracking server.

    It serves MLflow's REST API, the artifact proxy and runlab's own API. MLflow's client works
    against it (MLFLOW_TRACKING_URI=http://host:port), and so does
    runlab's (RUNLAB_TRACKING_URI). With no options it serves runlab.db and runlab-artifacts/
    of the working directory on http://127.0.0.1:5000.

    With --auth, every request needs a user name and password or an access token, and users
    get permissions per experiment and registered model (see `runlab auth`). The first
    administrator comes from `runlab auth create-admin`, or from RUNLAB_ADMIN_USERNAME and
    RUNLAB_ADMIN_PASSWORD at the first start; without one the server does not start.
    """
    serve(ServeOptions(**options), "server")


@click.command("ui", cls=OneLineErrors)
@_shared_options
def ui(**options: Any) -> None:
    """Serve this folder's runs locally and print the URL.

    The same as `runlab server` with one worker and without authentication. Takes the same
    options as `runlab server` except --workers and the --auth options.
    """
    serve(ServeOptions(**options, workers=1), "ui")

"""Server settings: everything the app factory needs besides its stores.

The CLI is the only place that reads flags and environment variables; it builds one of these and
hands it to :func:`runlab.server.app.build_app`, so the app itself never reads configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Host names accepted by default: the loopback names, with or without a port.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]", "::1")

#: 16 MiB: far above the largest valid log-batch (1000 metrics, 100 params of 6000 characters…).
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """How the server behaves.

    ``allowed_hosts`` guards against DNS rebinding: a request whose Host header is not listed
    gets 403. ``"*"`` allows every host. ``cors_allowed_origins`` is empty (CORS off) unless
    configured. ``max_request_bytes`` bounds JSON request bodies; artifact uploads stream and are
    bounded by ``max_artifact_bytes`` (None: unbounded).

    ``auth_enabled`` makes every route check the caller's permissions (off by default: then no
    check runs at all). ``auth_default_permission`` (READ, EDIT, MANAGE or NO_PERMISSIONS) is
    what a signed-in user may do with an experiment or registered model they have no permission
    of their own on.

    Authentication (with ``auth_enabled``; see :mod:`runlab.server.auth.authentication`):
    ``auth_cache_seconds`` is how long verified credentials are remembered (0: never), so a
    training loop does not pay a password hash per request; a change made elsewhere (another
    worker, ``runlab auth``) takes effect within it. ``auth_trusted_header`` (e.g.
    ``X-Forwarded-User``) takes the user name from a single-sign-on proxy's header, believed only
    from the networks in ``auth_trusted_proxies`` (CIDR blocks). ``auth_max_failures`` failed
    sign-ins per user name or client address within ``auth_failure_window_seconds`` get 429
    until the window has passed. ``auth_session_secret`` signs the web UI's session cookies
    (:mod:`runlab.server.auth.sessions`); every process serving the same users needs the same
    one. None makes a random one when the app is built, which suits a single process: its
    sessions end when it stops.
    """

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    cors_allowed_origins: tuple[str, ...] = ()
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_artifact_bytes: int | None = None
    serve_artifacts: bool = True
    #: Where proxied artifacts live (a file: path or s3:// URI); None when not serving them.
    artifacts_destination: str | None = None
    #: More roots under which a client may place a new experiment's artifacts, besides the
    #: default artifact root and the proxy (see :mod:`runlab.server.artifact_locations`).
    allowed_artifact_locations: tuple[str, ...] = ()
    #: The folder relative artifact locations are resolved from (the server's working
    #: directory); None refuses relative locations.
    working_directory: str | None = None
    version: str = "0.0.0"
    auth_enabled: bool = False
    auth_default_permission: str = "READ"
    auth_cache_seconds: float = 30.0
    auth_trusted_header: str | None = None
    auth_trusted_proxies: tuple[str, ...] = ()
    auth_max_failures: int = 10
    auth_failure_window_seconds: float = 300.0
    auth_session_secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

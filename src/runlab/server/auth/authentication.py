"""Authentication: who a request comes from, before anything decides what they may do.

:class:`AuthenticationMiddleware` turns a request's credentials into the principal the decision
point reads (``scope["user"]``, an :class:`~runlab.server.auth.AuthenticatedUser`):

- ``Authorization: Basic`` (user name and password, checked with the auth store's Argon2id hash)
  and ``Authorization: Bearer <token>`` (a personal access token);
- behind a single-sign-on proxy, a header the proxy sets (``X-Forwarded-User``), believed only
  when the request's TCP peer is one of the configured proxy networks.

A request without credentials goes on anonymous (the route's rule answers 401 unless it is
public); credentials that are not accepted are answered 401 at once, with the same message
whether the user exists or not.

Checking a password costs an Argon2id hash (about a tenth of a second of CPU and 64 MiB), far
more than a training loop's log-batch. Verified credentials are therefore remembered for a short
time (:class:`CredentialCache`, 30 s by default), keyed by a keyed hash of the header, never the
header itself. A change made through this server (password, admin flag, token revoked, user
deleted) forgets that user's entries at once; a change made elsewhere (another worker, the
``runlab auth`` command) takes effect within the cache period.

Failed sign-ins are limited per user name and per client address (:class:`FailureLimiter`): past
the limit, sign-in attempts are answered 429 with ``Retry-After`` without checking anything. The
counts live in each worker process, so with N workers the limit is up to N times the number.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import hashlib
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from starlette.authentication import UnauthenticatedUser
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runlab.entities.auth import AccessToken, User
from runlab.errors import AlreadyExists, NotFound, RunlabError
from runlab.server.auth import AuthenticatedUser, Principal
from runlab.server.errors import is_api_path
from runlab.server.json_response import json_response

__all__ = [
    "DEFAULT_CACHE_SECONDS",
    "DEFAULT_FAILURE_WINDOW_SECONDS",
    "DEFAULT_MAX_FAILURES",
    "INVALID_CREDENTIALS_MESSAGE",
    "REALM",
    "Authentication",
    "AuthenticationMiddleware",
    "CredentialCache",
    "CredentialStore",
    "FailureLimiter",
    "authentication_from_settings",
    "current_client_address",
    "parse_networks",
]

logger = logging.getLogger("runlab.server.auth")

#: How long verified credentials are remembered, by default.
DEFAULT_CACHE_SECONDS = 30.0
#: Most credentials remembered at once; the oldest are dropped first.
CACHE_MAX_ENTRIES = 10_000
#: Failed sign-ins allowed per user name, and per client address, within the window.
DEFAULT_MAX_FAILURES = 10
DEFAULT_FAILURE_WINDOW_SECONDS = 300.0
#: The realm of the ``WWW-Authenticate`` challenge.
REALM = "runlab"
#: The whole message of a 401 for credentials that were sent but not accepted. It is the same for
#: an unknown user, a wrong password, and an unknown, revoked or expired token.
INVALID_CREDENTIALS_MESSAGE = (
    "Invalid credentials: the user name and password, or the access token, were not accepted. "
    "Check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), "
    "or ask an administrator."
)
_CHALLENGE = (b"www-authenticate", f'Basic realm="{REALM}"'.encode())
#: Most distinct user names and addresses whose failures are counted at once (memory bound
#: against a flood of made-up names).
_LIMITER_MAX_KEYS = 100_000
#: Longest header value looked at: no credential of ours is longer.
_HEADER_MAX = 8192


class CredentialStore(Protocol):
    """What authentication needs from the auth store (:class:`~runlab.store.sql.auth.SqlAuthStore`)."""

    def authenticate_password(self, username: str, password: str) -> User | None: ...

    def authenticate_token(self, secret: str) -> User | None: ...

    def get_user(self, username: str) -> User: ...

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User: ...

    def list_tokens(self, username: str | None = None) -> list[AccessToken]: ...

    def record_event(
        self,
        action: str,
        target: str,
        detail: str = "",
        actor: str | None = None,
        address: str | None = None,
    ) -> None: ...


#: The client address of the request being served (set by the middleware), for the audit log.
_CLIENT_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "runlab_client_address", default=None
)


def current_client_address() -> str | None:
    """The address of the client whose request is being served, or None outside a request.

    Handlers read it for the audit log; it is what the failure limit counts (the TCP peer, or
    the address a trusted proxy forwarded).
    """
    return _CLIENT_ADDRESS.get()


# -- the credential cache ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires: float


class CredentialCache:
    """Recently verified credentials: header hash -> principal, for ``ttl`` seconds at most.

    Keys are a BLAKE2b hash keyed with a secret made when the process starts, so neither the
    credentials nor a plain hash of them (which a password could be guessed from) are kept. A
    lookup compares hashes an outsider cannot compute, so its timing tells them nothing. Safe
    to use from several threads. ``ttl`` 0 turns caching off.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_CACHE_SECONDS,
        max_entries: int = CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or max_entries < 1:
            raise ValueError("The cache needs ttl >= 0 and max_entries >= 1.")
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()

    def key(self, kind: str, value: str) -> bytes:
        """The cache key of a credential of ``kind`` (``basic``, ``bearer``, ``proxy``)."""
        digest = hashlib.blake2b(key=self._secret, digest_size=32)
        digest.update(kind.encode())
        digest.update(b"\0")
        digest.update(value.encode("utf-8", "surrogatepass"))
        return digest.digest()

    def get(self, key: bytes) -> Principal | None:
        """The principal remembered under ``key``, or None if none (or no longer)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            with self._lock:
                self._drop(key)
            return None
        return entry.principal

    def put(self, key: bytes, principal: Principal, ttl: float | None = None) -> None:
        """Remember ``principal`` under ``key`` for the cache's ttl (or ``ttl`` if shorter)."""
        seconds = self.ttl if ttl is None else min(ttl, self.ttl)
        if seconds <= 0:
            return
        with self._lock:
            self._drop(key)
            while len(self._entries) >= self._max:
                oldest = next(iter(self._entries))
                self._drop(oldest)
            self._entries[key] = _Entry(principal, self._clock() + seconds)
            self._by_user.setdefault(principal.username, set()).add(key)

    def forget_user(self, username: str) -> None:
        """Forget every credential of ``username`` (after a change to the user)."""
        with self._lock:
            for key in list(self._by_user.get(username, ())):
                self._drop(key)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        keys = self._by_user.get(entry.principal.username)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_user[entry.principal.username]


# -- the failure limit -------------------------------------------------------------------------


class FailureLimiter:
    """Counts failed sign-ins per user name and per client address in a sliding window.

    Past ``max_failures`` failures within ``window`` seconds for the same user name or from the
    same address, :meth:`retry_after` says how long to wait. A successful sign-in clears its user
    name's count but not its address's: otherwise an attacker could interleave guesses with
    sign-ins to an account of their own. Safe to use from several threads.
    """

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: float = DEFAULT_FAILURE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window <= 0:
            raise ValueError("The limiter needs max_failures >= 1 and window > 0.")
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str | None, address: str | None) -> list[str]:
        keys = []
        if username is not None:
            # Hashed: a user name is whatever a caller sent, of any length.
            keys.append(
                "u:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
            )
        if address is not None:
            keys.append("a:" + address)
        return keys

    def retry_after(self, username: str | None, address: str | None) -> float | None:
        """Seconds until a sign-in may be tried again, or None when it may be tried now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(username, address):
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.max_failures:
                    # The oldest failure that still counts must leave the window first.
                    wait = max(wait, times[-self.max_failures] + self.window - now)
                elif not times:
                    del self._failures[key]
        return wait if wait > 0 else None

    def failed(self, username: str | None, address: str | None) -> None:
        """Count a failed sign-in."""
        now = self._clock()
        with self._lock:
            if len(self._failures) >= _LIMITER_MAX_KEYS:
                self._prune(now)
            for key in self._keys(username, address):
                times = self._failures.setdefault(key, deque(maxlen=self.max_failures))
                times.append(now)

    def succeeded(self, username: str) -> None:
        """A sign-in as ``username`` succeeded: its user name's count starts over."""
        with self._lock:
            for key in self._keys(username, None):
                self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window]:
            del self._failures[key]
        if len(self._failures) >= _LIMITER_MAX_KEYS:
            # Still full of recent failures: a flood. Forget the oldest half rather than grow;
            # the addresses sending it are counted again from their next failure.
            for key in list(self._failures)[: _LIMITER_MAX_KEYS // 2]:
                del self._failures[key]


# -- networks of the trusted proxies ------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDR blocks (``10.0.0.0/8``, ``::1/128``, a bare address); ``ValueError`` names a
    bad one."""
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP network: give CIDR blocks such as 10.0.0.0/8 or "
                "192.168.1.10/32."
            ) from None
    return tuple(out)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# -- authentication ----------------------------------------------------------------------------


class _Refused(Exception):
    """A request refused before it reaches the app (bad credentials, too many failures)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _invalid() -> _Refused:
    return _Refused(401, "UNAUTHENTICATED", INVALID_CREDENTIALS_MESSAGE)


def _malformed(detail: str) -> _Refused:
    return _Refused(401, "UNAUTHENTICATED", f"Malformed Authorization header: {detail}")


@dataclass(frozen=True, slots=True)
class _Credential:
    kind: str  # "basic" or "bearer"
    raw: str  # the header's value after the scheme
    username: str | None = None
    secret: str = ""


def _parse_authorization(value: str) -> _Credential:
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _malformed("Basic credentials must be base64 of 'username:password'.") from None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            raise _malformed("Basic credentials must be base64 of 'username:password'.")
        return _Credential("basic", rest, username, password)
    if scheme == "bearer":
        if not rest:
            raise _malformed("Bearer needs an access token after it.")
        return _Credential("bearer", rest, None, rest)
    raise _malformed(
        f"the {scheme or 'empty'!r} scheme is not supported; send Basic credentials or a Bearer "
        "access token."
    )


class Authentication:
    """The server's authentication: checks credentials, remembers them, limits failures.

    One per app (each worker process has its own). ``store`` checks credentials and records
    audit events. ``trusted_header`` (e.g. ``X-Forwarded-User``) names the user when the TCP
    peer is in ``trusted_proxies``; from any other address the header is ignored.
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        trusted_header: str | None = None,
        trusted_proxies: Sequence[str] = (),
        max_failures: int = DEFAULT_MAX_FAILURES,
        failure_window: float = DEFAULT_FAILURE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache = CredentialCache(cache_seconds, clock=clock)
        self.limiter = FailureLimiter(max_failures, failure_window, clock=clock)
        self.trusted_header = trusted_header.strip().lower().encode() if trusted_header else None
        self.trusted_networks = parse_networks(trusted_proxies)
        if self.trusted_header is not None and not self.trusted_networks:
            raise ValueError(
                "A trusted user header needs the addresses of the proxies that set it "
                "(trusted proxies); without them anyone could claim to be anyone."
            )
        # Credentials being checked right now, so that a burst of requests with the same new
        # credentials costs one password hash, not one each.
        self._pending: dict[bytes, asyncio.Future[Principal]] = {}

    # -- who is asking ---------------------------------------------------------------------

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        peer = _address(client[0]) if client else None
        return peer is not None and any(peer in network for network in self.trusted_networks)

    def client_address(self, scope: Scope) -> str | None:
        """The client's address: the TCP peer, or, when the peer is a trusted proxy, the last
        address it put in ``X-Forwarded-For`` (the one it saw the request come from)."""
        client = scope.get("client")
        peer = client[0] if client else None
        if peer is not None and self.trusted_networks and self._from_trusted_proxy(scope):
            forwarded = _header(scope, b"x-forwarded-for")
            if forwarded:
                last = _address(forwarded.split(",")[-1])
                if last is not None:
                    return str(last)
        return peer

    # -- the check ---------------------------------------------------------------------------

    async def authenticate(self, scope: Scope) -> Principal | None:
        """The principal of a request, or None for one without credentials.

        Raises ``_Refused`` (answered by the middleware) for credentials that are malformed or
        not accepted, and for sign-ins past the failure limit.
        """
        if self.trusted_header is not None and self._from_trusted_proxy(scope):
            name = _header(scope, self.trusted_header)
            if name:
                return await self._proxy_user(name.strip(), scope)
        value = _header(scope, b"authorization")
        if value is None:
            return None
        if len(value) > _HEADER_MAX:
            raise _malformed("it is too long to hold credentials.")
        credential = _parse_authorization(value)
        key = self.cache.key(credential.kind, credential.raw)
        known = self.cache.get(key)
        if known is not None:
            return known
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            principal = await self._verify(credential, key, scope)
        except asyncio.CancelledError:
            future.cancel()  # waiters see a cancelled check and fail; their clients retry
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked as retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(principal)
            return principal
        finally:
            del self._pending[key]

    async def _verify(self, credential: _Credential, key: bytes, scope: Scope) -> Principal:
        address = self.client_address(scope)
        wait = self.limiter.retry_after(credential.username, address)
        if wait is not None:
            seconds = math.ceil(wait)
            raise _Refused(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                f"Too many failed sign-ins for this user or from this address; try again in "
                f"{seconds} seconds.",
                {"Retry-After": str(seconds)},
            )
        user, ttl, detail = await run_in_threadpool(self._check, credential)
        if user is None:
            self.limiter.failed(credential.username, address)
            target = credential.username or "access token"
            await self._audit("signin.failed", target, detail, None, address)
            raise _invalid()
        principal = Principal(user.username, user.is_admin)
        self.limiter.succeeded(user.username)
        self.cache.put(key, principal, ttl)
        # Once per cache period at most: a training loop's requests hit the cache.
        await self._audit("signin", user.username, detail, user.username, address)
        return principal

    def _check(self, credential: _Credential) -> tuple[User | None, float | None, str]:
        """Check a credential against the store (blocking: runs in a worker thread)."""
        if credential.kind == "basic":
            assert credential.username is not None
            user = self.store.authenticate_password(credential.username, credential.secret)
            return user, None, "password" if user is not None else "password not accepted"
        user = self.store.authenticate_token(credential.secret)
        if user is None:
            return None, None, "token not accepted (unknown, revoked or expired)"
        token = _token_of(self.store, user.username, credential.secret)
        if token is None:  # revoked in between
            return None, None, "token not accepted (unknown, revoked or expired)"
        ttl = None
        if token.expires_at is not None:
            # Not remembered past its expiry.
            ttl = max(0.0, token.expires_at / 1000 - time.time())
        return user, ttl, f"access token {token.id} ({token.name})"

    async def _proxy_user(self, name: str, scope: Scope) -> Principal:
        key = self.cache.key("proxy", name)
        known = self.cache.get(key)
        if known is not None:
            return known
        address = self.client_address(scope)
        user = await run_in_threadpool(self._proxy_lookup, name, address)
        principal = Principal(user.username, user.is_admin)
        self.cache.put(key, principal)
        return principal

    def _proxy_lookup(self, name: str, address: str | None) -> User:
        try:
            return self.store.get_user(name)
        except NotFound:
            pass
        except RunlabError:
            raise _invalid() from None
        # A user the proxy vouches for but this server has not seen: created without a usable
        # password (a random one nobody knows), so they can only come in through the proxy until
        # an administrator sets a password.
        try:
            user = self.store.create_user(name, secrets.token_urlsafe(32))
        except AlreadyExists:  # created by another worker meanwhile
            return self.store.get_user(name)
        except RunlabError as exc:
            logger.warning("The trusted proxy sent a user name this server refuses: %s", exc)
            raise _invalid() from None
        self._record(
            "user.create",
            name,
            "created on first sign-in through the trusted proxy header (no password)",
            name,
            address,
        )
        return user

    # -- after changes -----------------------------------------------------------------------

    def forget_user(self, username: str) -> None:
        """Forget ``username``'s remembered credentials: the next request checks them again."""
        self.cache.forget_user(username)

    # -- the audit log -----------------------------------------------------------------------

    async def _audit(
        self, action: str, target: str, detail: str, actor: str | None, address: str | None
    ) -> None:
        await run_in_threadpool(self._record, action, target, detail, actor, address)

    def _record(
        self, action: str, target: str, detail: str, actor: str | None, address: str | None
    ) -> None:
        try:
            self.store.record_event(action, target, detail, actor=actor, address=address)
        except Exception:  # the audit log failing must not turn into a refused sign-in
            logger.exception("Could not record the audit event %s for %r", action, target)


def _token_of(store: CredentialStore, username: str, secret: str) -> AccessToken | None:
    """The listed token whose secret this is (found by its non-secret prefix)."""
    from runlab.store.sql.auth_secrets import token_prefix

    prefix = token_prefix(secret)
    matches = [t for t in store.list_tokens(username) if t.prefix == prefix]
    if not matches:
        return None
    # Two tokens of one user sharing 48 random bits is next to impossible; if it happens, the
    # earlier expiry is the safe one to cache until.
    expiring = [t for t in matches if t.expires_at is not None]
    return min(expiring, key=lambda t: t.expires_at or 0) if expiring else matches[0]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class AuthenticationMiddleware:
    """ASGI middleware: puts the request's principal in ``scope["user"]``.

    Anonymous requests get Starlette's ``UnauthenticatedUser``; refused credentials are answered
    here (401, or 429 past the failure limit). Every 401 of an API path, whoever sends it,
    carries ``WWW-Authenticate: Basic realm="runlab"`` so clients know to send credentials.
    """

    def __init__(self, app: ASGIApp, authentication: Authentication) -> None:
        self.app = app
        self.authentication = authentication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        challenge = is_api_path(path)
        _CLIENT_ADDRESS.set(self.authentication.client_address(scope))
        if isinstance(scope.get("user"), AuthenticatedUser):
            # Authenticated by a layer around this app (an application embedding it, a test's
            # stand-in); the ASGI server itself never sets a user.
            await self._call(scope, receive, send, challenge)
            return
        try:
            principal = await self.authentication.authenticate(scope)
        except _Refused as refused:
            response = json_response(
                {"error_code": refused.code, "message": refused.message}, status=refused.status
            )
            for name, value in refused.headers.items():
                response.headers[name] = value
            if refused.status == 401 and challenge:
                response.headers["WWW-Authenticate"] = _CHALLENGE[1].decode()
            await response(scope, receive, send)
            return
        scope["user"] = AuthenticatedUser(principal) if principal else UnauthenticatedUser()
        await self._call(scope, receive, send, challenge)

    async def _call(self, scope: Scope, receive: Receive, send: Send, challenge: bool) -> None:
        if not challenge:
            await self.app(scope, receive, send)
            return

        async def send_with_challenge(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = [h for h in message.get("headers", []) if h[0] != _CHALLENGE[0]]
                message = {**message, "headers": [*headers, _CHALLENGE]}
            await send(message)

        await self.app(scope, receive, send_with_challenge)


def authentication_from_settings(store: object, settings: Any) -> Authentication:
    """The :class:`Authentication` a server with ``settings`` (a ServerSettings) uses.

    Raises :class:`~runlab.errors.InvalidParameter` when ``store`` cannot check credentials
    (it must be an auth store such as :class:`~runlab.store.sql.auth.SqlAuthStore`), or when a
    setting is out of range.
    """
    from runlab.errors import InvalidParameter

    missing = [
        name
        for name in (
            "authenticate_password",
            "authenticate_token",
            "get_user",
            "create_user",
            "list_tokens",
            "record_event",
        )
        if not callable(getattr(store, name, None))
    ]
    if missing:
        raise InvalidParameter(
            f"The auth store ({type(store).__name__}) cannot check credentials: it has no "
            f"{', '.join(missing)}. Pass an auth store such as runlab's SqlAuthStore."
        )
    try:
        return _authentication(cast(CredentialStore, store), settings)
    except ValueError as exc:
        raise InvalidParameter(f"Invalid authentication settings: {exc}") from None


def _authentication(store: CredentialStore, settings: Any) -> Authentication:
    return Authentication(
        store,
        cache_seconds=settings.auth_cache_seconds,
        trusted_header=settings.auth_trusted_header,
        trusted_proxies=settings.auth_trusted_proxies,
        max_failures=settings.auth_max_failures,
        failure_window=settings.auth_failure_window_seconds,
    )

"""The browser's side of authentication: session cookies, CSRF, and pages that ask to sign in.

:class:`WebSessionMiddleware` sits in front of the authentication middleware (which checks
``Authorization`` headers) and does what only browsers need:

- A request with a valid session cookie (:mod:`runlab.server.auth.sessions`) and no
  ``Authorization`` header is signed in as the cookie's user: the middleware puts the principal
  in ``scope["user"]``, which the authentication middleware then leaves as it is. A cookie that
  is not valid (expired, tampered with, of a deleted user or an old password) counts for
  nothing: the request goes on anonymous and the response removes the cookie.
- A state-changing request (POST, PUT, PATCH, DELETE) signed in by the cookie must carry the
  session's CSRF token in ``X-CSRF-Token``, else 403 before anything runs. So must one that
  sends HTTP Basic credentials along with a valid cookie: that is a browser, and a browser
  resends Basic credentials it has cached on any request, forged ones too.
- Browsers are never sent a ``WWW-Authenticate`` challenge (a request with ``Sec-Fetch-*``
  headers, a session cookie, or under ``/ajax-api/``): a challenge makes a browser prompt for
  a password and then attach it to every later request to the server, a credential the page
  does not control and other sites could ride on. Programs (MLflow's client, curl) still get it.
- A page of the web UI that answers 401 to a GET is turned into a redirect to the login page,
  with the page's own path as ``next``. The API, and anything else a program fetches
  (``/get-artifact``), keeps its 401.

Requests with an ``Authorization`` header or a trusted proxy's user header are left to the
authentication middleware: those credentials win over a cookie.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runlab.entities.auth import User
from runlab.server.auth import AuthenticatedUser, Principal, principal_of_scope
from runlab.server.auth.sessions import CSRF_HEADER, SESSION_COOKIE, Session, Sessions
from runlab.server.errors import is_api_path
from runlab.server.json_response import json_response

__all__ = [
    "CSRF_REFUSED_MESSAGE",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "SCOPE_CSRF_TOKEN",
    "SCOPE_MIDDLEWARE",
    "SCOPE_SESSION",
    "WRONG_PASSWORD_MESSAGE",
    "FailureCounter",
    "PrincipalCache",
    "SessionUsers",
    "SignIn",
    "WebAuthentication",
    "WebSessionMiddleware",
    "current_csrf_token",
    "current_principal",
    "current_session",
    "is_page_request",
    "request_is_https",
    "request_memo",
    "session_cookie",
    "web_sessions_middleware",
    "web_sessions_of",
]

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
#: Where the middleware leaves the request's session and its CSRF token in the ASGI scope.
SCOPE_SESSION = "runlab.session"
SCOPE_CSRF_TOKEN = "runlab.csrf_token"
SCOPE_MIDDLEWARE = "runlab.web_sessions"
SCOPE_MEMO = "runlab.request_memo"

CSRF_REFUSED_MESSAGE = (
    "This change was refused: it came with the web session's cookie but without its CSRF token "
    f"(the {CSRF_HEADER} header the runlab pages send). Reload the page and try again; "
    "programs should authenticate with a password or an access token instead of the cookie."
)

logger = logging.getLogger("runlab.server.auth")

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READ_METHODS = frozenset({"GET", "HEAD"})
_CSRF_HEADER_KEY = CSRF_HEADER.lower().encode("latin-1")

#: The scope of the request being served, for the templates' helpers (:func:`current_principal`).
_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "runlab_request_scope", default=None
)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SessionUsers(Protocol):
    """What sessions need from the auth store (:class:`~runlab.store.sql.auth.SqlAuthStore`)."""

    def session_stamp(self, username: str) -> tuple[User, str] | None: ...

    def authenticate_password(self, username: str, password: str) -> User | None: ...

    def record_event(
        self,
        action: str,
        target: str,
        detail: str = "",
        actor: str | None = None,
        address: str | None = None,
    ) -> None: ...


class PrincipalCache(Protocol):
    """A short-lived memory of checked credentials (the authentication's credential cache)."""

    def key(self, kind: str, value: str) -> bytes: ...

    def get(self, key: bytes) -> Principal | None: ...

    def put(self, key: bytes, principal: Principal, ttl: float | None = None) -> None: ...


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # The last value of a repeated header wins; none of the headers read here may repeat.
    return dict(scope.get("headers") or ())


def session_cookie(headers: Mapping[bytes, bytes]) -> str | None:
    """The session cookie's value in a request's headers, or None."""
    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except CookieError:
        # One malformed cookie of another application on the same host must not sign us out:
        # look for ours by hand.
        for part in raw.decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE:
                return value.strip() or None
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value or None if morsel is not None else None


def _peer(scope: Scope) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    client = scope.get("client")
    if not client:
        return None
    try:
        address = ipaddress.ip_address(str(client[0]).strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _from_networks(scope: Scope, networks: Iterable[Network]) -> bool:
    peer = _peer(scope)
    return peer is not None and any(peer in network for network in networks)


def request_is_https(scope: Scope, trusted_proxies: Iterable[Network] = ()) -> bool:
    """Whether the browser reached the server over HTTPS.

    The ASGI scheme says so (uvicorn already sets it from ``X-Forwarded-Proto`` for the proxies
    it trusts); so does ``X-Forwarded-Proto: https`` from one of ``trusted_proxies``, the
    networks the server believes its proxies' headers from. From anyone else the header is
    ignored.
    """
    if scope.get("scheme") == "https":
        return True
    if not trusted_proxies or not _from_networks(scope, trusted_proxies):
        return False
    forwarded = _headers(scope).get(b"x-forwarded-proto", b"").decode("latin-1")
    # A chain of proxies lists one scheme each; the first is the browser's.
    return forwarded.split(",")[0].strip().lower() == "https"


def _is_browser(headers: Mapping[bytes, bytes], path: str, has_cookie: bool) -> bool:
    # Every current browser sends Sec-Fetch-Mode on every request; programs do not. The UI's
    # API prefix and our cookie say "browser" for older ones.
    return has_cookie or b"sec-fetch-mode" in headers or path.startswith("/ajax-api/")


#: The package of the web UI's routes: a refused request for one of them is a person's.
_UI_PACKAGE = "runlab.server.ui."


def is_page_request(scope: Scope) -> bool:
    """Whether a request is for a page of the web UI (the login page excepted), whose refusals
    a person reads: decided by the route it was routed to (the router puts the route's endpoint
    in the scope before the route's rule is applied). Paths would not do: ``/get-artifact`` is
    no page, though it is outside the API's prefixes."""
    path = scope.get("path", "")
    if is_api_path(path) or path == LOGIN_PATH:
        return False
    module = getattr(scope.get("endpoint"), "__module__", None) or ""
    return module.startswith(_UI_PACKAGE)


def _login_url(scope: Scope) -> str:
    target = scope.get("path", "/")
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    if target == "/":
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


@dataclass(frozen=True, slots=True)
class _Checked:
    session: Session
    principal: Principal


class WebAuthentication(Protocol):
    """What the web sessions use of the server's authentication
    (:class:`~runlab.server.auth.authentication.Authentication`): its store, its credential
    cache, its failed sign-in limit and its trusted proxies."""

    # Read-only properties, so the authentication's own (more specific) types satisfy them.
    @property
    def store(self) -> Any: ...

    @property
    def cache(self) -> PrincipalCache: ...

    @property
    def limiter(self) -> FailureCounter: ...

    @property
    def trusted_networks(self) -> tuple[Network, ...]: ...

    @property
    def trusted_header(self) -> bytes | None: ...

    def client_address(self, scope: Scope) -> str | None: ...


class FailureCounter(Protocol):
    """Failed sign-ins per user name and client address (the authentication's limiter)."""

    def retry_after(self, username: str | None, address: str | None) -> float | None: ...

    def failed(self, username: str | None, address: str | None) -> None: ...

    def succeeded(self, username: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in on the login page.

    On success ``principal`` is set and ``set_cookie`` is the ``Set-Cookie`` header value of the
    new session. Otherwise ``status`` (401 wrong name or password, 429 too many failures) and
    ``message`` say why, the same whether the user exists or not, and ``retry_after`` how many
    seconds to wait (429).
    """

    principal: Principal | None = None
    set_cookie: str = ""
    status: int = 200
    message: str = ""
    retry_after: int | None = None


WRONG_PASSWORD_MESSAGE = "Wrong user name or password."


class WebSessionMiddleware:
    """ASGI middleware for session cookies (see the module docstring), and the sign-in behind
    the login page.

    ``authentication`` is the server's authentication (:class:`WebAuthentication`): its store
    gives each user's current password stamp and checks passwords, its credential cache
    remembers checked cookies for a short while (so a change to a user made through the API
    forgets them too), its limiter counts the login page's failures with every other sign-in's,
    and its trusted proxies are believed about ``X-Forwarded-Proto`` (for the cookie's
    ``Secure`` flag) and, when it has a trusted user header, about the user instead of the
    cookie. ``sessions`` signs and checks the cookies.

    The middleware puts itself in the scope (:data:`SCOPE_MIDDLEWARE`), which is how the login
    and logout pages find it: without it (a server without authentication) there is no sign-in.
    """

    def __init__(self, app: ASGIApp, authentication: WebAuthentication, sessions: Sessions) -> None:
        self.app = app
        self.authentication = authentication
        self.sessions = sessions
        self.users: SessionUsers = authentication.store
        self.cache: PrincipalCache | None = authentication.cache
        self.trusted_proxies = tuple(authentication.trusted_networks)
        self.trusted_header = authentication.trusted_header

    async def check(self, value: str) -> _Checked | None:
        """The session and principal of a cookie value, or None if it is not valid."""
        session = self.sessions.parse(value)
        if session is None:
            return None
        key = self.cache.key("session", value) if self.cache is not None else None
        if key is not None and self.cache is not None:
            known = self.cache.get(key)
            if known is not None:
                return _Checked(session, known)
        found = await run_in_threadpool(self.users.session_stamp, session.username)
        if found is None or not self.sessions.verify(session, found[1]):
            return None
        user = found[0]
        principal = Principal(user.username, user.is_admin)
        if key is not None and self.cache is not None:
            self.cache.put(key, principal, float(session.expires_at - self.sessions.now()))
        return _Checked(session, principal)

    def _other_credentials(self, headers: Mapping[bytes, bytes], scope: Scope) -> bool:
        if b"authorization" in headers:
            return True
        return (
            self.trusted_header is not None
            and self.trusted_header in headers
            and _from_networks(scope, self.trusted_proxies)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        cookie = session_cookie(headers)
        stale = False
        if (
            cookie is not None
            # The login form signs in afresh, whatever the cookie says (and it has no token).
            and not (path == LOGIN_PATH and method == "POST")
            and not isinstance(scope.get("user"), AuthenticatedUser)
        ):
            other = self._other_credentials(headers, scope)
            needs_check = not other or (
                method in _WRITE_METHODS
                and headers.get(b"authorization", b"")[:6].lower() == b"basic "
            )
            checked = await self.check(cookie) if needs_check else None
            if needs_check and checked is None:
                stale = True
            elif checked is not None:
                if method in _WRITE_METHODS and not self.sessions.csrf_matches(
                    checked.session, headers.get(_CSRF_HEADER_KEY, b"").decode("latin-1")
                ):
                    response = json_response(
                        {"error_code": "PERMISSION_DENIED", "message": CSRF_REFUSED_MESSAGE},
                        status=403,
                    )
                    await response(scope, receive, send)
                    return
                if not other:
                    scope["user"] = AuthenticatedUser(checked.principal)
                    scope[SCOPE_SESSION] = checked.session
                    scope[SCOPE_CSRF_TOKEN] = self.sessions.csrf_token(checked.session)
        scope[SCOPE_MIDDLEWARE] = self
        browser = _is_browser(headers, path, cookie is not None)
        wrapped = _ResponseRewriter(scope, send, self, browser=browser, stale=stale)
        token = _SCOPE.set(scope)
        try:
            await self.app(scope, receive, wrapped.send)
        finally:
            _SCOPE.reset(token)

    def clear_cookie(self, scope: Scope) -> bytes:
        """The ``Set-Cookie`` value that removes the cookie, for this request's scheme."""
        secure = request_is_https(scope, self.trusted_proxies)
        return Sessions.clear_cookie_header(secure=secure).encode("latin-1")

    # -- signing in and out ----------------------------------------------------------------------

    async def sign_in(self, scope: Scope, username: str, password: str) -> SignIn:
        """Check a user name and password from the login page and start a session.

        Failures count toward the same per-user and per-address limit as every other
        sign-in; past it the password is not even checked. Sign-ins and failures go to the
        audit log (never the password).
        """
        authentication = self.authentication
        address = authentication.client_address(scope)
        wait = authentication.limiter.retry_after(username, address)
        if wait is not None:
            seconds = math.ceil(wait)
            return SignIn(
                status=429,
                message=(
                    "Too many failed sign-ins for this user or from this address; try again in "
                    f"{seconds} seconds."
                ),
                retry_after=seconds,
            )
        user = await run_in_threadpool(self.users.authenticate_password, username, password)
        stamp = None
        if user is not None:
            found = await run_in_threadpool(self.users.session_stamp, user.username)
            # None: the user was deleted in between (counted as a failure like any other).
            if found is not None:
                user, stamp = found
        if user is None or stamp is None:
            authentication.limiter.failed(username, address)
            await self._audit("signin.failed", username, "web sign-in", None, address)
            return SignIn(status=401, message=WRONG_PASSWORD_MESSAGE)
        authentication.limiter.succeeded(user.username)
        value, session = self.sessions.issue(user.username, stamp)
        secure = request_is_https(scope, self.trusted_proxies)
        await self._audit("signin", user.username, "web session", user.username, address)
        return SignIn(
            principal=Principal(user.username, user.is_admin),
            set_cookie=self.sessions.set_cookie_header(value, session, secure=secure),
        )

    async def sign_out(self, scope: Scope) -> str:
        """End the request's web session in this browser: the ``Set-Cookie`` header value that
        removes the cookie (recorded in the audit log when a session was signed in)."""
        principal = principal_of_scope(scope)
        if principal is not None and isinstance(scope.get(SCOPE_SESSION), Session):
            address = self.authentication.client_address(scope)
            await self._audit(
                "signout", principal.username, "web session", principal.username, address
            )
        return self.clear_cookie(scope).decode("latin-1")

    async def _audit(
        self, action: str, target: str, detail: str, actor: str | None, address: str | None
    ) -> None:
        try:
            await run_in_threadpool(
                self.users.record_event, action, target, detail, actor=actor, address=address
            )
        except Exception:  # the audit log failing must not turn into a refused sign-in
            logger.exception("Could not record the audit event %s for %r", action, target)


class _ResponseRewriter:
    """Rewrites a response on its way out: drops challenges to browsers, turns a page's 401
    into a redirect to the login page, removes a cookie that is no longer valid."""

    def __init__(
        self,
        scope: Scope,
        send: Send,
        middleware: WebSessionMiddleware,
        *,
        browser: bool,
        stale: bool,
    ) -> None:
        self._scope = scope
        self._send = send
        self._middleware = middleware
        self._browser = browser
        self._stale = stale
        self._swallow = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message = self._start(message)
        elif message["type"] == "http.response.body" and self._swallow:
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await self._send(message)

    def _start(self, message: Message) -> Message:
        headers: list[tuple[bytes, bytes]] = list(message.get("headers") or ())
        status = int(message["status"])
        scope = self._scope
        if status == 401 and scope.get("method") in _READ_METHODS and is_page_request(scope):
            # A person opened a page without signing in: show them where to.
            self._swallow = True
            status = 303
            headers = [
                (b"location", _login_url(scope).encode("latin-1")),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ]
        elif self._browser:
            headers = [h for h in headers if h[0].lower() != b"www-authenticate"]
        if self._stale:
            headers.append((b"set-cookie", self._middleware.clear_cookie(scope)))
        return {**message, "status": status, "headers": headers}


def web_sessions_middleware(authentication: WebAuthentication, settings: Any) -> Middleware:
    """The :class:`WebSessionMiddleware` of an app with ``settings`` (ServerSettings): its
    cookies are signed with ``settings.auth_session_secret``, or, when that is None, a random
    key made now (fine for one process; its sessions end when it stops)."""
    secret = getattr(settings, "auth_session_secret", None) or secrets.token_urlsafe(32)
    return Middleware(
        WebSessionMiddleware, authentication=authentication, sessions=Sessions(secret)
    )


# -- for the pages -----------------------------------------------------------------------------


def web_sessions_of(scope: Scope) -> WebSessionMiddleware | None:
    """The web sessions serving a request, or None on a server without authentication."""
    found = scope.get(SCOPE_MIDDLEWARE)
    return found if isinstance(found, WebSessionMiddleware) else None


def _current_scope() -> Scope | None:
    return _SCOPE.get()


def current_principal() -> Principal | None:
    """Who the request being served is signed in as (any credential), or None."""
    scope = _current_scope()
    return principal_of_scope(scope) if scope is not None else None


def current_session() -> Session | None:
    """The web session of the request being served, when its cookie signed it in."""
    scope = _current_scope()
    found: Any = scope.get(SCOPE_SESSION) if scope is not None else None
    return found if isinstance(found, Session) else None


def request_memo() -> dict[Any, Any]:
    """A dictionary that lives as long as the request being served (a fresh one outside a
    request), for answers worth computing once per request."""
    scope = _current_scope()
    if scope is None:
        return {}
    memo = scope.get(SCOPE_MEMO)
    if not isinstance(memo, dict):
        memo = scope[SCOPE_MEMO] = {}
    return memo


def current_csrf_token() -> str:
    """The CSRF token of the request's web session, or "" when there is none."""
    scope = _current_scope()
    token = scope.get(SCOPE_CSRF_TOKEN) if scope is not None else None
    return token if isinstance(token, str) else ""

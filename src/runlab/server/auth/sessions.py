"""Web sessions: the signed cookie the UI signs in with, and its CSRF token.

A person signs in once on the login page; the server then sets a cookie that names them and
when the session ends, signed with HMAC-SHA256. The cookie is a credential like a password or a
token, so it is guarded like one:

- ``HttpOnly`` (page scripts never see it), ``SameSite=Lax`` (other sites' forms and scripts do
  not get it sent along), ``Secure`` when the request came over HTTPS, ``Path=/``, and an expiry
  (12 hours by default) both in the cookie's attributes and inside the signed value, so a copy
  kept past its ``Max-Age`` is refused all the same.
- The signature covers a *stamp* of the user's current password (see
  :meth:`runlab.store.sql.auth.SqlAuthStore.session_stamp`): a new password ends every session
  signed in with the old one, and a deleted user's sessions end with them. Forging a cookie
  takes both the server's secret and the auth database.
- Every state-changing request (POST, PUT, PATCH, DELETE) a session authenticates must carry
  the session's CSRF token in the ``X-CSRF-Token`` header: a value derived from the session's
  signature, which the pages put in a ``<meta name="runlab-csrf">`` tag for their scripts. Another
  site can make a browser send the cookie (a same-site subdomain, an old browser) but cannot read
  the token, nor set a header on a cross-site request without the server's CORS consent.

The cookie value is ``1.<user>.<issued>.<expires>.<signature>``: the user name in URL-safe
base64 (so a dot in a name cannot shift the fields), the times in whole seconds since the epoch,
the signature in URL-safe base64. Nothing in it is secret; what matters is that only the server
can make a valid one.

Signing out removes the cookie from the browser. The server keeps no list of sessions, so a
copy of the cookie taken before then stays valid until it expires or the password changes;
that is why the lifetime is hours, not weeks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "CSRF_HEADER",
    "CSRF_META",
    "DEFAULT_SESSION_SECONDS",
    "SESSION_COOKIE",
    "Session",
    "Sessions",
    "safe_next",
]

#: The cookie's name.
SESSION_COOKIE = "runlab_session"
#: The request header a state-changing request authenticated by the cookie must carry.
CSRF_HEADER = "X-CSRF-Token"
#: The ``<meta name=…>`` of the pages that holds the CSRF token for their scripts.
CSRF_META = "runlab-csrf"
#: How long a session lasts after signing in: a working day, not a week.
DEFAULT_SESSION_SECONDS = 12 * 3600

_VERSION = "1"
#: No cookie we make is longer (a 255-character user name in base64 is 340); anything longer is
#: refused before it is decoded.
_COOKIE_MAX = 1024
_SIGNATURE_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(secret: bytes, purpose: str) -> bytes:
    # One key per purpose, so a CSRF token can never be taken for a session signature.
    return hmac.new(secret, b"runlab " + purpose.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in web session, read from a cookie whose signature is yet to be checked
    (:meth:`Sessions.parse`) or was checked (:meth:`Sessions.verify`)."""

    username: str
    #: Seconds since the epoch.
    issued_at: int
    expires_at: int
    signature: bytes


class Sessions:
    """Makes and checks session cookies and CSRF tokens with one server secret.

    ``secret`` must be the same in every process that serves the same users (the CLI gives each
    worker the one it made at start-up); it should be at least 32 random bytes. ``lifetime`` is
    how long a session lasts, in seconds. ``clock`` returns seconds since the epoch (tests move
    it).
    """

    def __init__(
        self,
        secret: str | bytes,
        lifetime: int = DEFAULT_SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < 16:
            raise ValueError(
                "The session secret is too short to sign with: give at least 32 random bytes "
                "(e.g. secrets.token_urlsafe(32))."
            )
        if lifetime < 60:
            raise ValueError(f"A session must last at least 60 seconds, not {lifetime}.")
        self._session_key = _derive(raw, "web session")
        self._csrf_key = _derive(raw, "web csrf")
        self.lifetime = int(lifetime)
        self._clock = clock

    def now(self) -> int:
        """The current time in whole seconds, by this object's clock."""
        return int(self._clock())

    def _sign(self, username: str, issued_at: int, expires_at: int, stamp: str) -> bytes:
        message = b"\0".join(
            (
                _VERSION.encode(),
                username.encode("utf-8", "surrogatepass"),
                str(issued_at).encode(),
                str(expires_at).encode(),
                stamp.encode("utf-8"),
            )
        )
        return hmac.new(self._session_key, message, hashlib.sha256).digest()

    def issue(self, username: str, stamp: str) -> tuple[str, Session]:
        """A new session for ``username`` whose password stamp is ``stamp``: the cookie's
        value and the session it holds."""
        issued = self.now()
        expires = issued + self.lifetime
        signature = self._sign(username, issued, expires, stamp)
        value = ".".join(
            (
                _VERSION,
                _b64(username.encode("utf-8", "surrogatepass")),
                str(issued),
                str(expires),
                _b64(signature),
            )
        )
        return value, Session(username, issued, expires, signature)

    def parse(self, value: str) -> Session | None:
        """The session a cookie value claims to be, without checking its signature (that needs
        the user's stamp: :meth:`verify`); None for a value that is not one of ours or has
        expired."""
        if not value or len(value) > _COOKIE_MAX:
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != _VERSION:
            return None
        _, user_part, issued_part, expires_part, signature_part = parts
        if not (issued_part.isascii() and issued_part.isdigit()):
            return None
        if not (expires_part.isascii() and expires_part.isdigit()):
            return None
        try:
            username = _unb64(user_part).decode("utf-8")
            signature = _unb64(signature_part)
        except (binascii.Error, ValueError):
            return None
        issued, expires = int(issued_part), int(expires_part)
        if not username or len(signature) != _SIGNATURE_BYTES:
            return None
        now = self.now()
        # A session never lasts longer than this server's lifetime, whatever the cookie says,
        # and one issued in the future (a clock set back) is not trusted either.
        if expires <= now or expires - issued > self.lifetime or issued > now + 60:
            return None
        return Session(username, issued, expires, signature)

    def verify(self, session: Session, stamp: str) -> bool:
        """Whether ``session`` was signed by this server for the user's current ``stamp``
        (compared in constant time)."""
        expected = self._sign(session.username, session.issued_at, session.expires_at, stamp)
        return hmac.compare_digest(expected, session.signature)

    def csrf_token(self, session: Session) -> str:
        """The CSRF token of ``session``: the same for the whole session, different for every
        other session (of the same user too)."""
        return _b64(hmac.new(self._csrf_key, session.signature, hashlib.sha256).digest())

    def csrf_matches(self, session: Session, token: str | None) -> bool:
        """Whether ``token`` (the request's header, or None) is ``session``'s CSRF token."""
        if not token or len(token) > 128:
            return False
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode("utf-8"))

    def set_cookie_header(self, value: str, session: Session, *, secure: bool) -> str:
        """The ``Set-Cookie`` header value that stores ``value`` until ``session`` ends."""
        max_age = max(0, session.expires_at - self.now())
        return _cookie(value, max_age, secure)

    @staticmethod
    def clear_cookie_header(*, secure: bool) -> str:
        """The ``Set-Cookie`` header value that removes the session cookie."""
        return _cookie("", 0, secure) + "; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


def _cookie(value: str, max_age: int, secure: bool) -> str:
    attributes = [f"{SESSION_COOKIE}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly"]
    attributes.append("SameSite=Lax")
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: ``target`` if it is a path on this site, else ``default``.

    Only a relative path that starts with one ``/`` is taken; anything that a browser could
    read as another site is refused: ``//evil.example`` and ``/\\evil.example`` (which browsers
    treat as ``//``), absolute URLs (``https:``, ``javascript:``), and control characters or
    backslashes anywhere (browsers drop tabs and newlines from URLs, which can turn
    ``/\\t/evil.example`` into ``//evil.example``).
    """
    if not target or len(target) > 2048:
        return default
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target

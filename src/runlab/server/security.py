"""Request guards: the Host allow-list (against DNS rebinding) and the cross-origin write check.

A browser page on an attacker's domain can make a victim's browser send requests to a server on
localhost by rebinding its own host name to 127.0.0.1; the Host header then names the attacker's
domain, so checking it stops the attack. Cross-origin writes from pages not explicitly allowed
are refused too, so a page cannot POST to a local server with a simple form request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:5000
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class RequestGuard:
    """ASGI middleware applying the Host allow-list and the cross-origin write rule."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]
    ) -> None:
        self.app = app
        self.allow_any_host = "*" in allowed_hosts
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.allow_any_host and _host_name(host) not in self.allowed_hosts:
            await _plain(send, 403, f"Invalid Host header {host!r}: add it with --allowed-hosts.")
            return
        origin = headers.get("origin")
        if origin and scope["method"] in _WRITE_METHODS and not self._origin_ok(origin, host):
            await _plain(send, 403, f"Cross-origin request blocked from {origin!r}.")
            return
        await self.app(scope, receive, send)

    def _origin_ok(self, origin: str, host: str) -> bool:
        normalized = origin.rstrip("/").lower()
        if "*" in self.allowed_origins or normalized in self.allowed_origins:
            return True
        return urlsplit(normalized).netloc == host.strip().lower()


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

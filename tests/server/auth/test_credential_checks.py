"""The parts of authentication that need many client addresses or a controlled clock.

The credential cache and the failure limiter on their own (with a clock the test moves), and
the real app in-process, where httpx's ASGI transport lets each request come from a chosen
address: per-user and per-address limits, a trusted proxy's header believed only from its
network, and ``X-Forwarded-For`` read only from a trusted proxy.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from runlab.errors import InvalidParameter
from runlab.server.app import build_app
from runlab.server.auth import Principal
from runlab.server.auth.authentication import (
    CredentialCache,
    FailureLimiter,
    parse_networks,
)
from runlab.server.settings import ServerSettings
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.auth_world import FAST_HASHER

SEARCH = "/api/2.0/mlflow/experiments/search"
PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_forgets_after_its_ttl_and_on_demand() -> None:
    clock = Clock()
    cache = CredentialCache(ttl=30, max_entries=3, clock=clock)
    alice, bob = Principal("alice"), Principal("bob", is_admin=True)
    key_a, key_b = cache.key("basic", "YWxpY2U6eA=="), cache.key("bearer", "rlt_x")
    assert key_a != cache.key("bearer", "YWxpY2U6eA==")  # the kind is part of the key
    cache.put(key_a, alice)
    cache.put(key_b, bob, ttl=5)  # a token expiring sooner than the cache period
    assert cache.get(key_a) == alice and cache.get(key_b) == bob
    clock.now += 6
    assert cache.get(key_b) is None and cache.get(key_a) == alice
    cache.forget_user("alice")
    assert cache.get(key_a) is None and len(cache) == 0
    # Bounded: the oldest entry goes first.
    keys = [cache.key("basic", str(i)) for i in range(4)]
    for key in keys:
        cache.put(key, alice)
    assert len(cache) == 3 and cache.get(keys[0]) is None and cache.get(keys[3]) == alice
    clock.now += 31
    assert all(cache.get(key) is None for key in keys)
    # The key is not the credential, nor a plain hash of it, and differs between caches.
    other = CredentialCache()
    assert other.key("basic", "YWxpY2U6eA==") != key_a
    assert b"YWxpY2U6eA==" not in key_a
    off = CredentialCache(ttl=0)
    off.put(key_a, alice)
    assert off.get(key_a) is None


def test_the_limiter_counts_per_user_and_per_address() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("alice", "10.0.0.1") is None
        limiter.failed("alice", "10.0.0.1")
    # The user name is limited from every address, the address for every user name.
    assert limiter.retry_after("alice", "10.0.0.2") == pytest.approx(60)
    assert limiter.retry_after("bob", "10.0.0.1") == pytest.approx(60)
    assert limiter.retry_after("bob", "10.0.0.2") is None
    # A success clears the user's count, not the address's.
    limiter.succeeded("alice")
    assert limiter.retry_after("alice", "10.0.0.2") is None
    assert limiter.retry_after("alice", "10.0.0.1") is not None
    # The window slides.
    clock.now += 30
    assert limiter.retry_after(None, "10.0.0.1") == pytest.approx(30)
    clock.now += 31
    assert limiter.retry_after(None, "10.0.0.1") is None


def test_trusted_proxies_must_be_networks() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "192.168.1.7", "::1/128"])] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "::1/128",
    ]
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks(["proxy.example.org"])


# -- the app in-process ------------------------------------------------------------------------


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqlTrackingStore, SqlAuthStore]]:
    tracking = SqlTrackingStore(f"sqlite:///{tmp_path / 'runlab.db'}", "mlflow-artifacts:/")
    auth = SqlAuthStore(f"sqlite:///{tmp_path / 'auth.db'}", password_hasher=FAST_HASHER)
    auth.create_user("admin", PASSWORD, is_admin=True)
    auth.create_user("alice", PASSWORD)
    yield tracking, auth
    auth.close()
    tracking.close()


class InProcess:
    """The app, called from any client address."""

    def __init__(self, app: Any, portal: Any) -> None:
        self.app = app
        self.portal = portal

    def call(
        self,
        method: str,
        path: str,
        *,
        address: str = "127.0.0.1",
        user: str | None = None,
        password: str = PASSWORD,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if user is not None:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            all_headers["Authorization"] = f"Basic {pair}"

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                if method == "GET":
                    return await c.get(path, headers=all_headers)
                return await c.request(method, path, json={}, headers=all_headers)

        result: httpx.Response = self.portal.call(send)
        return result


@pytest.fixture
def serve(stores: tuple[SqlTrackingStore, SqlAuthStore]) -> Iterator[Any]:
    tracking, auth = stores
    with start_blocking_portal() as portal:

        def make(**settings: Any) -> InProcess:
            app = build_app(
                tracking, settings=ServerSettings(auth_enabled=True, **settings), auth_store=auth
            )
            return InProcess(app, portal)

        yield make


def test_limits_hold_across_addresses_for_one_user(serve: Any) -> None:
    app = serve(auth_max_failures=3)
    for index in range(3):
        refused = app.call("POST", SEARCH, address=f"10.0.0.{index}", user="alice", password="no")
        assert refused.status_code == 401
    # alice is limited from anywhere; others are not.
    assert app.call("POST", SEARCH, address="10.0.0.9", user="alice").status_code == 429
    assert app.call("POST", SEARCH, address="10.0.0.9", user="admin").status_code == 200


def test_a_user_header_is_believed_only_from_a_trusted_proxy(
    serve: Any, stores: tuple[SqlTrackingStore, SqlAuthStore]
) -> None:
    app = serve(auth_trusted_header="X-Forwarded-User", auth_trusted_proxies=("10.1.0.0/16",))
    claim = {"X-Forwarded-User": "admin"}
    # From anywhere else the header is ignored: the request is anonymous...
    assert app.call("GET", "/api/2.0/mlflow/users/list", headers=claim).status_code == 401
    spoofed = app.call("GET", "/api/2.0/mlflow/users/list", address="10.2.0.1", headers=claim)
    assert spoofed.status_code == 401
    # ...and Basic still works there.
    assert app.call("GET", "/api/2.0/mlflow/users/list", user="admin").status_code == 200
    # From the proxy's network, the header names the user.
    trusted = app.call("GET", "/api/2.0/mlflow/users/list", address="10.1.3.4", headers=claim)
    assert trusted.status_code == 200
    # A name the store refuses as a user name is refused, and nobody is created.
    _, auth = stores
    before = [u.username for u in auth.list_users()]
    bad = app.call("GET", SEARCH, address="10.1.3.4", headers={"X-Forwarded-User": "a b"})
    assert bad.status_code == 401
    assert [u.username for u in auth.list_users()] == before


def test_forwarded_for_is_read_only_from_a_trusted_proxy(
    serve: Any, stores: tuple[SqlTrackingStore, SqlAuthStore]
) -> None:
    _, auth = stores
    app = serve(auth_trusted_header="X-Forwarded-User", auth_trusted_proxies=("10.1.0.0/16",))
    forwarded = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    app.call("POST", SEARCH, address="10.1.0.5", user="alice", password="no", headers=forwarded)
    app.call("POST", SEARCH, address="10.9.0.5", user="alice", password="no", headers=forwarded)
    addresses = [e.address for e in auth.audit_events(action="signin.failed")]
    # Newest first: the untrusted peer's claim was ignored; the proxy's last hop was used.
    assert addresses == ["10.9.0.5", "198.51.100.2"]


def test_only_api_paths_get_the_basic_challenge(serve: Any) -> None:
    app = serve()
    api = app.call("GET", "/openapi.json")
    assert api.status_code == 401 and api.headers["www-authenticate"] == 'Basic realm="runlab"'
    page = app.call("GET", "/")  # a page sends a person to the login page instead
    assert page.status_code == 303 and "www-authenticate" not in page.headers
    assert page.headers["location"] == "/login"


def test_bad_authentication_settings_are_refused(
    stores: tuple[SqlTrackingStore, SqlAuthStore],
) -> None:
    tracking, auth = stores
    with pytest.raises(InvalidParameter, match="trusted proxies"):
        build_app(
            tracking,
            settings=ServerSettings(auth_enabled=True, auth_trusted_header="X-User"),
            auth_store=auth,
        )
    with pytest.raises(InvalidParameter, match="not an IP network"):
        build_app(
            tracking,
            settings=ServerSettings(
                auth_enabled=True, auth_trusted_header="X-User", auth_trusted_proxies=("x",)
            ),
            auth_store=auth,
        )

    class PermissionsOnly:
        def experiment_permissions_of(self, username: str) -> dict[str, str]:
            return {}

        def registered_model_permissions_of(self, username: str) -> dict[str, str]:
            return {}

    with pytest.raises(InvalidParameter, match="cannot check credentials"):
        build_app(
            tracking, settings=ServerSettings(auth_enabled=True), auth_store=PermissionsOnly()
        )

"""The app with authentication on, driven in-process like a browser (tests only).

httpx keeps the cookies the app sets, as a browser does; :func:`sign_in` posts the login form
and :func:`csrf_of` reads the CSRF token a page carries for its scripts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal

from runlab.server.app import build_app
from runlab.server.auth.sessions import SESSION_COOKIE
from runlab.server.settings import ServerSettings
from support.asgi_api import Api
from support.auth_world import PASSWORD, World

#: What every current browser sends with a page load (programs send none of these).
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"}


def open_api(world: World, base_url: str = "http://localhost", **settings: Any) -> Iterator[Api]:
    """The app over ``world`` with authentication on, as a client that keeps cookies.

    Credentials are not cached (``auth_cache_seconds=0``), so a change to a user shows at once.
    """
    options: dict[str, Any] = {"auth_enabled": True, "auth_cache_seconds": 0.0, **settings}
    app = build_app(
        world.tracking, world.registry, settings=ServerSettings(**options), auth_store=world.auth
    )
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        try:
            yield Api(portal, client)
        finally:
            portal.call(client.aclose)


def cookie_of(api: Api) -> str | None:
    """The session cookie the client holds, if any."""
    jar: httpx.Cookies = api._client.cookies
    return jar.get(SESSION_COOKIE)


def sign_in(
    api: Api, username: str, password: str = PASSWORD, next_url: str = ""
) -> httpx.Response:
    """Post the login form."""
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return api.post("/login", data=data)


def csrf_of(html: str) -> str:
    """The CSRF token in a page's ``<meta name="runlab-csrf">``."""
    match = re.search(r'<meta name="runlab-csrf" content="([^"]+)">', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def signed_in_page(api: Api, username: str, path: str = "/experiments") -> str:
    """Sign in as ``username`` and return the HTML of ``path``."""
    assert sign_in(api, username).status_code == 303
    page = api.get(path)
    assert page.status_code == 200, page.text
    return page.text

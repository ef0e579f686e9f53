"""The login page (``/login``) and signing out (``/logout``).

``GET /login`` shows a form; ``POST /login`` checks the user name and password with the auth
store and, when they are right, sets the session cookie and sends the browser on to ``next``
(a path on this site only: anything else goes to ``/``). Signing out is ``POST /logout``, which
the page header's button sends with the session's CSRF token.

The session machinery lives in :mod:`runlab.server.auth.web`, as a middleware the app installs
when it authenticates its callers; these routes find it in the request's scope. Without it
(a server without ``--auth``) the login page says there is nothing to sign in to.

This module also gives the templates their view of the signed-in user (:mod:`..auth_helpers`),
since every page's header shows who that is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from runlab.server.auth import principal_of
from runlab.server.auth.rules import AUTHENTICATED, PUBLIC, guarded
from runlab.server.auth.sessions import safe_next
from runlab.server.auth.web import LOGIN_PATH, LOGOUT_PATH, web_sessions_of
from runlab.server.ui import auth_helpers

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: The login form is two short fields; a larger body is not a login.
MAX_FORM_BYTES = 16 * 1024


class FormTooLarge(Exception):
    """The login form's body is larger than any real one."""


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (the first value of each), read up to
    :data:`MAX_FORM_BYTES` (:class:`FormTooLarge` past that)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def routes(pages: Pages) -> list[Route]:
    """The login and logout routes; also installs the templates' sign-in helpers."""
    auth_helpers.install(pages.env, pages.ctx)

    def form(
        next_url: str, *, username: str = "", error: str | None = None, status: int = 200
    ) -> Response:
        context: dict[str, Any] = {
            "nav": None,
            "next": next_url,
            "username": username,
            "error": error,
            "enabled": True,
        }
        return pages.render("login.html", context, status=status)

    async def login(request: Request) -> Response:
        """The sign-in form, and signing in with it."""
        web = web_sessions_of(request.scope)
        if web is None:
            context = {"nav": None, "enabled": False, "next": "/", "username": "", "error": None}
            return pages.render("login.html", context, status=404)
        if request.method == "GET":
            next_url = safe_next(request.query_params.get("next"))
            if principal_of(request) is not None:
                return RedirectResponse(next_url, status_code=303)
            return form(next_url)
        try:
            fields = await read_form(request)
        except FormTooLarge:
            return form("/", error="The form was too large to be a sign-in.", status=413)
        next_url = safe_next(fields.get("next"))
        username = fields.get("username", "")
        password = fields.get("password", "")
        if not username or not password:
            return form(
                next_url,
                username=username,
                error="Enter your user name and your password.",
                status=400,
            )
        outcome = await web.sign_in(request.scope, username, password)
        if outcome.principal is None:
            response = form(
                next_url, username=username, error=outcome.message, status=outcome.status
            )
            if outcome.retry_after is not None:
                response.headers["Retry-After"] = str(outcome.retry_after)
            return response
        response = RedirectResponse(next_url, status_code=303)
        response.headers.append("Set-Cookie", outcome.set_cookie)
        return response

    async def logout(request: Request) -> Response:
        """Sign out: the browser forgets its session cookie."""
        web = web_sessions_of(request.scope)
        response = JSONResponse({"signed_out": True, "login": LOGIN_PATH})
        if web is not None:
            response.headers.append("Set-Cookie", await web.sign_out(request.scope))
        response.headers["Cache-Control"] = "no-store"
        return response

    return [
        # Public: nobody is signed in yet. One route for both methods, so the rule table lists
        # the login page as a single public route.
        guarded(
            Route(LOGIN_PATH, login, methods=["GET", "POST"], name="ui:login"),
            PUBLIC,
        ),
        # Signed in: a CSRF-checked POST, like every change a session makes.
        guarded(Route(LOGOUT_PATH, logout, methods=["POST"], name="ui:logout"), AUTHENTICATED),
    ]

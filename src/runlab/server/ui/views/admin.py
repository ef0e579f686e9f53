"""The administrators' page (``/admin``): users, access tokens and the recent audit log.

Everything shown is read from the auth store at render time; every change (create a user, make
one an administrator or not, delete one, revoke a token) is made by ``static/admin.js`` through
the server's auth REST API, with the session's CSRF token, and the page reloads on success. So
the page holds no rule of its own about who may do what: the API's rules decide, and the page
is only for administrators (the route's ADMIN rule) because only they can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities.auth import AccessToken, AuditEvent, User
from runlab.server.auth.rules import ADMIN, guarded

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: Audit events shown on the page, newest first (the API and CLI page through all of them).
AUDIT_EVENTS_SHOWN = 50


@dataclass(frozen=True)
class AdminPage:
    """What the admin page shows."""

    users: list[User]
    tokens: list[AccessToken]
    events: list[AuditEvent]


def load_admin_page(store: Any) -> AdminPage:
    """Read users, tokens and recent audit events from the auth store (blocking)."""
    return AdminPage(
        users=list(store.list_users()),
        tokens=list(store.list_tokens()),
        events=list(store.audit_events(limit=AUDIT_EVENTS_SHOWN)),
    )


def routes(pages: Pages) -> list[Route]:
    """The admin page's route (administrators only)."""

    async def admin_page(request: Request) -> Response:
        """Users, access tokens and the audit log, for administrators."""
        context: dict[str, Any] = {"nav": "admin", "page": None, "error": None}
        auth = pages.ctx.auth
        if auth is None:
            context["error"] = (
                "This server has no users to manage: it was started without --auth, so "
                "everyone who can reach it can use it."
            )
            return pages.render("admin.html", context, status=404)
        store = auth.permissions
        return await pages.render_or_error(
            "admin.html", context, lambda: {"page": load_admin_page(store)}
        )

    return [guarded(Route("/admin", admin_page, methods=["GET"], name="ui:admin"), ADMIN)]

"""Wiring authentication into the app: the :class:`Authentication` and its middleware.

Called by the app factory when the server checks permissions; kept here so the factory needs
two lines, and so that everything a request passes through before its route is in one list.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware

from runlab.server.auth.audit import DeletionAudit
from runlab.server.auth.authentication import (
    Authentication,
    AuthenticationMiddleware,
    authentication_from_settings,
)

__all__ = ["authentication_middleware", "build_authentication"]


def build_authentication(auth_store: object, settings: Any) -> Authentication:
    """The :class:`Authentication` of an app over ``auth_store`` with ``settings``
    (ServerSettings); raises :class:`~runlab.errors.InvalidParameter` for a store that cannot
    check credentials or settings out of range."""
    return authentication_from_settings(auth_store, settings)


def authentication_middleware(authentication: Authentication) -> list[Middleware]:
    """The middleware, outermost first: who is asking, then the audit of their deletions."""
    return [
        Middleware(AuthenticationMiddleware, authentication=authentication),
        Middleware(DeletionAudit, store=authentication.store),
    ]

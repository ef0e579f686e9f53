"""Who may do what on a server that authenticates its callers.

The server checks permissions in one place (:func:`runlab.server.auth.decision.authorize`),
against a rule every route declares where it is registered (:mod:`runlab.server.auth.rules`).
Authentication comes first and is separate: a middleware verifies the caller's credentials and
puts an :class:`AuthenticatedUser` into the ASGI scope (``scope["user"]``, Starlette's
convention); :func:`principal_of` reads it back. Anything else in ``scope["user"]`` is ignored:
only this class carries whether the user is an administrator.

This module imports nothing from its submodules, so they (and the route modules) can import
:class:`Principal` from here without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.authentication import BaseUser
from starlette.requests import HTTPConnection

__all__ = ["AuthenticatedUser", "Principal", "principal_of", "principal_of_scope"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a request was authenticated as."""

    username: str
    is_admin: bool = False


class AuthenticatedUser(BaseUser):
    """The ``scope["user"]`` object of a request whose credentials were verified.

    It is a Starlette :class:`~starlette.authentication.BaseUser`, so Starlette's own helpers
    (``request.user``, ``requires``) work with it too.
    """

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.username

    @property
    def identity(self) -> str:
        return self.principal.username

    def __repr__(self) -> str:
        return f"AuthenticatedUser({self.principal!r})"


def principal_of_scope(scope: Mapping[str, Any]) -> Principal | None:
    """The principal of an ASGI scope, or None for an anonymous request."""
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        return user.principal
    return None


def principal_of(request: HTTPConnection) -> Principal | None:
    """The principal a request was authenticated as, or None for an anonymous request."""
    return principal_of_scope(request.scope)

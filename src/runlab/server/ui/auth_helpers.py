"""What the templates know about the signed-in user: who they are and what they may do.

Installed as template globals (:func:`install`), so any page can ask while it renders:

- ``signed_in()``: the :class:`~runlab.server.auth.Principal` of the request, or None (and
  always None on a server without authentication).
- ``csrf_token()``: the web session's CSRF token for the ``<meta>`` tag the scripts read.
- ``may(need, kind, id)``: whether the caller may ``read``/``update``/``delete``/``manage`` the
  experiment (``kind="experiment"``, by id) or registered model (``kind="registered_model"``,
  by name), decided as the decision point (:mod:`runlab.server.auth.decision`) decides for
  the API route that makes the change: administrators may do everything, anyone else has their
  own permission or else the server's default, with MLflow's meanings of each. A page asks with
  the need of the route its button calls (a run's tags: ``update``; deleting runs: ``delete``),
  so it shows a button exactly when the server would accept what it sends. Hiding a button is
  a courtesy, not the protection: the API refuses a forged request all the same.
- ``grants(kind, id)``: the explicit permissions on an experiment or model, for the share
  panel (only asked when ``may("manage", …)``).

The answers are about the request being served (:func:`runlab.server.auth.web.current_principal`);
the user's permissions are read once per request (a list page asks for every row), never kept
longer, so a permission changed since counts on the next page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from jinja2 import Environment

from runlab.entities.auth import get_permission
from runlab.server.auth import Principal
from runlab.server.auth.rules import NEEDS
from runlab.server.auth.web import current_csrf_token, current_principal, request_memo
from runlab.server.context import ServerContext

__all__ = ["Kind", "install"]

Kind = Literal["experiment", "registered_model"]


def _permissions_of(ctx: ServerContext, principal: Principal, kind: str) -> Mapping[str, str]:
    """The caller's explicit permissions on every experiment or model, read once per request."""
    assert ctx.auth is not None
    memo = request_memo()
    key = ("permissions", principal.username, kind)
    found = memo.get(key)
    if found is None:
        source = ctx.auth.permissions
        if kind == "experiment":
            found = source.experiment_permissions_of(principal.username)
        else:
            found = source.registered_model_permissions_of(principal.username)
        memo[key] = found
    return cast("Mapping[str, str]", found)


def _may(ctx: ServerContext, need: str, kind: str, resource_id: Any) -> bool:
    auth = ctx.auth
    if auth is None:
        return True  # a server without authentication lets everyone do everything
    if need not in NEEDS:
        raise ValueError(f"Unknown need {need!r} in a template: use one of {', '.join(NEEDS)}.")
    if kind not in ("experiment", "registered_model"):
        raise ValueError(f"Unknown kind {kind!r} in a template: experiment or registered_model.")
    principal = current_principal()
    if principal is None:
        return False
    if principal.is_admin:
        return True
    # The decision point's own rule: the user's explicit permission, else the server's default.
    # Ids come from the store's entities, so they are spelled as the permissions record them.
    name = _permissions_of(ctx, principal, kind).get(str(resource_id))
    permission = get_permission(name) if name is not None else auth.default_permission
    return bool(getattr(permission, _CAPABILITY[need]))


_CAPABILITY = {
    "read": "can_read",
    "update": "can_update",
    "delete": "can_delete",
    "manage": "can_manage",
}


def _grants(ctx: ServerContext, kind: str, resource_id: Any) -> list[Any]:
    auth = ctx.auth
    if auth is None:
        return []
    store = auth.permissions
    if kind == "experiment":
        lister = getattr(store, "list_experiment_permissions", None)
        return list(lister(experiment_id=str(resource_id))) if lister else []
    if kind == "registered_model":
        lister = getattr(store, "list_registered_model_permissions", None)
        return list(lister(name=str(resource_id))) if lister else []
    raise ValueError(f"Unknown kind {kind!r} in a template: experiment or registered_model.")


def install(env: Environment, ctx: ServerContext) -> None:
    """Give ``env``'s templates ``signed_in``, ``csrf_token``, ``may`` and ``grants`` for
    the app of ``ctx``."""

    def signed_in() -> Principal | None:
        return current_principal() if ctx.auth is not None else None

    def may(need: str, kind: str, resource_id: Any) -> bool:
        return _may(ctx, need, kind, resource_id)

    def grants(kind: str, resource_id: Any) -> list[Any]:
        return _grants(ctx, kind, resource_id)

    env.globals.update(
        signed_in=signed_in,
        csrf_token=current_csrf_token,
        may=may,
        grants=grants,
        auth_enabled=ctx.auth is not None,
    )

"""The REST API of an authenticating server: users and permissions, tokens, the audit log.

MLflow's auth API, with its request and response shapes, under ``/api/2.0/mlflow/`` (and
``/ajax-api/2.0/mlflow/``), so MLflow's ``AuthServiceClient`` manages a runlab server:

==========================================  ======  ===========================================
path                                        method  who may call
==========================================  ======  ===========================================
``users/create``                            POST    administrators
``users/get``                               GET     administrators, or the user themself
``users/current``                           GET     any signed-in user (themself)
``users/list``                              GET     administrators
``users/update-password``                   PATCH   administrators, or the user themself (with
                                                    ``current_password``)
``users/update-admin``                      PATCH   administrators
``users/delete``                            DELETE  administrators
``experiments/permissions/create|get``      POST,   MANAGE on the experiment
``…/update|delete``                         GET,
                                            PATCH,
                                            DELETE
``registered-models/permissions/…``         same    MANAGE on the registered model
==========================================  ======  ===========================================

runlab's own, under ``/api/2.0/runlab/``: ``tokens/create``, ``tokens/list``, ``tokens/revoke``
(a user manages their own access tokens, administrators everyone's; a token's secret is in the
create response only) and ``audit/list`` (administrators).

Every endpoint declares its rule like any other route; the "or the user themself" checks are
made here, on top of an AUTHENTICATED rule, and refuse with the same message whether the other
user exists or not. A change to a user forgets their remembered credentials in this process at
once (other workers: within the credential cache period). Every change is written to the audit
log with who made it and from where.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from runlab.entities.auth import (
    AccessToken,
    AuditEvent,
    ExperimentPermission,
    RegisteredModelPermission,
    User,
)
from runlab.errors import InvalidParameter, NotFound, PermissionDenied, RunlabError
from runlab.server.auth import Principal
from runlab.server.auth.authentication import Authentication, current_client_address
from runlab.server.auth.rules import ADMIN, AUTHENTICATED, Rule, experiment, model
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields

if TYPE_CHECKING:
    from runlab.store.sql.auth import SqlAuthStore

__all__ = ["MLFLOW_ENDPOINTS", "RUNLAB_ENDPOINTS"]

#: Longest token lifetime accepted through the API, in days (ten years).
MAX_TOKEN_DAYS = 3650


# -- plumbing ----------------------------------------------------------------------------------


def _authentication(ctx: ServerContext) -> Authentication:
    authentication = ctx.authentication
    if authentication is None:  # only served when auth is on; a wiring mistake otherwise
        raise RunlabError("This server does not authenticate its callers.", "NOT_IMPLEMENTED")
    return cast(Authentication, authentication)


def _store(ctx: ServerContext) -> SqlAuthStore:
    return cast("SqlAuthStore", _authentication(ctx).store)


def _caller(f: RequestFields) -> Principal:
    principal = f.principal
    if principal is None:  # the rules let no anonymous request this far
        raise PermissionDenied("Permission denied: sign in first.")
    return principal


#: Changes after which the decision point must not use a permission it remembered.
_FORGETS_PERMISSIONS = ("permission.", "user.delete")


def _audit(
    ctx: ServerContext, f: RequestFields, action: str, target: str, detail: str = ""
) -> None:
    """Record a change made through this API (each handler calls it right after its change);
    a permission change or a deleted user also clears the permissions the decision point
    remembers, so the change counts from the next request."""
    if action.startswith(_FORGETS_PERMISSIONS) and ctx.auth is not None:
        ctx.auth.forget_permissions()
    _store(ctx).record_event(
        action, target, detail, actor=_caller(f).username, address=current_client_address()
    )


def _self_or_admin(f: RequestFields, username: str, what: str) -> Principal:
    caller = _caller(f)
    if not caller.is_admin and caller.username != username:
        # Says nothing about whether that user exists.
        raise PermissionDenied(
            f"Permission denied: only administrators may {what} of another user; user "
            f"{caller.username!r} may {what} of their own account only."
        )
    return caller


# -- the wire shapes ---------------------------------------------------------------------------


def _experiment_permission(p: ExperimentPermission) -> dict[str, Any]:
    return {"experiment_id": p.experiment_id, "user_id": p.user_id, "permission": p.permission}


def _model_permission(p: RegisteredModelPermission) -> dict[str, Any]:
    return {"name": p.name, "user_id": p.user_id, "permission": p.permission}


def _user(store: SqlAuthStore, user: User) -> dict[str, Any]:
    # MLflow's older clients read the permission lists of a user; its newer ones ignore them.
    return {
        "id": user.id,
        "username": user.username,
        "is_admin": user.is_admin,
        "experiment_permissions": [
            _experiment_permission(p)
            for p in store.list_experiment_permissions(username=user.username)
        ],
        "registered_model_permissions": [
            _model_permission(p)
            for p in store.list_registered_model_permissions(username=user.username)
        ],
    }


def _token(token: AccessToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "username": token.username,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


def _event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "timestamp": event.timestamp,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "detail": event.detail,
        "address": event.address,
    }


# -- users -------------------------------------------------------------------------------------


def create_user(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    store = _store(ctx)
    user = store.create_user(f.required_string("username"), f.required_string("password"))
    _audit(ctx, f, "user.create", user.username)
    return {"user": _user(store, user)}


def get_user(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    username = f.required_string("username")
    _self_or_admin(f, username, "look at the account")
    store = _store(ctx)
    return {"user": _user(store, store.get_user(username))}


def current_user(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    store = _store(ctx)
    return {"user": _user(store, store.get_user(_caller(f).username))}


def list_users(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    store = _store(ctx)
    return {"users": [_user(store, user) for user in store.list_users()]}


def update_password(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    username = f.required_string("username")
    password = f.required_string("password")
    caller = _self_or_admin(f, username, "change the password")
    store = _store(ctx)
    authentication = _authentication(ctx)
    if caller.username == username:
        # Your own password needs the current one: a stolen access token, or a browser left
        # signed in, must not be enough to take the account over.
        current = f.string("current_password")
        if not current:
            raise InvalidParameter(
                "Missing value for required parameter 'current_password': changing your own "
                "password needs the current one."
            )
        address = current_client_address()
        wait = authentication.limiter.retry_after(username, address)
        if wait is not None:
            raise _TooManyFailures(wait)
        if store.authenticate_password(username, current) is None:
            authentication.limiter.failed(username, address)
            store.record_event(
                "signin.failed", username, "wrong current password", actor=username, address=address
            )
            raise PermissionDenied("Permission denied: the current password is not correct.")
    store.update_password(username, password)
    authentication.forget_user(username)
    _audit(ctx, f, "user.password", username)
    return {}


class _TooManyFailures(RunlabError):
    def __init__(self, wait: float) -> None:
        seconds = max(1, int(wait + 0.999))
        super().__init__(
            f"Too many failed password checks for this user or from this address; try again "
            f"in {seconds} seconds.",
            "REQUEST_LIMIT_EXCEEDED",
        )


def update_admin(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    username = f.required_string("username")
    if not f.has("is_admin"):
        raise InvalidParameter("Missing value for required parameter 'is_admin'.")
    is_admin = f.boolean("is_admin")
    _store(ctx).set_admin(username, is_admin)
    _authentication(ctx).forget_user(username)
    _audit(ctx, f, "user.admin", username, f"is_admin={is_admin}")
    return {}


def delete_user(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    username = f.required_string("username")
    _store(ctx).delete_user(username)
    _authentication(ctx).forget_user(username)
    _audit(ctx, f, "user.delete", username)
    return {}


# -- permissions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PermissionKind:
    """The four permission calls of one kind of resource, as MLflow names and shapes them.

    ``key`` is the request field naming the resource (``experiment_id`` or ``name``), ``wire``
    the answer's key, ``described`` how the audit log names the resource, ``store_name`` the
    middle of the SqlAuthStore methods (``create_<store_name>_permission`` …).
    """

    path: str
    key: str
    wire: str
    described: str
    store_name: str
    shape: Callable[[Any], dict[str, Any]]
    rule: Rule

    def _call(self, ctx: ServerContext, verb: str, *args: str) -> Any:
        return getattr(_store(ctx), f"{verb}_{self.store_name}_permission")(*args)

    def create(self, ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
        resource, username = f.required_string(self.key), f.required_string("username")
        created = self._call(ctx, "create", resource, username, f.required_string("permission"))
        target = f"{self.described} {getattr(created, self.key)}"
        _audit(ctx, f, "permission.create", target, f"{created.username}: {created.permission}")
        return {self.wire: self.shape(created)}

    def get(self, ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
        found = self._call(ctx, "get", f.required_string(self.key), f.required_string("username"))
        return {self.wire: self.shape(found)}

    def update(self, ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
        resource, username = f.required_string(self.key), f.required_string("username")
        permission = f.required_string("permission")
        self._call(ctx, "update", resource, username, permission)
        target = f"{self.described} {resource}"
        _audit(ctx, f, "permission.update", target, f"{username}: {permission}")
        return {}

    def delete(self, ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
        resource, username = f.required_string(self.key), f.required_string("username")
        self._call(ctx, "delete", resource, username)
        _audit(ctx, f, "permission.delete", f"{self.described} {resource}", username)
        return {}

    def endpoints(self) -> list[Endpoint]:
        """MLflow's ``<path>/permissions/create|get|update|delete``, each with the kind's rule."""
        with_permission = {self.key: "string", "username": "string", "permission": "string"}
        without = {self.key: "string", "username": "string"}
        what = f"on {'an' if self.described[0] in 'aeiou' else 'a'} {self.described}"
        calls = (
            ("POST", "create", self.create, f"Give a user a permission {what}", with_permission),
            ("GET", "get", self.get, f"A user's permission {what}", without),
            ("PATCH", "update", self.update, f"Change a user's permission {what}", with_permission),
            ("DELETE", "delete", self.delete, f"Remove a user's permission {what}", without),
        )
        return [
            Endpoint(
                method,
                f"{self.path}/permissions/{verb}",
                handler,
                summary,
                fields,
                tuple(fields),
                rule=self.rule,
            )
            for method, verb, handler, summary, fields in calls
        ]


_EXPERIMENTS = _PermissionKind(
    path="experiments",
    key="experiment_id",
    wire="experiment_permission",
    described="experiment",
    store_name="experiment",
    shape=_experiment_permission,
    rule=experiment("manage"),
)
_MODELS = _PermissionKind(
    path="registered-models",
    key="name",
    wire="registered_model_permission",
    described="registered model",
    store_name="registered_model",
    shape=_model_permission,
    rule=model("manage"),
)


# -- access tokens -----------------------------------------------------------------------------


def _token_owner(f: RequestFields) -> str:
    """Whose token a request is about: ``username`` when given (admins: anyone), else the
    caller."""
    caller = _caller(f)
    username = f.string("username") or caller.username
    _self_or_admin(f, username, "manage the access tokens")
    return username


def _expires_at(f: RequestFields) -> int | None:
    days = f.int64("expires_in_days")
    at = f.int64("expires_at")
    if days is not None and at is not None:
        raise InvalidParameter(
            "Give either 'expires_in_days' or 'expires_at' (milliseconds since the epoch), "
            "not both."
        )
    if days is not None:
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise InvalidParameter(
                f"Invalid value {days} for parameter 'expires_in_days' supplied: it must be "
                f"from 1 to {MAX_TOKEN_DAYS} days; leave it out for a token that never expires."
            )
        return int(time.time() * 1000) + days * 86_400_000
    return at


def create_token(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    username = _token_owner(f)
    name = f.required_string("name")
    expires_at = _expires_at(f)
    store = _store(ctx)
    token, secret = store.create_token(username, name, expires_at)
    _audit(ctx, f, "token.create", username, f"access token {token.id} ({token.name})")
    # The only time the secret leaves the server.
    return {"token": _token(token), "secret": secret}


def list_tokens(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    caller = _caller(f)
    wanted = f.string("username")
    if wanted is None and caller.is_admin:
        found = _store(ctx).list_tokens()
    else:
        found = _store(ctx).list_tokens(_token_owner(f))
    return {"tokens": [_token(t) for t in found]}


def revoke_token(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    caller = _caller(f)
    token_id = f.int64("token_id", required=True)
    assert token_id is not None
    store = _store(ctx)
    if caller.is_admin:
        owner = next((t.username for t in store.list_tokens() if t.id == token_id), None)
        if owner is None:
            raise NotFound(f"No access token with id {token_id}. List the tokens to see their ids.")
        store.revoke_token(token_id)
    else:
        owner = caller.username
        # Another user's token is "not found", exactly like a token that does not exist.
        store.revoke_token(token_id, username=owner)
    _authentication(ctx).forget_user(owner)
    _audit(ctx, f, "token.revoke", owner, f"access token {token_id}")
    return {}


# -- the audit log -----------------------------------------------------------------------------


def list_audit_events(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    limit = f.int64("limit", default=100)
    assert limit is not None
    events = _store(ctx).audit_events(
        limit=limit,
        before_id=f.int64("before_id"),
        actor=f.string("actor"),
        action=f.string("action"),
    )
    out: dict[str, Any] = {"events": [_event(e) for e in events]}
    if len(events) == limit:
        out["next_before_id"] = events[-1].id
    return out


# -- the endpoints -----------------------------------------------------------------------------

_USER = {"username": "string"}

#: Served under MLflow's prefixes (/api/2.0/mlflow and /ajax-api/2.0/mlflow).
MLFLOW_ENDPOINTS = [
    Endpoint(
        "POST",
        "users/create",
        create_user,
        "Create a user (administrators)",
        {"username": "string", "password": "string"},
        ("username", "password"),
        rule=ADMIN,
    ),
    Endpoint(
        "GET",
        "users/get",
        get_user,
        "Get a user (administrators, or the user themself)",
        _USER,
        ("username",),
        rule=AUTHENTICATED,
    ),
    Endpoint(
        "GET", "users/current", current_user, "The signed-in user", {}, (), rule=AUTHENTICATED
    ),
    Endpoint("GET", "users/list", list_users, "List users (administrators)", {}, (), rule=ADMIN),
    Endpoint(
        "PATCH",
        "users/update-password",
        update_password,
        "Change a password (administrators, or the user themself with current_password)",
        {"username": "string", "password": "string", "current_password": "string"},
        ("username", "password"),
        rule=AUTHENTICATED,
    ),
    Endpoint(
        "PATCH",
        "users/update-admin",
        update_admin,
        "Make a user an administrator or not (administrators)",
        {"username": "string", "is_admin": "boolean"},
        ("username", "is_admin"),
        rule=ADMIN,
    ),
    Endpoint(
        "DELETE",
        "users/delete",
        delete_user,
        "Delete a user with their tokens and permissions (administrators)",
        _USER,
        ("username",),
        rule=ADMIN,
    ),
    *_EXPERIMENTS.endpoints(),
    *_MODELS.endpoints(),
]

#: Served under runlab's prefixes (/api/2.0/runlab and /ajax-api/2.0/runlab).
RUNLAB_ENDPOINTS = [
    Endpoint(
        "POST",
        "tokens/create",
        create_token,
        "Create an access token (yours; administrators: anyone's); the secret is shown once",
        {
            "name": "string",
            "username": "string",
            "expires_in_days": "integer",
            "expires_at": "integer",
        },
        ("name",),
        rule=AUTHENTICATED,
    ),
    Endpoint(
        "GET",
        "tokens/list",
        list_tokens,
        "List access tokens (yours; administrators: anyone's), without their secrets",
        {"username": "string"},
        (),
        rule=AUTHENTICATED,
    ),
    Endpoint(
        "POST",
        "tokens/revoke",
        revoke_token,
        "Revoke an access token (yours; administrators: anyone's)",
        {"token_id": "integer"},
        ("token_id",),
        rule=AUTHENTICATED,
    ),
    Endpoint(
        "GET",
        "audit/list",
        list_audit_events,
        "The audit log, newest first (administrators)",
        {"limit": "integer", "before_id": "integer", "actor": "string", "action": "string"},
        (),
        rule=ADMIN,
    ),
]

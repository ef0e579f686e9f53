"""The one authorization decision point: :func:`authorize`.

Every route declares a :class:`~runlab.server.auth.rules.Rule`; when the server checks
permissions (``ServerSettings.auth_enabled``), the generic endpoint wrapper
(:func:`runlab.server.endpoint.make_route`) calls :func:`authorize` on the fields it decoded, and
:func:`guard_routes` wraps every other route so it is called before their handlers. With
permissions off, neither runs: the app is exactly what it was.

The decision, in order:

1. A PUBLIC rule passes.
2. No principal (an anonymous request): :class:`~runlab.errors.Unauthenticated` (401).
3. An administrator passes everything, without any lookup (and so gets the handler's own 404s).
4. ADMIN rules refuse everyone else; AUTHENTICATED rules pass (a search filters its results).
5. Resource rules: each locator finds the experiments or registered models the request names;
   the caller's permission on each is their explicit one, else the server's default
   permission. Anything short of the need is :class:`~runlab.errors.PermissionDenied` (403).
   An id that names nothing is refused with the very same 403 as one the caller may not use,
   so a refusal never tells whether a run, experiment or logged model exists.

Facts that never change once they exist (the experiment a run or logged model belongs to, an
experiment's artifact location) are remembered, so a training loop's log-batch costs one
permission lookup, not a run lookup as well. Permissions themselves are read per request, so a
revoked permission takes effect at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runlab.entities.auth import MANAGE, Permission, get_permission
from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unauthenticated,
)
from runlab.server.artifact_locations import is_under, normalize_location
from runlab.server.auth import Principal, principal_of_scope
from runlab.server.auth.rules import (
    Access,
    Effect,
    Resource,
    RouteRule,
    Rule,
    Target,
    rule_of,
)
from runlab.server.request_fields import RequestFields
from runlab.store.base import ReadableSet

__all__ = [
    "UNAUTHENTICATED_MESSAGE",
    "AuthContext",
    "PermissionGrants",
    "PermissionSource",
    "Readable",
    "apply_effects",
    "authorize",
    "check_signed_in",
    "guard_routes",
    "readable",
]

logger = logging.getLogger("runlab.server.auth")

#: The whole message of every 401: the same whatever was asked for.
UNAUTHENTICATED_MESSAGE = (
    "Authentication required: send a user name and password (HTTP Basic) or an access token "
    "(Authorization: Bearer <token>)."
)
#: Remembered facts per kind before a cache starts over (they never change, so no expiry).
_CACHED = 10_000
#: How long a user's permissions are remembered (seconds) unless the app says otherwise.
PERMISSION_CACHE_SECONDS = 5.0
#: How deep in an artifact path owners are looked for; experiment and run folders sit near the
#: top, and a path of many numeric parts must not cost a lookup per part.
_OWNER_DEPTH = 16
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class PermissionSource(Protocol):
    """The permission lookups the decision needs (the auth store provides them)."""

    def experiment_permissions_of(self, username: str) -> Mapping[str, str]:
        """Experiment id -> permission name, for the experiments ``username`` has one on."""
        ...

    def registered_model_permissions_of(self, username: str) -> Mapping[str, str]:
        """Model name -> permission name, for the models ``username`` has one on."""
        ...


@runtime_checkable
class PermissionGrants(Protocol):
    """The permission writes that follow a successful call (see :class:`Effect`)."""

    def create_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> Any: ...

    def update_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> None: ...

    def create_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> Any: ...

    def update_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> None: ...

    def rename_registered_model_permissions(self, old_name: str, new_name: str) -> None: ...

    def delete_registered_model_permissions(self, name: str) -> None: ...


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    if len(cache) >= _CACHED:
        cache.clear()  # rare, and cheaper than keeping an order for eviction
    cache[key] = value
    return value


class AuthContext:
    """What the decision needs besides the request: the stores, the permissions, the default.

    Built once per app by the app factory; implements
    :class:`~runlab.server.auth.rules.Lookups` for the locators. ``default_permission`` (a
    permission name) applies where a user has no permission of their own.
    ``artifacts_destination`` is the artifact proxy's storage, so that experiments whose
    locations name it directly (not through ``mlflow-artifacts:``) own their proxy paths too.
    """

    def __init__(
        self,
        tracking_store: Any,
        permissions: PermissionSource,
        *,
        default_permission: str = "READ",
        artifacts_destination: str | None = None,
        working_directory: str | None = None,
        permission_cache_seconds: float = PERMISSION_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracking_store = tracking_store
        self.permissions = permissions
        self.default_permission: Permission = get_permission(default_permission)
        self._grant_ttl = permission_cache_seconds
        self._clock = clock
        self._grants: dict[tuple[str, Resource], tuple[float, Mapping[str, str]]] = {}
        self._grants_lock = threading.Lock()
        self._destination: str | None = None
        if artifacts_destination:
            try:
                self._destination = normalize_location(artifacts_destination, working_directory)
            except InvalidParameter:
                self._destination = None  # owns nothing; proxy paths stay admin-only
        self._working_directory = working_directory
        # given experiment id -> (id as stored, artifact location)
        self._experiments: dict[str, tuple[str, str]] = {}
        # run id -> (experiment id, run artifact URI)
        self._runs: dict[str, tuple[str, str]] = {}
        self._logged_models: dict[str, str] = {}

    # -- Permissions -----------------------------------------------------------------------------

    def permissions_of(self, username: str, resource: Resource) -> Mapping[str, str]:
        """``username``'s own permissions on experiments or registered models (id or name ->
        permission name), remembered for ``permission_cache_seconds``.

        A log-batch every few milliseconds would otherwise read the permission table on each
        request. Changes made through this server call :meth:`forget_permissions`, so they take
        effect at once here; those made by another worker or by ``runlab auth`` take effect
        within the cache time.
        """
        if self._grant_ttl <= 0:
            return self._load_permissions(username, resource)
        key = (username, resource)
        now = self._clock()
        with self._grants_lock:
            known = self._grants.get(key)
        if known is not None and known[0] > now:
            return known[1]
        loaded = self._load_permissions(username, resource)
        with self._grants_lock:
            if len(self._grants) >= _CACHED:
                self._grants.clear()
            self._grants[key] = (now + self._grant_ttl, loaded)
        return loaded

    def _load_permissions(self, username: str, resource: Resource) -> Mapping[str, str]:
        if resource == "experiment":
            return dict(self.permissions.experiment_permissions_of(username))
        return dict(self.permissions.registered_model_permissions_of(username))

    def forget_permissions(self) -> None:
        """Forget every remembered permission: called after any change to permissions or
        users made through this server."""
        with self._grants_lock:
            self._grants.clear()

    # -- Lookups ---------------------------------------------------------------------------------

    def _experiment(self, experiment_id: str) -> tuple[str, str] | None:
        known = self._experiments.get(experiment_id)
        if known is not None:
            return known
        try:
            found = self.tracking_store.get_experiment(experiment_id)
        except (NotFound, InvalidParameter):
            return None  # not remembered: it may be created later
        return _remember(
            self._experiments,
            experiment_id,
            (str(found.experiment_id), found.artifact_location or ""),
        )

    def experiment_id(self, experiment_id: str) -> str | None:
        known = self._experiment(experiment_id)
        return known[0] if known else None

    def experiment_id_by_name(self, name: str) -> str | None:
        # Names change (rename), so this is asked every time.
        try:
            found = self.tracking_store.get_experiment_by_name(name)
        except (NotFound, InvalidParameter):
            return None
        return str(found.experiment_id) if found is not None else None

    def _run(self, run_id: str) -> tuple[str, str] | None:
        known = self._runs.get(run_id)
        if known is not None:
            return known
        try:
            info = self.tracking_store.get_run(run_id).info
        except (NotFound, InvalidParameter):
            return None
        return _remember(self._runs, run_id, (str(info.experiment_id), info.artifact_uri or ""))

    def experiment_of_run(self, run_id: str) -> str | None:
        known = self._run(run_id)
        return known[0] if known else None

    def experiment_of_logged_model(self, model_id: str) -> str | None:
        known = self._logged_models.get(model_id)
        if known is not None:
            return known
        get_logged_model = getattr(self.tracking_store, "get_logged_model", None)
        if get_logged_model is None:
            return None
        try:
            found = get_logged_model(model_id, allow_deleted=True)
        except (NotFound, InvalidParameter):
            return None
        return _remember(self._logged_models, model_id, str(found.experiment_id))

    def _proxy_relative(self, location: str) -> str | None:
        """Where ``location`` lies in the artifact proxy's storage ("3/ab12…"), or None."""
        parts = urlsplit(location)
        if parts.scheme.lower() == "mlflow-artifacts":
            return unquote(parts.path).strip("/")
        if self._destination is None:
            return None
        if not is_under(location, self._destination):
            try:
                location = normalize_location(location, self._working_directory)
            except InvalidParameter:
                return None
            if not is_under(location, self._destination):
                return None
            parts = urlsplit(location)
        base = urlsplit(self._destination).path.rstrip("/")
        return unquote(parts.path[len(base) :]).strip("/")

    def experiments_owning_artifact_path(self, path: str) -> tuple[str, ...]:
        """Every experiment whose folder behind the proxy contains ``path``.

        An experiment owns ``<its location>/…``; an experiment's location is found from a
        numeric part of the path (its id, in the default ``<root>/<id>`` layout), a run's from
        a run-id part (which also covers experiments placed elsewhere). All owners are
        returned, so an experiment placed inside another's folder gains nothing there.
        """
        segments = [s for s in path.split("/") if s]
        owners: dict[str, None] = {}
        for depth, segment in enumerate(segments[:_OWNER_DEPTH]):
            prefix = "/".join(segments[: depth + 1])
            if segment.isascii() and segment.isdigit() and len(segment) <= 19:
                known = self._experiment(segment)
                if known is not None and self._proxy_relative(known[1]) == prefix:
                    owners[known[0]] = None
            elif _RUN_ID.fullmatch(segment):
                run = self._run(segment)
                if run is not None:
                    folder = run[1].removesuffix("/").removesuffix("/artifacts")
                    if self._proxy_relative(folder) == prefix:
                        owners[run[0]] = None
        return tuple(owners)


class _Permissions:
    """One request's view of a user's permissions, each kind loaded when first needed."""

    def __init__(self, auth: AuthContext, username: str) -> None:
        self._auth = auth
        self._username = username
        self._loaded: dict[str, Mapping[str, str]] = {}

    def names(self, resource: Resource) -> Mapping[str, str]:
        loaded = self._loaded.get(resource)
        if loaded is None:
            loaded = self._auth.permissions_of(self._username, resource)
            self._loaded[resource] = loaded
        return loaded

    def on(self, resource: Resource, resource_id: str) -> Permission:
        name = self.names(resource).get(resource_id)
        return get_permission(name) if name is not None else self._auth.default_permission


_CAPABILITY: dict[str, Callable[[Permission], bool]] = {
    "read": lambda p: p.can_read,
    "update": lambda p: p.can_update,
    "delete": lambda p: p.can_delete,
    "manage": lambda p: p.can_manage,
}


def check_signed_in(principal: Principal | None, rule: Rule) -> None:
    """Raise Unauthenticated (401) for an anonymous request to a route that is not public.

    The first step of :func:`authorize`, on its own so a wrapper can refuse before it reads a
    request body.
    """
    if principal is None and rule.access is not Access.PUBLIC:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE)


def _denied(principal: Principal, need: str, target: Target) -> PermissionDenied:
    # Built only from what the request named, never from what it resolved to.
    return PermissionDenied(
        f"Permission denied: user {principal.username!r} may not {need} {target.described}. "
        "Ask an administrator, or a user with MANAGE permission on it, for access."
    )


def needs_lookups(principal: Principal | None, rule: Rule) -> bool:
    """True when deciding takes store lookups (a resource rule for a non-administrator)."""
    return rule.access is Access.RESOURCE and principal is not None and not principal.is_admin


def authorize(
    auth: AuthContext, principal: Principal | None, rule: Rule, fields: RequestFields
) -> None:
    """Decide whether ``principal`` may make a request, raising if not (see the module).

    ``fields`` are the request's fields as its handler reads them. Raises
    :class:`~runlab.errors.Unauthenticated` (401) or
    :class:`~runlab.errors.PermissionDenied` (403); may raise
    :class:`~runlab.errors.InvalidParameter` (400) for a request whose fields cannot name a
    resource at all (a missing ``run_id``), as its handler would.
    """
    check_signed_in(principal, rule)
    if principal is None or principal.is_admin or rule.access is Access.PUBLIC:
        return
    if rule.access is Access.ADMIN:
        raise PermissionDenied(
            f"Permission denied: only administrators may do this, and user "
            f"{principal.username!r} is not one."
        )
    if rule.access is Access.AUTHENTICATED:
        return
    permissions = _Permissions(auth, principal.username)
    for requirement in rule.requirements:
        locator = requirement.locator
        allowed = _CAPABILITY[requirement.need]
        for target in locator.locate(auth, fields):
            if not target.found:
                if locator.hides_missing:
                    raise _denied(principal, requirement.need, target)
                continue  # a name that is not taken: the handler answers 404
            for resource_id in target.resource_ids:
                if not allowed(permissions.on(locator.resource, resource_id)):
                    raise _denied(principal, requirement.need, target)


# -- search filtering ----------------------------------------------------------------------------


#: Which experiments or registered models a caller may read: the store's restriction type, so a
#: handler passes what :func:`readable` returns straight to a search (``readable=``).
Readable = ReadableSet


def readable(auth: AuthContext, principal: Principal, resource: Resource) -> Readable:
    """What ``principal`` may read of ``resource`` ("experiment" or "registered_model").

    For the handlers of search rules (``Rule.filtered``, see
    :mod:`runlab.server.auth.filtering`): a run, a logged model or a model version is readable
    when its experiment or registered model is.
    """
    if principal.is_admin:
        return ReadableSet(by_default=True)
    names = _Permissions(auth, principal.username).names(resource)
    granted = frozenset(k for k, v in names.items() if get_permission(v).can_read)
    return ReadableSet(
        by_default=auth.default_permission.can_read,
        granted=granted,
        refused=frozenset(names) - granted,
    )


# -- effects after a successful call -------------------------------------------------------------


class PermissionsNotUpdated(RunlabError):
    """The call succeeded, but the permissions that should follow it were not recorded."""


def _grant_manage(
    create: Callable[[str, str, str], Any],
    update: Callable[[str, str, str], None],
    resource_id: str,
    username: str,
) -> None:
    try:
        create(resource_id, username, MANAGE)
    except AlreadyExists:
        # A permission left over for this id or name: the creator's own is MANAGE now.
        update(resource_id, username, MANAGE)


def apply_effects(
    auth: AuthContext,
    principal: Principal,
    rule: Rule,
    fields: RequestFields,
    result: Mapping[str, Any],
) -> None:
    """Record the permission changes ``rule.effects`` name, after its handler succeeded.

    Raises :class:`PermissionsNotUpdated` (500) saying what was done and what was not, when the
    permission store refuses or fails: the change itself cannot be undone from here.
    """
    grants = auth.permissions
    auth.forget_permissions()  # whatever happens below, nothing stale is kept
    if not isinstance(grants, PermissionGrants):
        raise PermissionsNotUpdated(
            "The server's permission store cannot record permissions, so "
            f"{', '.join(e.value for e in rule.effects)} could not be done."
        )
    for effect in rule.effects:
        done = "call succeeded"
        try:
            if effect is Effect.GRANT_EXPERIMENT_TO_CREATOR:
                done = f"experiment {result['experiment_id']} was created"
                _grant_manage(
                    grants.create_experiment_permission,
                    grants.update_experiment_permission,
                    str(result["experiment_id"]),
                    principal.username,
                )
            elif effect is Effect.GRANT_MODEL_TO_CREATOR:
                name = str(result["registered_model"]["name"])
                done = f"registered model {name!r} was created"
                _grant_manage(
                    grants.create_registered_model_permission,
                    grants.update_registered_model_permission,
                    name,
                    principal.username,
                )
            elif effect is Effect.MOVE_MODEL_PERMISSIONS:
                old, new = fields.required_string("name"), fields.required_string("new_name")
                done = f"registered model {old!r} was renamed to {new!r}"
                if old != new:
                    grants.rename_registered_model_permissions(old, new)
            elif effect is Effect.DROP_MODEL_PERMISSIONS:
                name = fields.required_string("name")
                done = f"registered model {name!r} was deleted"
                grants.delete_registered_model_permissions(name)
        except RunlabError as exc:
            logger.error("Permissions not updated after a successful call: %s", exc.message)
            raise PermissionsNotUpdated(
                f"The {done}, but its permissions could not be updated ({effect.value}): "
                f"{exc.message} An administrator can set them with `runlab auth`."
            ) from exc


# -- wrapping the routes that are not Endpoints ----------------------------------------------------


def _guarded_app(inner: ASGIApp, declared: RouteRule, auth: AuthContext) -> ASGIApp:
    rule = declared.rule
    fields_of = declared.fields_of
    assert fields_of is not None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            principal = principal_of_scope(scope)
            check_signed_in(principal, rule)
            if needs_lookups(principal, rule):
                # The query and path only: the body stays unread for the handler.
                fields = fields_of(Request(scope))
                fields.principal = principal
                await run_in_threadpool(authorize, auth, principal, rule, fields)
            else:
                authorize(auth, principal, rule, RequestFields({}))
        await inner(scope, receive, send)

    return app


def guard_routes(routes: Iterable[BaseRoute], auth: AuthContext) -> None:
    """Make every route that does not apply its rule itself apply it before its handler.

    Public routes are left as they are. Raises ``TypeError`` for a route that is not a plain
    Starlette ``Route`` (a mount, a websocket), which this server does not have and which would
    need its own guard.
    """
    for route in routes:
        declared = rule_of(route)
        if declared is None or declared.fields_of is None:
            continue  # require_rules() refused the former; Endpoints check in their handler
        if declared.rule.access is Access.PUBLIC:
            continue
        if not isinstance(route, Route):
            raise TypeError(f"Cannot guard {route!r}: only plain routes are supported.")
        route.app = _guarded_app(route.app, declared, auth)

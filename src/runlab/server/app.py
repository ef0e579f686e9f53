"""The app factory: one function builds the whole ASGI app from its stores and settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runlab.errors import InvalidParameter, RunlabError
from runlab.server import errors
from runlab.server.auth import api as auth_api
from runlab.server.auth.decision import AuthContext, PermissionSource, guard_routes
from runlab.server.auth.rules import AUTHENTICATED, guarded, require_rules
from runlab.server.auth.setup import authentication_middleware, build_authentication
from runlab.server.auth.web import web_sessions_middleware
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint, make_route
from runlab.server.json_response import json_response
from runlab.server.openapi import build_openapi
from runlab.server.quick_calls import CountRequests
from runlab.server.routes import (
    artifact_download,
    artifact_proxy,
    artifact_upload,
    experiments,
    info,
    logged_models,
    metrics,
    registry,
    run_artifacts,
    runlab_api,
    runs,
)
from runlab.server.security import RequestGuard
from runlab.server.settings import ServerSettings
from runlab.server.ui import pages as ui_pages
from runlab.store.base import RegistryStore, TrackingStore

#: Every MLflow REST endpoint is served under both prefixes, as MLflow's server does.
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def mlflow_endpoints() -> list[Endpoint]:
    """All MLflow-protocol endpoints this server implements."""
    return [
        *experiments.ENDPOINTS,
        *runs.ENDPOINTS,
        *run_artifacts.ENDPOINTS,
        *metrics.ENDPOINTS,
        *logged_models.ENDPOINTS,
    ]


def ajax_only_endpoints() -> list[Endpoint]:
    """MLflow endpoints its server offers only under /ajax-api/2.0/mlflow (UI helpers)."""
    return [*run_artifacts.AJAX_ENDPOINTS, *metrics.AJAX_ENDPOINTS]


def build_app(
    tracking_store: TrackingStore,
    registry_store: RegistryStore | None = None,
    artifact_repo: Any = None,
    settings: ServerSettings | None = None,
    *,
    auth_store: PermissionSource | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The tracking server as an ASGI app. No globals, no environment reads.

    ``registry_store`` (a :class:`runlab.store.base.RegistryStore`) adds the model-registry
    endpoints and runlab's registry history; without it they are not served (404).

    Every route declares who may call it (:mod:`runlab.server.auth.rules`), ``extra_routes``
    included; a route without a rule is refused here with
    :class:`~runlab.server.auth.rules.RouteWithoutRule`. With ``settings.auth_enabled``, the
    rules are applied (:mod:`runlab.server.auth.decision`) with the permissions in
    ``auth_store``; the caller is whoever an authentication middleware put in the ASGI scope:
    the app's own (:mod:`runlab.server.auth.authentication`, checking credentials against
    ``auth_store``) unless a layer around the app already did. The auth REST API (users,
    permissions, tokens, audit log) is served then too.
    """
    settings = settings or ServerSettings()
    auth: AuthContext | None = None
    authentication = None
    if settings.auth_enabled:
        if auth_store is None:
            raise InvalidParameter(
                "Permission checks are on (auth_enabled), but no auth store was given to read "
                "permissions from; pass auth_store=, or turn auth_enabled off."
            )
        auth = AuthContext(
            tracking_store,
            auth_store,
            default_permission=settings.auth_default_permission,
            artifacts_destination=settings.artifacts_destination
            if settings.serve_artifacts
            else None,
            working_directory=settings.working_directory,
        )
        authentication = build_authentication(auth_store, settings)
    ctx = ServerContext(
        tracking_store=tracking_store,
        settings=settings,
        registry_store=registry_store,
        artifact_repo=artifact_repo,
        auth=auth,
        authentication=authentication,
    )
    routes: list[BaseRoute] = []
    declared: dict[str, Endpoint] = {}
    served: list[tuple[Endpoint, tuple[str, ...]]] = [
        (e, MLFLOW_PREFIXES) for e in mlflow_endpoints()
    ]
    served += [(e, MLFLOW_PREFIXES[1:]) for e in ajax_only_endpoints()]
    served += [(e, runlab_api.RUNLAB_PREFIXES) for e in runlab_api.ENDPOINTS]
    served += [(e, runlab_api.RUNLAB_PREFIXES) for e in artifact_download.RUNLAB_ENDPOINTS]
    if registry_store is not None:
        # The model registry is served only when the app has a registry store to serve from.
        served += [(e, MLFLOW_PREFIXES) for e in registry.ENDPOINTS]
        served += [(e, runlab_api.RUNLAB_PREFIXES) for e in registry.RUNLAB_ENDPOINTS]
    if authentication is not None:
        # Users, permissions and tokens exist only on a server that checks them.
        served += [(e, MLFLOW_PREFIXES) for e in auth_api.MLFLOW_ENDPOINTS]
        served += [(e, runlab_api.RUNLAB_PREFIXES) for e in auth_api.RUNLAB_ENDPOINTS]
    for endpoint, prefixes in served:
        for prefix in prefixes:
            route = make_route(endpoint, prefix, ctx)
            declared[route.name] = endpoint
            routes.append(route)
    routes.extend(info.routes(ctx))
    routes.extend(artifact_proxy.routes(ctx))
    routes.extend(artifact_download.routes(ctx))
    routes.extend(artifact_upload.routes(ctx))
    routes.extend(logged_models.routes(ctx))
    routes.extend(extra_routes)

    async def openapi_document(_request: Request) -> Response:
        """The OpenAPI document of every endpoint this server serves."""
        return json_response(build_openapi(routes, declared, settings.version))

    routes.append(guarded(Route("/openapi.json", openapi_document, methods=["GET"]), AUTHENTICATED))
    # The web UI last, and outside the OpenAPI document (it is pages, not API); its pages read
    # through the same store methods as the handlers above.
    ui_routes, pages = ui_pages.build(ctx)
    # Closed by construction: a route that says nothing about who may call it is a bug, found
    # when the app is built rather than by whoever reaches it first.
    require_rules([*routes, *ui_routes])
    if auth is not None:
        guard_routes([*routes, *ui_routes], auth)

    middleware = [
        # Outermost: every request counts as being served, refused ones included.
        Middleware(CountRequests, calls=ctx.quick_calls),
        Middleware(
            RequestGuard,
            allowed_hosts=settings.allowed_hosts,
            allowed_origins=settings.cors_allowed_origins,
        ),
    ]
    if settings.cors_allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_allowed_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["*"],
            )
        )
    if authentication is not None:
        # Inside CORS, so a refusal (401, 429) still carries the CORS headers a page needs.
        # The web UI's session cookie first: a request it signs in passes the authentication
        # middleware as already authenticated.
        middleware.append(web_sessions_middleware(authentication, settings))
        middleware.extend(authentication_middleware(authentication))
    app = Starlette(
        routes=[*routes, *ui_routes],
        middleware=middleware,
        exception_handlers={
            404: pages.not_found,
            405: errors.method_not_allowed_handler([*routes, *ui_routes]),
            # A refused page (403: no permission) is a page too; the API answers in JSON.
            RunlabError: pages.runlab_error,
            Exception: errors.handle_unexpected,
        },
    )
    app.state.context = ctx
    return app

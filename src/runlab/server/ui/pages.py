"""The UI's routes: the pages, their static files, Plotly.js and the HTML 404 page."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from runlab.entities import ViewType
from runlab.errors import NotFound, RunlabError
from runlab.server import errors
from runlab.server.auth import Principal, filtering, principal_of
from runlab.server.auth.rules import PUBLIC, filtered_search, guarded
from runlab.server.auth.web import is_page_request
from runlab.server.context import ServerContext
from runlab.server.errors import endpoint_not_found, is_api_path
from runlab.server.ui import views
from runlab.server.ui.assets import IMMUTABLE_CACHE, STATIC_DIR, STATIC_PREFIX, Assets, load_assets
from runlab.server.ui.formatting import format_timestamp
from runlab.store.base import ExperimentActivityStore, RegistryStore

#: Experiments on one page of the list; more are reached through the next-page link.
EXPERIMENTS_PAGE_SIZE = 100
#: Registered models on one page of the models list.
MODELS_PAGE_SIZE = 100

#: The lifecycle filter of the experiments and runs pages, as the address names it.
VIEW_TYPES = {
    "active": ViewType.ACTIVE_ONLY,
    "deleted": ViewType.DELETED_ONLY,
    "all": ViewType.ALL,
}

_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def make_environment(assets: Assets) -> Environment:
    """The Jinja2 environment of the UI's templates, escaping everything by default."""
    env = Environment(
        loader=PackageLoader("runlab.server.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["assets"] = assets
    env.filters["timestamp"] = format_timestamp
    return env


def content_security_policy(inline_script: str) -> str:
    """The pages' CSP: scripts only from this server, plus the one inline script (by hash).

    Escaping keeps data out of the markup; this is the second line should a template ever
    forget. Styles may be inline because Plotly.js injects its own.
    """
    digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    return (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    )


class Pages:
    """Renders the UI's pages for one app (its stores and its template environment)."""

    def __init__(self, ctx: ServerContext, assets: Assets) -> None:
        self.ctx = ctx
        self.assets = assets
        self.env = make_environment(assets)
        # Module imports by name ("runlab/api.js") resolve to fingerprinted URLs through this map.
        # Every module under static/ is importable as "runlab/<name>.js".
        # The shipped files, listed once: they do not change while the server runs (their
        # fingerprint in ``assets`` was taken at start-up too).
        self.static_files = _static_files()
        modules = sorted(
            name for name in self.static_files if name.endswith(".js") and "/" not in name
        )
        importmap = json.dumps(
            {"imports": {f"runlab/{name}": assets.static_url(name) for name in modules}}
        )
        self.env.globals["importmap"] = importmap
        self.headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": content_security_policy(importmap),
            "X-Content-Type-Options": "nosniff",
        }

    def render(self, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
        """A template rendered as an HTML response; pages are never cached (they are live)."""
        html = self.env.get_template(template).render(context)
        return HTMLResponse(html, status_code=status, headers=self.headers)

    async def render_or_error(
        self,
        template: str,
        context: dict[str, Any],
        load: Callable[[], Mapping[str, Any]],
    ) -> Response:
        """Render ``template`` with ``context`` updated by what ``load`` reads from the stores.

        ``load`` blocks (the stores are synchronous), so it runs in a worker thread. A
        :class:`RunlabError` it raises (an unknown name or id, a filter that does not parse, no
        registry) is the user's to read: the page is rendered with the message as ``error``
        and the error's HTTP status, never a blank screen or a bare 500.
        """
        try:
            context.update(await run_in_threadpool(load))
        except RunlabError as exc:
            context["error"] = exc.message
            return self.render(template, context, status=exc.get_http_status_code())
        return self.render(template, context)

    def registry(self) -> RegistryStore:
        """The model registry, or a 404 that says this server has none (it is optional)."""
        if self.ctx.registry_store is None:
            raise NotFound("This server has no model registry.")
        return self.ctx.registry_store

    async def experiments(self, request: Request) -> Response:
        """The experiments list: search by filter, view type, page token; counts per row."""
        params = request.query_params
        query = params.get("filter", "").strip()
        view = params.get("view", "active")
        if view not in VIEW_TYPES:
            view = "active"
        token = params.get("page_token") or None
        context: dict[str, Any] = {
            "nav": "experiments",
            "filter": query,
            "view": view,
            "experiments": [],
            "activity": {},
            "next_page_token": None,
            "error": None,
        }
        # A malformed filter (or a stale page token) is the user's to fix: the page says so.
        principal = principal_of(request)
        return await self.render_or_error(
            "experiments.html",
            context,
            lambda: self._experiments_page(query, view, token, principal),
        )

    def _experiments_page(
        self, query: str, view: str, token: str | None, principal: Principal | None
    ) -> dict[str, Any]:
        store = self.ctx.tracking_store
        page = filtering.search_experiments(
            store,
            # The list holds only what the caller may read, as the API's search does.
            filtering.search_restriction(self.ctx.auth, principal, "experiment"),
            view_type=VIEW_TYPES[view],
            max_results=EXPERIMENTS_PAGE_SIZE,
            filter_string=query or None,
            order_by=["last_update_time DESC"],
            page_token=token,
        )
        activity = (
            store.experiment_activity([e.experiment_id for e in page])
            if isinstance(store, ExperimentActivityStore)
            else {}
        )
        return {"experiments": page, "activity": activity, "next_page_token": page.token}

    async def models(self, request: Request) -> Response:
        """The registered models list: filter, tags, aliases and newest version per stage."""
        params = request.query_params
        query = params.get("filter", "").strip()
        token = params.get("page_token") or None
        context: dict[str, Any] = {
            "nav": "models",
            "filter": query,
            "models": [],
            "next_page_token": None,
            "error": None,
        }
        principal = principal_of(request)
        return await self.render_or_error(
            "models.html", context, lambda: self._models_page(query, token, principal)
        )

    def _models_page(
        self, query: str, token: str | None, principal: Principal | None
    ) -> dict[str, Any]:
        page = filtering.search_registered_models(
            self.registry(),
            filtering.search_restriction(self.ctx.auth, principal, "registered_model"),
            filter_string=query or None,
            max_results=MODELS_PAGE_SIZE,
            order_by=["last_updated_timestamp DESC"],
            page_token=token,
        )
        return {"models": page, "next_page_token": page.token}

    async def static(self, request: Request) -> Response:
        """A file of ``static/``: only the files shipped there, never a path built from the URL."""
        path = self.static_files.get(request.path_params["name"])
        if path is None:
            return await self.not_found(request, HTTPException(404))
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"Cache-Control": IMMUTABLE_CACHE},
        )

    async def plotly(self, request: Request) -> Response:
        """Plotly.js from the installed ``plotly`` package; its URL names its version."""
        wanted = request.path_params["version"]
        if self.assets.plotly_path is None or wanted != self.assets.plotly_version:
            return await self.not_found(request, HTTPException(404))
        return FileResponse(
            self.assets.plotly_path,
            media_type=_MEDIA_TYPES[".js"],
            headers={"Cache-Control": IMMUTABLE_CACHE},
        )

    async def runlab_error(self, request: Request, exc: Exception) -> Response:
        """A :class:`RunlabError` raised before a page's handler ran (its permission check,
        mostly): a page for a person, the API's JSON error for everything else."""
        assert isinstance(exc, RunlabError)
        status = exc.get_http_status_code()
        if request.method not in ("GET", "HEAD") or status == 401:
            # A 401 becomes the way to the login page (runlab.server.auth.web).
            return await errors.handle_runlab_error(request, exc)
        if not is_page_request(request.scope):
            return await errors.handle_runlab_error(request, exc)
        context = {"nav": None, "status": status, "message": exc.message}
        return self.render("error.html", context, status=status)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """404: a page for a person, the plain answer Starlette gives for API paths."""
        detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if is_api_path(request.url.path):
            if status == 404:
                return endpoint_not_found(request)
            return PlainTextResponse(detail, status_code=status)
        return self.render("not_found.html", {"nav": None, "path": request.url.path}, 404)


def _static_files() -> dict[str, Path]:
    return {p.relative_to(STATIC_DIR).as_posix(): p for p in STATIC_DIR.rglob("*") if p.is_file()}


def build(ctx: ServerContext) -> tuple[list[Route], Pages]:
    """The UI's routes for ``ctx`` and the :class:`Pages` whose ``not_found`` handles 404s."""
    pages = Pages(ctx, load_assets())
    experiments = filtered_search("experiments")
    routes = [
        guarded(Route("/", pages.experiments, methods=["GET"], name="ui:home"), experiments),
        guarded(
            Route("/experiments", pages.experiments, methods=["GET"], name="ui:experiments"),
            experiments,
        ),
        guarded(
            Route("/models", pages.models, methods=["GET"], name="ui:models"),
            filtered_search("registered_models"),
        ),
        *views.all_routes(pages),
        # The page's own code and styles hold no data: they load before anyone signs in.
        guarded(
            Route(
                f"{STATIC_PREFIX}/vendor/plotly-{{version}}.min.js",
                pages.plotly,
                methods=["GET"],
                name="ui:plotly",
            ),
            PUBLIC,
        ),
        guarded(
            Route(
                f"{STATIC_PREFIX}/{{name:path}}", pages.static, methods=["GET"], name="ui:static"
            ),
            PUBLIC,
        ),
    ]
    return routes, pages

"""The scoring server's app factory: one loaded model behind ``/invocations``.

``build_scoring_app(model, settings)`` returns a small Starlette app; it reads no environment
and keeps no globals, so tests build it in-process and the CLI's workers build it from their
own configuration (:mod:`runlab.serving.factory`).

The request path is kept short because it is the hot path: the body is read with a size limit,
parsed by orjson (or pandas for CSV) with the columns and rows counted and bounded first, the
model predicts, and orjson writes the response. Unless ``predict_mode`` is ``inline``, all but
reading the body runs off the event loop (:mod:`runlab.serving.predictor`), so a slow request
never holds up ``/ping`` or other requests. The only middleware is the Host and Origin guard.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.errors import RunlabError

# The tracking server's body reader: the same streamed size limit, answered with 413.
from runlab.server.endpoint import read_limited_body
from runlab.server.security import RequestGuard
from runlab.serving.errors import ModelFailure
from runlab.serving.open_inference_metadata import ModelIdentity
from runlab.serving.open_inference_routes import open_inference_routes
from runlab.serving.predictions import encode_response
from runlab.serving.predictor import Predictor
from runlab.serving.request_shape import ShapeLimits
from runlab.serving.settings import ScoringSettings

__all__ = ["build_scoring_app", "encode_response", "error_body"]

logger = logging.getLogger("runlab.serving")

_JSON = "application/json"


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=_JSON)


def error_body(error_code: str, message: str) -> bytes:
    """MLflow's error layout: ``{"error_code": ..., "message": ...}``."""
    return orjson.dumps({"error_code": error_code, "message": message})


def _error(exc: RunlabError) -> Response:
    return _json(error_body(exc.error_code, exc.message), exc.get_http_status_code())


def build_scoring_app(model: Any, settings: ScoringSettings | None = None) -> Starlette:
    """The scoring server for ``model`` (a loaded :class:`runlab.pyfunc.PyFuncModel`).

    Routes: ``POST /invocations`` (predict), ``GET /ping`` and ``GET /health`` (200 once the
    model is loaded, which is before the app exists), ``GET /version`` (runlab's version), and
    the Open Inference Protocol's under ``/v2`` (:mod:`runlab.serving.open_inference_routes`).
    """
    settings = settings or ScoringSettings()
    limit = settings.max_request_bytes
    version = settings.version.encode()
    limits = ShapeLimits(settings.max_columns, settings.max_rows)
    predictor = Predictor(model, settings.predict_mode, limits)

    async def invocations(request: Request) -> Response:
        try:
            body = await read_limited_body(request, limit)
            encoded = await predictor.respond(body, request.headers.get("content-type"))
        except ModelFailure as exc:
            # The client gets the message; whoever runs the server gets the model's traceback.
            logger.warning("%s", exc.message, exc_info=exc.__cause__)
            return _error(exc)
        except RunlabError as exc:
            return _error(exc)
        return _json(encoded)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await predictor.close()

    async def ping(_request: Request) -> Response:
        return _json(b"\n")

    async def version_text(_request: Request) -> Response:
        return Response(version, media_type="text/plain")

    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug in runlab, not in the request: logged with its traceback, answered without it.
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return _json(
            error_body(
                "INTERNAL_ERROR",
                f"Internal server error ({type(exc).__name__}); see the server log.",
            ),
            500,
        )

    routes = [
        Route("/invocations", invocations, methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version_text, methods=["GET"]),
        *open_inference_routes(
            model,
            predictor,
            ModelIdentity(settings.model_name, settings.model_version),
            limits,
            limit,
            settings.version,
        ),
    ]
    # The tracking server's guard: the Host allow-list and cross-origin posts refused.
    guard = Middleware(RequestGuard, allowed_hosts=settings.allowed_hosts, allowed_origins=())
    app = Starlette(
        routes=routes,
        middleware=[guard],
        exception_handlers={Exception: unexpected},
        lifespan=lifespan,
    )
    app.state.model = model
    app.state.settings = settings
    return app

"""Error responses: runlab errors become MLflow's ``{"error_code", "message"}`` bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route

from runlab.artifacts.path_safety import InvalidArtifactPath
from runlab.errors import RunlabError
from runlab.server.json_response import json_response

logger = logging.getLogger("runlab.server")

#: The whole message of MLflow's answer to a refused artifact path, which its clients and tests
#: compare exactly; why the path was refused goes to the server log.
INVALID_PATH_MESSAGE = "Invalid path"


def error_response(error_code: str, message: str, status: int) -> Response:
    """An MLflow-shaped error body with the given HTTP status."""
    return json_response({"error_code": error_code, "message": message}, status=status)


def runlab_error_response(exc: RunlabError) -> Response:
    """The response for a runlab error, with MLflow's status for its code."""
    return error_response(exc.error_code, exc.message, exc.get_http_status_code())


async def handle_runlab_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for RunlabError."""
    assert isinstance(exc, RunlabError)
    if isinstance(exc, InvalidArtifactPath):
        logger.warning(
            "Refused an artifact path on %s %s: %s", request.method, request.url.path, exc.message
        )
        return error_response(exc.error_code, INVALID_PATH_MESSAGE, exc.get_http_status_code())
    return runlab_error_response(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Anything else is a bug: log it with its traceback and answer 500 without internals."""
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        "INTERNAL_ERROR",
        f"Internal server error ({type(exc).__name__}); see the server log for details.",
        500,
    )


#: Paths answered as the API (JSON errors), not as web pages.
API_PATH_PREFIXES = ("/api/", "/ajax-api/", "/openapi.json", "/health", "/version")


def is_api_path(path: str) -> bool:
    """True for the paths of the REST API and the server's plain endpoints."""
    return path.startswith(API_PATH_PREFIXES)


def endpoint_not_found(request: Request) -> Response:
    """404 for an API path that no endpoint serves, in MLflow's error shape.

    MLflow's own server answers these with an HTML page, which its client reads as
    ENDPOINT_NOT_FOUND; answering that code in JSON gives every client the same result.
    """
    return error_response(
        "ENDPOINT_NOT_FOUND",
        f"No endpoint at {request.method} {request.url.path}; /openapi.json lists the endpoints "
        "this server serves.",
        404,
    )


def method_not_allowed_handler(
    routes: Sequence[BaseRoute],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The 405 handler: ``Allow`` lists every method the path has, across all its routes.

    Starlette answers with the methods of the first route whose path matched, but one path may
    be served by several routes (``registered-models/alias`` has GET, POST and DELETE).
    """

    async def handle(request: Request, exc: Exception) -> Response:
        scope = {**request.scope, "method": "GET"}
        matching = [
            route
            for route in routes
            if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE
        ]
        # A path spelled out by a route (logged-models/search) is that route's, not also the
        # template's that it happens to fit (logged-models/{model_id}).
        literal = [route for route in matching if not route.param_convertors]
        methods = {method for route in literal or matching for method in route.methods or ()}
        allow = ", ".join(sorted(methods)) or (
            exc.headers.get("Allow", "") if isinstance(exc, HTTPException) and exc.headers else ""
        )
        if is_api_path(request.url.path):
            response = error_response(
                "BAD_REQUEST",
                f"{request.method} is not allowed at {request.url.path}; use {allow or 'another'}.",
                405,
            )
        else:
            response = PlainTextResponse("Method Not Allowed", status_code=405)
        if allow:
            response.headers["Allow"] = allow
        return response

    return handle

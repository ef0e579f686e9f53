"""Error responses: runlab errors become MLflow's ``{"error_code", "message"}`` bodies."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from runlab.errors import RunlabError
from runlab.server.json_response import json_response

logger = logging.getLogger("runlab.server")


def error_response(error_code: str, message: str, status: int) -> Response:
    """An MLflow-shaped error body with the given HTTP status."""
    return json_response({"error_code": error_code, "message": message}, status=status)


def runlab_error_response(exc: RunlabError) -> Response:
    """The response for a runlab error, with MLflow's status for its code."""
    return error_response(exc.error_code, exc.message, exc.get_http_status_code())


async def handle_runlab_error(_request: Request, exc: Exception) -> Response:
    """Starlette exception handler for RunlabError."""
    assert isinstance(exc, RunlabError)
    return runlab_error_response(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Anything else is a bug: log it with its traceback and answer 500 without internals."""
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        "INTERNAL_ERROR",
        f"Internal server error ({type(exc).__name__}); see the server log for details.",
        500,
    )

"""Health, version and server-info."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from runlab.server.auth.rules import AUTHENTICATED, PUBLIC, guarded
from runlab.server.context import ServerContext
from runlab.server.json_response import json_response


def routes(ctx: ServerContext) -> list[Route]:
    """/health, /version and server-info (under /api/3.0 and /ajax-api/3.0)."""

    async def health(_request: Request) -> Response:
        return PlainTextResponse("OK")

    async def version(_request: Request) -> Response:
        return PlainTextResponse(ctx.settings.version)

    async def server_info(_request: Request) -> Response:
        destination = ctx.settings.artifacts_destination or ""
        return json_response(
            {
                "store_type": "SqlStore",
                "workspaces_enabled": False,
                "artifact_serving_enabled": ctx.settings.serve_artifacts,
                "multipart_uploads_enabled": ctx.settings.serve_artifacts
                and destination.startswith("s3://"),
                "multipart_downloads_enabled": False,
            }
        )

    # A load balancer's health check and a client's version check come without credentials.
    out = [
        guarded(Route("/health", health, methods=["GET"]), PUBLIC),
        guarded(Route("/version", version, methods=["GET"]), PUBLIC),
    ]
    for prefix in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        out.append(
            guarded(Route(f"{prefix}/server-info", server_info, methods=["GET"]), AUTHENTICATED)
        )
    return out

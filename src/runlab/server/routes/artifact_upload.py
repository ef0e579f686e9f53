"""``POST /ajax-api/2.0/mlflow/upload-artifact``: MLflow's UI uploads one file into a run.

The query names the run (``run_uuid``, as MLflow's UI sends it, or ``run_id``) and the file's
path under the run's artifact root (``path``); the raw request body is the file. The path goes
through :func:`runlab.artifacts.validate_artifact_path`, the one artifact path check, before any
storage is touched, and the file is written wherever the run's artifacts live: the server's
proxy destination for ``mlflow-artifacts:`` roots, or the run's own folder or bucket.

Like MLflow's server, this accepts files up to 10 MiB (and no more than ``--max-artifact-bytes``):
it is meant for a file picked in a browser, not for models, which clients upload through the
artifact proxy.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.artifacts.path_safety import join_artifact_path, validate_artifact_path
from runlab.errors import InvalidParameter
from runlab.server.auth.rules import RUN_ID, experiment, guarded
from runlab.server.context import ServerContext
from runlab.server.endpoint import BodyTooLarge, read_limited_body
from runlab.server.json_response import json_response
from runlab.server.request_fields import RequestFields, run_id_of
from runlab.server.routes.run_artifacts import artifact_root, close_repository
from runlab.server.routes.runs import named

__all__ = ["UPLOAD_MAX_BYTES", "routes"]

#: The largest file this route accepts (MLflow's server has the same limit here).
UPLOAD_MAX_BYTES = 10 * 1024 * 1024


def _query_fields(request: Request) -> RequestFields:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return RequestFields(query, from_query=True)


def routes(ctx: ServerContext) -> list[Route]:
    """The upload route, served under ``/ajax-api/2.0/mlflow`` only, as in MLflow."""

    async def upload_artifact(request: Request) -> Response:
        """Upload one file (the raw body) to a run's artifacts; query run_uuid and path."""
        fields = _query_fields(request)
        run_id = run_id_of(fields)  # run_uuid (MLflow's UI) or run_id
        path = named("path", lambda: validate_artifact_path(fields.required_string("path")))
        if not path:
            raise InvalidParameter("Field 'path' must name a file, not the run's artifact root.")
        run = await run_in_threadpool(ctx.tracking_store.get_run, run_id)
        limit = min(UPLOAD_MAX_BYTES, ctx.settings.max_artifact_bytes or UPLOAD_MAX_BYTES)
        try:
            data = await read_limited_body(request, limit)
        except BodyTooLarge:
            raise InvalidParameter(
                f"The file is larger than {limit} bytes, the most this upload takes; log large "
                "artifacts with a client (mlflow.log_artifact)."
            ) from None
        if not data:
            raise InvalidParameter("The request body is empty; send the file's content.")
        repo, root_path = artifact_root(ctx, run.info.artifact_uri)
        location = join_artifact_path(root_path, path)
        try:
            await run_in_threadpool(repo.log_bytes, data, location)
        except InvalidParameter as exc:
            # Name the file as the request did, not by its place in the server's storage.
            raise InvalidParameter(
                exc.message.replace(repr(location), repr(path)), exc.error_code
            ) from None
        finally:
            if repo is not ctx.artifact_repo:
                close_repository(repo)
        return json_response({})

    route = Route("/ajax-api/2.0/mlflow/upload-artifact", upload_artifact, methods=["POST"])
    # The run comes from the query (as the handler reads it); the body is the file, unread.
    return [guarded(route, experiment("update", RUN_ID))]

"""Declaring REST endpoints and turning them into routes.

An :class:`Endpoint` is data: method, path, a handler ``(ctx, fields) -> dict``, and the
permission rule it needs (:mod:`runlab.server.auth.rules`). The app factory turns each into a
Starlette route under every prefix it is served at; the wrapper decodes the request (JSON body,
or query string for GET), applies the rule when the server checks permissions, runs the handler
in a worker thread (stores are synchronous), and encodes the result. No route is registered at
import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.errors import InvalidParameter
from runlab.server.auth import principal_of
from runlab.server.auth.decision import apply_effects, authorize, check_signed_in, needs_lookups
from runlab.server.auth.rules import Rule, guarded
from runlab.server.context import ServerContext
from runlab.server.json_body import decode_json_object
from runlab.server.json_response import encode_json, encoded_json_response, json_response
from runlab.server.quick_calls import request_key
from runlab.server.request_fields import RequestFields

Handler = Callable[[ServerContext, RequestFields], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint: ``path`` is relative to its API prefix (e.g. ``runs/get``).

    ``rule`` (keyword-only, required) says who may call it: see :mod:`runlab.server.auth.rules`.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    #: Field names and their JSON types, for the OpenAPI document.
    request_fields: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    rule: Rule = field(kw_only=True)
    #: Decodes the body of the endpoint's usual request to its fields faster than the general
    #: decoder, or gives None for any other body (which the general decoder then reads).
    body_decoder: Callable[[bytes], dict[str, Any] | None] | None = field(
        default=None, kw_only=True
    )


async def read_fields(
    request: Request,
    ctx: ServerContext,
    body_decoder: Callable[[bytes], dict[str, Any] | None] | None = None,
) -> RequestFields:
    """Decode a request the way MLflow's server does, but refuse what it would silently drop.

    ``body_decoder`` (an endpoint's) is tried on a JSON body first.
    """
    return fields_of(request, await request_body(request, ctx), body_decoder)


async def request_body(request: Request, ctx: ServerContext) -> bytes:
    """The body :func:`fields_of` reads the request's fields from (none for a GET with a query
    string, whose fields are in it)."""
    if request.method == "GET" and request.url.query:
        return b""
    return await read_limited_body(request, ctx.settings.max_request_bytes)


def fields_of(
    request: Request,
    body: bytes,
    body_decoder: Callable[[bytes], dict[str, Any] | None] | None = None,
) -> RequestFields:
    """:func:`read_fields` of a request whose body (:func:`request_body`) was read already."""
    if request.method == "GET" and request.url.query:
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        return RequestFields(query, from_query=True)
    if request.method in ("POST", "PUT") and body:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise InvalidParameter(
                f"Content-Type must be application/json for {request.method} requests, "
                f"got {content_type or 'none'!r}."
            )
    if not body.strip():
        return RequestFields({})
    if body_decoder is not None and (decoded := body_decoder(body)) is not None:
        return RequestFields(decoded)
    return RequestFields(decode_json_object(body))


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything larger than ``limit`` bytes, streamed or not."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(InvalidParameter):
    """A request body over the configured limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than the server's limit of {limit} bytes; send smaller "
            "batches.",
            "REQUEST_LIMIT_EXCEEDED",
        )

    def get_http_status_code(self) -> int:
        return 413


#: Calls whose store work is small and bounded (one run, at most one log-batch) run on the event
#: loop itself. Handing them to a worker thread costs about as much as the work (roughly a
#: millisecond here), and they are the calls a training client makes most. Anything that can
#: grow with the data (search, history, listings) stays on the thread pool, so it never holds
#: up other requests.
BOUNDED_CALLS = frozenset(
    {
        "experiments/get",
        "experiments/get-by-name",
        "experiments/create",
        "runs/create",
        "runs/update",
        "runs/get",
        "runs/log-metric",
        "runs/log-parameter",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/log-batch",
    }
)


def authenticated_user(request: Request) -> str | None:
    """The user an authentication middleware put in the ASGI scope, if any (Starlette's
    ``AuthenticationMiddleware`` convention: an object with ``is_authenticated`` and
    ``display_name``). runlab's server has no authentication of its own; this is the hook."""
    user = request.scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = getattr(user, "display_name", None)
    return name if isinstance(name, str) and name else None


def make_route(endpoint: Endpoint, prefix: str, ctx: ServerContext) -> Route:
    """A Starlette route that serves ``endpoint`` at ``prefix/endpoint.path``.

    With permissions checked (``ctx.auth``), the endpoint's rule is applied here, on the very
    fields the handler gets: an anonymous caller is refused before the body is read, anyone
    else once it is decoded. Without, the request takes exactly the path it always did.
    """
    handler = endpoint.handler
    body_decoder = endpoint.body_decoder
    inline = endpoint.path in BOUNDED_CALLS
    quick = ctx.quick_calls
    auth = ctx.auth
    rule = endpoint.rule

    async def serve(request: Request) -> Response:
        body = await request_body(request, ctx)
        fields = fields_of(request, body, body_decoder)
        fields.authenticated_user = authenticated_user(request)
        if request.path_params:
            # Path parameters ({model_id}) are fields too; the path wins over a body copy.
            fields = fields.with_values(request.path_params)
        if inline:
            return json_response(handler(ctx, fields))
        # A repeat of a request that was quick, with nothing else being served, skips the
        # worker thread (see quick_calls). Otherwise the call goes to the thread pool, and is
        # encoded there too: the answer's objects were just made there, and a large answer (a
        # search page) then costs the event loop nothing but the write.
        key = request_key(request.scope["path"], request.scope["query_string"], body)
        if quick.may_run_inline(key):
            return encoded_json_response(timed(ctx, fields, key))
        return encoded_json_response(await run_in_threadpool(timed, ctx, fields, key))

    def timed(ctx: ServerContext, fields: RequestFields, key: tuple[Any, ...] | None) -> bytes:
        started = time.perf_counter()
        encoded = encode_json(handler(ctx, fields))
        quick.record(key, time.perf_counter() - started)
        return encoded

    async def serve_checked(request: Request) -> Response:
        assert auth is not None
        principal = principal_of(request)
        check_signed_in(principal, rule)
        fields = await read_fields(request, ctx, body_decoder)
        fields.authenticated_user = authenticated_user(request)
        if request.path_params:
            fields = fields.with_values(request.path_params)
        fields.principal = principal
        if inline or not needs_lookups(principal, rule):
            authorize(auth, principal, rule, fields)
            result = (
                handler(ctx, fields) if inline else await run_in_threadpool(handler, ctx, fields)
            )
        else:
            await run_in_threadpool(authorize, auth, principal, rule, fields)
            result = await run_in_threadpool(handler, ctx, fields)
        if rule.effects and principal is not None:
            await run_in_threadpool(apply_effects, auth, principal, rule, fields, result)
        return json_response(result)

    route = Route(
        f"{prefix}/{endpoint.path}",
        # Chosen once, here: without permission checks a request pays nothing for them.
        serve if auth is None else serve_checked,
        methods=[endpoint.method],
        name=f"{prefix}/{endpoint.path}:{endpoint.method}",
    )
    # The rule is applied in serve_checked() above, not by a wrapper around the route.
    return guarded(route, rule, fields_of=None)

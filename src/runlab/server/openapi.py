"""The OpenAPI document, generated from the app's own routes so that it covers every endpoint.

MLflow-protocol endpoints carry their declared request fields; other routes (health, artifact
proxy, runlab's own API) are described by their handler's docstring.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Route

from runlab.server.endpoint import Endpoint

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}
_PATH_PARAM = re.compile(r"{([^}]+)}")


def _field_schema(kind: str) -> dict[str, Any]:
    if kind == "array":
        return {"type": "array", "items": {}}
    if kind == "object":
        return {"type": "object"}
    return {"type": kind}


def _operation(route: Route, method: str, endpoint: Endpoint | None) -> dict[str, Any]:
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "summary": endpoint.summary if endpoint else (doc[0] if doc else route.path),
        "operationId": f"{method.lower()}:{route.path_format}",
        "responses": {
            "200": {"description": "Success"},
            "4XX": {
                "description": "Bad request, unknown object or refused",
                "content": {"application/json": {"schema": _ERROR_SCHEMA}},
            },
        },
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path_format)
    ]
    if endpoint is not None and endpoint.request_fields:
        if method == "GET":
            params += [
                {
                    "name": name,
                    "in": "query",
                    "required": name in endpoint.required,
                    "schema": _field_schema(kind),
                }
                for name, kind in endpoint.request_fields.items()
            ]
        else:
            op["requestBody"] = {
                "required": bool(endpoint.required),
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: _field_schema(kind)
                                for name, kind in endpoint.request_fields.items()
                            },
                            "required": list(endpoint.required),
                        }
                    }
                },
            }
    if params:
        op["parameters"] = params
    return op


def build_openapi(
    routes: list[BaseRoute], endpoints: dict[str, Endpoint], version: str
) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``routes``; ``endpoints`` maps route names to declarations."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or route.path == "/openapi.json":
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            endpoint = endpoints.get(route.name)
            paths.setdefault(route.path_format, {})[method.lower()] = _operation(
                route, method, endpoint
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runlab tracking server",
            "version": version,
            "description": "MLflow-compatible REST API plus runlab's own extensions.",
        },
        "paths": paths,
    }

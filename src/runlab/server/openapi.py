"""The OpenAPI document, generated from the app's own routes so that it covers every endpoint.

MLflow-protocol endpoints carry their declared request fields; other routes (health, artifact
proxy, runlab's own API) are described by their handler's docstring and, where they take query
parameters, by :data:`_ROUTE_PARAMETERS`.

A field is described as precisely as JSON Schema can say what the server accepts: required
fields, types, enums, ranges and the character rules of keys, names and artifact paths come from
:data:`_FIELDS` (by field name) and :data:`_ENDPOINT_FIELDS` (by endpoint, where one name means
different things). What JSON Schema cannot say (a filter's grammar, an opaque page token, that a
name is not taken yet, that two fields agree) is checked by the server and answered with a 400
that says so; the fuzz test in ``tests/server/test_openapi_fuzz.py`` keeps the rest honest.
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
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")

_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_MILLIS = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_NONEMPTY = {"type": "string", "minLength": 1}
#: A name that must not be blank: at least one character that is not white space.
_NAME = {"type": "string", "minLength": 1, "pattern": r"\S"}
# One part of a metric, param or tag key: MLflow's characters, and not "." or ".." (keys must not
# change under path normalisation), so "a/b" is fine and "a/../b", "/a", "a/" and "a//b" are not.
_KEY_PART = r"(?:[A-Za-z0-9_\- :][A-Za-z0-9_\-. :]*|\.[A-Za-z0-9_\- :][A-Za-z0-9_\-. :]*|\.\.[A-Za-z0-9_\-. :]+)"
_KEY = {"type": "string", "maxLength": 250, "pattern": rf"^{_KEY_PART}(?:/{_KEY_PART})*$"}
# One part of an artifact path: no control characters, '\', '#', '?', ';', '%' or ':', and not
# only dots and spaces (see runlab.artifacts.path_safety).
# (At most 255 characters, what file systems take for one name.)
_PATH_PART = r"[A-Za-z0-9_\-. ]{0,127}[A-Za-z0-9_\-][A-Za-z0-9_\-. ]{0,127}"
_ARTIFACT_FILE = {
    "type": "string",
    "maxLength": 1024,
    "pattern": rf"^{_PATH_PART}(?:/{_PATH_PART})*$",
}
_ARTIFACT_FOLDER = {
    "type": "string",
    "maxLength": 4096,
    "pattern": rf"^(?:{_PATH_PART}(?:/{_PATH_PART})*)?$",
}
_TAG = {
    "type": "object",
    "properties": {"key": _KEY, "value": {"type": "string"}},
    "required": ["key"],
}
_VIEW_TYPE = {"type": "string", "enum": ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]}
_STAGE = {"type": "string", "enum": ["None", "Staging", "Production", "Archived"]}
_RUN_STATUS = {"type": "string", "enum": ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]}
#: The statuses a logged model can be finalized with (it is created PENDING).
_MODEL_STATUS = {"type": "string", "enum": ["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"]}
# A registered model's name: no white space at either end, no '/' or ':', no control characters,
# not '.' or '..' (see runlab.store.sql.registry_validation).
_MODEL_NAME_CHAR = r"[^/:\x00-\x1f\x7f-\x9f]"
_MODEL_NAME_END = r"[^\s/:\x00-\x1f\x7f-\x9f]"
_MODEL_NAME = {
    "type": "string",
    "maxLength": 256,
    "pattern": rf"^{_MODEL_NAME_END}(?:{_MODEL_NAME_CHAR}*{_MODEL_NAME_END})?$",
    "not": {"pattern": r"^\.{1,2}$"},
}
#: Fields whose schema is another for every endpoint under a prefix (the registry's names).
_PREFIX_FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("registered-models/", "name"): _MODEL_NAME,
    ("registered-models/", "new_name"): _MODEL_NAME,
    ("model-versions/", "name"): _MODEL_NAME,
    # A version tag needs its value (MLflow refuses a null one).
    ("model-versions/", "tags"): {
        "type": "array",
        "items": {**_TAG, "required": ["key", "value"]},
    },
    # The registry refuses an empty order_by clause (runs and experiments skip it).
    ("registered-models/", "order_by"): {
        "type": "array",
        "items": {"type": "string", "pattern": r"\S"},
    },
    ("model-versions/", "order_by"): {
        "type": "array",
        "items": {"type": "string", "pattern": r"\S"},
    },
}
#: Fields the server accepts and ignores, whatever their type.
_IGNORED_FIELDS: dict[str, dict[str, Any]] = {
    "deployment_job_id": {"description": "Accepted and ignored (Databricks deployment jobs)."},
}
_METRIC = {
    "type": "object",
    "properties": {
        "key": _KEY,
        "value": {"type": "number"},
        "timestamp": _MILLIS,
        "step": _INT64,
    },
    "required": ["key", "value", "timestamp"],
}
_DATASET_INPUT = {
    "type": "object",
    "properties": {
        "dataset": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 500},
                "digest": {"type": "string", "minLength": 1, "maxLength": 36},
                "source_type": {"type": "string", "minLength": 1, "maxLength": 36},
                "source": {"type": "string", "minLength": 1, "maxLength": 65535},
                "schema": {"type": "string"},
                "profile": {"type": "string"},
            },
            "required": ["name", "digest", "source_type", "source"],
        },
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "maxLength": 255},
                    "value": {"type": "string", "maxLength": 500},
                },
                "required": ["key", "value"],
            },
        },
    },
    "required": ["dataset"],
}

#: Request fields that mean the same everywhere they appear, by name.
_FIELDS: dict[str, dict[str, Any]] = {
    "run_id": _NONEMPTY,
    "source_run_id": _NONEMPTY,
    "experiment_id": {"type": "string", "pattern": r"^[0-9]{1,19}$"},
    "experiment_ids": {"type": "array", "items": {"type": "string", "pattern": r"^[0-9]{1,19}$"}},
    "model_id": _NONEMPTY,
    "name": _NAME,
    "new_name": _NAME,
    "experiment_name": _NAME,
    "key": _KEY,
    "metric_key": _KEY,
    "tag_key": _KEY,
    "tags": {"type": "array", "items": _TAG},
    "params": {"type": "array", "items": _TAG},
    "metrics": {"type": "array", "items": _METRIC, "maxItems": 1000},
    "datasets": {"type": "array", "items": _DATASET_INPUT},
    "models": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"model_id": _NONEMPTY},
            "required": ["model_id"],
        },
    },
    "view_type": _VIEW_TYPE,
    "run_view_type": _VIEW_TYPE,
    "order_by": {"type": "array", "items": {"type": "string"}},
    "max_results": {"type": "integer", "minimum": 1, "maximum": 50_000},
    "start_time": _MILLIS,
    "end_time": _MILLIS,
    "timestamp": _MILLIS,
    "step": _INT64,
    "value": {"type": "string"},
    "version": {"type": "string", "pattern": r"^[1-9][0-9]{0,17}$"},
    "stage": _STAGE,
    "stages": {"type": "array", "items": _STAGE},
    # Aliases: letters, digits, '_' and '-', but not "latest" or "v<digits>" (reserved).
    "alias": {
        "type": "string",
        "pattern": r"^[A-Za-z_\-][A-Za-z0-9_\-]{0,254}$",
        "not": {"pattern": r"^(?:[Ll][Aa][Tt][Ee][Ss][Tt]|[Vv][0-9]+)$"},
    },
    "path": _ARTIFACT_FOLDER,
    "artifact_directory_path": _ARTIFACT_FOLDER,
    "run_ids": {"type": "array", "items": _NONEMPTY, "minItems": 1, "maxItems": 100},
    "start_step": _INT64,
    "end_step": _INT64,
    "since": _MILLIS,
    "until": _MILLIS,
    "description": {"type": "string", "maxLength": 5000},
}

#: Fields whose meaning (or range) depends on the endpoint: (endpoint path, field) -> schema.
_ENDPOINT_FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("runs/update", "status"): _RUN_STATUS,
    ("logged-models/{model_id}", "status"): _MODEL_STATUS,
    ("runs/log-metric", "value"): {"type": "number"},
    ("runs/log-parameter", "value"): {"type": "string", "maxLength": 6000},
    ("runs/set-tag", "value"): {"type": "string", "maxLength": 8000},
    ("experiments/set-experiment-tag", "value"): {"type": "string", "maxLength": 20000},
    ("experiments/create", "name"): {**_NAME, "maxLength": 500},
    ("experiments/update", "new_name"): {**_NAME, "maxLength": 500},
    ("runs/create", "run_name"): {"type": "string", "maxLength": 250},
    ("runs/update", "run_name"): {"type": "string", "maxLength": 250},
    ("runs/log-batch", "params"): {"type": "array", "items": _TAG, "maxItems": 100},
    ("runs/log-batch", "tags"): {"type": "array", "items": _TAG, "maxItems": 100},
    ("runs/outputs", "models"): {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"model_id": _NONEMPTY, "step": _INT64},
            "required": ["model_id", "step"],
        },
    },
    ("metrics/get-history", "max_results"): {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    ("metrics/get-history-bulk-interval", "max_results"): {
        "type": "integer",
        "minimum": 1,
        "maximum": 2500,
    },
    ("metrics/get-history-bulk", "max_results"): {
        "type": "integer",
        "minimum": 1,
        "maximum": 25000,
    },
    ("metrics/get-history-bulk", "run_id"): {
        "type": "array",
        "items": _NONEMPTY,
        "minItems": 1,
        "maxItems": 100,
    },
    ("metrics/downsampled", "buckets"): {"type": "integer", "minimum": 1, "maximum": 10_000},
    ("registered-models/search", "max_results"): {"type": "integer", "minimum": 1, "maximum": 1000},
    ("model-versions/search", "max_results"): {"type": "integer", "minimum": 1, "maximum": 200_000},
    ("logged-models/search", "max_results"): {"type": "integer", "minimum": 1, "maximum": 50_000},
    ("experiments/search-datasets", "experiment_ids"): {
        "type": "array",
        "items": {"type": "string", "pattern": r"^[0-9]{1,19}$"},
        "minItems": 1,
        "maxItems": 20,
    },
    ("artifacts/preview", "path"): _ARTIFACT_FILE,
    # A logged model's name becomes part of paths: none of / : . % " '.
    ("logged-models", "name"): {"type": "string", "pattern": r"^[^/:.%\"']*$"},
    ("logged-models/search", "order_by"): {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "field_name": _NONEMPTY,
                "ascending": {"type": "boolean"},
                "dataset_name": {"type": "string"},
                "dataset_digest": {"type": "string"},
            },
            "required": ["field_name"],
        },
    },
    ("logged-models/search", "datasets"): {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"dataset_name": _NONEMPTY, "dataset_digest": {"type": "string"}},
            "required": ["dataset_name"],
        },
    },
    ("model-versions/create", "source"): _NONEMPTY,
    ("runs/log-model", "model_json"): _NONEMPTY,
}

#: Query parameters of routes that are not declared as :class:`Endpoint`, by path.
_ROUTE_PARAMETERS: dict[str, list[tuple[str, dict[str, Any], bool]]] = {
    "/get-artifact": [
        ("run_uuid", _NONEMPTY, True),
        ("path", _ARTIFACT_FILE, True),
        ("download", {"type": "string", "enum": ["0", "1", "true", "false"]}, False),
    ],
    "/ajax-api/2.0/mlflow/upload-artifact": [
        ("run_uuid", _NONEMPTY, True),
        ("path", _ARTIFACT_FILE, True),
    ],
    "/api/2.0/mlflow-artifacts/artifacts": [("path", _ARTIFACT_FOLDER, False)],
    "/ajax-api/2.0/mlflow-artifacts/artifacts": [("path", _ARTIFACT_FOLDER, False)],
    "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files": [
        ("artifact_file_path", _ARTIFACT_FILE, True),
    ],
}

_FILE_NAME = {"type": "string", "maxLength": 255, "pattern": rf"^{_PATH_PART}$"}
_MPU_BODIES: dict[str, dict[str, Any]] = {
    "create": {
        "type": "object",
        "properties": {
            "path": _FILE_NAME,
            "num_parts": {"type": "integer", "minimum": 1, "maximum": 10_000},
        },
        "required": ["path"],
    },
    "complete": {
        "type": "object",
        "properties": {
            "path": _FILE_NAME,
            "upload_id": _NONEMPTY,
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "part_number": {"type": "integer", "minimum": 1, "maximum": 10_000},
                        "etag": _NONEMPTY,
                        "url": {"type": "string"},
                    },
                    "required": ["part_number", "etag"],
                },
            },
        },
        "required": ["path", "upload_id", "parts"],
    },
    "abort": {
        "type": "object",
        "properties": {"path": _FILE_NAME, "upload_id": _NONEMPTY},
        "required": ["path", "upload_id"],
    },
}
_MPU_PATH = re.compile(r"^/(?:api|ajax-api)/2\.0/mlflow-artifacts/mpu/(create|complete|abort)")

#: Path parameters that name artifact files or folders.
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    # OpenAPI cannot describe a path parameter that spans several segments: the document says
    # one part, and the routes also take "folder/file" written with plain (unencoded) slashes.
    "artifact_path": {
        "type": "string",
        "pattern": rf"^{_PATH_PART}$",
        "description": "An artifact path; parts are separated by plain '/' in the URL.",
    },
    "tag_key": _KEY,
}

#: Statuses an operation may answer besides 200 and the 4xx errors: 501 where the artifact store
#: cannot do what is asked (multipart uploads and presigned URLs need S3).
_NOT_IMPLEMENTED_PATHS = ("/mpu/", "/presigned/")


def field_schema(endpoint_path: str, name: str, kind: str) -> dict[str, Any]:
    """The JSON Schema of request field ``name`` (declared of JSON type ``kind``)."""
    if name in _IGNORED_FIELDS:
        return _IGNORED_FIELDS[name]
    schema = _ENDPOINT_FIELDS.get((endpoint_path, name))
    if schema is None:
        schema = next(
            (
                prefixed
                for (prefix, field), prefixed in _PREFIX_FIELDS.items()
                if field == name and endpoint_path.startswith(prefix)
            ),
            _FIELDS.get(name),
        )
    if schema is not None and schema.get("type") == kind:
        return schema
    if kind == "array":
        return {"type": "array", "items": {}}
    if kind == "object":
        return {"type": "object"}
    if kind == "integer":
        return _INT64
    return {"type": kind}


def _documented_fields(endpoint: Endpoint) -> dict[str, str]:
    """The fields to document: ``run_uuid`` is left out where ``run_id`` is there, since it is
    only the deprecated twin (accepted, but it must then agree with ``run_id``)."""
    fields = dict(endpoint.request_fields)
    if "run_id" in fields:
        fields.pop("run_uuid", None)
    return fields


def _nullable_optionals(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every optional property, at any depth, also allowed to be null.

    The server reads a null like a field left out, as protobuf's JSON parser does.
    """
    out = dict(schema)
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"] = _nullable_optionals(out["items"])
    if isinstance(out.get("properties"), dict):
        required = set(out.get("required", ()))
        properties = {}
        for name, child in out["properties"].items():
            child = _nullable_optionals(child)
            if name not in required and isinstance(child.get("type"), str):
                child = {**child, "type": [child["type"], "null"]}
            properties[name] = child
        out["properties"] = properties
    return out


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": bool(schema.get("required")),
        "content": {"application/json": {"schema": schema}},
    }


def _responses(path: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    out: dict[str, Any] = {
        "200": {"description": "Success"},
        "4XX": {"description": "Bad request, unknown object or refused", **error},
    }
    if any(part in path for part in _NOT_IMPLEMENTED_PATHS):
        out["501"] = {"description": "The artifact store cannot do this (not S3)", **error}
    return out


def _operation(route: Route, method: str, endpoint: Endpoint | None) -> dict[str, Any]:
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    path = route.path_format
    op: dict[str, Any] = {
        "summary": endpoint.summary if endpoint else (doc[0] if doc else path),
        "operationId": f"{method.lower()}:{path}",
        "responses": _responses(path),
    }
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _PATH_SCHEMAS.get(name, _NONEMPTY),
        }
        for name in _PATH_PARAM.findall(route.path)
    ]
    path_names = {p["name"] for p in params}
    if endpoint is not None and endpoint.request_fields:
        fields = {
            name: kind
            for name, kind in _documented_fields(endpoint).items()
            if name not in path_names
        }
        required = [name for name in endpoint.required if name in fields]
        schemas = {name: field_schema(endpoint.path, name, kind) for name, kind in fields.items()}
        if method == "GET":
            params += [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in schemas.items()
            ]
        elif schemas:
            op["requestBody"] = _json_body(
                _nullable_optionals({"type": "object", "properties": schemas, "required": required})
            )
    mpu = _MPU_PATH.match(path)
    if mpu:
        op["requestBody"] = _json_body(_MPU_BODIES[mpu.group(1)])
    for name, schema, required_param in _ROUTE_PARAMETERS.get(path, []):
        params.append({"name": name, "in": "query", "required": required_param, "schema": schema})
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

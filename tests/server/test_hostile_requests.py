"""Requests a fuzzer sends: each gets a clear 4xx that names the problem, never a 500, and
leaves nothing written.

Ids beyond 64 bits, bodies nested past the decoder's patience, filters with a thousand terms.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runlab.server.json_body import MAX_JSON_DEPTH
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

BIG_ID = str(2**63)  # one past the largest 64-bit id
JSON = {"content-type": "application/json"}


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def snapshot(api: Api) -> dict[str, Any]:
    """Everything a request could have written: experiments with their tags, runs, models."""
    experiments = api.mlflow(
        "POST", "experiments/search", {"max_results": 1000, "view_type": "ALL"}
    ).json()
    runs = api.mlflow(
        "POST", "runs/search", {"experiment_ids": ["0", "1"], "run_view_type": "ALL"}
    ).json()
    models = api.post(
        "/api/2.0/mlflow/logged-models/search", json={"experiment_ids": ["0", "1"]}
    ).json()
    return {"experiments": experiments, "runs": runs, "models": models}


# -- ids past 64 bits ------------------------------------------------------------------------------

#: Every endpoint that takes one experiment id, with the rest of a valid request.
EXPERIMENT_ID_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "experiments/get", {}),
    ("POST", "experiments/delete", {}),
    ("POST", "experiments/restore", {}),
    ("POST", "experiments/update", {"new_name": "renamed"}),
    ("POST", "experiments/set-experiment-tag", {"key": "k", "value": "v"}),
    ("POST", "experiments/delete-experiment-tag", {"key": "k"}),
    ("POST", "runs/create", {"start_time": 1}),
    ("POST", "logged-models", {"name": "m"}),
]


@pytest.mark.parametrize(("method", "path", "rest"), EXPERIMENT_ID_CALLS)
@pytest.mark.parametrize("experiment_id", [BIG_ID, str(2**64), "9" * 40])
def test_experiment_id_past_64_bits_is_not_found(
    api: Api, method: str, path: str, rest: dict[str, Any], experiment_id: str
) -> None:
    api.mlflow("POST", "experiments/create", {"name": "kept"})
    before = snapshot(api)
    response = api.mlflow(method, path, {"experiment_id": experiment_id, **rest})
    # A well-formed id that no experiment can have: 404, as for any unknown id.
    message = error_of(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"No Experiment with id={experiment_id} exists"
    assert snapshot(api) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "runs/search", {"experiment_ids": ["0"], "max_results": 2**63}, "max_results"),
        ("POST", "experiments/search", {"max_results": 2**64}, "max_results"),
        ("POST", "runs/create", {"experiment_id": "0", "start_time": 2**63}, "start_time"),
        ("GET", "metrics/get-history", {"metric_key": "m", "max_results": BIG_ID}, "max_results"),
    ],
)
def test_numbers_past_64_bits_are_refused(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    before = snapshot(api)
    response = api.mlflow(method, path, {"run_id": run_id, **body} if method == "GET" else body)
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Invalid value ")
    assert message.endswith(
        f" for parameter '{field}' supplied: it is outside the 64-bit integer range."
    )
    assert snapshot(api) == before


def test_log_batch_step_past_64_bits_stores_nothing(api: Api) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    metrics = [
        {"key": "ok", "value": 1, "timestamp": 1, "step": 0},
        {"key": "bad", "value": 1, "timestamp": 1, "step": -(2**63) - 1},
    ]
    response = api.mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    # orjson reads the literal as the nearest float; the message shows what the server read.
    assert message == (
        "Invalid value -9.223372036854776e+18 for parameter 'metrics[1].step' supplied: it is "
        "outside the 64-bit integer range."
    )
    run = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]
    assert "metrics" not in run["data"]


# -- deeply nested bodies --------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 999, 1023, 1024, 100_000])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("experiments/create", '{"name": %s}'),
        ("experiments/create", '{"name": "x", "tags": %s}'),
        ("runs/search", '{"experiment_ids": %s}'),
        ("runs/log-batch", '{"run_id": "r", "metrics": [{"key": "m", "value": %s}]}'),
    ],
)
def test_deeply_nested_body_is_refused(api: Api, path: str, template: str, depth: int) -> None:
    before = snapshot(api)
    # Each template puts the value one or two levels into the body.
    body = template % nested(depth - 1 if "[{" not in template else depth - 3)
    response = api.post(f"/api/2.0/mlflow/{path}", content=body, headers=JSON)
    assert response.status_code == 400, response.text[:300]
    message = response.json()["message"]
    assert "Recursion" not in message
    if depth > MAX_JSON_DEPTH:
        assert "nests objects and arrays more than 64 levels" in message or (
            "not valid JSON" in message and "depth" in message
        )
    # Whatever the value, the message quotes at most a short preview of it.
    assert len(message) < 600
    assert snapshot(api) == before


def test_depth_limit_is_exact(api: Api) -> None:
    # The body is level 1, so "tags" may nest MAX_JSON_DEPTH - 1 levels below it.
    at_limit = f'{{"name": "x", "tags": {nested(MAX_JSON_DEPTH - 1)}}}'
    accepted = api.post("/api/2.0/mlflow/experiments/create", content=at_limit, headers=JSON)
    # Accepted by the decoder; the tag list's only item is not an object, which the field says.
    message = error_of(accepted, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Invalid value [[[")
    assert message.endswith("for parameter 'tags[0]' supplied: it must be an object, not a list.")
    over = f'{{"name": "x", "tags": {nested(MAX_JSON_DEPTH)}}}'
    refused = api.post("/api/2.0/mlflow/experiments/create", content=over, headers=JSON)
    message = error_of(refused, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        "The request body nests objects and arrays more than 64 levels deep; no request needs "
        "that many."
    )


def test_legacy_string_body_is_checked_too(api: Api) -> None:
    inner = f'{{"name": {nested(500)}}}'
    body = httpx.Response(200, json=inner).content  # the object as a JSON-encoded string
    response = api.post("/api/2.0/mlflow/experiments/create", content=body, headers=JSON)
    assert "more than 64 levels" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    plain = httpx.Response(200, json='{"name": "legacy"}').content
    created = api.post("/api/2.0/mlflow/experiments/create", content=plain, headers=JSON)
    assert created.status_code == 200, created.text


def test_deeply_nested_model_json_is_refused(api: Api) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    model = '{"artifact_path": "m", "flavors": %s, "utc_time_created": "t", "run_id": "r"}'
    response = api.mlflow(
        "POST", "runs/log-model", {"run_id": run_id, "model_json": model % nested(300)}
    )
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Field 'model_json' nests objects and arrays more than 64 levels")
    tags = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]["data"]["tags"]
    assert "mlflow.log-model.history" not in {t["key"] for t in tags}


def test_log_model_onto_a_deeply_nested_history_tag_is_refused(api: Api) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    hostile = nested(500)  # a list, but one that cannot be written back
    api.mlflow(
        "POST",
        "runs/set-tag",
        {"run_id": run_id, "key": "mlflow.log-model.history", "value": hostile},
    )
    model = '{"artifact_path": "m", "flavors": {}, "utc_time_created": "t", "run_id": "r"}'
    response = api.mlflow("POST", "runs/log-model", {"run_id": run_id, "model_json": model})
    assert "does not hold a JSON list" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    tags = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]["data"]["tags"]
    assert {"key": "mlflow.log-model.history", "value": hostile} in tags


def test_long_values_are_cut_in_messages(api: Api) -> None:
    response = api.mlflow("POST", "experiments/create", {"name": ["x" * 1_000_000]})
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith('Invalid value ["xxxxxxxx')
    assert message.endswith("for parameter 'name' supplied: it must be a string, not a list.")
    assert len(message) < 300


# -- filters too large for a database --------------------------------------------------------------


def test_thousand_term_filters_are_refused(api: Api, sqlite_store: SqlTrackingStore) -> None:
    terms = " AND ".join(f"params.p{i} = 'x'" for i in range(1000))
    runs = api.mlflow("POST", "runs/search", {"experiment_ids": ["0"], "filter": terms})
    assert "more than 50 comparisons" in error_of(runs, 400, "INVALID_PARAMETER_VALUE")
    names = " AND ".join(f"name = 'x{i}'" for i in range(1000))
    exps = api.mlflow("POST", "experiments/search", {"max_results": 10, "filter": names})
    assert "more than 50 comparisons" in error_of(exps, 400, "INVALID_PARAMETER_VALUE")
    deep = "NOT " * 1000 + "params.p = 'x'"
    nested_filter = api.mlflow("POST", "runs/search", {"experiment_ids": ["0"], "filter": deep})
    assert "nesting deeper than 24" in error_of(nested_filter, 400, "INVALID_PARAMETER_VALUE")

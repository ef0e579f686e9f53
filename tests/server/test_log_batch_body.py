"""The usual log-batch body decoded straight into columns, and every other body left alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runlab.entities import MetricColumns
from runlab.server.log_batch_body import decode_plain_log_batch
from runlab.server.routes.runs import plain_metrics
from support.asgi_api import Api

RUN = "a" * 32


def body(**fields: Any) -> bytes:
    return json.dumps({"run_id": RUN, **fields}).encode()


def test_the_usual_body_gives_the_columns_the_bulk_check_gives() -> None:
    metrics = [
        {"key": "loss", "value": 0.5, "timestamp": 10, "step": 3},
        {"key": "acc", "value": 1, "timestamp": 11},  # an integer value; step 0 left out
        {"key": "loss", "value": -2.5e-300, "timestamp": 2**63 - 1, "step": -(2**63)},
    ]
    params = [{"key": "lr", "value": "0.1"}]
    tags = [{"key": "team", "value": "x"}]
    decoded = decode_plain_log_batch(body(metrics=metrics, params=params, tags=tags))
    assert decoded is not None
    columns = decoded["metrics"]
    assert type(columns) is MetricColumns
    expected = plain_metrics(metrics)
    assert expected is not None
    assert (columns.keys, columns.values, columns.timestamps, columns.steps) == (
        expected.keys,
        expected.values,
        expected.timestamps,
        expected.steps,
    )
    assert all(type(v) is float for v in columns.values)
    assert decoded["run_id"] == RUN and decoded["params"] == params and decoded["tags"] == tags
    bare = decode_plain_log_batch(b'{"run_id": "r"}')
    assert bare is not None and len(bare.pop("metrics")) == 0
    assert bare == {"run_id": "r", "params": [], "tags": []}


POINT = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}


@pytest.mark.parametrize(
    "other",
    [
        body(metrics=[{**POINT, "value": True}]),
        body(metrics=[{**POINT, "value": "NaN"}]),  # protobuf's JSON for special values
        body(metrics=[{**POINT, "value": None}]),
        body(metrics=[{k: v for k, v in POINT.items() if k != "timestamp"}]),
        body(metrics=[{**POINT, "timestamp": -1}]),
        body(metrics=[{**POINT, "timestamp": 1.0}]),
        body(metrics=[{**POINT, "step": 2**63}]),
        body(metrics=[{**POINT, "model_id": "m-1"}]),  # a metric for a logged model
        body(metrics=[{**POINT, "key": "bad\u0000key"}]),
        body(metrics=[POINT] * 1001),
        body(metrics=POINT),
        body(params=[{"key": "p", "value": 1}]),
        body(tags=[{"key": "t"}]),
        json.dumps({"run_uuid": RUN, "metrics": [POINT]}).encode(),
        json.dumps({"run_id": RUN, "metrics": [POINT], "extra": [[[]]]}).encode(),
        b'{"run_id": "r", "metrics": [',
        json.dumps(json.dumps({"run_id": RUN})).encode(),  # a legacy client's JSON string
    ],
)
def test_every_other_body_is_left_to_the_general_decoder(other: bytes) -> None:
    assert decode_plain_log_batch(other) is None


def test_a_body_it_leaves_alone_gets_the_handlers_message(api: Api) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    refused = api.mlflow(
        "POST", "runs/log-batch", {"run_id": run_id, "metrics": [{**POINT, "value": True}]}
    )
    assert refused.status_code == 400
    assert "metrics[0].value" in refused.json()["message"]
    special = [{**POINT, "value": "NaN", "step": 0}, {**POINT, "value": 2.0, "step": 1}]
    assert api.mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": special}).is_success
    plain = [{**POINT, "value": 3.0, "step": 2}]
    assert api.mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": plain}).is_success
    history = api.mlflow("GET", "metrics/get-history", {"run_id": run_id, "metric_key": "m"})
    assert [m["value"] for m in history.json()["metrics"]] == ["NaN", 2.0, 3.0]

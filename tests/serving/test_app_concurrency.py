"""A slow request never holds up the event loop: /ping, /health and other requests are answered
while a prediction is in flight.

The model is :class:`~serving.scoring_support.Gate`, whose ``predict`` blocks until the test opens
it. Each test sees the prediction start, gets its answers from the other routes, checks that the
prediction is still held, and only then opens the gate: the order is proven by the events, not by
timing.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

import runlab.pyfunc
from runlab.serving import ScoringSettings
from serving.scoring_support import Gate, load_for_serving, scoring_client

WAIT_S = 60  # how long a step may take before the test fails instead of hanging


@pytest.fixture(scope="module")
def gate_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gate") / "model"
    runlab.pyfunc.save_model(path, python_model=Gate())
    return path


class GatedServer:
    """A Gate model behind a scoring app, with a client on the test portal's event loop."""

    def __init__(self, portal: Any, path: Path, mode: str) -> None:
        self.portal = portal
        model = load_for_serving(path)
        self.gate: Gate = model.unwrap_python_model()
        self.client = scoring_client(model, ScoringSettings(predict_mode=mode))

    def start_post(self, body: Any) -> Future[httpx.Response]:
        """POST ``body`` to /invocations without waiting for the answer."""
        future: Future[httpx.Response] = self.portal.start_task_soon(
            lambda: self.client.post("/invocations", content=json.dumps(body), headers=_JSON)
        )
        return future

    def get(self, path: str) -> httpx.Response:
        response: httpx.Response = self.portal.call(lambda: self.client.get(path))
        return response


_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("mode", ["batched", "thread"])
def test_ping_and_health_answer_while_a_prediction_is_held(
    portal: Any, gate_path: Path, mode: str
) -> None:
    server = GatedServer(portal, gate_path, mode)
    pending = server.start_post({"inputs": [[1.0], [2.0]]})
    try:
        assert server.gate.entered.wait(WAIT_S), "the prediction never started"
        for path in ("/ping", "/health", "/version"):
            assert server.get(path).status_code == 200
        assert not pending.done()  # answered while the prediction is still held
    finally:
        server.gate.opened.set()
    assert pending.result(WAIT_S).json() == {"predictions": [0, 1]}


@pytest.mark.parametrize("mode", ["batched", "thread"])
def test_a_bad_request_is_answered_while_a_prediction_is_held(
    portal: Any, gate_path: Path, mode: str
) -> None:
    """Parsing and refusing other requests goes on too: only the model is busy."""
    server = GatedServer(portal, gate_path, mode)
    pending = server.start_post({"inputs": [[1.0]]})
    try:
        assert server.gate.entered.wait(WAIT_S), "the prediction never started"
        bad = server.start_post({"rows": [[1.0]]}).result(WAIT_S)
        assert bad.status_code == 400 and "exactly one of the keys" in bad.json()["message"]
        wide = server.start_post({"inputs": [[1.0] * 10_001]}).result(WAIT_S)
        assert wide.status_code == 400 and "more than 10,000 columns" in wide.json()["message"]
        assert not pending.done()
    finally:
        server.gate.opened.set()
    assert pending.result(WAIT_S).json() == {"predictions": [0]}


def test_a_second_model_call_waits_while_requests_keep_being_read(
    portal: Any, gate_path: Path
) -> None:
    """In batched mode a request that arrives during a held prediction is read and queued; it is
    predicted once the model is free."""
    server = GatedServer(portal, gate_path, "batched")
    first = server.start_post({"inputs": [[1.0]]})
    try:
        assert server.gate.entered.wait(WAIT_S), "the prediction never started"
        second = server.start_post({"inputs": [[1.0], [2.0], [3.0]]})
        assert server.get("/ping").status_code == 200
        assert not first.done() and not second.done()
    finally:
        server.gate.opened.set()
    assert first.result(WAIT_S).json() == {"predictions": [0]}
    assert second.result(WAIT_S).json() == {"predictions": [0, 1, 2]}

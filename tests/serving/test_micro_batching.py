"""Concurrent requests scored in one model call, each answered with its own rows and errors."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
from runlab.models import SchemaEnforcementError
from runlab.serving.micro_batching import MicroBatcher, _split

pd = pytest.importorskip("pandas")
linear_model = pytest.importorskip("sklearn.linear_model")


class RowCount(runlab.pyfunc.PythonModel):
    """A custom model whose output depends on all rows: must never be batched."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return [len(model_input)] * len(model_input)


def _frame(rows: int, start: float = 0.0) -> Any:
    values = np.arange(rows * 2, dtype=float).reshape(rows, 2) + start
    return pd.DataFrame(values, columns=["a", "b"])


@pytest.fixture
def sklearn_model(tmp_path: Path) -> Any:
    features = _frame(20)
    target = (features["a"] > 15).astype(int)
    model = linear_model.LogisticRegression().fit(features, target)
    runlab.sklearn.save_model(model, tmp_path / "m", input_example=features.head(2))
    return runlab.pyfunc.load_model(tmp_path / "m")


def _gather(batcher: MicroBatcher, requests: list[Any]) -> list[Any]:
    async def run() -> list[Any]:
        try:
            return await asyncio.gather(
                *(batcher.predict(data) for data in requests), return_exceptions=True
            )
        finally:
            await batcher.close()

    return asyncio.run(run())


def test_queued_requests_share_one_call_and_get_their_own_rows(sklearn_model: Any) -> None:
    requests = [_frame(n, start=n) for n in (1, 3, 2, 5)]
    batcher = MicroBatcher(sklearn_model)
    assert batcher.batching
    answers = _gather(batcher, requests)
    assert batcher.calls == 1
    assert batcher.requests == 4
    for data, answer in zip(requests, answers, strict=True):
        assert np.array_equal(answer, sklearn_model.predict(data))


def test_a_bad_request_gets_its_own_error_and_the_others_are_answered(
    sklearn_model: Any,
) -> None:
    requests = [_frame(2), _frame(1).assign(a="text"), _frame(3)]
    answers = _gather(MicroBatcher(sklearn_model), requests)
    assert isinstance(answers[1], SchemaEnforcementError)
    assert np.array_equal(answers[0], sklearn_model.predict(requests[0]))
    assert np.array_equal(answers[2], sklearn_model.predict(requests[2]))


def test_a_failing_batch_is_retried_one_by_one(sklearn_model: Any) -> None:
    poisoned = _frame(1)
    poisoned.loc[0, "a"] = np.inf  # passes the signature (a double), fails inside the model
    requests = [_frame(2), poisoned, _frame(1)]
    batcher = MicroBatcher(sklearn_model)
    answers = _gather(batcher, requests)
    assert isinstance(answers[1], ValueError)
    assert np.array_equal(answers[0], sklearn_model.predict(requests[0]))
    assert np.array_equal(answers[2], sklearn_model.predict(requests[2]))
    assert batcher.calls == 4  # the failed batch, then one call per request


def test_models_that_look_across_rows_are_never_batched(tmp_path: Path) -> None:
    runlab.pyfunc.save_model(tmp_path / "m", python_model=RowCount())
    model = runlab.pyfunc.load_model(tmp_path / "m")
    batcher = MicroBatcher(model)
    assert not batcher.batching
    answers = _gather(batcher, [_frame(2), _frame(3)])
    assert answers == [[2, 2], [3, 3, 3]]
    assert batcher.calls == 2


def test_requests_with_params_or_other_columns_are_not_stacked(sklearn_model: Any) -> None:
    batcher = MicroBatcher(sklearn_model, enabled=False)
    assert not batcher.batching
    answers = _gather(batcher, [_frame(1), _frame(2)])
    assert batcher.calls == 2
    assert [len(a) for a in answers] == [1, 2]


def test_the_row_limit_splits_batches(sklearn_model: Any) -> None:
    batcher = MicroBatcher(sklearn_model, max_rows=4)
    answers = _gather(batcher, [_frame(3), _frame(1), _frame(2), _frame(2)])
    assert [len(a) for a in answers] == [3, 1, 2, 2]
    assert batcher.calls == 2


def test_split_handles_frames_lists_and_mismatches() -> None:
    frame = _frame(5)
    pieces = _split(frame, [2, 3])
    assert pieces is not None
    assert [len(p) for p in pieces] == [2, 3]
    assert pieces[1]["a"].tolist() == frame["a"].tolist()[2:]
    assert _split([1, 2, 3], [1, 2]) == [[1], [2, 3]]
    assert _split(np.arange(4), [1, 2]) is None
    assert _split({"a": 1}, [1]) is None


def test_requests_on_their_way_join_the_batch(sklearn_model: Any) -> None:
    """After four clients were seen at once, a batch waits for the ones it just answered."""

    async def run() -> tuple[int, int]:
        # A generous wait, so the test does not depend on how fast this machine is.
        batcher = MicroBatcher(sklearn_model, max_wait=30.0)
        try:
            await asyncio.gather(*(batcher.predict(_frame(1)) for _ in range(4)))
            before = batcher.calls

            async def late(delay: float) -> Any:
                await asyncio.sleep(delay)
                return await batcher.predict(_frame(2))

            answers = await asyncio.gather(late(0), late(0), late(0.05), late(0.1))
            assert [len(a) for a in answers] == [2, 2, 2, 2]
            return before, batcher.calls
        finally:
            await batcher.close()

    before, after = asyncio.run(run())
    assert (before, after) == (1, 2)


def test_a_lone_client_never_waits_for_company(sklearn_model: Any) -> None:
    async def run() -> int:
        # Were a lone request ever held back, this test would take 30 s per request.
        batcher = MicroBatcher(sklearn_model, max_wait=30.0)
        try:
            for _ in range(5):
                await batcher.predict(_frame(1))
            return batcher.calls
        finally:
            await batcher.close()

    assert asyncio.run(asyncio.wait_for(run(), timeout=20)) == 5


def test_finish_runs_on_the_prediction_thread_for_each_request(sklearn_model: Any) -> None:
    """The server's encoding runs where the prediction did; a failure is that request's alone."""
    threads: list[str] = []

    def finish(output: Any) -> Any:
        threads.append(threading.current_thread().name)
        if len(output) == 2:
            raise ValueError("two rows cannot be finished")
        return output.tolist()

    batcher = MicroBatcher(sklearn_model, finish=finish)
    requests = [_frame(1), _frame(2), _frame(3)]
    answers = _gather(batcher, requests)
    assert batcher.calls == 1
    assert answers[0] == sklearn_model.predict(requests[0]).tolist()
    assert isinstance(answers[1], ValueError)
    assert answers[2] == sklearn_model.predict(requests[2]).tolist()
    assert len(threads) == 3
    assert all(name.startswith("runlab-predict") for name in threads)


def test_predict_checked_takes_input_checked_elsewhere(sklearn_model: Any) -> None:
    checked, params = sklearn_model.check_input(_frame(2))

    async def run() -> Any:
        batcher = MicroBatcher(sklearn_model)
        try:
            return await batcher.predict_checked(checked, params)
        finally:
            await batcher.close()

    assert np.array_equal(asyncio.run(run()), sklearn_model.predict(_frame(2)))

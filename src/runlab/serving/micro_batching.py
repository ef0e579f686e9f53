"""Predicting concurrent requests together: one model call for the rows of several requests.

Much of a small prediction's cost does not depend on its size: a scikit-learn forest validates
its input once per tree whether it scores one row or a hundred. When requests arrive while the
model is busy, the batcher waits for the model to be free, then scores everything queued in one
call and hands each request its own rows of the output. A request that arrives while the model
is idle is predicted at once, so batching adds no waiting of its own; under load, queued
requests wait less than they would one after another.

Only models whose output rows depend on their own input rows alone are batched (the flavor says
so: :attr:`runlab.pyfunc.PyFuncModel.rows_are_independent`), only requests without ``params``,
and only inputs that stack: DataFrames with the same columns, or arrays with the same row shape
and dtype. Everything else is predicted on its own, through the same single prediction thread.
Each request's input is checked against the signature on its own first, so a bad request gets
its own error and never fails the others (the scoring server checks on a worker thread, while it
parses, and hands over checked input). If a batched call fails or returns the wrong number of
rows, its requests are predicted one by one instead.

Nothing that grows with a request runs on the event loop: the worker task only queues and
hands out. A ``finish`` function (the server's response encoding) is applied to each request's
own output on the prediction thread too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["MicroBatcher"]

#: Upper bound on the rows scored in one call, so one batch cannot grow without limit.
DEFAULT_MAX_ROWS = 10_000
#: Longest a batch waits for requests that are likely on their way (see ``_Concurrency``).
DEFAULT_MAX_WAIT_S = 0.002


@dataclasses.dataclass
class _Job:
    data: Any
    params: dict[str, Any] | None
    future: asyncio.Future[Any]
    key: Any  # what must match for two jobs to share a call; None: never batched
    rows: int
    finish: Callable[[Any], Any] | None = None  # this request's own, else the batcher's


def _stack_key(data: Any) -> tuple[Any, ...] | None:
    """What two inputs must share to be stacked (None when this input is not stackable)."""
    import numpy as np

    if isinstance(data, np.ndarray):
        if data.ndim == 0 or data.dtype == object:
            return None
        return ("ndarray", data.shape[1:], data.dtype.str)
    if type(data).__module__.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.DataFrame) and data.columns.is_unique:
            return ("frame", tuple(data.columns), tuple(str(t) for t in data.dtypes))
    return None


def _stack(parts: list[Any]) -> Any:
    import numpy as np

    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=0)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def _split(output: Any, counts: list[int]) -> list[Any] | None:
    """``output`` cut into consecutive pieces of ``counts`` rows; None when it cannot be."""
    import numpy as np

    total = sum(counts)
    offsets = np.cumsum(counts)[:-1].tolist()
    spans = list(itertools.pairwise([0, *offsets, total]))
    if isinstance(output, np.ndarray):
        if output.ndim == 0 or output.shape[0] != total:
            return None
        return list(np.split(output, offsets))
    module = type(output).__module__
    if module.startswith("pandas") and hasattr(output, "iloc"):
        if len(output) != total:
            return None
        return [output.iloc[start:end].reset_index(drop=True) for start, end in spans]
    if isinstance(output, list) and len(output) == total:
        return [output[start:end] for start, end in spans]
    return None


class _Concurrency:
    """How many requests the server has had in hand at once lately (its clients' concurrency).

    Left alone, a busy batcher settles into alternating halves: while one group of requests is
    scored, the other group's clients send their next ones, which form the next batch. Waiting
    a moment after a batch for the clients it just answered lets every client's request join one
    call instead. The wait is only made when more requests were in hand at once within the last
    second than are queued now, and never longer than ``max_wait``; a lone client, or one that
    sends a request at a time, never waits.
    """

    _WINDOW_S = 1.0

    def __init__(self) -> None:
        self._window_start = 0.0
        self._peak = 0
        self._previous_peak = 0

    def observe(self, in_hand: int, now: float) -> None:
        if now - self._window_start > self._WINDOW_S:
            self._previous_peak = self._peak if now - self._window_start < 2 * self._WINDOW_S else 0
            self._peak = 0
            self._window_start = now
        self._peak = max(self._peak, in_hand)

    def expected(self) -> int:
        return max(self._peak, self._previous_peak)


class MicroBatcher:
    """Serializes predictions on one thread and scores queued compatible requests together.

    ``model`` is a :class:`runlab.pyfunc.PyFuncModel` (anything with ``check_input``,
    ``predict_checked`` and ``rows_are_independent``). ``finish``, when given, turns each
    request's output into what :meth:`predict` returns, on the prediction thread (an exception
    it raises goes to that request alone). Create the batcher inside the running event loop's
    application (it makes its worker task on first use) and call :meth:`close` on shutdown.
    """

    def __init__(
        self,
        model: Any,
        *,
        enabled: bool = True,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_wait: float = DEFAULT_MAX_WAIT_S,
        finish: Callable[[Any], Any] | None = None,
    ):
        self._model = model
        self._finish = finish
        self._batching = enabled and bool(getattr(model, "rows_are_independent", False))
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._concurrency = _Concurrency()
        self._running = 0
        self._pending: deque[_Job] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="runlab-predict"
        )
        #: Calls made and requests served, for tests and logs.
        self.calls = 0
        self.requests = 0

    @property
    def batching(self) -> bool:
        """Whether requests may share a model call."""
        return self._batching

    async def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's predictions for one request, checked against the signature first.

        The check runs on the calling thread, which here is the event loop's: fine for small
        inputs. The scoring server checks each request on a worker thread while it parses it,
        and calls :meth:`predict_checked`.
        """
        checked, checked_params = self._model.check_input(data, params)
        return await self.predict_checked(checked, checked_params)

    async def predict_checked(
        self,
        checked: Any,
        checked_params: dict[str, Any] | None,
        finish: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The predictions for input (and params) that the model's ``check_input`` returned.

        ``finish``, when given, replaces the batcher's own for this request (a server speaking
        two protocols encodes each request's answer in its own).
        """
        loop = asyncio.get_running_loop()
        key = _stack_key(checked) if self._batching and checked_params is None else None
        rows = len(checked) if key is not None else 0
        job = _Job(checked, checked_params, loop.create_future(), key, rows, finish)
        self._pending.append(job)
        self._concurrency.observe(len(self._pending) + self._running, loop.time())
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work())
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    def _take(self) -> list[_Job]:
        first = self._pending.popleft()
        batch = [first]
        if first.key is None:
            return batch
        rows = first.rows
        while self._pending:
            nxt = self._pending[0]
            if nxt.key != first.key or rows + nxt.rows > self._max_rows:
                break
            batch.append(self._pending.popleft())
            rows += nxt.rows
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._pending[0].key is not None:
                await self._gather_expected(loop)
            batch = self._take()
            self._running = len(batch)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, batch)
            finally:
                self._running = 0
            for job, (ok, value) in zip(batch, outcomes, strict=True):
                if job.future.done():  # the request went away (client disconnected)
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    async def _gather_expected(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait (at most ``max_wait``) until as many requests are queued as were lately in hand."""
        assert self._wakeup is not None
        deadline = loop.time() + self._max_wait
        while len(self._pending) < self._concurrency.expected():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _run(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """Runs on the prediction thread: the batch's outcomes, each finished."""
        outcomes = self._predict(batch)
        return [
            self._finished(job.finish or self._finish, outcome)
            for job, outcome in zip(batch, outcomes, strict=True)
        ]

    @staticmethod
    def _finished(
        finish: Callable[[Any], Any] | None, outcome: tuple[bool, Any]
    ) -> tuple[bool, Any]:
        ok, value = outcome
        if not ok or finish is None:
            return outcome
        try:
            return True, finish(value)
        except Exception as exc:
            return False, exc

    def _predict(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """One call for the batch, else one per request."""
        self.requests += len(batch)
        if len(batch) > 1:
            try:
                self.calls += 1
                output = self._model.predict_checked(_stack([job.data for job in batch]), None)
                pieces = _split(output, [job.rows for job in batch])
            except Exception:  # predicted one by one below, so each request gets its own error
                pieces = None
            if pieces is not None:
                return [(True, piece) for piece in pieces]
        outcomes: list[tuple[bool, Any]] = []
        for job in batch:
            self.calls += 1
            try:
                outcomes.append((True, self._model.predict_checked(job.data, job.params)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    async def close(self) -> None:
        """Stop the worker task and the prediction thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=False, cancel_futures=True)

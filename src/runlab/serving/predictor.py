"""How the scoring server answers a request body: parse, check, predict, encode — and where.

- ``batched`` (the default): the body is parsed and checked against the signature on a worker
  thread, then a :class:`~runlab.serving.micro_batching.MicroBatcher` predicts on its one
  dedicated thread (scoring the requests that queued up meanwhile in one call, for models whose
  rows are independent, such as scikit-learn's) and encodes each answer there.
- ``thread``: the whole request (parse, predict, encode) on one thread of the thread pool, each
  request on its own.
- ``inline``: everything on the event loop itself — no hand-off at all, but nothing else (not
  even ``/ping``) is answered while a request is parsed or predicted.

In the first two modes the event loop only reads bodies and writes answers, so ``/ping`` and
``/health`` answer while a slow request is parsed or predicted. Whatever the mode, an exception
from the model's own code reaches the caller as a :class:`~runlab.serving.errors.ModelFailure`
(runlab's own errors, such as a schema mismatch or a request over the shape limits, as they
are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from runlab.errors import RunlabError
from runlab.serving.micro_batching import MicroBatcher
from runlab.serving.model_call import model_failure, predict_guarded
from runlab.serving.payload import ParsedRequest, parse_body
from runlab.serving.predictions import encode_response
from runlab.serving.request_shape import ShapeLimits

__all__ = ["PREDICT_MODES", "Predictor"]

PREDICT_MODES = ("batched", "thread", "inline")

T = TypeVar("T")


class Predictor:
    """Answers one model's requests the way ``mode`` says (see the module docstring).

    ``limits`` bounds the columns and rows of a request (none when omitted).
    """

    def __init__(
        self, model: Any, mode: str = "batched", limits: ShapeLimits | None = None
    ) -> None:
        if mode not in PREDICT_MODES:
            raise ValueError(f"Unknown predict mode {mode!r}; one of {', '.join(PREDICT_MODES)}.")
        self.model = model
        self.mode = mode
        self.limits = limits
        self._batcher = MicroBatcher(model, finish=encode_response) if mode == "batched" else None

    async def respond(self, body: bytes, content_type: str | None) -> bytes:
        """The response body (``{"predictions": ...}``) for one request body."""
        if self._batcher is None:
            if self.mode == "thread":
                return await run_in_threadpool(self._answer, body, content_type)
            return self._answer(body, content_type)
        data, params = await run_in_threadpool(self._checked_input, body, content_type)
        try:
            encoded: bytes = await self._batcher.predict_checked(data, params)
        except RunlabError:
            raise
        except Exception as exc:
            raise model_failure(exc) from exc
        return encoded

    async def run(self, prepare: Callable[[], ParsedRequest], finish: Callable[[Any], T]) -> T:
        """Answer a request of another protocol (the Open Inference Protocol's routes).

        ``prepare`` reads the request into the model's input and params, ``finish`` turns the
        predictions into the answer; both run where this predictor's mode runs parsing and
        encoding for ``/invocations``, and the input is checked against the signature first.
        """
        if self._batcher is None:
            if self.mode == "thread":
                return await run_in_threadpool(self._run_once, prepare, finish)
            return self._run_once(prepare, finish)
        data, params = await run_in_threadpool(self._checked, prepare)
        try:
            answer: T = await self._batcher.predict_checked(data, params, finish)
        except RunlabError:
            raise
        except Exception as exc:
            raise model_failure(exc) from exc
        return answer

    def _run_once(self, prepare: Callable[[], ParsedRequest], finish: Callable[[Any], T]) -> T:
        data, params = prepare()
        return finish(predict_guarded(self.model, data, params))

    def _checked(self, prepare: Callable[[], ParsedRequest]) -> ParsedRequest:
        checked: ParsedRequest = self.model.check_input(*prepare())
        return checked

    def _answer(self, body: bytes, content_type: str | None) -> bytes:
        data, params = parse_body(body, content_type, self.limits)
        return encode_response(predict_guarded(self.model, data, params))

    def _checked_input(self, body: bytes, content_type: str | None) -> ParsedRequest:
        data, params = parse_body(body, content_type, self.limits)
        checked: ParsedRequest = self.model.check_input(data, params)
        return checked

    async def close(self) -> None:
        """Stop the prediction thread (batched mode)."""
        if self._batcher is not None:
            await self._batcher.close()

"""How the scoring server runs ``predict``: micro-batched, on a worker thread, or inline.

- ``batched`` (the default): a :class:`~runlab.serving.micro_batching.MicroBatcher` runs every
  prediction on one dedicated thread and, for models whose rows are independent (scikit-learn),
  scores the requests that queued up meanwhile in one call. The event loop stays free to read
  and parse the next requests while the model works.
- ``thread``: each request's ``predict`` on Starlette's thread pool (several at once).
- ``inline``: ``predict`` on the event loop itself — no hand-off at all, but nothing else is
  served while the model works.

Whatever the mode, an exception from the model's own code reaches the caller as a
:class:`~runlab.serving.errors.ModelFailure` (runlab's own errors, such as a schema mismatch,
as they are).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from runlab.errors import RunlabError
from runlab.serving.micro_batching import MicroBatcher
from runlab.serving.model_call import model_failure, predict_guarded

__all__ = ["PREDICT_MODES", "Predictor"]

PREDICT_MODES = ("batched", "thread", "inline")


class Predictor:
    """Runs one model's predictions the way ``mode`` says (see the module docstring)."""

    def __init__(self, model: Any, mode: str = "batched") -> None:
        if mode not in PREDICT_MODES:
            raise ValueError(f"Unknown predict mode {mode!r}; one of {', '.join(PREDICT_MODES)}.")
        self.model = model
        self.mode = mode
        self._batcher = MicroBatcher(model) if mode == "batched" else None

    async def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """The model's predictions for one request."""
        if self._batcher is not None:
            try:
                return await self._batcher.predict(data, params)
            except RunlabError:
                raise
            except Exception as exc:
                raise model_failure(exc) from exc
        if self.mode == "thread":
            return await run_in_threadpool(predict_guarded, self.model, data, params)
        return predict_guarded(self.model, data, params)

    async def close(self) -> None:
        """Stop the prediction thread (batched mode)."""
        if self._batcher is not None:
            await self._batcher.close()

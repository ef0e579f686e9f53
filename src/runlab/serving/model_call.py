"""Calling the model: its own failures become one clear :class:`ModelFailure`."""

from __future__ import annotations

from typing import Any

from runlab.errors import RunlabError
from runlab.serving.errors import ModelFailure

__all__ = ["model_failure", "predict_guarded"]


def predict_guarded(model: Any, data: Any, params: Any = None) -> Any:
    """``model.predict(data, params)``; an exception from the model's code becomes a
    :class:`ModelFailure` naming it (runlab's own errors, e.g. a schema mismatch, pass as they
    are). The model's exception is kept as ``__cause__``, for a log; the caller is told only its
    type and message.
    """
    try:
        return model.predict(data, params)
    except RunlabError:
        raise
    except Exception as exc:
        raise model_failure(exc) from exc


def model_failure(exc: Exception) -> ModelFailure:
    """The :class:`ModelFailure` that reports ``exc``, raised by the model's own code."""
    return ModelFailure(
        f"The model raised {type(exc).__name__} while predicting: {exc}. Check that the input "
        "matches what the model expects."
    )

"""The model an evaluation runs: loaded from a URI, a loaded PyFuncModel, or a plain function.

Besides a way to predict, the evaluation wants the model's URI (for the run tag), the logged
model behind it (``m-…``, whose metrics the evaluation also records), and the framework object
underneath (for probability scores and scikit-learn's own ``score``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runlab.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    from runlab.tracking.client import Client

__all__ = ["EvaluationModel", "evaluation_model", "logged_model_id_for"]

_logger = logging.getLogger("runlab")


@dataclass(frozen=True)
class EvaluationModel:
    """A model ready to evaluate."""

    predict: Callable[[Any], Any]
    uri: str | None
    raw_model: Any
    model_id: str | None
    description: str

    def probabilities(self, model_input: Any) -> tuple[Any, list[Any]] | None:
        """``(scores, classes)`` from the framework model's ``predict_proba``, or None when it
        has none (or it fails: the evaluation then goes on without score-based metrics)."""
        raw = self.raw_model
        predict_proba = getattr(raw, "predict_proba", None)
        classes = getattr(raw, "classes_", None)
        if predict_proba is None or classes is None:
            return None
        import numpy as np

        try:
            scores = np.asarray(predict_proba(model_input), dtype=float)
        except Exception as exc:  # scores are a bonus; the predictions still count
            _logger.warning(
                "evaluate: %s has predict_proba, but it failed (%s: %s); metrics that need "
                "probability scores are left out.",
                self.description,
                type(exc).__name__,
                exc,
            )
            return None
        classes = list(np.asarray(classes).tolist())
        if scores.ndim != 2 or scores.shape[1] != len(classes):
            return None
        return scores, classes

    def sklearn_score(self, model_input: Any, targets: Any) -> float | None:
        """scikit-learn's own ``score`` (accuracy or R²) of the estimator, as MLflow logs it."""
        raw = self.raw_model
        if not (hasattr(raw, "score") and hasattr(raw, "get_params")):
            return None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(raw.score(model_input, targets))
            except Exception:  # an estimator that cannot score this data: leave the metric out
                return None


def _looks_like_pyfunc(model: Any) -> bool:
    from runlab.models.pyfunc.pyfunc_model import PyFuncModel

    return isinstance(model, PyFuncModel)


def _pyfunc_model(
    pyfunc: Any,
    uri: str | None,
    model_id: str | None,
    inference_params: Mapping[str, Any] | None,
) -> EvaluationModel:
    params = dict(inference_params) if inference_params else None

    def predict(model_input: Any) -> Any:
        return pyfunc.predict(model_input, params=params) if params else pyfunc.predict(model_input)

    meta_id = getattr(pyfunc.metadata, "model_id", None)
    return EvaluationModel(
        predict=predict,
        uri=uri,
        raw_model=pyfunc.get_raw_model(),
        model_id=model_id or meta_id,
        description=f"model {uri}" if uri else "the model",
    )


def logged_model_id_for(uri: str, client: Client) -> str | None:
    """The logged model (``m-…``) a model URI names, when there is one.

    ``models:/m-…`` names one directly; a registered version carries the id of the logged model
    it was made from; ``runs:/<run>/<name>`` stands for a logged model when MLflow 3 logged the
    model there. A path has none (its ``MLmodel`` may say, which the loaded model reports).
    """
    from runlab.model_uris import ModelsUri, RunsUri, is_model_uri, parse_model_uri
    from runlab.tracking.model_uris import get_model_version_for_uri, locate_runs_uri

    if not is_model_uri(uri):
        return None
    parsed = parse_model_uri(uri)
    if isinstance(parsed, RunsUri):
        return locate_runs_uri(parsed, client).model_id
    if isinstance(parsed, ModelsUri):
        if parsed.kind == "logged_model":
            return parsed.model_id
        version = get_model_version_for_uri(parsed, client)
        if version.model_id:
            return str(version.model_id)
        source = version.source or ""
        if source.startswith("models:/m-"):
            return source[len("models:/") :].split("/", 1)[0]
    return None


def existing_logged_model(model_id: str | None, client: Client) -> str | None:
    """``model_id`` when the tracking store has that logged model, else None.

    A model saved elsewhere may carry the id of a logged model this store never saw; recording
    metrics on it would fail, so the evaluation records them on the run only.
    """
    if not model_id:
        return None
    try:
        client.get_logged_model(model_id)
    except (NotFound, InvalidParameter):
        _logger.info("evaluate: logged model %s is not in this tracking store.", model_id)
        return None
    return model_id


def evaluation_model(
    model: Any,
    client: Client,
    model_config: Mapping[str, Any] | None,
    inference_params: Mapping[str, Any] | None,
    model_id: str | None,
) -> EvaluationModel | None:
    """Load or wrap ``model``; None when there is no model (predictions come with the data)."""
    if model is None:
        return None
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if isinstance(model, str):
        from runlab.models.pyfunc import load_model

        if not model.strip():
            raise InvalidParameter("model must be a model URI or path, got an empty string.")
        found_id = model_id or logged_model_id_for(model, client)
        pyfunc = load_model(model, model_config=model_config)
        return _pyfunc_model(pyfunc, model, found_id, inference_params)
    if _looks_like_pyfunc(model):
        return _pyfunc_model(model, None, model_id, inference_params)
    if model_config:
        raise InvalidParameter(
            "model_config applies to a model loaded from a URI; this model is already loaded."
        )
    predict = getattr(model, "predict", None)
    if callable(predict) and not isinstance(model, type):
        # A fitted estimator (or anything with predict): scores come from the object itself.
        return EvaluationModel(
            predict=predict,
            uri=None,
            raw_model=model,
            model_id=model_id,
            description=f"the {type(model).__name__} model",
        )
    if callable(model):
        # A plain function gives predictions only, even a bound estimator.predict: the
        # evaluation logs what MLflow logs for a function (no score-based metrics).
        return EvaluationModel(
            predict=model,
            uri=None,
            raw_model=None,
            model_id=model_id,
            description=f"function {getattr(model, '__name__', repr(model))}",
        )
    raise InvalidParameter(
        "model must be a model URI (runs:/…, models:/…, a path), a loaded PyFuncModel, or a "
        f"function that takes the features and returns predictions, got {type(model).__name__}."
    )

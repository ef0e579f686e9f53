"""``runlab.evaluate`` (MLflow's ``mlflow.models.evaluate``): score a model on labelled data and
log the metrics, plots, per-row results and the dataset to a run.

Everything is computed before the run is touched: a bad argument, a model that fails or returns
the wrong number of rows, or a custom metric that raises leaves no run behind (none is started)
and writes nothing to the active one. When logging itself fails, a run the evaluation started is
ended FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runlab.errors import InvalidParameter
from runlab.evaluation.computation import compute_evaluation
from runlab.evaluation.custom_metrics import check_extra_metrics
from runlab.evaluation.inputs import evaluation_data
from runlab.evaluation.model_source import evaluation_model, existing_logged_model
from runlab.evaluation.recording import record_evaluation
from runlab.evaluation.result import EvaluationResult
from runlab.evaluation.thresholds import (
    MetricThreshold,
    ModelValidationFailedException,
    check_thresholds_are_usable,
    checked_threshold_types,
    validate_evaluation_results,
)
from runlab.validation import validate_key, validate_metric_value

__all__ = ["MODEL_TYPES", "evaluate"]

#: The model types the default evaluator knows.
MODEL_TYPES = ("classifier", "regressor")
#: MLflow's model types for language models, which runlab does not evaluate.
_LLM_MODEL_TYPES = (
    "question-answering",
    "text-summarization",
    "text",
    "retriever",
    "databricks-agent",
)


def _check_model_type(model_type: Any) -> str:
    if model_type in MODEL_TYPES:
        return str(model_type)
    if model_type in _LLM_MODEL_TYPES:
        raise InvalidParameter(
            f"model_type={model_type!r} is a language-model evaluation, which runlab does not "
            f"support; use one of {', '.join(MODEL_TYPES)}."
        )
    raise InvalidParameter(
        f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}."
    )


def _check_options(
    env_manager: Any, evaluators: Any, custom_artifacts: Any, evaluator_config: Any
) -> dict[str, Any]:
    if env_manager != "local":
        raise InvalidParameter(
            f"env_manager={env_manager!r} is not supported: runlab.evaluate runs the model in "
            "this Python environment (env_manager='local'); install the model's requirements "
            "here first."
        )
    if evaluators not in (None, "default", ["default"], ("default",)):
        raise InvalidParameter(
            f"evaluators={evaluators!r}: runlab has only the default evaluator; leave evaluators "
            "out."
        )
    if custom_artifacts is not None:
        raise InvalidParameter(
            "custom_artifacts is not supported by runlab.evaluate; log extra files with "
            "runlab.log_artifact in the same run."
        )
    if evaluator_config is None:
        return {}
    if not isinstance(evaluator_config, Mapping):
        raise InvalidParameter(
            f"evaluator_config must be a dict, got {type(evaluator_config).__name__}."
        )
    return dict(evaluator_config)


def _check_threshold_types(validation_thresholds: Any) -> dict[str, MetricThreshold] | None:
    if validation_thresholds is None:
        return None
    return checked_threshold_types(validation_thresholds)


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: Any = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: list[str] | None = None,
    evaluators: Any = None,
    evaluator_config: Mapping[str, Any] | None = None,
    extra_metrics: list[Any] | None = None,
    custom_artifacts: Any = None,
    env_manager: str = "local",
    model_config: Mapping[str, Any] | None = None,
    inference_params: Mapping[str, Any] | None = None,
    model_id: str | None = None,
    baseline_model: Any = None,
    validation_thresholds: Mapping[str, MetricThreshold] | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` on ``data`` and log the results to the active run (or a new one).

    ``model`` is a model URI (``runs:/…``, ``models:/…``, a path), a loaded PyFuncModel, an
    object with ``predict`` (a fitted estimator), or a function from the features to
    predictions; with ``model=None``, ``predictions`` names the column of ``data`` that holds
    them. ``data`` is a pandas DataFrame (``targets`` names the column of true values), a numpy
    array of features (``targets`` is then an array), or a dataset from ``runlab.data``.
    ``model_type`` is ``"classifier"`` or ``"regressor"``.

    Logs the default metrics of the model type (MLflow's names), ``extra_metrics`` (made with
    :func:`runlab.models.make_metric`), plots, the per-row table ``eval_results_table.json``,
    the dataset as an input with context ``eval`` and the tag ``runlab.evaluation.model``. When
    the model is a logged model (``models:/m-…``, a registered version made from one, or a
    ``runs:/`` URI standing for one), the metrics are also recorded on it with the dataset's
    name and digest.

    ``evaluator_config`` keys: ``pos_label``, ``label_list``, ``average`` (multiclass averaging,
    ``"weighted"`` by default), ``metric_prefix``. With ``baseline_model`` the same metrics are
    computed for the baseline (not logged) and returned as ``baseline_model_metrics``;
    ``validation_thresholds`` (metric -> :class:`MetricThreshold`) are then checked after
    logging, raising :class:`ModelValidationFailedException` when one fails.
    """
    kind = _check_model_type(model_type)
    config = _check_options(env_manager, evaluators, custom_artifacts, evaluator_config)
    extra = check_extra_metrics(extra_metrics)
    thresholds = _check_threshold_types(validation_thresholds)
    if data is None:
        raise InvalidParameter("data is required: the examples to evaluate the model on.")
    if model is None and predictions is None:
        raise InvalidParameter(
            "Give a model to evaluate, or model=None with predictions='<column>' naming the "
            "column of data that holds the predictions."
        )
    if model is None and baseline_model is not None:
        raise InvalidParameter("baseline_model needs a model to compare with; model is None.")

    from runlab.tracking.fluent import _target, active_run, end_run
    from runlab.tracking.fluent_experiments import default_client

    client = default_client()
    examples = evaluation_data(
        data, targets, predictions if model is None else None, feature_names, dataset_path
    )
    candidate = evaluation_model(model, client, model_config, inference_params, model_id)
    baseline = evaluation_model(baseline_model, client, None, inference_params, None)
    outcome = compute_evaluation(candidate, examples, kind, config, extra, predictions)
    baseline_metrics = None
    if baseline is not None:
        baseline_metrics = compute_evaluation(
            baseline, examples, kind, config, extra, predictions, with_artifacts=False
        ).metrics
    for key, value in outcome.metrics.items():  # a custom metric's name or value, checked now
        validate_metric_value(validate_key(key), value)
    if thresholds:
        check_thresholds_are_usable(thresholds, outcome.metrics, baseline_metrics)

    if model_id is not None:
        client.get_logged_model(model_id)  # named explicitly: a missing one is an error
    logged_model = existing_logged_model(
        candidate.model_id if candidate is not None else None, client
    )

    started_here = active_run() is None
    target = _target(None)
    try:
        artifacts = record_evaluation(
            target.client,
            target.run_id,
            outcome,
            examples.dataset,
            candidate.uri if candidate is not None else None,
            logged_model,
        )
    except BaseException as exc:
        if started_here:  # a run of ours is never left RUNNING
            end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if started_here:
        end_run()
    result = EvaluationResult(
        metrics=outcome.metrics,
        artifacts=artifacts,
        run_id=target.run_id,
        baseline_model_metrics=baseline_metrics,
        tables={"eval_results_table": outcome.table} if outcome.table is not None else None,
    )
    if thresholds:
        try:
            validate_evaluation_results(thresholds, result, baseline_metrics)
        except ModelValidationFailedException as failed:
            failed.result = result  # what was logged, for callers that report it (the CLI)
            raise
    return result

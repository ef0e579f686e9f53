"""Fluent ``log_input`` / ``log_inputs``: record the datasets (and models) a run used.

The datasets come from :mod:`runlab.data` (``from_pandas``, ``from_numpy``); each becomes a
:class:`runlab.entities.DatasetInput` with its context as the input tag ``mlflow.data.context``
and is written at once (not queued), so a bad dataset raises at the line that logged it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runlab.entities import DatasetInput, LoggedModelInput
from runlab.errors import InvalidParameter
from runlab.tracking.fluent import _target

__all__ = ["log_input", "log_inputs"]


def _model_input(model: Any) -> LoggedModelInput:
    model_id = getattr(model, "model_id", None)
    if not isinstance(model_id, str) or not model_id:
        raise InvalidParameter(
            f"model must be a LoggedModelInput (runlab.entities.LoggedModelInput(model_id)), "
            f"got {model!r}."
        )
    return LoggedModelInput(model_id)


def log_input(
    dataset: Any = None,
    context: str | None = None,
    tags: Mapping[str, Any] | None = None,
    model: Any = None,
    run_id: str | None = None,
) -> None:
    """Record that the active run (or ``run_id``) used ``dataset`` (and/or the model ``model``).

    ``context`` says how ("training", "evaluation", …); ``tags`` are stored with the dataset
    input. Logging the same dataset again updates its tags; the dataset itself is kept once per
    experiment. A run is started if none is active.
    """
    log_inputs(
        [dataset] if dataset is not None else None,
        [context] if dataset is not None else None,
        [tags] if dataset is not None else None,
        [model] if model is not None else None,
        run_id=run_id,
    )


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[Mapping[str, Any] | None] | None = None,
    models: Sequence[Any] | None = None,
    run_id: str | None = None,
) -> None:
    """Record several datasets the active run (or ``run_id``) used, with one context and tag dict each.

    ``datasets``, ``contexts`` and ``tags_list`` have the same length (``None`` entries mean no
    context or tags); ``models`` are LoggedModelInputs. Everything is checked before anything is
    written.
    """
    from runlab.data.dataset import dataset_input

    datasets = list(datasets or ())
    contexts = list(contexts) if contexts is not None else [None] * len(datasets)
    tags_list = list(tags_list) if tags_list is not None else [None] * len(datasets)
    if not len(datasets) == len(contexts) == len(tags_list):
        raise InvalidParameter(
            f"log_inputs needs one context and one tags entry per dataset; got "
            f"{len(datasets)} datasets, {len(contexts)} contexts and {len(tags_list)} tag dicts."
        )
    if any(dataset is None for dataset in datasets):
        raise InvalidParameter("log_inputs got None in datasets; leave it out of the list.")
    inputs: list[DatasetInput] = [
        dataset_input(dataset, context, tags)
        for dataset, context, tags in zip(datasets, contexts, tags_list, strict=True)
    ]
    model_inputs = [_model_input(m) for m in (models or ()) if m is not None]
    target = _target(run_id)
    if not inputs and not model_inputs:
        return
    target.writer.flush()  # records queued for the run land first, in call order
    target.client.log_inputs(target.run_id, inputs, model_inputs)

"""Logging a computed evaluation to a run (and to the logged model it evaluated).

The order is chosen so that a run never shows metrics of an evaluation whose files are missing:
first the artifact files and the results table, then the dataset input, and last the metrics and
the ``runlab.evaluation.model`` tag together in one atomic batch. The metric points carry the
dataset's name and digest and, when the model is a logged model of this store, its ``model_id``,
which also stores them on that model (as MLflow 3 does).
"""

from __future__ import annotations

import posixpath
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlab.entities import LoggedModelInput, Metric, RunTag
from runlab.evaluation.computation import EvaluationOutcome
from runlab.evaluation.result import EvaluationArtifact
from runlab.evaluation.table import TABLE_FILE, TABLE_NAME

if TYPE_CHECKING:
    from runlab.tracking.client import Client

__all__ = ["EVALUATED_MODEL_TAG", "EVAL_CONTEXT", "record_evaluation"]

#: The run tag naming the model an evaluation ran (its URI).
EVALUATED_MODEL_TAG = "runlab.evaluation.model"
#: The dataset input context of evaluation data.
EVAL_CONTEXT = "eval"


def _artifact_name(file_name: str) -> str:
    """An artifact's key in the result: its file name without the extension (MLflow's)."""
    return posixpath.splitext(file_name)[0]


def _table_bytes(table: Any) -> bytes:
    return table.to_json(orient="split", index=False).encode("utf-8")


def record_evaluation(
    client: Client,
    run_id: str,
    outcome: EvaluationOutcome,
    dataset: Any,
    model_uri: str | None,
    model_id: str | None,
) -> dict[str, EvaluationArtifact]:
    """Log ``outcome`` to ``run_id``; return the artifacts by name with their run URIs."""
    from runlab.data.dataset import dataset_input

    root = client.artifact_uri(run_id).rstrip("/")
    artifacts: dict[str, EvaluationArtifact] = {}
    if outcome.files:
        with tempfile.TemporaryDirectory(prefix="runlab-evaluate-") as tmp:
            for file_name, data in outcome.files.items():
                Path(tmp, file_name).write_bytes(data)
            client.log_artifacts(run_id, tmp)
        for file_name, data in outcome.files.items():
            artifacts[_artifact_name(file_name)] = EvaluationArtifact(f"{root}/{file_name}", data)
    if outcome.table is not None:
        client.log_table(run_id, outcome.table, TABLE_FILE)
        artifacts[TABLE_NAME] = EvaluationArtifact(
            f"{root}/{TABLE_FILE}", _table_bytes(outcome.table)
        )
    client.log_inputs(
        run_id,
        datasets=[dataset_input(dataset, EVAL_CONTEXT)],
        models=[LoggedModelInput(model_id)] if model_id else None,
    )
    client.log_batch(
        run_id,
        metrics=_metric_points(outcome.metrics, dataset, model_id),
        tags=[RunTag(EVALUATED_MODEL_TAG, model_uri)] if model_uri else (),
        synchronous=True,
    )
    return artifacts


def _metric_points(metrics: Mapping[str, Any], dataset: Any, model_id: str | None) -> list[Metric]:
    now = int(time.time() * 1000)
    return [
        Metric(
            key,
            float(value),
            now,
            0,
            dataset_name=dataset.name,
            dataset_digest=dataset.digest,
            model_id=model_id,
        )
        for key, value in metrics.items()
    ]

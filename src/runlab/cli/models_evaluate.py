"""``runlab models evaluate``: evaluate a model on a data file, log the results, check thresholds.

The data file is CSV, Parquet or JSON lines (by its extension). The evaluation logs to a new run
of ``--experiment-name`` (or the default experiment), or to ``--run-id``. Thresholds are written
``metric>=value`` or ``metric<=value`` (``metric=value`` for the default metrics, whose direction
is known); when one fails, the metrics are still printed, then the failures, and the command
exits with code 1.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runlab.cli import output
from runlab.cli.options import tracking_uri_option

if TYPE_CHECKING:
    from runlab.evaluation import EvaluationResult, MetricThreshold

__all__ = ["add_evaluate_command", "evaluate_command", "parse_threshold"]

# Default metrics where lower is better; every other default metric is better higher. Spelled
# out here so that parsing --threshold needs no evaluation import.
_LOWER_IS_BETTER = frozenset(
    {
        "false_negatives",
        "false_positives",
        "log_loss",
        "max_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "root_mean_squared_error",
    }
)
_HIGHER_IS_BETTER = frozenset(
    {
        "accuracy_score",
        "f1_score",
        "precision_recall_auc",
        "precision_score",
        "r2_score",
        "recall_score",
        "roc_auc",
        "score",
        "true_negatives",
        "true_positives",
    }
)
_THRESHOLD = re.compile(r"^\s*([^<>=\s]+)\s*(>=|<=|=)\s*(\S+)\s*$")
_READERS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


def parse_threshold(text: str) -> tuple[str, MetricThreshold]:
    """``"f1_score>=0.8"`` -> ``("f1_score", MetricThreshold(threshold=0.8, greater…=True))``."""
    from runlab.evaluation import MetricThreshold

    match = _THRESHOLD.match(text)
    if match is None:
        raise click.BadParameter(
            f"{text!r} is not METRIC>=VALUE, METRIC<=VALUE or METRIC=VALUE.",
            param_hint="--threshold",
        )
    name, operator, raw = match.groups()
    try:
        value = float(raw)
    except ValueError:
        raise click.BadParameter(
            f"{raw!r} in {text!r} is not a number.", param_hint="--threshold"
        ) from None
    if math.isnan(value):
        raise click.BadParameter(f"{text!r}: the bound must be a number.", param_hint="--threshold")
    if operator == "=":
        if name in _LOWER_IS_BETTER:
            operator = "<="
        elif name in _HIGHER_IS_BETTER:
            operator = ">="
        else:
            raise click.BadParameter(
                f"{text!r}: which way is better for {name!r} is not known; write "
                f"{name}>={raw} or {name}<={raw}.",
                param_hint="--threshold",
            )
    return name, MetricThreshold(threshold=value, greater_is_better=operator == ">=")


def read_data(path: Path) -> Any:
    """The data file as a DataFrame, read by its extension."""
    import pandas as pd

    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise click.BadParameter(
            f"{path.name}: use a .csv, .parquet or .jsonl (JSON lines) file.",
            param_hint="--data",
        )
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True)
    except (ValueError, OSError, ImportError) as exc:
        raise click.ClickException(f"Cannot read {path} as {kind}: {exc}") from None


def _print_result(result: EvaluationResult, as_json: bool, failures: list[str]) -> None:
    if as_json:
        output.print_json(
            {
                "run_id": result.run_id,
                "metrics": result.metrics,
                "baseline_metrics": result.baseline_model_metrics,
                "artifacts": {name: a.uri for name, a in result.artifacts.items()},
                "validation": {"passed": not failures, "failures": failures},
            }
        )
        return
    baseline = result.baseline_model_metrics
    columns = ["Metric", "Value"] + (["Baseline"] if baseline is not None else [])
    rows = [
        [name, output.format_value(value)]
        + ([output.format_value(baseline.get(name, "-"))] if baseline is not None else [])
        for name, value in sorted(result.metrics.items())
    ]
    output.print_table("Evaluation metrics", columns, rows)
    click.echo(f"Run: {result.run_id}")
    click.echo("Artifacts: " + ", ".join(sorted(result.artifacts)))


@click.command("evaluate")
@click.option(
    "-m", "--model-uri", "model_uri", required=True, metavar="URI", help="The model to evaluate."
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV, Parquet or JSON-lines file of examples.",
)
@click.option("--targets", required=True, metavar="COLUMN", help="Column of true values.")
@click.option(
    "--model-type",
    required=True,
    type=click.Choice(["classifier", "regressor"]),
    help="Which default metrics and plots to compute.",
)
@click.option("--baseline", "baseline_uri", metavar="URI", help="A model to compare against.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="METRIC>=VALUE",
    help="A bound the model must meet (repeatable); also METRIC<=VALUE, or METRIC=VALUE for "
    "default metrics.",
)
@click.option("--experiment-name", metavar="NAME", help="Experiment of the new run.")
@click.option("--run-id", metavar="ID", help="Log to this existing run instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@tracking_uri_option
def evaluate_command(
    model_uri: str,
    data_path: Path,
    targets: str,
    model_type: str,
    baseline_uri: str | None,
    thresholds: tuple[str, ...],
    experiment_name: str | None,
    run_id: str | None,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """Evaluate a model on a data file and log metrics, plots and per-row results to a run.

    Exits with code 1, after printing the metrics and the failed thresholds, when the model
    misses a --threshold.
    """
    if experiment_name and run_id:
        raise click.UsageError("Give --experiment-name or --run-id, not both.")
    parsed = dict(parse_threshold(text) for text in thresholds)
    frame = read_data(data_path)

    import runlab
    from runlab.evaluation import ModelValidationFailedException

    if tracking_uri:
        runlab.set_tracking_uri(tracking_uri)
    if experiment_name:
        runlab.set_experiment(experiment_name)
    failures: list[str] = []
    # With --run-id the run is resumed and ended here; otherwise evaluate starts and ends one.
    with runlab.start_run(run_id=run_id) if run_id else contextlib.nullcontext():
        try:
            result = runlab.evaluate(
                model_uri,
                frame,
                targets=targets,
                model_type=model_type,
                dataset_path=str(data_path.resolve()),
                baseline_model=baseline_uri,
                validation_thresholds=parsed or None,
            )
        except ModelValidationFailedException as failed:
            # The evaluation completed and is logged; missing a threshold is its verdict.
            result = failed.result
            failures = [failure.describe() for failure in failed.failures]
    _print_result(result, as_json, failures)
    if failures:
        click.echo("Model validation failed:", err=True)
        for line in failures:
            click.echo(f"  - {line}", err=True)
        raise SystemExit(1)


def add_evaluate_command(group: click.Group) -> None:
    """Attach ``evaluate`` to the ``runlab models`` group."""
    group.add_command(evaluate_command)

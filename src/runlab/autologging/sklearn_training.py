"""The background half of an autologged scikit-learn ``fit()``.

One task per training, queued before the run's end: it opens the snapshot of the fitted
estimator and logs the training metrics, the plots, ``estimator.html`` and, for a parameter
search, ``cv_results.csv`` and the child runs. The model and the dataset are queued as tasks of
their own right after it (see :mod:`~runlab.autologging.sklearn_fit`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.sklearn import SklearnIntegration
    from runlab.autologging.sklearn_fit import FitData, Snapshot

__all__ = ["SearchWork", "TrainingWork"]

_logger = logging.getLogger("runlab")


@dataclass
class SearchWork:
    """What a parameter search adds: where its child runs go and how many there are."""

    experiment_id: str
    max_tuning_runs: int | None
    extra_tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainingWork:
    """Everything one training logs in the background, except the model and the dataset."""

    run_id: str
    integration: SklearnIntegration
    snapshot: Snapshot
    data: FitData
    pos_label: Any = None
    search: SearchWork | None = None

    def log_details(self) -> None:
        """Metrics, plots, estimator.html, search results: in that order (MLflow's)."""
        from runlab.autologging import sklearn_metrics, sklearn_plots
        from runlab.tracking.fluent import log_metrics
        from runlab.tracking.fluent_artifacts import log_figure, log_text

        model = self.snapshot.get()
        data = self.data
        # A search that did not refit has no model to measure (nor predict() to call).
        refitted = self.search is None or hasattr(model, "best_estimator_")
        if data.y is not None and data.X is not None and refitted:
            metrics, outcome = sklearn_metrics.training_metrics(
                model, data.X, data.y, data.sample_weight, self.pos_label
            )
            if metrics:
                log_metrics(metrics, run_id=self.run_id)
            self._warn_skipped(outcome.skipped)
            if outcome.y_pred is not None and outcome.classes is not None:
                figures = sklearn_plots.classifier_figures(
                    outcome.y_true,
                    outcome.y_pred,
                    outcome.scores,
                    outcome.classes,
                    outcome.sample_weight,
                    self.pos_label,
                )
                for file_name, figure in figures.items():
                    log_figure(figure, file_name, run_id=self.run_id)
        log_text(sklearn_plots.estimator_html(model), "estimator.html", run_id=self.run_id)
        if self.search is not None:
            from runlab.autologging import sklearn_search

            sklearn_search.log_search(self.run_id, model, self.search)

    def _warn_skipped(self, skipped: dict[str, str]) -> None:
        options = self.integration.options
        if not skipped or (options is not None and options.silent):
            return
        _logger.warning(
            "runlab: sklearn autologging left out %s for run %s: %s",
            ", ".join(skipped),
            self.run_id,
            "; ".join(f"{name}: {reason}" for name, reason in skipped.items()),
        )

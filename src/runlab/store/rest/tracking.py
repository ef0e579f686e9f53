"""A TrackingStore that talks to a tracking server (runlab's or MLflow's) over REST."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runlab.entities import (
    DatasetInput,
    Experiment,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from runlab.errors import ExperimentNotFound, NotFound, RunNotFound
from runlab.protocol import API
from runlab.store.rest import decode
from runlab.store.rest.encode import key_values, metric_message
from runlab.store.rest.http import HttpSession, RestConfig, not_found_as
from runlab.store.rest.logged_models import RestLoggedModelMethods


class RestTrackingStore(RestLoggedModelMethods):
    """The TrackingStore and LoggedModelStore protocols over MLflow's REST API."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.http = HttpSession(config)

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def _call(
        self,
        method: str,
        endpoint: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        return self.http.call(
            method, f"{API}/{endpoint}", body, idempotent=idempotent, max_retries=max_retries
        )

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[Any] | None = None
    ) -> str:
        """Create an experiment and return its id."""
        body: dict[str, Any] = {"name": name, "tags": key_values(tags or ())}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(
            self._call("POST", "experiments/create", body, idempotent=False)["experiment_id"]
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""
        with not_found_as(ExperimentNotFound):
            data = self._call("GET", "experiments/get", {"experiment_id": str(experiment_id)})
        return decode.experiment(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        try:
            data = self._call("GET", "experiments/get-by-name", {"experiment_name": name})
        except NotFound:
            return None
        return decode.experiment(data["experiment"])

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments."""
        body: dict[str, Any] = {
            "view_type": ViewType.to_string(ViewType.normalize(view_type)),
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "experiments/search", body)
        return PagedList(
            [decode.experiment(e) for e in data.get("experiments", ())], data.get("next_page_token")
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs."""
        with not_found_as(ExperimentNotFound):
            self._call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        """Reactivate an experiment and its runs."""
        with not_found_as(ExperimentNotFound):
            self._call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an experiment."""
        with not_found_as(ExperimentNotFound):
            self._call(
                "POST",
                "experiments/update",
                {"experiment_id": str(experiment_id), "new_name": new_name},
            )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set an experiment tag."""
        with not_found_as(ExperimentNotFound):
            self._call(
                "POST",
                "experiments/set-experiment-tag",
                {"experiment_id": str(experiment_id), "key": key, "value": value},
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete an experiment tag."""
        self._call(
            "POST",
            "experiments/delete-experiment-tag",
            {"experiment_id": str(experiment_id), "key": key},
        )

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a run."""
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "user_id": user_id,
            "start_time": start_time,
            "tags": key_values(tags),
        }
        if run_name:
            body["run_name"] = run_name
        with not_found_as(ExperimentNotFound):
            data = self._call("POST", "runs/create", body, idempotent=False)
        return decode.run(data["run"])

    def get_run(self, run_id: str) -> Run:
        """The run with this id."""
        with not_found_as(RunNotFound):
            data = self._call("GET", "runs/get", {"run_id": run_id, "run_uuid": run_id})
        return decode.run(data["run"])

    def update_run_info(
        self,
        run_id: str,
        run_status: str | int | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
        *,
        max_retries: int | None = None,
    ) -> RunInfo:
        """Update status, end time and/or name.

        ``max_retries`` overrides the configured per-request retries (the background writer
        passes 0: it retries on its own schedule and must not stall on one request).
        """
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if run_status is not None:
            body["status"] = RunStatus.normalize(run_status)
        if end_time is not None:
            body["end_time"] = end_time
        if run_name:
            body["run_name"] = run_name
        with not_found_as(RunNotFound):
            data = self._call("POST", "runs/update", body, max_retries=max_retries)
        return decode.run_info(data["run_info"])

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        with not_found_as(RunNotFound):
            self._call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        """Reactivate a run."""
        with not_found_as(RunNotFound):
            self._call("POST", "runs/restore", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        max_retries: int | None = None,
    ) -> None:
        """One log-batch call (the caller keeps within the batch limits).

        ``max_retries`` overrides the configured per-request retries, as for update_run_info.
        """
        body = {
            "run_id": run_id,
            "metrics": [metric_message(m) for m in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        with not_found_as(RunNotFound):
            self._call("POST", "runs/log-batch", body, max_retries=max_retries)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """One metric point."""
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        """One param."""
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """One tag."""
        self.log_batch(run_id, tags=[tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a run tag."""
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets_in: Sequence[DatasetInput]) -> None:
        """Record dataset inputs."""
        body = {
            "run_id": run_id,
            "datasets": [
                {
                    "tags": [{"key": t.key, "value": t.value} for t in item.tags],
                    "dataset": {
                        k: v
                        for k, v in {
                            "name": item.dataset.name,
                            "digest": item.dataset.digest,
                            "source_type": item.dataset.source_type,
                            "source": item.dataset.source,
                            "schema": item.dataset.schema,
                            "profile": item.dataset.profile,
                        }.items()
                        if v is not None
                    },
                }
                for item in datasets_in
            ],
        }
        with not_found_as(RunNotFound):
            self._call("POST", "runs/log-inputs", body)

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        """A metric's history; pages through the server when it pages."""
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, "metric_key": metric_key}
        if max_results is not None:
            body["max_results"] = max_results
        steps: list[int] = []
        stamps: list[int] = []
        values: list[float] = []
        token = page_token
        while True:
            if token:
                body["page_token"] = token
            with not_found_as(RunNotFound):
                data = self._call("GET", "metrics/get-history", body)
            for m in data.get("metrics", ()):
                steps.append(int(m.get("step", 0)))
                stamps.append(int(m.get("timestamp", 0)))
                values.append(decode.double(m.get("value", 0.0)))
            token = data.get("next_page_token")
            if max_results is not None or not token:
                break
        # Here, not at module level: a client that never reads a history (a training script,
        # `runlab run`) should not pay numpy's import (~80 ms) to talk to a server.
        import numpy as np

        return MetricHistory(
            metric_key,
            np.array(steps, dtype=np.int64),
            np.array(stamps, dtype=np.int64),
            np.array(values, dtype=np.float64),
            token=token if max_results is not None else None,
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs."""
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "run_view_type": ViewType.to_string(ViewType.normalize(run_view_type)),
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "runs/search", body)
        return PagedList([decode.run(r) for r in data.get("runs", ())], data.get("next_page_token"))

"""Runs as a store read them: grouped by run, not yet made into :class:`Run` objects."""

from __future__ import annotations

from dataclasses import dataclass

from runlab.entities.dataset import DatasetInput, RunInputs
from runlab.entities.logged_model import LoggedModelInput, LoggedModelOutput, RunOutputs
from runlab.entities.metric import Metric
from runlab.entities.run import Run, RunData, RunInfo


@dataclass(frozen=True, slots=True)
class RunRows:
    """A page of runs as plain values grouped by run id.

    For callers that only re-shape runs, such as the server turning a search page into JSON:
    making a :class:`Run`, its :class:`RunData`, inputs and outputs for each run of a page costs
    about as much as the re-shaping itself. :meth:`runs` makes the entities when they are
    wanted. A run without params (tags, points, inputs…) has no entry in that mapping.
    """

    #: The runs found, in the order they were asked for.
    run_ids: list[str]
    infos: dict[str, RunInfo]
    #: Each run's params and tags, in key order.
    params: dict[str, dict[str, str]]
    tags: dict[str, dict[str, str]]
    #: Each run's latest point of each metric (value, timestamp and step).
    latest_points: dict[str, dict[str, Metric]]
    dataset_inputs: dict[str, list[DatasetInput]]
    model_inputs: dict[str, list[LoggedModelInput]]
    model_outputs: dict[str, list[LoggedModelOutput]]

    @classmethod
    def empty(cls) -> RunRows:
        """No runs."""
        return cls([], {}, {}, {}, {}, {}, {}, {})

    def runs(self) -> list[Run]:
        """The runs as entities, in order."""
        return [self._run(run_id) for run_id in self.run_ids]

    def _run(self, run_id: str) -> Run:
        points = self.latest_points.get(run_id, {})
        return Run(
            info=self.infos[run_id],
            data=RunData(
                metrics={key: point.value for key, point in points.items()},
                params=self.params.get(run_id, {}),
                tags=self.tags.get(run_id, {}),
                latest_points=points,
            ),
            inputs=RunInputs(
                dataset_inputs=self.dataset_inputs.get(run_id, []),
                model_inputs=self.model_inputs.get(run_id, []),
            ),
            outputs=RunOutputs(model_outputs=self.model_outputs.get(run_id, [])),
        )

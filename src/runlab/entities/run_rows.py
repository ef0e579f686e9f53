"""Runs as a store read them: rows by run, not yet made into :class:`Run` objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runlab.entities.dataset import DatasetInput, RunInputs
from runlab.entities.logged_model import LoggedModelInput, LoggedModelOutput, RunOutputs
from runlab.entities.metric import Metric
from runlab.entities.run import Run, RunData, RunInfo

#: ``(run_id, key, value)``: one param or tag.
KeyValueRow = tuple[str, str, str]
#: ``(run_id, key, value, timestamp, step)``: a metric's latest point (value a float, NaN and
#: the infinities included).
PointRow = tuple[str, str, float, int, int]


@dataclass(frozen=True, slots=True)
class RunRows:
    """A page of runs as the rows they were read from.

    For callers that only re-shape runs, such as the server turning a search page into JSON:
    grouping a page's params, tags and points by run into dicts, then making a :class:`Run`,
    its :class:`RunData`, inputs and outputs for each, costs more than the re-shaping itself,
    so the rows are kept as read and each caller makes one pass over them. :meth:`runs` makes
    the entities when they are wanted. A run without params (tags, points, inputs…) has no
    row (entry) for them.
    """

    #: The runs found, in the order they were asked for.
    run_ids: list[str]
    infos: dict[str, RunInfo]
    #: Every param of these runs: each run's rows together, in key order.
    param_rows: Sequence[KeyValueRow]
    #: Every tag of these runs, as the params.
    tag_rows: Sequence[KeyValueRow]
    #: Each metric's latest point, in the order the database gave them (runs may interleave).
    point_rows: Sequence[PointRow]
    dataset_inputs: dict[str, list[DatasetInput]]
    model_inputs: dict[str, list[LoggedModelInput]]
    model_outputs: dict[str, list[LoggedModelOutput]]

    @classmethod
    def empty(cls) -> RunRows:
        """No runs."""
        return cls([], {}, [], [], [], {}, {}, {})

    def runs(self) -> list[Run]:
        """The runs as entities, in order."""
        params = _by_run(self.param_rows)
        tags = _by_run(self.tag_rows)
        points: dict[str, dict[str, Metric]] = {}
        for run_id, key, value, timestamp, step in self.point_rows:
            points.setdefault(run_id, {})[key] = Metric(key, value, timestamp, step)
        return [
            Run(
                info=self.infos[run_id],
                data=RunData(
                    metrics={key: point.value for key, point in points.get(run_id, {}).items()},
                    params=params.get(run_id, {}),
                    tags=tags.get(run_id, {}),
                    latest_points=points.get(run_id, {}),
                ),
                inputs=RunInputs(
                    dataset_inputs=self.dataset_inputs.get(run_id, []),
                    model_inputs=self.model_inputs.get(run_id, []),
                ),
                outputs=RunOutputs(model_outputs=self.model_outputs.get(run_id, [])),
            )
            for run_id in self.run_ids
        ]


def _by_run(rows: Sequence[KeyValueRow]) -> dict[str, dict[str, str]]:
    """(run_id, key, value) rows as one {key: value} dict per run, keys in row order."""
    out: dict[str, dict[str, str]] = {}
    for run_id, key, value in rows:
        out.setdefault(run_id, {})[key] = value
    return out

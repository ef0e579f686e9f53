"""A metric's history as columns, turned into Metric points only when they are read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from runlab.entities.metric import Metric

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class MetricHistory(Sequence[Metric]):
    """Every point of one metric, ordered by (timestamp, step, value).

    It behaves like the list of :class:`Metric` that MLflow returns (``len``, indexing, slicing,
    iteration, equality with a list), but keeps the points as three NumPy columns: a
    million-point history costs a few megabytes and no Python objects until you read it. Plotting
    code can use the columns directly: ``steps``, ``timestamps``, ``values``.

    ``token`` is the next page's token when the history was fetched with ``max_results``.
    """

    __slots__ = ("_key", "_run_id", "steps", "timestamps", "token", "values")

    def __init__(
        self,
        key: str,
        steps: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        token: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self._key = key
        self._run_id = run_id
        self.steps = steps
        self.timestamps = timestamps
        self.values = values
        self.token = token

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> Metric: ...

    @overload
    def __getitem__(self, index: slice) -> list[Metric]: ...

    def __getitem__(self, index: int | slice) -> Metric | list[Metric]:
        if isinstance(index, slice):
            return list(self._points(self.steps[index], self.timestamps[index], self.values[index]))
        return Metric(
            self._key,
            float(self.values[index]),
            int(self.timestamps[index]),
            int(self.steps[index]),
        )

    def __iter__(self) -> Iterator[Metric]:
        return self._points(self.steps, self.timestamps, self.values)

    def _points(self, steps: Any, timestamps: Any, values: Any) -> Iterator[Metric]:
        make = tuple.__new__
        key = self._key
        none = None
        for value, timestamp, step in zip(
            values.tolist(), timestamps.tolist(), steps.tolist(), strict=True
        ):
            yield make(Metric, (key, value, timestamp, step, none, none, none, none))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<MetricHistory key={self._key!r} points={len(self)}>"

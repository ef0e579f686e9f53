"""MetricColumns: a batch held as columns reads like a list of Metric."""

from __future__ import annotations

import pytest

from runlab.entities import Metric, MetricColumns


def test_reads_as_a_sequence_of_metrics() -> None:
    columns = MetricColumns(["a", "b", "a"], [1.0, 2.0, 3.0], [10, 11, 12], [0, 0, 1])
    expected = [Metric("a", 1.0, 10, 0), Metric("b", 2.0, 11, 0), Metric("a", 3.0, 12, 1)]
    assert len(columns) == 3
    assert list(columns) == expected
    assert columns[1] == expected[1] and columns[-1] == expected[2]
    assert list(columns[1:]) == expected[1:]
    assert isinstance(columns[1:], MetricColumns)
    assert Metric("b", 2.0, 11, 0) in columns
    assert repr(columns) == "MetricColumns(3 points)"
    with pytest.raises(IndexError):
        columns[3]


def test_columns_must_be_equally_long() -> None:
    with pytest.raises(ValueError, match="equally long"):
        MetricColumns(["a"], [1.0, 2.0], [1], [0])

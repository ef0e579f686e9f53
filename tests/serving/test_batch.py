"""Batch scoring's pieces: formats, chunk joining, table output and atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runlab.errors import InvalidParameter
from runlab.serving.batch import (
    DEFAULT_CHUNK_ROWS,
    chunk_rows,
    format_of,
    predict_in_chunks,
    predictions_frame,
    write_atomically,
)


class Doubler:
    """A stand-in for a loaded model: anything with ``predict(data, params)`` is scored."""

    def __init__(self, output: str = "array") -> None:
        self.output = output
        self.calls = 0

    def predict(self, data: object, params: object = None) -> object:
        self.calls += 1
        values = np.asarray(data)[:, 0] * 2
        if self.output == "frame":
            return pd.DataFrame({"y": values})
        if self.output == "list":
            return values.tolist()
        return values if self.output == "array" else "summary"


def test_format_from_extension_or_given() -> None:
    assert format_of("a.JSON") == "json" and format_of("a.pq") == "parquet"
    assert format_of("a.txt", "csv") == "csv"
    with pytest.raises(InvalidParameter, match="Cannot tell the format"):
        format_of("a.txt")


@pytest.mark.parametrize("output", ["array", "frame", "list"])
def test_chunks_are_joined_in_order(output: str) -> None:
    data = pd.DataFrame({"x": np.arange(10.0)})
    model = Doubler(output)
    seen: list[tuple[int, int]] = []
    result = predict_in_chunks(
        model, data, chunk_size=3, on_progress=lambda d, t: seen.append((d, t))
    )
    assert model.calls == 4
    assert seen == [(3, 10), (6, 10), (9, 10), (10, 10)]
    values = result["y"].tolist() if output == "frame" else list(result)
    assert values == [2.0 * i for i in range(10)]


def test_only_row_independent_models_are_split_unless_asked() -> None:
    class Independent(Doubler):
        rows_are_independent = True

    assert chunk_rows(Independent(), None) == DEFAULT_CHUNK_ROWS
    assert chunk_rows(Doubler(), None) is None  # a custom model may compute across rows
    assert chunk_rows(Doubler(), 500) == 500
    assert chunk_rows(Independent(), 0) is None
    model = Doubler()
    predict_in_chunks(model, np.zeros((30, 1)), chunk_size=None)
    assert model.calls == 1


def test_outputs_that_cannot_be_joined_ask_for_one_call() -> None:
    data = np.arange(10.0).reshape(10, 1)
    with pytest.raises(InvalidParameter, match="--chunk-size 0"):
        predict_in_chunks(Doubler("other"), data, chunk_size=4)
    assert predict_in_chunks(Doubler("other"), data, chunk_size=10) == "summary"


def test_predictions_as_tables() -> None:
    assert predictions_frame(np.array([1, 2])).columns.tolist() == ["prediction"]
    assert predictions_frame([[1, 2], [3, 4]]).columns.tolist() == ["0", "1"]
    assert predictions_frame(pd.Series([1], name="p")).columns.tolist() == ["p"]
    assert predictions_frame({"a": [1, 2], "b": [3, 4]}).shape == (2, 2)
    for not_a_table in ("text", {"a": [1], "b": [1, 2]}):
        with pytest.raises(InvalidParameter, match="not a table"):
            predictions_frame(not_a_table)


def test_write_atomically_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), write_atomically(target) as temp:
        temp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    with write_atomically(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]

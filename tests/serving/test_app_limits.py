"""The scoring app refuses oversized requests and missing required values before the model runs.

The model here is :class:`~serving.scoring_support.Recorder` (a required double ``x``, an
optional double ``y``), which keeps every input it is given: a refused request must leave it
with none.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runlab.serving import ScoringSettings
from serving.scoring_support import (
    error_of,
    load_for_serving,
    post_json,
    save_recorder_model,
    scoring_client,
)
from support.asgi_api import Api

CSV = {"Content-Type": "text/csv"}
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def recorder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_recorder_model(tmp_path_factory.mktemp("recorder") / "model")


class Served:
    """A freshly loaded Recorder behind its own scoring app."""

    def __init__(self, portal: Any, path: Path, settings: ScoringSettings | None = None) -> None:
        self.model = load_for_serving(path)
        self.api = Api(portal, scoring_client(self.model, settings))

    @property
    def inputs(self) -> list[dict[str, list[Any]]]:
        """What the model was given, request by request."""
        recorded: list[dict[str, list[Any]]] = self.model.unwrap_python_model().inputs
        return recorded


@pytest.fixture
def served(portal: Any, recorder_path: Path) -> Served:
    return Served(portal, recorder_path)


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# -- columns and rows -----------------------------------------------------------------------------
def test_a_wide_csv_is_refused_before_it_is_read(served: Served) -> None:
    """100,000 columns in about 690 KB of CSV: refused by the default limit, from its header."""
    header = ",".join(f"c{i}" for i in range(100_000))
    body = f"{header}\n{','.join(['1'] * 100_000)}\n".encode()
    assert 680_000 < len(body) < 1_000_000
    message = error_of(served.api.post("/invocations", content=body, headers=CSV), 400)
    assert message.startswith("The request holds more than 10,000 columns;")
    assert "`runlab models serve --max-columns N`" in message
    assert served.inputs == []
    assert served.api.get("/ping").status_code == 200
    answer = served.api.post("/invocations", content=b"x\n1.5\n", headers=CSV)
    assert answer.json() == {"predictions": [1.5]}


def test_the_column_limit_is_a_setting(portal: Any, recorder_path: Path) -> None:
    served = Served(portal, recorder_path, ScoringSettings(max_columns=2))
    three = {"dataframe_records": [{"x": 1.0, "y": 2.0, "z": 3.0}]}
    message = error_of(post_json(served.api, three), 400)
    assert "more than 2 columns" in message and "--max-columns" in message
    assert served.inputs == []
    two = {"dataframe_records": [{"x": 1.0, "y": 2.0}]}
    assert post_json(served.api, two).json() == {"predictions": [3.0]}


@pytest.mark.parametrize("mode", ["batched", "thread", "inline"])
def test_the_row_limit_is_a_setting(portal: Any, recorder_path: Path, mode: str) -> None:
    served = Served(portal, recorder_path, ScoringSettings(max_rows=3, predict_mode=mode))
    four_rows = [
        (json.dumps({"inputs": [[1.0], [2.0], [3.0], [4.0]]}).encode(), "application/json"),
        (b"x\n1\n2\n3\n4\n", "text/csv"),
        (_parquet(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})), PARQUET["Content-Type"]),
    ]
    for body, content_type in four_rows:
        response = served.api.post(
            "/invocations", content=body, headers={"Content-Type": content_type}
        )
        message = error_of(response, 400)
        assert "more than 3 rows" in message and "--max-rows" in message
    assert served.inputs == []
    response = served.api.post("/invocations", content=b"x\n1\n2\n3\n", headers=CSV)
    assert response.json() == {"predictions": [1.0, 2.0, 3.0]}
    assert served.inputs == [{"x": [1.0, 2.0, 3.0]}]


# -- missing values in required columns -----------------------------------------------------------
NULL_X = {
    "split-null": (
        json.dumps({"dataframe_split": {"columns": ["x", "y"], "data": [[1.0, 2.0], [None, 1.0]]}}),
        "application/json",
    ),
    "records-null": (
        json.dumps({"dataframe_records": [{"x": 1.0}, {"x": None}]}),
        "application/json",
    ),
    "records-absent": (
        json.dumps({"dataframe_records": [{"x": 1.0, "y": 1.0}, {"y": 2.0}]}),
        "application/json",
    ),
    "inputs-null": (json.dumps({"inputs": {"x": [1.0, None]}}), "application/json"),
    "python-nan": ('{"dataframe_records": [{"x": 1.0}, {"x": NaN}]}', "application/json"),
    "csv-empty-cell": ("x,y\n1.0,2.0\n,3.0\n", "text/csv"),
    "csv-nan": ("x\n1.0\nNaN\n", "text/csv"),
}


@pytest.mark.parametrize("body", list(NULL_X))
def test_a_missing_value_for_a_required_double_is_refused(served: Served, body: str) -> None:
    content, content_type = NULL_X[body]
    response = served.api.post(
        "/invocations", content=content, headers={"Content-Type": content_type}
    )
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        "Input column 'x' expects type 'double': it is required but has 1 missing value(s) "
        "(null, NaN or an empty cell)."
    )
    assert served.inputs == []


@pytest.mark.parametrize("mode", ["batched", "thread", "inline"])
def test_every_predict_mode_refuses_a_missing_required_value(
    portal: Any, recorder_path: Path, mode: str
) -> None:
    served = Served(portal, recorder_path, ScoringSettings(predict_mode=mode))
    parquet = _parquet(pd.DataFrame({"x": [np.nan, 1.0]}))
    response = served.api.post("/invocations", content=parquet, headers=PARQUET)
    assert "column 'x'" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert served.inputs == []


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (json.dumps({"dataframe_records": [{"x": 1.0, "y": None}, {"x": 2.0, "y": 0.5}]}), "json"),
        (
            json.dumps({"dataframe_split": {"columns": ["x", "y"], "data": [[1, None], [2, 0.5]]}}),
            "json",
        ),
        ("x,y\n1.0,\n2.0,0.5\n", "csv"),
    ],
    ids=["records", "split", "csv"],
)
def test_a_missing_value_in_an_optional_column_is_scored(
    served: Served, content: str, content_type: str
) -> None:
    headers = {"Content-Type": "text/csv" if content_type == "csv" else "application/json"}
    response = served.api.post("/invocations", content=content, headers=headers)
    assert response.json() == {"predictions": [1.0, 2.5]}
    (given,) = served.inputs
    assert given["x"] == [1.0, 2.0]
    assert np.isnan(given["y"][0]) and given["y"][1] == 0.5


def test_an_optional_column_may_be_left_out(served: Served) -> None:
    response = post_json(served.api, {"dataframe_records": [{"x": 1.0}, {"x": 2.0}]})
    assert response.json() == {"predictions": [1.0, 2.0]}
    assert served.inputs == [{"x": [1.0, 2.0]}]

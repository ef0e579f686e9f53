"""The run page's Datasets section, rendered by the real app over a real SQLite store.

A dataset's source, schema and profile are JSON that any client may have written, so besides
runlab's own records the page is fed MLflow-style records of other source types and text that is
not the JSON it should be; it must render them all.
"""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

import runlab
from runlab.entities import Dataset, DatasetInput, InputTag
from runlab.server.ui.dataset_summaries import (
    dataset_summaries,
    profile_pairs,
    schema_summary,
    source_text,
)
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

START = 1_700_000_000_000


def _section(page: str) -> str:
    match = re.search(r'<section id="datasets".*?</section>', page, re.S)
    assert match, "no datasets section"
    return match.group(0)


def _rows(section: str) -> list[list[str]]:
    rows = []
    for row in re.findall(r"<tr data-dataset-name.*?</tr>", section, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


@pytest.fixture
def run_id(sqlite_store: SqlTrackingStore) -> str:
    run = sqlite_store.create_run("0", "alice", START, [], "with-data")
    return run.info.run_id


def test_runlab_datasets_show_name_digest_context_source_schema_and_profile(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    frame = pd.DataFrame({"age": [31, 45], "score": [0.5, 0.25], "name": ["a", "b"]})
    table = runlab.data.from_pandas(frame, source="s3://bucket/train.csv", name="train")
    arrays = runlab.data.from_numpy(
        np.zeros((5, 3)), targets=np.array([0, 1, 0, 1, 1]), source="/data/x.npy", name="arrays"
    )
    sqlite_store.log_inputs(
        run_id,
        [
            runlab.data.dataset_input(table, "training", {"split": "a"}),
            runlab.data.dataset_input(arrays, "evaluation"),
        ],
    )
    page = api.get(f"/runs/{run_id}")
    assert page.status_code == 200
    section = _section(page.text)
    assert 'Datasets <span class="count">2</span>' in section
    assert '<a href="#datasets">Datasets</a>' in page.text
    rows = {row[0].split()[0]: row for row in _rows(section)}
    assert rows["train"] == [
        "train split: a",
        table.digest,
        "training",
        "s3 s3://bucket/train.csv",
        "3 columns: age (long), score (double), name (string) age long score double name string",
        "num_rows 2 num_elements 6",
    ]
    assert rows["arrays"][1:5] == [
        arrays.digest,
        "evaluation",
        "local /data/x.npy",
        "features: float64 [-1, 3]; targets: int64 [-1] features float64 [-1, 3] targets int64 [-1]",
    ]
    assert rows["arrays"][5].startswith("features_shape [5,3] features_size 15")
    # The full column list sits in a closed <details> under the one-line summary.
    assert '<details class="dataset-schema"><summary>3 columns:' in section


def test_a_code_source_names_the_script(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    tags = {"mlflow.source.name": "train.py", "mlflow.source.git.commit": "0123456789abcdef0123"}
    record = Dataset("mem", "abc12345", "code", json.dumps({"tags": tags}))
    sqlite_store.log_inputs(run_id, [DatasetInput(record)])
    [row] = _rows(_section(api.get(f"/runs/{run_id}").text))
    assert row == ["mem", "abc12345", "—", "code train.py @ 0123456789ab", "—", "—"]


def test_foreign_and_malformed_records_still_render(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    deep = "[" * 5000 + "]" * 5000  # json.loads would recurse too deep on this
    records = [
        Dataset("delta", "d1", "delta_table", '{"path": "/mnt/delta/t", "version": 4}'),
        Dataset("broken", "d2", "mystery", "{not json", schema="{also not", profile="[1, 2"),
        Dataset("deep", "d3", "local", deep, schema=deep, profile=deep),
        Dataset("odd", "d4", "local", '{"uri": 5}', schema='{"mlflow_colspec": 3}', profile='"x"'),
    ]
    sqlite_store.log_inputs(run_id, [DatasetInput(r) for r in records])
    page = api.get(f"/runs/{run_id}")
    assert page.status_code == 200
    rows = {row[0]: row for row in _rows(_section(page.text))}
    assert rows["delta"][3] == "delta_table /mnt/delta/t"
    assert rows["broken"][3:] == ["mystery {not json", "{also not", "[1, 2"]
    assert rows["deep"][3].startswith("local [[[[") and rows["deep"][3].endswith("…")
    assert rows["odd"][3:] == ['local {"uri": 5}', '{"mlflow_colspec": 3}', '"x"']


def test_names_values_and_tags_are_escaped(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    evil = "<script>alert(1)</script>"
    record = Dataset(evil, "d", "local", json.dumps({"uri": evil}), profile=json.dumps({evil: 1}))
    sqlite_store.log_inputs(
        run_id,
        [DatasetInput(record, [InputTag("mlflow.data.context", evil), InputTag(evil, evil)])],
    )
    section = _section(api.get(f"/runs/{run_id}").text)
    assert evil not in section
    assert section.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6


def test_a_run_without_datasets(api: Api, run_id: str) -> None:
    section = _section(api.get(f"/runs/{run_id}").text)
    assert "No datasets recorded for this run." in section
    assert 'Datasets <span class="count">0</span>' in section


# -- the summaries themselves ----------------------------------------------------------------------


def test_long_column_lists_are_shortened_in_the_summary() -> None:
    specs = [{"type": "double", "name": f"c{i}", "required": i % 2 == 0} for i in range(9)]
    line, items = schema_summary(json.dumps({"mlflow_colspec": specs}))
    assert line == (
        "9 columns: c0 (double), c1 (double, optional), c2 (double), c3 (double, optional), "
        "c4 (double), c5 (double, optional), … 3 more"
    )
    assert len(items) == 9 and items[8] == ("c8", "double")


def test_named_tensors_and_arrays_of_items() -> None:
    features = json.dumps(
        [
            {"name": "ids", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}},
            {"name": "img", "type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 2]}},
        ]
    )
    line, _ = schema_summary(json.dumps({"mlflow_tensorspec": {"features": features}}))
    assert line == "features.ids: int64 [-1]; features.img: uint8 [-1, 2]"
    colspec = [{"type": "array", "items": {"type": "string"}, "name": "tokens"}]
    assert schema_summary(json.dumps({"mlflow_colspec": colspec}))[0] == "1 column: tokens (array)"


def test_empty_fields() -> None:
    assert schema_summary(None) == ("—", [])
    assert profile_pairs(None) == []
    assert source_text("local", "") == "—"
    item = DatasetInput(Dataset("n", "d", "", "{}"))
    [summary] = dataset_summaries([item])
    assert summary.source_type == "—" and summary.context is None and summary.tags == []

"""Datasets, tables and artifact reading between runlab's client and MLflow's, via runlab server.

One ``runlab server`` process (proxying artifacts, so runs get ``mlflow-artifacts:/`` roots)
serves both clients: what runlab's fluent API logs, the real MLflow client (``mlflow-skinny``
3.17.2) reads, and the other way round:

- ``runlab.log_input`` → ``MlflowClient().get_run(...).inputs.dataset_inputs``;
- ``mlflow.log_input(mlflow.data.from_pandas(...))`` → runlab's ``get_run`` and the run page;
- ``runlab.log_table`` ↔ ``mlflow.load_table`` and ``mlflow.log_table`` ↔ ``runlab.load_table``;
- ``runlab.artifacts.download_artifacts``/``list_artifacts``/``load_*`` over the artifact proxy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import runlab
from support.servers import ProxiedRunlabServer
from support.tracking_state import reset_tracking_state


@pytest.fixture(autouse=True)
def runlab_at_server(runlab_server: ProxiedRunlabServer) -> Iterator[str]:
    """runlab's fluent API pointed at this module's server; its state reset afterwards."""
    reset_tracking_state()
    runlab.set_tracking_uri(runlab_server.url)
    try:
        yield runlab_server.url
    finally:
        reset_tracking_state()


@pytest.fixture
def experiment() -> str:
    """A fresh experiment, made current for both clients; returns its name."""
    name = f"data-{uuid.uuid4().hex[:12]}"
    runlab.set_experiment(name)
    mlflow.set_experiment(name)
    return name


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0, 1, 0], "name": ["a", "b", "c"]})


# -- datasets ------------------------------------------------------------------------------------


def test_runlab_logged_datasets_read_by_mlflow(experiment: str, frame: pd.DataFrame) -> None:
    table = runlab.data.from_pandas(
        frame, source="s3://bucket/train.csv", targets="label", name="train"
    )
    arrays = runlab.data.from_numpy(np.eye(3), targets=np.arange(3), name="arrays")
    with runlab.start_run() as run:
        runlab.log_input(table, context="training", tags={"split": "a"})
        runlab.log_input(arrays, context="evaluation")

    inputs = MlflowClient().get_run(run.info.run_id).inputs
    assert inputs is not None
    got = {item.dataset.name: item for item in inputs.dataset_inputs}
    assert set(got) == {"train", "arrays"}
    for ours in (table, arrays):
        theirs = got[ours.name].dataset
        record = ours.to_dict()
        assert (theirs.digest, theirs.source_type, theirs.source) == (
            record["digest"],
            record["source_type"],
            record["source"],
        )
        assert json.loads(theirs.schema) == json.loads(str(record["schema"]))
        assert json.loads(theirs.profile) == json.loads(str(record["profile"]))
    assert {(t.key, t.value) for t in got["train"].tags} == {
        ("mlflow.data.context", "training"),
        ("split", "a"),
    }
    # MLflow understands runlab's source records.
    source = mlflow.data.get_source(got["train"])
    assert source.to_dict() == {"uri": "s3://bucket/train.csv"}
    found = MlflowClient().search_runs(
        [run.info.experiment_id], "datasets.name = 'train' AND datasets.context = 'training'"
    )
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_mlflow_logged_datasets_read_by_runlab_and_shown(
    experiment: str, frame: pd.DataFrame, runlab_server: ProxiedRunlabServer
) -> None:
    # No integer column: MLflow warns about those while inferring the schema, and under
    # filterwarnings=error the warning would cost the dataset its schema.
    frame = frame.drop(columns=["label"])
    dataset = mlflow.data.from_pandas(frame, source="https://example.com/d.csv", name="mlf-set")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")

    [item] = runlab.get_run(run.info.run_id).inputs.dataset_inputs
    assert (item.dataset.name, item.dataset.digest) == ("mlf-set", dataset.digest)
    assert item.dataset.source_type == "http"
    assert runlab.data.get_source(item).to_dict() == {"url": "https://example.com/d.csv"}
    assert json.loads(item.dataset.profile or "") == {"num_rows": 3, "num_elements": 6}
    assert item.dataset.schema == dataset.to_dict()["schema"]

    page = httpx.get(f"{runlab_server.url}/runs/{run.info.run_id}", timeout=30)
    assert page.status_code == 200
    section = page.text.split('<section id="datasets"', 1)[1].split("</section>", 1)[0]
    assert f'data-dataset-name="mlf-set" data-dataset-digest="{dataset.digest}"' in section
    assert "training" in section and "https://example.com/d.csv" in section
    assert "2 columns: x (double), name (string)" in section


# -- tables --------------------------------------------------------------------------------------


# MLflow 3.17.2's log_table calls select_dtypes(include=["object"]), which pandas 3 deprecates.
@pytest.mark.filterwarnings(
    "ignore:For backward compatibility, 'str' dtypes are included:pandas.errors.Pandas4Warning"
)
def test_tables_cross_between_the_clients(experiment: str) -> None:
    with runlab.start_run() as ours:
        runlab.log_table({"q": ["a", "b"], "score": [0.5, 1.0]}, "eval/results.json")
    with mlflow.start_run() as theirs:
        mlflow.log_table({"q": ["c"], "score": [0.25]}, "eval/results.json")

    # MLflow reads runlab's table (and its tag) like its own, and runlab reads MLflow's.
    from_mlflow = mlflow.load_table("eval/results.json", extra_columns=["run_id"])
    from_runlab = runlab.load_table("eval/results.json", extra_columns=["run_id"])
    for loaded in (from_mlflow, from_runlab):
        rows = sorted(zip(loaded["q"], loaded["score"], loaded["run_id"], strict=True))
        assert rows == [
            ("a", 0.5, ours.info.run_id),
            ("b", 1.0, ours.info.run_id),
            ("c", 0.25, theirs.info.run_id),
        ]
    assert (
        MlflowClient().get_run(ours.info.run_id).data.tags["mlflow.loggedArtifacts"]
        == MlflowClient().get_run(theirs.info.run_id).data.tags["mlflow.loggedArtifacts"]
    )


# -- reading artifacts through the proxy ---------------------------------------------------------


def test_runlab_reads_artifacts_through_the_proxy(
    experiment: str, tmp_path: Path, runlab_server: ProxiedRunlabServer
) -> None:
    pil = pytest.importorskip("PIL.Image")
    with runlab.start_run() as run:
        runlab.log_text("hello", "notes/a b.txt")
        runlab.log_dict({"lr": 0.1}, "config.yaml")
        runlab.log_image(pil.new("RGB", (3, 2), (0, 255, 0)), "img/green.png")
    with mlflow.start_run() as theirs:
        mlflow.log_dict({"from": "mlflow"}, "theirs.json")
    run_id = run.info.run_id
    root = runlab.get_run(run_id).info.artifact_uri
    assert root.startswith("mlflow-artifacts:/")

    listed = runlab.artifacts.list_artifacts(run_id=run_id)
    assert [(i.path, i.is_dir) for i in listed] == [
        ("config.yaml", False),
        ("img", True),
        ("notes", True),
    ]
    assert [i.path for i in runlab.artifacts.list_artifacts(f"runs:/{run_id}/notes")] == [
        "notes/a b.txt"
    ]
    assert runlab.artifacts.load_text(f"runs:/{run_id}/notes/a b.txt") == "hello"
    assert runlab.artifacts.load_text(root + "/notes/a%20b.txt") == "hello"
    # The proxy's own http address of the same file.
    proxied = root.replace(
        "mlflow-artifacts:", f"{runlab_server.url}/api/2.0/mlflow-artifacts/artifacts", 1
    )
    assert runlab.artifacts.load_text(proxied + "/notes/a%20b.txt") == "hello"
    assert [i.path for i in runlab.artifacts.list_artifacts(proxied + "/img")] == ["img/green.png"]
    assert runlab.artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {"lr": 0.1}
    image = runlab.artifacts.load_image(f"runs:/{run_id}/img/green.png")
    assert image.size == (3, 2) and image.getpixel((1, 1)) == (0, 255, 0)
    got = runlab.artifacts.download_artifacts(f"runs:/{run_id}/notes", dst_path=tmp_path / "d")
    assert Path(got) == tmp_path / "d" / "notes"
    assert (Path(got) / "a b.txt").read_text() == "hello"
    assert runlab.artifacts.load_dict(f"runs:/{theirs.info.run_id}/theirs.json") == {
        "from": "mlflow"
    }
    # And MLflow's readers see what runlab logged.
    theirs_listed = mlflow.artifacts.list_artifacts(run_id=run_id)
    assert [(i.path, i.is_dir) for i in theirs_listed] == [(i.path, i.is_dir) for i in listed]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/a b.txt") == "hello"

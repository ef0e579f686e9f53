"""``runlab.log_input`` / ``log_inputs``: datasets a run used, on every database backend.

The same through ``runlab server`` and the real MLflow client is in
tests/compat/test_mlflow_client_datasets.py.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

import runlab
from runlab.entities import DatasetInput, InputTag, LoggedModelInput
from runlab.errors import InvalidParameter, NotFound
from runlab.tracking import Client


@pytest.fixture
def backend_client(db_url: str) -> Client:
    runlab.set_tracking_uri(db_url)
    return Client(db_url)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})


def _inputs(client: Client, run_id: str) -> dict[str, DatasetInput]:
    return {item.dataset.name: item for item in client.get_run(run_id).inputs.dataset_inputs}


def test_a_logged_dataset_comes_back_with_mlflows_fields(
    backend_client: Client, frame: pd.DataFrame
) -> None:
    dataset = runlab.data.from_pandas(
        frame, source="s3://bucket/train.csv", targets="y", name="train"
    )
    runlab.set_experiment("datasets")
    with runlab.start_run() as run:
        runlab.log_metric("loss", 0.5)
        runlab.log_input(dataset, context="training", tags={"split": "a", "fold": 2})

    [item] = backend_client.get_run(run.info.run_id).inputs.dataset_inputs
    assert item.dataset == dataset.to_entity()
    assert item.dataset.source_type == "s3"
    assert json.loads(item.dataset.source) == {"uri": "s3://bucket/train.csv"}
    assert json.loads(item.dataset.profile or "") == {"num_rows": 3, "num_elements": 6}
    assert json.loads(item.dataset.schema or "")["mlflow_colspec"][0]["name"] == "x"
    assert sorted((t.key, t.value) for t in item.tags) == [
        ("fold", "2"),
        ("mlflow.data.context", "training"),
        ("split", "a"),
    ]
    # The run's metric logged before the input arrived too, and search sees the dataset.
    assert backend_client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    found = runlab.search_runs(
        filter_string="datasets.name = 'train' AND datasets.context = 'training'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_numpy_datasets_and_logging_one_twice(backend_client: Client) -> None:
    features = np.arange(12.0).reshape(4, 3)
    dataset = runlab.data.from_numpy(features, targets=np.array([0, 1, 0, 1]), name="arrays")
    with runlab.start_run() as run:
        runlab.log_input(dataset, context="training")
        runlab.log_input(dataset, context="evaluation", tags={"note": "again"})

    inputs = _inputs(backend_client, run.info.run_id)
    assert list(inputs) == ["arrays"]  # one input per dataset; the second call updates its tags
    assert {(t.key, t.value) for t in inputs["arrays"].tags} == {
        ("mlflow.data.context", "evaluation"),
        ("note", "again"),
    }
    profile = json.loads(inputs["arrays"].dataset.profile or "")
    assert profile["features_shape"] == [4, 3] and profile["targets_size"] == 4


def test_log_inputs_records_several_at_once(backend_client: Client, frame: pd.DataFrame) -> None:
    train = runlab.data.from_pandas(frame, name="train")
    test = runlab.data.from_pandas(frame.iloc[:1], name="test")
    with runlab.start_run() as run:
        runlab.log_inputs([train, test], contexts=["training", None], tags_list=[None, {"k": "v"}])

    inputs = _inputs(backend_client, run.info.run_id)
    assert inputs["train"].tags == [InputTag("mlflow.data.context", "training")]
    assert inputs["test"].tags == [InputTag("k", "v")]
    assert inputs["train"].dataset.digest != inputs["test"].dataset.digest


def test_a_dataset_used_by_two_runs_is_kept_once_per_experiment(
    backend_client: Client, frame: pd.DataFrame
) -> None:
    dataset = runlab.data.from_pandas(frame, name="shared")
    runs = []
    for context in ("training", "evaluation"):
        with runlab.start_run() as run:
            runlab.log_input(dataset, context=context)
        runs.append(run.info.run_id)
    first, second = (_inputs(backend_client, r)["shared"] for r in runs)
    assert first.dataset == second.dataset
    assert first.tags != second.tags


def test_a_logged_model_as_input(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    store: Any = client.store
    model = store.create_logged_model("0", name="teacher")
    with runlab.start_run(run_id=run_id):
        runlab.log_input(model=LoggedModelInput(model.model_id))
    assert client.get_run(run_id).inputs.model_inputs == [LoggedModelInput(model.model_id)]


def test_an_unknown_model_writes_no_dataset_either(client: Client, frame: pd.DataFrame) -> None:
    dataset = runlab.data.from_pandas(frame, name="train")
    with runlab.start_run() as run, pytest.raises(NotFound):
        runlab.log_input(dataset, model=LoggedModelInput("m-" + "0" * 32))
    run_data = client.get_run(run.info.run_id)
    assert run_data.inputs.dataset_inputs == [] and run_data.inputs.model_inputs == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: runlab.log_input("train.csv"), "takes a dataset from runlab.data"),
        (lambda d: runlab.log_input(d, context="x" * 501), "limit is 500"),
        (lambda d: runlab.log_input(d, tags={"k": None}), "has no value"),
        (lambda d: runlab.log_input(model="m-123"), "must be a LoggedModelInput"),
        (lambda d: runlab.log_inputs([d, d], contexts=["a"]), "one context and one tags entry"),
        (lambda d: runlab.log_inputs([d], tags_list=[None, None]), "one context and one tags"),
        (lambda d: runlab.log_inputs([d, None]), "got None in datasets"),
        (lambda d: runlab.log_inputs([d, "not a dataset"]), "takes a dataset from runlab.data"),
    ],
)
def test_bad_inputs_start_no_run_and_write_nothing(
    client: Client, frame: pd.DataFrame, call: Any, message: str
) -> None:
    dataset = runlab.data.from_pandas(frame)
    with pytest.raises(InvalidParameter, match=message):
        call(dataset)
    assert runlab.active_run() is None
    assert runlab.search_runs(output_format="list") == []


def test_bad_inputs_in_an_active_run_write_nothing(client: Client, frame: pd.DataFrame) -> None:
    good = runlab.data.from_pandas(frame, name="good")
    with runlab.start_run() as run, pytest.raises(InvalidParameter, match="not both"):
        runlab.log_inputs(
            [good, good],
            contexts=[None, "training"],
            tags_list=[None, {"mlflow.data.context": "eval"}],
        )
    assert client.get_run(run.info.run_id).inputs.dataset_inputs == []


def test_nothing_to_log_still_starts_a_run_as_mlflow_does(client: Client) -> None:
    runlab.log_input()
    active = runlab.active_run()
    assert active is not None
    assert client.get_run(active.info.run_id).inputs.dataset_inputs == []
    runlab.end_run()


def test_client_log_inputs_checks_its_arguments(client: Client, frame: pd.DataFrame) -> None:
    run_id = client.create_run("0").info.run_id
    dataset = runlab.data.from_pandas(frame, name="raw")
    with pytest.raises(InvalidParameter, match="takes DatasetInput entities"):
        client.log_inputs(run_id, [dataset])  # type: ignore[list-item]
    with pytest.raises(InvalidParameter, match="LoggedModelInput entities"):
        client.log_inputs(run_id, models=["m-1"])  # type: ignore[list-item]
    client.log_inputs(run_id, [runlab.data.dataset_input(dataset, "training")])
    assert [i.dataset.name for i in client.get_run(run_id).inputs.dataset_inputs] == ["raw"]
    with pytest.raises(NotFound):
        client.log_inputs("f" * 32, [runlab.data.dataset_input(dataset)])

"""``runlab.data``: datasets from pandas and numpy, their digests, sources, schemas and profiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runlab
from runlab.data import (
    NumpyDataset,
    PandasDataset,
    TensorDatasetSchema,
    dataset_input,
    from_numpy,
    from_pandas,
    get_source,
)
from runlab.data.sources import (
    CodeDatasetSource,
    HTTPDatasetSource,
    LocalArtifactDatasetSource,
    OtherDatasetSource,
    UriDatasetSource,
    resolve_source,
    source_from_json,
)
from runlab.entities import Dataset as DatasetEntity
from runlab.entities import DatasetInput, InputTag
from runlab.errors import InvalidParameter


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 27],
            "score": [0.5, 0.75, 0.125],
            "name": ["ann", "bob", "cy"],
            "label": [1, 0, 1],
        }
    )


# -- from_pandas -----------------------------------------------------------------------------------


def test_from_pandas_record_has_mlflows_fields(frame: pd.DataFrame) -> None:
    dataset = from_pandas(frame, source="s3://bucket/train.csv", targets="label", name="train")

    assert isinstance(dataset, PandasDataset)
    assert (dataset.name, dataset.targets, dataset.predictions) == ("train", "label", None)
    assert dataset.df is frame
    record = dataset.to_dict()
    assert set(record) == {"name", "digest", "source", "source_type", "schema", "profile"}
    assert record["name"] == "train" and record["digest"] == dataset.digest
    assert record["source_type"] == "s3"
    assert json.loads(record["source"]) == {"uri": "s3://bucket/train.csv"}
    assert json.loads(record["profile"]) == {"num_rows": 3, "num_elements": 12}
    assert json.loads(record["schema"]) == {
        "mlflow_colspec": [
            {"type": "long", "name": "age", "required": True},
            {"type": "double", "name": "score", "required": True},
            {"type": "string", "name": "name", "required": True},
            {"type": "long", "name": "label", "required": True},
        ]
    }
    assert json.loads(dataset.to_json()) == record
    assert dataset.profile == {"num_rows": 3, "num_elements": 12}
    assert [spec.name for spec in dataset.schema] == ["age", "score", "name", "label"]


def test_entity_conversion(frame: pd.DataFrame) -> None:
    dataset = from_pandas(frame, source="/data/train.csv")
    entity = dataset.to_entity()
    assert isinstance(entity, DatasetEntity)
    assert entity == DatasetEntity(
        name="dataset",
        digest=dataset.digest,
        source_type="local",
        source='{"uri": "/data/train.csv"}',
        schema=dataset.to_dict()["schema"],
        profile='{"num_rows": 3, "num_elements": 12}',
    )
    # MLflow's private name for the same conversion, which integrations call.
    assert dataset._to_mlflow_entity() == entity


def test_without_a_source_the_running_code_is_the_source(frame: pd.DataFrame) -> None:
    source = from_pandas(frame).source
    assert isinstance(source, CodeDatasetSource) and source.source_type == "code"
    assert source.tags["mlflow.source.type"] == "LOCAL"
    assert {"mlflow.user", "mlflow.source.name"} <= set(source.tags)


def test_the_digest_is_8_hex_characters_and_follows_the_content(frame: pd.DataFrame) -> None:
    digest = from_pandas(frame).digest
    assert len(digest) == 8 and int(digest, 16) >= 0
    # The same content gives the same digest, whatever the source or name ...
    assert from_pandas(frame.copy(), source="s3://b/x", name="other").digest == digest
    # ... any change of a value, an order, a column name or a dtype gives another one ...
    changed = frame.copy()
    changed.loc[2, "name"] = "cz"
    variants = [
        changed,
        frame.iloc[::-1],
        frame.rename(columns={"age": "years"}),
        frame.astype({"age": "float64"}),
        frame.iloc[:2],
    ]
    digests = {from_pandas(v).digest for v in variants}
    assert digest not in digests and len(digests) == len(variants)
    # ... also past MLflow's 10,000 sampled rows.
    big = pd.DataFrame({"x": np.arange(20_000)})
    tail_changed = big.copy()
    tail_changed.loc[19_999, "x"] = -1
    assert from_pandas(big).digest != from_pandas(tail_changed).digest


def test_the_digest_is_stable_across_processes(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "frame.pkl"
    frame.to_pickle(path)
    code = (
        "import pandas as pd, runlab.data\n"
        f"print(runlab.data.from_pandas(pd.read_pickle({str(path)!r})).digest)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == from_pandas(frame).digest


def test_cells_that_are_lists_or_dicts_still_digest() -> None:
    frame = pd.DataFrame({"tokens": [[1, 2], [3]], "meta": [{"a": 1}, None]})
    dataset = from_pandas(frame)
    assert len(dataset.digest) == 8
    other = pd.DataFrame({"tokens": [[1, 2], [4]], "meta": [{"a": 1}, None]})
    assert from_pandas(other).digest != dataset.digest


def test_a_given_digest_is_used_as_is(frame: pd.DataFrame) -> None:
    assert from_pandas(frame, digest="v2-2024").digest == "v2-2024"


def test_a_frame_whose_schema_cannot_be_inferred_has_none(frame: pd.DataFrame) -> None:
    frame["empty"] = None
    dataset = from_pandas(frame)
    assert dataset.schema is None and dataset.to_dict()["schema"] is None
    assert json.loads(str(dataset.to_dict()["profile"]))["num_elements"] == 15


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": "missing"}, "no targets column 'missing'"),
        ({"predictions": "pred"}, "no predictions column 'pred'"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"name": "n" * 501}, "at most 500"),
        ({"digest": "d" * 37}, "at most 36"),
        ({"digest": 12}, "digest must be a non-empty string"),
        ({"source": "runs:/abc/data"}, "scheme runs: is not a place"),
        ({"source": 3.5}, "must be a path, a URI or a DatasetSource"),
    ],
)
def test_bad_pandas_arguments(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        from_pandas(frame, **kwargs)


def test_from_pandas_refuses_other_data() -> None:
    with pytest.raises(InvalidParameter, match="takes a pandas DataFrame, got dict"):
        from_pandas({"a": [1]})


# -- from_numpy ------------------------------------------------------------------------------------


def test_from_numpy_arrays() -> None:
    features = np.arange(12.0).reshape(4, 3)
    targets = np.array([0, 1, 0, 1])
    dataset = from_numpy(features, targets=targets, source="https://example.com/x.npz")

    assert isinstance(dataset, NumpyDataset)
    assert dataset.features is features and dataset.targets is targets
    record = dataset.to_dict()
    assert record["source_type"] == "http"
    assert json.loads(record["source"]) == {"url": "https://example.com/x.npz"}
    assert json.loads(record["profile"]) == {
        "features_shape": [4, 3],
        "features_size": 12,
        "features_nbytes": 96,
        "targets_shape": [4],
        "targets_size": 4,
        "targets_nbytes": 32,
    }
    schema = json.loads(record["schema"])["mlflow_tensorspec"]
    assert json.loads(schema["features"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}
    ]
    assert json.loads(schema["targets"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]
    assert TensorDatasetSchema.from_dict(json.loads(record["schema"])) == dataset.schema


def test_from_numpy_dicts_without_targets() -> None:
    features = {"pixels": np.zeros((2, 4, 4), dtype=np.float32), "ids": np.array([7, 8])}
    dataset = from_numpy(features, name="images")
    record = dataset.to_dict()
    assert json.loads(record["profile"]) == {
        "features_shape": {"pixels": [2, 4, 4], "ids": [2]},
        "features_size": {"pixels": 32, "ids": 2},
        "features_nbytes": {"pixels": 128, "ids": 16},
    }
    schema = json.loads(record["schema"])["mlflow_tensorspec"]
    assert schema["targets"] is None
    assert [s["name"] for s in json.loads(schema["features"])] == ["pixels", "ids"]


def test_numpy_digests_follow_content_shape_and_dtype() -> None:
    base = np.arange(6).reshape(2, 3)
    digest = from_numpy(base).digest
    assert len(digest) == 8
    assert from_numpy(base.copy()).digest == digest
    assert from_numpy(np.asfortranarray(base)).digest == digest  # memory layout is not content
    others = {
        from_numpy(base.reshape(3, 2)).digest,
        from_numpy(base.astype(np.int32)).digest,
        from_numpy(base + 1).digest,
        from_numpy(base, targets=np.array([1, 0])).digest,
        from_numpy({"x": base}).digest,
    }
    assert digest not in others and len(others) == 5
    dates = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    assert from_numpy(dates).digest != from_numpy(dates[::-1]).digest


@pytest.mark.parametrize(
    ("features", "targets", "message"),
    [
        ([1, 2, 3], None, "numpy array or a dict of named arrays, got list"),
        ({}, None, "features dict is empty"),
        ({"a": [1]}, None, "'a' maps to list"),
        (np.zeros(3), [0, 1, 0], "targets as a numpy array"),
    ],
)
def test_bad_numpy_arguments(features: object, targets: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        from_numpy(features, targets=targets)


# -- sources ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kind", "source_type", "fields"),
    [
        ("/data/x.csv", LocalArtifactDatasetSource, "local", {"uri": "/data/x.csv"}),
        ("file:///data/x.csv", LocalArtifactDatasetSource, "local", {"uri": "file:///data/x.csv"}),
        ("C:\\data\\x.csv", LocalArtifactDatasetSource, "local", {"uri": "C:\\data\\x.csv"}),
        ("s3://b/x.csv", UriDatasetSource, "s3", {"uri": "s3://b/x.csv"}),
        ("gs://b/x", UriDatasetSource, "gs", {"uri": "gs://b/x"}),
        ("http://h/x", HTTPDatasetSource, "http", {"url": "http://h/x"}),
        ("https://h/x", HTTPDatasetSource, "http", {"url": "https://h/x"}),
    ],
)
def test_source_resolution_and_round_trip(
    given: str, kind: type, source_type: str, fields: dict
) -> None:
    source = resolve_source(given)
    assert isinstance(source, kind)
    assert source.source_type == source_type == source._get_source_type()
    assert source.to_dict() == fields
    assert source_from_json(source_type, source.to_json()) == source


def test_paths_and_source_objects_are_accepted_as_they_are(tmp_path: Path) -> None:
    assert resolve_source(tmp_path).to_dict() == {"uri": str(tmp_path)}
    own = HTTPDatasetSource("https://h/data")
    assert resolve_source(own) is own


def test_unknown_recorded_source_types_are_kept() -> None:
    source = source_from_json("delta_table", '{"path": "/delta", "version": 3}')
    assert isinstance(source, OtherDatasetSource)
    assert source.source_type == "delta_table"
    assert source.to_dict() == {"path": "/delta", "version": 3}
    with pytest.raises(InvalidParameter, match="not valid JSON"):
        source_from_json("local", "{nope")
    with pytest.raises(InvalidParameter, match="JSON object"):
        source_from_json("local", "[1]")


def test_get_source_of_datasets_entities_and_inputs(frame: pd.DataFrame) -> None:
    dataset = from_pandas(frame, source="s3://b/t.parquet")
    assert get_source(dataset) == UriDatasetSource("s3://b/t.parquet")
    assert get_source(dataset.to_entity()) == UriDatasetSource("s3://b/t.parquet")
    assert get_source(DatasetInput(dataset.to_entity())) == UriDatasetSource("s3://b/t.parquet")
    with pytest.raises(InvalidParameter, match="get_source takes"):
        get_source("s3://b/t.parquet")


# -- dataset inputs --------------------------------------------------------------------------------


def test_dataset_input_carries_context_and_tags(frame: pd.DataFrame) -> None:
    dataset = from_pandas(frame, name="train")
    item = dataset_input(dataset, context="training", tags={"split": "a", "fold": 3})
    assert item.dataset == dataset.to_entity()
    assert item.tags == [
        InputTag("mlflow.data.context", "training"),
        InputTag("split", "a"),
        InputTag("fold", "3"),
    ]
    assert dataset_input(dataset).tags == []


def test_dataset_input_accepts_mlflow_style_objects(frame: pd.DataFrame) -> None:
    class Foreign:
        """Anything with MLflow's to_dict(), e.g. a dataset from mlflow.data itself."""

        def to_dict(self) -> dict[str, str]:
            return {"name": "f", "digest": "abc", "source": "{}", "source_type": "code"}

    item = dataset_input(Foreign())
    assert (item.dataset.name, item.dataset.schema, item.dataset.profile) == ("f", None, None)


@pytest.mark.parametrize(
    ("dataset", "context", "tags", "message"),
    [
        ("not a dataset", None, None, "takes a dataset from runlab.data"),
        (None, None, None, "takes a dataset from runlab.data"),
        ("ok", "x" * 501, None, "limit is 500"),
        ("ok", None, {"k": "v" * 501}, "limit is 500"),
        ("ok", None, {"k" * 256: "v"}, "at most 255"),
        ("ok", None, {"": "v"}, "non-empty string"),
        ("ok", None, {"k": None}, "has no value"),
        ("ok", None, ["k"], "must be a dict"),
        ("ok", "training", {"mlflow.data.context": "eval"}, "not both"),
    ],
)
def test_bad_dataset_inputs(
    frame: pd.DataFrame, dataset: object, context: str | None, tags: object, message: str
) -> None:
    real = from_pandas(frame) if dataset == "ok" else dataset
    with pytest.raises(InvalidParameter, match=message):
        dataset_input(real, context, tags)  # type: ignore[arg-type]


def test_reachable_as_mlflow_data() -> None:
    assert runlab.data.from_pandas is from_pandas
    assert runlab.data.from_numpy is from_numpy


def test_importing_runlab_data_loads_neither_pandas_nor_numpy() -> None:
    code = (
        "import json, sys\n"
        "import runlab.data\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'numpy', 'sqlalchemy'})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []

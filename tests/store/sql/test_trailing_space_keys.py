"""Keys and names that differ only by trailing spaces ("lr" and "lr ") stay apart on every backend.

MLflow allows spaces in keys, and SQLite and PostgreSQL compare strings exactly. MySQL/MariaDB's
PAD SPACE collations do not: there "lr" and "lr " were one primary key, so a log-batch with both
failed and a set-tag of "owner " overwrote "owner". Each test writes both keys through the store
and reads each back with its own value; a refused write leaves nothing behind.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from runlab.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from runlab.store.sql import schema as t
from runlab.store.sql.engine import create_engine
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.mysql_schema import string_column_collations


@pytest.fixture
def exp_id(store: SqlTrackingStore) -> str:
    return store.create_experiment("spaces")


@pytest.fixture
def run_id(store: SqlTrackingStore, exp_id: str) -> str:
    return store.create_run(exp_id, "alice", 1000, [], "r").info.run_id


def test_params(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(run_id, params=[Param("lr", "0.1"), Param("lr ", "0.2")])
    store.log_param(run_id, Param("lr ", "0.2"))  # the same value again is not a change
    assert store.get_run(run_id).data.params == {"lr": "0.1", "lr ": "0.2"}


def test_a_changed_param_refuses_the_whole_batch(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(run_id, params=[Param("lr", "0.1"), Param("lr ", "0.2")])
    with pytest.raises(InvalidParameter, match="'lr '"):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0, 1, 0)],
            params=[Param("lr", "0.1"), Param("lr ", "0.3"), Param("new", "x")],
            tags=[RunTag("after", "x")],
        )
    data = store.get_run(run_id).data
    assert data.params == {"lr": "0.1", "lr ": "0.2"}
    assert "after" not in data.tags and data.metrics == {}


def test_metrics(store: SqlTrackingStore, exp_id: str, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 10, 0), Metric("m ", 2.0, 10, 0)])
    store.log_batch(run_id, metrics=[Metric("m", 3.0, 20, 1)])
    assert store.get_run(run_id).data.metrics == {"m": 3.0, "m ": 2.0}
    assert list(store.get_metric_history(run_id, "m").values) == [1.0, 3.0]
    assert list(store.get_metric_history(run_id, "m ").values) == [2.0]
    keys = store.experiment_keys(exp_id)
    assert keys.metrics == ["m", "m "]


def test_run_tags(store: SqlTrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("owner", "a"))
    store.set_tag(run_id, RunTag("owner ", "b"))
    store.set_tag(run_id, RunTag("owner", "c"))  # overwrites "owner" only
    tags = store.get_run(run_id).data.tags
    assert (tags["owner"], tags["owner "]) == ("c", "b")
    store.delete_tag(run_id, "owner ")
    tags = store.get_run(run_id).data.tags
    assert tags["owner"] == "c" and "owner " not in tags
    with pytest.raises(NotFound):
        store.delete_tag(run_id, "owner ")
    assert store.get_run(run_id).data.tags["owner"] == "c"


def test_experiment_tags(store: SqlTrackingStore, exp_id: str) -> None:
    store.set_experiment_tag(exp_id, "k", "a")
    store.set_experiment_tag(exp_id, "k ", "b")
    assert store.get_experiment(exp_id).tags == {"k": "a", "k ": "b"}
    store.delete_experiment_tag(exp_id, "k ")
    assert store.get_experiment(exp_id).tags == {"k": "a"}


def test_experiment_names(store: SqlTrackingStore) -> None:
    plain = store.create_experiment("exp")
    spaced = store.create_experiment("exp ")
    assert plain != spaced
    found = store.get_experiment_by_name("exp ")
    assert found is not None and found.experiment_id == spaced
    with pytest.raises(AlreadyExists):
        store.create_experiment("exp ")
    # Both found, as two experiments (created in the same millisecond, their order is a tie).
    names = [e.name for e in store.search_experiments(filter_string="name LIKE 'exp%'")]
    assert sorted(names) == ["exp", "exp "]


def test_search_tells_the_keys_apart(store: SqlTrackingStore, exp_id: str) -> None:
    plain = store.create_run(exp_id, "u", 1, [], "plain").info.run_id
    spaced = store.create_run(exp_id, "u", 2, [], "spaced").info.run_id
    store.log_batch(plain, [Metric("m", 1.0, 1, 0)], [Param("lr", "0.1")], [RunTag("t", "v")])
    store.log_batch(spaced, [Metric("m ", 1.0, 1, 0)], [Param("lr ", "0.1")], [RunTag("t ", "v")])

    def found(filter_string: str) -> list[str]:
        return [r.info.run_id for r in store.search_runs([exp_id], filter_string)]

    assert found("params.lr = '0.1'") == [plain]
    assert found("params.`lr ` = '0.1'") == [spaced]
    assert found("params.\"lr \" = '0.1'") == [spaced]
    assert found("params.lr LIKE '0.%'") == [plain]
    assert found("tags.t = 'v'") == [plain]
    assert found("tags.`t ` != 'x'") == [spaced]
    assert found("metrics.m > 0") == [plain]
    assert found("metrics.`m ` > 0") == [spaced]
    assert found("params.`lr ` IS NULL") == [plain]


def test_dataset_names_and_input_tags(store: SqlTrackingStore, run_id: str) -> None:
    plain = Dataset("train", "abc", "local", "/data/train.csv")
    spaced = Dataset("train ", "abc", "local", "/data/train.csv")
    store.log_inputs(
        run_id,
        [
            DatasetInput(plain, [InputTag("ctx", "a"), InputTag("ctx ", "b")]),
            DatasetInput(spaced),
        ],
    )
    inputs = {i.dataset.name: i for i in store.get_run(run_id).inputs.dataset_inputs}
    assert set(inputs) == {"train", "train "}
    assert sorted(inputs["train"].tags, key=lambda tag: tag.key) == [
        InputTag("ctx", "a"),
        InputTag("ctx ", "b"),
    ]


def test_logged_model_params_tags_and_metrics(store: SqlTrackingStore, exp_id: str) -> None:
    model = store.create_logged_model(
        exp_id, "m", tags={"k": "a", "k ": "b"}, params={"lr": "0.1", "lr ": "0.2"}
    )
    assert model.tags == {"k": "a", "k ": "b"}
    assert model.params == {"lr": "0.1", "lr ": "0.2"}
    store.set_logged_model_tags(model.model_id, {"k ": "c"})
    store.delete_logged_model_tag(model.model_id, "k")
    with pytest.raises(InvalidParameter, match="'lr '"):
        store.log_logged_model_params(model.model_id, {"lr ": "0.3", "other": "x"})
    store.record_logged_model_metrics(
        model.model_id, [Metric("acc", 0.5, 1, 0), Metric("acc ", 0.6, 1, 0)]
    )
    got = store.get_logged_model(model.model_id)
    assert got.tags == {"k ": "c"}
    assert got.params == {"lr": "0.1", "lr ": "0.2"}
    assert sorted((m.key, m.value) for m in got.metrics) == [("acc", 0.5), ("acc ", 0.6)]


def test_registry_tags(
    store: SqlTrackingStore, registry_store: SqlRegistryStore, run_id: str
) -> None:
    reg = registry_store
    reg.create_registered_model("fraud", {"team": "risk", "team ": "ops"})
    reg.set_registered_model_tag("fraud", "team ", "infra")
    assert reg.get_registered_model("fraud").tags == {"team": "risk", "team ": "infra"}
    reg.delete_registered_model_tag("fraud", "team")
    assert reg.get_registered_model("fraud").tags == {"team ": "infra"}

    version = reg.create_model_version("fraud", f"runs:/{run_id}/model", run_id).version
    reg.set_model_version_tag("fraud", version, "stage", "a")
    reg.set_model_version_tag("fraud", version, "stage ", "b")
    assert reg.get_model_version("fraud", version).tags == {"stage": "a", "stage ": "b"}
    reg.delete_model_version_tag("fraud", version, "stage ")
    assert reg.get_model_version("fraud", version).tags == {"stage": "a"}


def test_every_string_column_is_compared_exactly() -> None:
    """A plain String column would take the table's default collation on MySQL (PAD SPACE)."""
    loose = [
        f"{table.name}.{column.name}"
        for table in t.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.String)
        and not isinstance(column.type, (t.ExactString, t.ExactText, t.ExactLongText))
    ]
    assert loose == []


@pytest.mark.parametrize("db_url", ["mysql"], indirect=True)
def test_schema_gives_mysql_string_columns_the_no_pad_collation(db_url: str) -> None:
    """The tables as schema.py declares them, created directly, match what the migrations make."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            t.metadata.create_all(conn)
            expected = t.mysql_collation(conn.dialect)
            collations = string_column_collations(conn)
    finally:
        engine.dispose()
    assert expected == t.MARIADB_COLLATION  # the test server is MariaDB
    assert len(collations) > 50 and set(collations.values()) == {expected}

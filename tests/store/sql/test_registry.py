"""The SQL model registry on all three backends: models, versions, stages, aliases, history."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from runlab.entities import STAGES, ModelVersion, RegistryEvent
from runlab.errors import AlreadyExists, InvalidParameter, ModelNotFound, NotFound
from runlab.store.base import RegistryStore
from runlab.store.sql import migrations
from runlab.store.sql import schema as t
from runlab.store.sql.engine import create_engine
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    artifact_uri: str

    def source(self, path: str = "model") -> str:
        return f"runs:/{self.run_id}/{path}"


@pytest.fixture
def run(store: SqlTrackingStore) -> RunInfo:
    exp_id = store.create_experiment("registry")
    info = store.create_run(exp_id, "alice", 1000, [], "trainer").info
    return RunInfo(info.run_id, info.artifact_uri)


@pytest.fixture
def reg(registry_store: SqlRegistryStore) -> SqlRegistryStore:
    return registry_store


def _register(reg: SqlRegistryStore, run: RunInfo, name: str = "fraud", **kw: Any) -> ModelVersion:
    return reg.create_model_version(name, run.source(), run.run_id, **kw)


def _count(reg: SqlRegistryStore, table: sa.Table) -> int:
    with reg._db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _next_version(reg: SqlRegistryStore, name: str) -> int:
    with reg._db.read() as conn:
        return conn.execute(
            sa.select(t.registered_models.c.next_version).where(t.registered_models.c.name == name)
        ).scalar_one()


def test_it_is_a_registry_store(reg: SqlRegistryStore) -> None:
    assert isinstance(reg, RegistryStore)


# -- registered models -----------------------------------------------------------------------------


def test_create_and_get(reg: SqlRegistryStore) -> None:
    before = int(time.time() * 1000)
    created = reg.create_registered_model("fraud", {"team": "risk"}, "Finds fraud.")
    assert created.name == "fraud"
    assert created.tags == {"team": "risk"}
    assert created.description == "Finds fraud."
    assert created.creation_timestamp >= before
    assert created.last_updated_timestamp == created.creation_timestamp
    got = reg.get_registered_model("fraud")
    assert got == created
    assert got.aliases == {} and got.latest_versions == ()


def test_create_accepts_tag_pairs_and_no_description(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m", [("a", "1"), ("b", "2")])  # type: ignore[arg-type]
    got = reg.get_registered_model("m")
    assert got.tags == {"a": "1", "b": "2"}
    assert got.description == ""


def test_duplicate_name(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("fraud", {"team": "risk"})
    with pytest.raises(AlreadyExists, match="fraud") as info:
        reg.create_registered_model("fraud", {"team": "other"})
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert reg.get_registered_model("fraud").tags == {"team": "risk"}


def test_names_are_exact(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("Fraud")
    with pytest.raises(ModelNotFound):
        reg.get_registered_model("fraud")
    reg.create_registered_model("fraud")
    assert {m.name for m in reg.search_registered_models()} == {"Fraud", "fraud"}


def test_names_with_surrounding_spaces(reg: SqlRegistryStore, run: RunInfo) -> None:
    # MySQL's collation ignores trailing spaces in comparisons: such names are refused, and
    # searches compare exactly.
    reg.create_registered_model("m")
    _register(reg, run, "m")
    for name in ("m ", " m"):
        with pytest.raises(InvalidParameter, match="white space"):
            reg.create_registered_model(name)
        with pytest.raises(InvalidParameter, match="white space"):
            reg.get_registered_model(name)
        with pytest.raises(InvalidParameter, match="white space"):
            reg.rename_registered_model("m", name)
    assert reg.search_registered_models("name = 'm '") == []
    assert reg.search_model_versions("name = 'm '") == []
    assert [m.name for m in reg.search_registered_models()] == ["m"]


@pytest.mark.parametrize(
    "bad", ["", "   ", "a/b", "a:b", ".", "..", "x" * 257, "a\x00b", "tab\there", None, 3]
)
def test_bad_names_write_nothing(reg: SqlRegistryStore, bad: Any) -> None:
    with pytest.raises(InvalidParameter):
        reg.create_registered_model(bad)
    assert _count(reg, t.registered_models) == 0


def test_bad_tags_write_nothing(reg: SqlRegistryStore) -> None:
    for tags in ({"bad key!": "v"}, {"k": "x" * 100_001}, {"": "v"}, [("only-key",)]):
        with pytest.raises(InvalidParameter):
            reg.create_registered_model("m", tags)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        reg.create_registered_model("m", description=5)  # type: ignore[arg-type]
    assert _count(reg, t.registered_models) == 0
    assert _count(reg, t.registered_model_tags) == 0


def test_missing_model(reg: SqlRegistryStore) -> None:
    calls = [
        lambda: reg.get_registered_model("nope"),
        lambda: reg.update_registered_model("nope", "d"),
        lambda: reg.rename_registered_model("nope", "other"),
        lambda: reg.delete_registered_model("nope"),
        lambda: reg.get_latest_versions("nope"),
        lambda: reg.set_registered_model_tag("nope", "k", "v"),
        lambda: reg.delete_registered_model_tag("nope", "k"),
        lambda: reg.set_registered_model_alias("nope", "champ", 1),
        lambda: reg.delete_registered_model_alias("nope", "champ"),
        lambda: reg.get_model_version_by_alias("nope", "champ"),
        lambda: reg.create_model_version("nope", "s3://bucket/model"),
        lambda: reg.get_model_version("nope", 1),
    ]
    for call in calls:
        with pytest.raises(ModelNotFound) as info:
            call()
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert _count(reg, t.registered_models) == 0
    assert _count(reg, t.registry_events) == 0


def test_update_description(reg: SqlRegistryStore) -> None:
    created = reg.create_registered_model("m", description="old")
    time.sleep(0.002)
    updated = reg.update_registered_model("m", "new")
    assert updated.description == "new"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    assert reg.update_registered_model("m", None).description == ""


def test_model_tags(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    reg.set_registered_model_tag("m", "team", "risk")
    reg.set_registered_model_tag("m", "team", "fraud")
    reg.set_registered_model_tag("m", "empty", None)  # type: ignore[arg-type]
    assert reg.get_registered_model("m").tags == {"team": "fraud", "empty": ""}
    reg.delete_registered_model_tag("m", "team")
    reg.delete_registered_model_tag("m", "team")  # gone already: not an error
    assert reg.get_registered_model("m").tags == {"empty": ""}
    with pytest.raises(InvalidParameter):
        reg.set_registered_model_tag("m", "../k", "v")
    with pytest.raises(InvalidParameter):
        reg.set_registered_model_tag("m", "k", "x" * 100_001)
    reg.set_registered_model_tag("m", "big", "x" * 100_000)
    assert len(reg.get_registered_model("m").tags["big"]) == 100_000


# -- versions --------------------------------------------------------------------------------------


def test_create_and_get_version(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("fraud")
    v1 = reg.create_model_version(
        "fraud",
        run.source(),
        run.run_id,
        tags={"framework": "sklearn"},
        run_link="https://ci.example.com/runs/1",
        description="first",
        user_id="alice",
    )
    assert (v1.name, v1.version, v1.current_stage, v1.status) == ("fraud", 1, "None", "READY")
    assert v1.source == run.source() and v1.run_id == run.run_id
    assert v1.tags == {"framework": "sklearn"}
    assert v1.run_link == "https://ci.example.com/runs/1"
    assert (v1.description, v1.user_id) == ("first", "alice")
    assert v1.creation_timestamp == v1.last_updated_timestamp
    assert reg.get_model_version("fraud", 1) == v1
    assert reg.get_model_version("fraud", "1") == v1
    assert reg.get_model_version_download_uri("fraud", 1) == run.source()
    v2 = _register(reg, run)
    assert v2.version == 2
    model = reg.get_registered_model("fraud")
    assert model.last_updated_timestamp >= v2.creation_timestamp
    assert [v.version for v in model.latest_versions] == [2]


def test_runs_source_needs_its_run_id(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    with pytest.raises(InvalidParameter, match="The run_id request parameter must identify"):
        reg.create_model_version("m", run.source("model"))
    assert _count(reg, t.model_versions) == 0


def test_source_inside_the_run_folder(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    source = f"{run.artifact_uri}/model"
    version = reg.create_model_version("m", source, run.run_id)
    assert reg.get_model_version_download_uri("m", version.version) == source


def test_logged_model_source(reg: SqlRegistryStore, store: SqlTrackingStore, run: RunInfo) -> None:
    exp_id = store.get_run(run.run_id).info.experiment_id
    logged = store.create_logged_model(exp_id, "clf", source_run_id=run.run_id)
    reg.create_registered_model("m")
    version = reg.create_model_version(
        "m", f"models:/{logged.model_id}", run.run_id, model_id=logged.model_id
    )
    assert version.model_id == logged.model_id
    assert version.storage_location == logged.artifact_location
    assert reg.get_model_version_download_uri("m", 1) == logged.artifact_location
    inside = reg.create_model_version(
        "m", f"{logged.artifact_location}/model", model_id=logged.model_id
    )
    # Registered without run_id, the version is linked to the run that produced the model.
    assert inside.run_id == run.run_id and inside.storage_location is None
    orphan = store.create_logged_model(exp_id, "no-run")
    unlinked = reg.create_model_version("m", f"models:/{orphan.model_id}", model_id=orphan.model_id)
    assert unlinked.run_id == ""
    with pytest.raises(ModelNotFound, match="m-0"):
        reg.create_model_version("m", "models:/m-0", model_id="m-0")
    with pytest.raises(InvalidParameter, match="model_id"):
        reg.create_model_version("m", f"models:/{logged.model_id}")
    # Each version is listed on its logged model, as MLflow's server lists it.
    assert json.loads(store.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]) == [
        {"name": "m", "version": 1},
        {"name": "m", "version": 2},
    ]
    assert store.get_logged_model(orphan.model_id).tags["mlflow.modelVersions"] == (
        '[{"name": "m", "version": 3}]'
    )


def test_model_versions_tag_keeps_what_was_there(
    reg: SqlRegistryStore, store: SqlTrackingStore, run: RunInfo
) -> None:
    exp_id = store.get_run(run.run_id).info.experiment_id
    logged = store.create_logged_model(exp_id, "clf")
    earlier = '[{"name": "other", "version": "4"}]'  # as MLflow's client writes it
    store.set_logged_model_tags(logged.model_id, {"mlflow.modelVersions": earlier})
    reg.create_registered_model("m")
    reg.create_model_version("m", f"models:/{logged.model_id}", model_id=logged.model_id)
    assert json.loads(store.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]) == [
        {"name": "other", "version": "4"},
        {"name": "m", "version": 1},
    ]
    store.set_logged_model_tags(logged.model_id, {"mlflow.modelVersions": "not json"})
    reg.create_model_version("m", f"models:/{logged.model_id}", model_id=logged.model_id)
    assert json.loads(store.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]) == [
        {"name": "m", "version": 2}
    ]


def test_a_refused_version_leaves_the_logged_model_alone(
    reg: SqlRegistryStore, store: SqlTrackingStore, run: RunInfo
) -> None:
    exp_id = store.get_run(run.run_id).info.experiment_id
    logged = store.create_logged_model(exp_id, "clf")
    reg.create_registered_model("m")
    with pytest.raises(InvalidParameter):
        reg.create_model_version("m", "/etc/passwd", model_id=logged.model_id)
    assert "mlflow.modelVersions" not in store.get_logged_model(logged.model_id).tags
    assert _count(reg, t.model_versions) == 0


def test_copy_from_a_registered_version_uri(
    reg: SqlRegistryStore, store: SqlTrackingStore, run: RunInfo
) -> None:
    # MLflow's copy_model_version registers "models:/<name>/<version>" with the original's run.
    exp_id = store.get_run(run.run_id).info.experiment_id
    logged = store.create_logged_model(exp_id, "clf", source_run_id=run.run_id)
    reg.create_registered_model("src")
    first = _register(reg, run, "src")
    reg.create_model_version("src", f"models:/{logged.model_id}", model_id=logged.model_id)
    reg.set_registered_model_alias("src", "champion", 1)
    reg.create_registered_model("dst")
    copy = reg.create_model_version("dst", "models:/src/1", run.run_id)
    assert (copy.source, copy.run_id, copy.model_id) == ("models:/src/1", run.run_id, None)
    assert reg.get_model_version_download_uri("dst", copy.version) == first.source
    by_alias = reg.create_model_version("dst", "models:/src@champion")
    assert by_alias.source == "models:/src/1" and by_alias.run_id == run.run_id
    latest = reg.create_model_version("dst", "models:/src/latest")
    assert (latest.source, latest.model_id) == ("models:/src/2", logged.model_id)
    assert latest.storage_location == logged.artifact_location
    assert json.loads(store.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]) == [
        {"name": "src", "version": 2},
        {"name": "dst", "version": 3},
    ]


@pytest.mark.parametrize(
    ("source", "kwargs", "error"),
    [
        ("models:/src/1", {"run_id": "f" * 32}, InvalidParameter),  # not the version's run
        ("models:/src/1", {"model_id": "m-" + "0" * 32}, InvalidParameter),
        ("models:/src/1/MLmodel", {}, InvalidParameter),  # a path inside a version
        ("models:/src@nobody", {}, InvalidParameter),
        ("models:/src/Production", {}, ModelNotFound),
        ("models:/src/7", {}, ModelNotFound),
        ("models:/nobody/1", {}, ModelNotFound),
        ("models://registry/src/1", {}, InvalidParameter),
    ],
)
def test_bad_registered_version_sources_write_nothing(
    reg: SqlRegistryStore, run: RunInfo, source: str, kwargs: dict[str, Any], error: type
) -> None:
    reg.create_registered_model("src")
    _register(reg, run, "src")
    reg.create_registered_model("dst")
    with pytest.raises(error):
        reg.create_model_version("dst", source, tags={"k": "v"}, **kwargs)
    assert reg.get_registered_model("dst").latest_versions == ()
    assert _next_version(reg, "dst") == 1
    assert _count(reg, t.model_version_tags) == 0


def test_a_run_of_another_tracking_server(reg: SqlRegistryStore, tmp_path: Any) -> None:
    # MLflow's registry takes a run id it cannot look up (the tracking server may be another
    # one), as long as the source does not have to lie inside that run's artifacts.
    reg.create_registered_model("m")
    elsewhere = "0" * 32
    by_uri = reg.create_model_version("m", f"runs:/{elsewhere}/model", elsewhere)
    in_s3 = reg.create_model_version("m", "s3://bucket/models/fraud", elsewhere)
    assert (by_uri.run_id, in_s3.run_id) == (elsewhere, elsewhere)
    for needs_the_run in [str(tmp_path / "model"), f"mlflow-artifacts:/1/{elsewhere}/model"]:
        with pytest.raises(InvalidParameter, match="not in this server's tracking store"):
            reg.create_model_version("m", needs_the_run, elsewhere, tags={"k": "v"})
    assert _next_version(reg, "m") == 3
    assert _count(reg, t.model_version_tags) == 0


def test_s3_sources_need_no_run_folder(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    version = reg.create_model_version("m", "s3://other-bucket/fraud/model", run.run_id)
    assert version.source == "s3://other-bucket/fraud/model" and version.run_id == run.run_id


def test_dot_dot_that_stays_inside_the_run_folder(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    for source in [f"{run.artifact_uri}/model/..", f"{run.artifact_uri}/a/../model"]:
        assert reg.create_model_version("m", source, run.run_id).source == source


SOURCE_TRICKS = [
    "/etc/passwd",
    "file:///etc/passwd",
    "{root}/../../../other",
    "{root}/%2e%2e/%2e%2e/x",
    "{root}/%252e%252e/x",
    "{root}/model\\..\\..\\x",
    "{root}/model#/../../x",
    "{root}/model?x=1",
    "{root}/..;/x",
    "{root}/model\x00",
    "{root}2/model",
    "runs:/{run_id}/../x",
    "runs:/{run_id}/%2e%2e/x",
    "runs:/{other}/model",
    "models:/m-{other}",
    "https://metadata.example.com/model",
    "mlflow-artifacts://evil.example.com/x",
    "mlflow-artifacts:/0/{other}/artifacts/model",
    "javascript:alert(1)",
    "",
]


@pytest.mark.parametrize("trick", SOURCE_TRICKS)
def test_source_tricks_are_refused_and_write_nothing(
    reg: SqlRegistryStore, run: RunInfo, trick: str
) -> None:
    reg.create_registered_model("m")
    source = trick.format(root=run.artifact_uri, run_id=run.run_id, other="f" * 32)
    with pytest.raises(InvalidParameter) as info:
        reg.create_model_version("m", source, run.run_id, tags={"k": "v"})
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _count(reg, t.model_versions) == 0
    assert _count(reg, t.model_version_tags) == 0
    assert _next_version(reg, "m") == 1
    assert reg.get_registered_model("m").latest_versions == ()


@pytest.mark.parametrize("source", ["/tmp/model", "file:///tmp/model", "model"])
def test_local_sources_need_a_run(reg: SqlRegistryStore, source: str) -> None:
    reg.create_registered_model("m")
    with pytest.raises(InvalidParameter, match="To use a local path as a model version source"):
        reg.create_model_version("m", source)
    assert _count(reg, t.model_versions) == 0


def test_remote_source_without_a_run(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    version = reg.create_model_version("m", "s3://bucket/models/fraud")
    assert version.run_id == "" and version.source == "s3://bucket/models/fraud"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tags": {"k": None}},
        {"tags": {"bad key!": "v"}},
        {"run_link": "javascript:alert(1)"},
        {"run_link": "//evil.example.com"},
        {"description": 7},
        {"user_id": "u" * 257},
        {"run_id": "has space"},
    ],
)
def test_bad_version_arguments_write_nothing(
    reg: SqlRegistryStore, run: RunInfo, kwargs: dict[str, Any]
) -> None:
    reg.create_registered_model("m")
    args = {"run_id": run.run_id, **kwargs}
    with pytest.raises(InvalidParameter):
        reg.create_model_version("m", run.source(), **args)
    assert _count(reg, t.model_versions) == 0
    assert _next_version(reg, "m") == 1


def test_bad_version_numbers(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    for bad in ("abc", "1.5", "", None, True, 1.0):
        with pytest.raises(InvalidParameter, match="version"):
            reg.get_model_version("m", bad)  # type: ignore[arg-type]
    for missing in (0, -1, 2, "99"):
        with pytest.raises(ModelNotFound):
            reg.get_model_version("m", missing)


def test_update_version(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    created = _register(reg, run, "m")
    time.sleep(0.002)
    updated = reg.update_model_version("m", 1, "better")
    assert updated.description == "better"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    assert reg.update_model_version("m", "1", None).description == ""
    with pytest.raises(ModelNotFound):
        reg.update_model_version("m", 2, "x")


def test_version_tags(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    reg.set_model_version_tag("m", 1, "k", "v")
    reg.set_model_version_tag("m", "1", "k", "w")
    reg.set_model_version_tag("m", 1, "other", "x")
    assert reg.get_model_version("m", 1).tags == {"k": "w", "other": "x"}
    reg.delete_model_version_tag("m", 1, "k")
    reg.delete_model_version_tag("m", 1, "k")
    assert reg.get_model_version("m", 1).tags == {"other": "x"}
    with pytest.raises(InvalidParameter):
        reg.set_model_version_tag("m", 1, "k", None)  # type: ignore[arg-type]
    with pytest.raises(ModelNotFound):
        reg.set_model_version_tag("m", 2, "k", "v")
    assert _count(reg, t.model_version_tags) == 1


def test_deleted_numbers_are_never_reused(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    for _ in range(3):
        _register(reg, run, "m", tags={"k": "v"})
    reg.delete_model_version("m", 3)
    reg.delete_model_version("m", "2")
    assert _register(reg, run, "m").version == 4
    for deleted in (2, 3):
        with pytest.raises(ModelNotFound):
            reg.get_model_version("m", deleted)
        with pytest.raises(ModelNotFound):
            reg.delete_model_version("m", deleted)
        with pytest.raises(ModelNotFound):
            reg.transition_model_version_stage("m", deleted, "Production")
    assert [v.version for v in reg.search_model_versions("name = 'm'")] == [4, 1]
    assert [v.version for v in reg.get_latest_versions("m")] == [4]
    # The deleted rows stay, redacted, with their tags gone.
    with reg._db.read() as conn:
        rows = conn.execute(
            sa.select(t.model_versions).where(t.model_versions.c.deleted == sa.true())
        ).all()
    assert sorted(row.version for row in rows) == [2, 3]
    assert all(row.source is None and row.run_id is None for row in rows)
    assert _count(reg, t.model_version_tags) == 1


# -- stages ----------------------------------------------------------------------------------------


def test_stages_are_case_insensitive(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    pairs = [("staging", "Staging"), ("PRODUCTION", "Production"), (" archived ", "Archived")]
    for given, stored in [*pairs, ("none", "None")]:
        version = reg.transition_model_version_stage("m", 1, given)
        assert version.current_stage == stored
        assert reg.get_model_version("m", 1).current_stage == stored


def test_bad_stage_changes_nothing(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    for bad in ("Deleted_Internal", "prod", "", None):
        with pytest.raises(InvalidParameter, match="stage"):
            reg.transition_model_version_stage("m", 1, bad)  # type: ignore[arg-type]
    assert reg.get_model_version("m", 1).current_stage == "None"
    assert reg.get_registry_history("m") == []


@pytest.mark.parametrize("stage", ["Archived", "None", "archived"])
def test_archive_existing_only_for_staging_and_production(
    reg: SqlRegistryStore, run: RunInfo, stage: str
) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    _register(reg, run, "m")
    reg.transition_model_version_stage("m", 1, "Production")
    events = reg.get_registry_history("m")
    with pytest.raises(InvalidParameter, match="archive_existing_versions") as info:
        reg.transition_model_version_stage("m", 2, stage, archive_existing_versions=True)
    assert info.value.get_http_status_code() == 400
    assert reg.get_model_version("m", 1).current_stage == "Production"
    assert reg.get_model_version("m", 2).current_stage == "None"
    assert reg.get_registry_history("m") == events


def test_archive_existing_versions(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    for _ in range(4):
        _register(reg, run, "m")
    reg.transition_model_version_stage("m", 1, "Production")
    reg.transition_model_version_stage("m", 2, "Production")
    reg.transition_model_version_stage("m", 3, "Staging")
    moved = reg.transition_model_version_stage(
        "m", 4, "production", archive_existing_versions=True, user_id="bob"
    )
    assert moved.current_stage == "Production"
    stages = {v.version: v.current_stage for v in reg.search_model_versions("name='m'")}
    assert stages == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    last = reg.get_registry_history("m")[-3:]
    assert [(e.subject, e.from_value, e.to_value, e.user_id) for e in last] == [
        ("4", "None", "Production", "bob"),
        ("1", "Production", "Archived", "bob"),
        ("2", "Production", "Archived", "bob"),
    ]
    # Without the flag, the others stay where they are.
    reg.transition_model_version_stage("m", 3, "Production")
    assert reg.get_model_version("m", 4).current_stage == "Production"


def test_get_latest_versions(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    assert reg.get_latest_versions("m") == []
    for _ in range(5):
        _register(reg, run, "m")
    reg.transition_model_version_stage("m", 1, "Production")
    reg.transition_model_version_stage("m", 2, "Production")
    reg.transition_model_version_stage("m", 3, "Staging")
    reg.delete_model_version("m", 5)

    def latest(stages: Any = None) -> list[tuple[int, str]]:
        return [(v.version, v.current_stage) for v in reg.get_latest_versions("m", stages)]

    assert latest() == [(4, "None"), (3, "Staging"), (2, "Production")]
    assert latest([]) == latest()
    assert latest(["production"]) == [(2, "Production")]
    assert latest(["Production", "STAGING"]) == [(3, "Staging"), (2, "Production")]
    assert latest(["Archived"]) == []
    with pytest.raises(InvalidParameter):
        latest(["Prod"])
    model = reg.get_registered_model("m")
    assert [(v.version, v.current_stage) for v in model.latest_versions] == latest()


# -- aliases ---------------------------------------------------------------------------------------


def test_aliases(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    _register(reg, run, "m")
    reg.set_registered_model_alias("m", "champion", 1, user_id="alice")
    reg.set_registered_model_alias("m", "challenger", "2")
    assert reg.get_model_version_by_alias("m", "champion").version == 1
    assert reg.get_model_version("m", 1).aliases == ("champion",)
    assert reg.get_registered_model("m").aliases == {"challenger": 2, "champion": 1}
    reg.set_registered_model_alias("m", "champion", 2, user_id="bob")
    assert reg.get_model_version("m", 2).aliases == ("challenger", "champion")
    assert reg.get_model_version("m", 1).aliases == ()
    reg.set_registered_model_alias("m", "champion", 2)  # no change: nothing recorded
    reg.delete_registered_model_alias("m", "challenger", user_id="carol")
    reg.delete_registered_model_alias("m", "challenger")  # not set: not an error
    assert reg.get_registered_model("m").aliases == {"champion": 2}
    with pytest.raises(InvalidParameter, match="no alias") as info:
        reg.get_model_version_by_alias("m", "challenger")
    assert info.value.get_http_status_code() == 400
    history = [
        (e.subject, e.from_value, e.to_value, e.user_id) for e in reg.get_registry_history("m")
    ]
    assert history == [
        ("champion", None, "1", "alice"),
        ("challenger", None, "2", ""),
        ("champion", "1", "2", "bob"),
        ("challenger", "2", None, "carol"),
    ]


def test_latest_alias_is_the_highest_live_version(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    with pytest.raises(InvalidParameter, match="no versions"):
        reg.get_model_version_by_alias("m", "latest")
    for _ in range(3):
        _register(reg, run, "m")
    assert reg.get_model_version_by_alias("m", "latest").version == 3
    reg.delete_model_version("m", 3)
    assert reg.get_model_version_by_alias("m", "LATEST").version == 2


@pytest.mark.parametrize(
    "alias", ["latest", "Latest", "v1", "V12", "", "has space", "a/b", "x" * 256, "é", None]
)
def test_bad_and_reserved_aliases(reg: SqlRegistryStore, run: RunInfo, alias: Any) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    with pytest.raises(InvalidParameter):
        reg.set_registered_model_alias("m", alias, 1)
    assert reg.get_registered_model("m").aliases == {}
    assert reg.get_registry_history("m") == []


def test_alias_needs_a_live_version(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    reg.delete_model_version("m", 1)
    for version in (1, 2):
        with pytest.raises(ModelNotFound):
            reg.set_registered_model_alias("m", "champion", version)
    with pytest.raises(InvalidParameter):
        reg.set_registered_model_alias("m", "champion", "one")
    assert _count(reg, t.registered_model_aliases) == 0


def test_deleting_a_version_removes_its_aliases(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    _register(reg, run, "m")
    _register(reg, run, "m")
    reg.set_registered_model_alias("m", "champion", 1)
    reg.set_registered_model_alias("m", "backup", 1)
    reg.set_registered_model_alias("m", "next", 2)
    reg.transition_model_version_stage("m", 1, "Production")
    reg.delete_model_version("m", 1)
    assert reg.get_registered_model("m").aliases == {"next": 2}
    with pytest.raises(InvalidParameter):
        reg.get_model_version_by_alias("m", "champion")
    removed = [
        (e.kind, e.subject, e.from_value, e.to_value) for e in reg.get_registry_history("m")[-3:]
    ]
    assert sorted(removed) == [
        ("alias", "backup", "1", None),
        ("alias", "champion", "1", None),
        ("stage", "1", "Production", None),
    ]


# -- rename and delete -----------------------------------------------------------------------------


def test_rename_carries_everything(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("old", {"team": "risk"}, "desc")
    _register(reg, run, "old", tags={"k": "v"})
    _register(reg, run, "old")
    reg.set_registered_model_alias("old", "champion", 1)
    reg.transition_model_version_stage("old", 2, "Production", user_id="alice")
    history = reg.get_registry_history("old")

    renamed = reg.rename_registered_model("old", "new")
    assert renamed.name == "new"
    assert renamed.tags == {"team": "risk"} and renamed.description == "desc"
    assert renamed.aliases == {"champion": 1}
    assert [v.name for v in renamed.latest_versions] == ["new", "new"]
    assert reg.get_model_version("new", 1).tags == {"k": "v"}
    assert reg.get_model_version_by_alias("new", "champion").version == 1
    moved = reg.get_registry_history("new")
    assert [(e.kind, e.subject, e.to_value) for e in moved] == [
        (e.kind, e.subject, e.to_value) for e in history
    ]
    assert all(e.name == "new" for e in moved)
    assert reg.get_registry_history("old") == []
    with pytest.raises(ModelNotFound):
        reg.get_registered_model("old")
    with pytest.raises(ModelNotFound):
        reg.get_model_version("old", 1)
    assert _register(reg, run, "new").version == 3
    assert reg.rename_registered_model("new", "new").name == "new"


def test_rename_onto_an_existing_name(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("a")
    reg.create_registered_model("b")
    _register(reg, run, "a")
    with pytest.raises(AlreadyExists):
        reg.rename_registered_model("a", "b")
    with pytest.raises(InvalidParameter):
        reg.rename_registered_model("a", "x/y")
    assert reg.get_model_version("a", 1).name == "a"
    assert reg.get_registered_model("b").latest_versions == ()


def test_delete_model_keeps_its_history(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m", {"k": "v"})
    _register(reg, run, "m", tags={"k": "v"})
    _register(reg, run, "m")
    reg.set_registered_model_alias("m", "champion", 1)
    reg.transition_model_version_stage("m", 2, "Staging")
    reg.delete_registered_model("m")
    with pytest.raises(ModelNotFound):
        reg.get_registered_model("m")
    for table in (
        t.registered_models,
        t.registered_model_tags,
        t.model_versions,
        t.model_version_tags,
        t.registered_model_aliases,
    ):
        assert _count(reg, table) == 0, table.name
    events = [(e.kind, e.subject, e.from_value, e.to_value) for e in reg.get_registry_history("m")]
    assert events == [
        ("alias", "champion", None, "1"),
        ("stage", "2", "None", "Staging"),
        ("alias", "champion", "1", None),
        ("stage", "2", "Staging", None),
    ]
    # A new model of that name starts again at version 1; its history follows the old one's,
    # but a rename carries only its own events along.
    reg.create_registered_model("m")
    assert _register(reg, run, "m").version == 1
    reg.transition_model_version_stage("m", 1, "Production")
    assert len(reg.get_registry_history("m")) == 5
    reg.rename_registered_model("m", "m2")
    assert [(e.subject, e.to_value) for e in reg.get_registry_history("m2")] == [
        ("1", "Production")
    ]
    assert len(reg.get_registry_history("m")) == 4


# -- history ---------------------------------------------------------------------------------------


def _in_production_at(events: list[RegistryEvent], when: int) -> list[int]:
    """Replay the stage events up to ``when``: the versions in Production at that moment."""
    stage: dict[str, str | None] = {}
    for event in events:
        if event.kind == "stage" and event.timestamp <= when:
            stage[event.subject] = event.to_value
    return sorted(int(v) for v, s in stage.items() if s == "Production")


def test_which_version_was_in_production(reg: SqlRegistryStore, run: RunInfo) -> None:
    reg.create_registered_model("m")
    for _ in range(3):
        _register(reg, run, "m")
    start = int(time.time() * 1000)
    time.sleep(0.005)
    reg.transition_model_version_stage("m", 1, "Production", user_id="alice")
    time.sleep(0.005)
    reg.transition_model_version_stage("m", 2, "Production", True, user_id="bob")
    time.sleep(0.005)
    reg.transition_model_version_stage("m", 3, "Production", True, user_id="carol")
    time.sleep(0.005)
    reg.delete_model_version("m", 3)
    end = int(time.time() * 1000)

    events = reg.get_registry_history("m")
    assert all(start <= e.timestamp <= end for e in events)
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    times = [e.timestamp for e in events if e.to_value == "Production"]
    assert _in_production_at(events, start) == []
    assert _in_production_at(events, times[0]) == [1]
    assert _in_production_at(events, times[1]) == [2]
    assert _in_production_at(events, times[2]) == [3]
    assert _in_production_at(events, end) == []
    who = [(e.subject, e.from_value, e.to_value, e.user_id) for e in events]
    assert who == [
        ("1", "None", "Production", "alice"),
        ("2", "None", "Production", "bob"),
        ("1", "Production", "Archived", "bob"),
        ("3", "None", "Production", "carol"),
        ("2", "Production", "Archived", "carol"),
        ("3", "Production", None, ""),
    ]
    # since <= timestamp < until
    assert reg.get_registry_history("m", since=times[1]) == events[1:]
    assert reg.get_registry_history("m", until=times[1]) == events[:1]
    assert reg.get_registry_history("m", since=times[0], until=times[0] + 1) == events[:1]
    assert reg.get_registry_history("m", since=end + 1) == []


def test_history_arguments(reg: SqlRegistryStore) -> None:
    assert reg.get_registry_history("never-existed") == []
    with pytest.raises(InvalidParameter):
        reg.get_registry_history("m", since="yesterday")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        reg.get_registry_history("a/b")


def test_errors_are_runlab_errors(reg: SqlRegistryStore) -> None:
    with pytest.raises(NotFound):
        reg.get_model_version("nope", 1)
    assert STAGES == ("None", "Staging", "Production", "Archived")


# -- migrations ------------------------------------------------------------------------------------


def test_upgrade_from_the_logged_models_revision(db_url: str) -> None:
    engine = create_engine(db_url)
    migrations.upgrade(engine, "0002_logged_models")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("registered_models")
    migrations.upgrade(engine)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        assert sa.inspect(conn).has_table("registry_events")
    engine.dispose()
    reg = SqlRegistryStore(db_url)
    try:
        reg.create_registered_model("after-upgrade")
        assert reg.create_model_version("after-upgrade", "s3://bucket/m").version == 1
    finally:
        reg.close()


def test_downgrade_removes_the_registry(db_url: str) -> None:
    engine = create_engine(db_url)
    migrations.upgrade(engine)
    with engine.connect() as conn:
        conn.execution_options(runlab_write=True)
        with conn.begin():
            command.downgrade(migrations._alembic_config(conn), "0002_logged_models")
        assert not sa.inspect(conn).has_table("registered_models")
        assert migrations.current_revision(conn) == "0002_logged_models"
    engine.dispose()

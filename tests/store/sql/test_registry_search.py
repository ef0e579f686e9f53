"""Registered-model and model-version search on all three backends: filters, order, paging."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from runlab.errors import InvalidParameter
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.registry_search import select_model_versions, select_registered_model_names
from runlab.store.sql.tracking import SqlTrackingStore

# Created in this order, each a little later than the one before.
MODELS: dict[str, dict[str, str]] = {
    "fraud-a": {"team": "risk", "env": "prod"},
    "fraud-b": {"team": "Risk"},
    "churn": {},
    "Churn-2": {"team": "growth"},
    "prompt": {"mlflow.prompt.is_prompt": "true"},
    "50%_off": {},
}


@pytest.fixture
def runs(store: SqlTrackingStore) -> list[str]:
    exp_id = store.create_experiment("search")
    return [store.create_run(exp_id, "u", 0, [], f"r{i}").info.run_id for i in range(3)]


@pytest.fixture
def reg(registry_store: SqlRegistryStore, runs: list[str]) -> SqlRegistryStore:
    for name, tags in MODELS.items():
        registry_store.create_registered_model(name, tags)
        time.sleep(0.002)
    # fraud-a: versions 1..4 from runs 0, 1, 2, 0 (version 4 deleted); churn: version 1, no run.
    for index, run_index in enumerate([0, 1, 2, 0]):
        run_id = runs[run_index]
        registry_store.create_model_version(
            "fraud-a",
            f"runs:/{run_id}/model-{index + 1}",
            run_id,
            tags={"flavor": "sklearn" if index % 2 == 0 else "torch"},
        )
        time.sleep(0.002)
    registry_store.delete_model_version("fraud-a", 4)
    registry_store.create_model_version("churn", "s3://bucket/churn/model", tags={"k": "v"})
    return registry_store


def _models(reg: SqlRegistryStore, filter_string: str | None = None, **kw: Any) -> list[str]:
    return [m.name for m in reg.search_registered_models(filter_string, **kw)]


def _versions(
    reg: SqlRegistryStore, filter_string: str | None = None, **kw: Any
) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in reg.search_model_versions(filter_string, **kw)]


# -- registered models -----------------------------------------------------------------------------


def test_default_order_is_name_in_code_point_order(reg: SqlRegistryStore) -> None:
    assert _models(reg) == sorted(MODELS)
    assert _models(reg)[:3] == ["50%_off", "Churn-2", "churn"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'churn'", {"churn"}),
        ("name = 'Churn'", set()),
        ("name != 'churn'", set(MODELS) - {"churn"}),
        ("name LIKE 'fraud%'", {"fraud-a", "fraud-b"}),
        ("name LIKE 'FRAUD%'", set()),
        ("name ILIKE 'FRAUD%'", {"fraud-a", "fraud-b"}),
        ("name LIKE '%churn%'", {"churn"}),
        ("name ILIKE '%churn%'", {"churn", "Churn-2"}),
        ("name LIKE 'fraud-_'", {"fraud-a", "fraud-b"}),
        ("name IN ('churn', 'fraud-a', 'missing')", {"churn", "fraud-a"}),
        ("name NOT IN ('churn', 'prompt')", set(MODELS) - {"churn", "prompt"}),
        ("attributes.name = 'churn'", {"churn"}),
        ("tags.team = 'risk'", {"fraud-a"}),
        ("tag.team = 'risk'", {"fraud-a"}),
        ("tags.team ILIKE 'risk'", {"fraud-a", "fraud-b"}),
        ("tags.team LIKE 'R%'", {"fraud-b"}),
        ("tags.team != 'risk'", {"fraud-b", "Churn-2"}),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", {"prompt"}),
        ("tags.`mlflow.prompt.is_prompt` != 'true'", set(MODELS) - {"prompt"}),
        ("name LIKE 'fraud%' AND tags.env = 'prod'", {"fraud-a"}),
        ("name = 'churn' OR tags.team = 'growth'", {"churn", "Churn-2"}),
        ("NOT name LIKE 'fraud%'", set(MODELS) - {"fraud-a", "fraud-b"}),
        ("name = 'x'' OR ''1''=''1'", set()),
    ],
)
def test_model_filters(reg: SqlRegistryStore, filter_string: str, expected: set[str]) -> None:
    assert set(_models(reg, filter_string)) == expected


def test_models_carry_their_latest_versions(reg: SqlRegistryStore) -> None:
    (fraud,) = reg.search_registered_models("name = 'fraud-a'")
    assert [v.version for v in fraud.latest_versions] == [3]
    assert fraud.tags == MODELS["fraud-a"]


def test_model_order(reg: SqlRegistryStore) -> None:
    # Touch models in a known order; the last one touched is the most recently updated.
    for name in ["churn", "fraud-b", "prompt"]:
        time.sleep(0.002)
        reg.update_registered_model(name, f"touched {name}")
    newest_first = _models(reg, order_by=["last_updated_timestamp DESC"])
    assert newest_first[:3] == ["prompt", "fraud-b", "churn"]
    assert _models(reg, order_by=["timestamp DESC"]) == newest_first
    assert _models(reg, order_by=["timestamp ASC"])[-3:] == ["churn", "fraud-b", "prompt"]
    assert _models(reg, order_by=["name DESC"]) == sorted(MODELS, reverse=True)
    assert _models(reg, order_by="name") == sorted(MODELS)


def test_model_paging(reg: SqlRegistryStore) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = reg.search_registered_models(max_results=4, page_token=token)
        seen += [m.name for m in page]
        pages += 1
        token = page.token
        if token is None:
            break
    assert pages == 2
    assert seen == sorted(MODELS)
    page = reg.search_registered_models("name LIKE 'fraud%'", max_results=2)
    assert page.token is None and len(page) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": "name = churn"}, "position"),
        ({"filter_string": "owner = 'x'"}, "unknown registered model attribute 'owner'"),
        ({"filter_string": "tags.team IS NULL"}, "not supported"),
        ({"filter_string": "name > 'a'"}, "not supported"),
        ({"filter_string": "name = 'a' AND"}, "position"),
        ({"filter_string": "metrics.acc > 1"}, "prefix"),
        ({"filter_string": "last_updated_timestamp > 1"}, "unknown registered model attribute"),
        ({"order_by": ["creation_timestamp"]}, "creation_timestamp"),
        ({"order_by": ["tags.team"]}, "cannot be sorted"),
        ({"order_by": ["name", "name DESC"]}, "more than once"),
        ({"order_by": ["timestamp", "last_updated_timestamp DESC"]}, "more than once"),
        ({"order_by": ["name SIDEWAYS"]}, "ASC, DESC"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": 1001}, "must be at most 1000"),
        ({"max_results": "10"}, "max_results"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
)
def test_bad_model_searches(reg: SqlRegistryStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as info:
        reg.search_registered_models(**kwargs)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_model_page_token_is_bound_to_its_query(reg: SqlRegistryStore) -> None:
    token = reg.search_registered_models(max_results=1).token
    assert token is not None
    with pytest.raises(InvalidParameter, match="different query"):
        reg.search_registered_models("name LIKE 'f%'", max_results=1, page_token=token)
    with pytest.raises(InvalidParameter, match="different query"):
        reg.search_model_versions(max_results=1, page_token=token)


# -- model versions --------------------------------------------------------------------------------


def test_default_version_order(reg: SqlRegistryStore) -> None:
    assert _versions(reg) == [("churn", 1), ("fraud-a", 3), ("fraud-a", 2), ("fraud-a", 1)]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'fraud-a'", [3, 2, 1]),
        ("name IN ('fraud-a', 'nope')", [3, 2, 1]),
        ("name NOT IN ('churn')", [3, 2, 1]),
        ("name LIKE 'fraud%' AND version_number > 1", [3, 2]),
        ("version_number = 2", [2]),
        ("version_number <= 2.5 AND name = 'fraud-a'", [2, 1]),
        ("version_number != 1 AND name = 'fraud-a'", [3, 2]),
        ("version_number >= 4", []),
        ("run_id = '{r0}'", [1]),
        ("run_id IN ('{r0}', '{r2}')", [3, 1]),
        ("run_id NOT IN ('{r0}')", [3, 2]),
        ("run_id != '{r1}'", [3, 1]),
        ("source_path = 'runs:/{r1}/model-2'", [2]),
        ("source_path LIKE 'runs:/%/model-_'", [3, 2, 1]),
        ("source_path ILIKE 'RUNS:/{r2}%'", [3]),
        ("tags.flavor = 'sklearn'", [3, 1]),
        ("tags.flavor != 'sklearn'", [2]),
        ("tags.flavor LIKE 'to%'", [2]),
        ("tags.flavor = 'sklearn' OR version_number = 2", [3, 2, 1]),
    ],
)
def test_version_filters(
    reg: SqlRegistryStore, runs: list[str], filter_string: str, expected: list[int]
) -> None:
    text = filter_string.format(r0=runs[0], r1=runs[1], r2=runs[2])
    found = _versions(reg, text)
    assert [v for name, v in found if name == "fraud-a"] == expected
    assert all(name == "fraud-a" for name, _ in found)


def test_churn_versions(reg: SqlRegistryStore) -> None:
    assert _versions(reg, "source_path LIKE 's3://%'") == [("churn", 1)]
    assert _versions(reg, "tags.k = 'v'") == [("churn", 1)]
    (version,) = reg.search_model_versions("name = 'churn'")
    assert version.tags == {"k": "v"} and version.run_id == ""


def test_deleted_versions_are_never_returned(reg: SqlRegistryStore) -> None:
    assert _versions(reg, "version_number = 4") == []
    assert ("fraud-a", 4) not in _versions(reg)


def test_version_order(reg: SqlRegistryStore) -> None:
    fraud = "name = 'fraud-a'"
    assert _versions(reg, fraud, order_by=["version_number ASC"]) == [
        ("fraud-a", 1),
        ("fraud-a", 2),
        ("fraud-a", 3),
    ]
    assert _versions(reg, fraud, order_by=["creation_timestamp DESC"]) == [
        ("fraud-a", 3),
        ("fraud-a", 2),
        ("fraud-a", 1),
    ]
    time.sleep(0.002)
    reg.update_model_version("fraud-a", 1, "touched")
    assert _versions(reg, fraud, order_by=["last_updated_timestamp DESC"])[0] == ("fraud-a", 1)
    assert _versions(reg, order_by=["name DESC"]) == [
        ("fraud-a", 3),
        ("fraud-a", 2),
        ("fraud-a", 1),
        ("churn", 1),
    ]


def test_version_paging(reg: SqlRegistryStore) -> None:
    first = reg.search_model_versions(max_results=3)
    assert first.token is not None
    second = reg.search_model_versions(max_results=3, page_token=first.token)
    assert second.token is None
    assert [(v.name, v.version) for v in [*first, *second]] == _versions(reg)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": "current_stage = 'Production'"}, "current_stage"),
        ({"filter_string": "version_number = '1'"}, "a number"),
        ({"filter_string": "run_id = 5"}, "a quoted string"),
        ({"filter_string": "creation_timestamp > 0"}, "unknown model version attribute"),
        ({"filter_string": "source_path IN ('a')"}, "not supported"),
        ({"filter_string": "tags.k IS NOT NULL"}, "not supported"),
        ({"filter_string": "name = 'a' name = 'b'"}, "position"),
        ({"order_by": ["run_id"]}, "unknown model version attribute 'run_id'"),
        ({"order_by": ["version_number", "version_number DESC"]}, "more than once"),
        ({"max_results": 200_001}, "must be at most 200000"),
        ({"max_results": -1}, "max_results"),
        ({"page_token": "eyJvZmZzZXQiOiAxfQ=="}, "page_token"),
    ],
)
def test_bad_version_searches(reg: SqlRegistryStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        reg.search_model_versions(**kwargs)


def test_searches_are_one_statement_with_bound_values() -> None:
    hostile = "x' OR '1'='1"
    quoted = hostile.replace("'", "''")
    for select in (select_registered_model_names, select_model_versions):
        query = select(f"name = '{quoted}'", None, 10, 0, "postgresql")
        compiled = query.compile(dialect=sa.dialects.postgresql.dialect())
        assert hostile not in str(compiled)
        assert hostile in compiled.params.values()

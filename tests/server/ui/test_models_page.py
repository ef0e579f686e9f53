"""The registered models list page, rendered by the real app over real SQLite stores."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api


@pytest.fixture
def models_api(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> Iterator[Api]:
    yield from make_api(sqlite_store, registry_store=registry)


def _rows(html: str) -> dict[str, str]:
    return {
        m.group(1): m.group(0) for m in re.finditer(r'<tr data-name="([^"]*)">.*?</tr>', html, re.S)
    }


def _version(store: SqlTrackingStore, registry: SqlRegistryStore, name: str) -> str:
    experiment = store.get_experiment_by_name("Default")
    assert experiment is not None
    run = store.create_run(experiment.experiment_id, "u", 1_700_000_000_000, [], "r")
    source = f"{run.info.artifact_uri}/model"
    return registry.create_model_version(name, source, run_id=run.info.run_id).version


def test_lists_models_with_versions_aliases_and_tags(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("fraud", description="catches fraud")
    registry.set_registered_model_tag("fraud", "team", "risk")
    first = _version(sqlite_store, registry, "fraud")
    _version(sqlite_store, registry, "fraud")
    registry.transition_model_version_stage("fraud", first, "Production", False)
    registry.set_registered_model_alias("fraud", "champion", first)
    registry.create_registered_model("<img src=x onerror=alert(1)>")

    page = models_api.get("/models")

    assert page.status_code == 200
    rows = _rows(page.text)
    assert set(rows) == {"fraud", "&lt;img src=x onerror=alert(1)&gt;"}
    assert "v1 · Production" in rows["fraud"]
    assert "v2 · None" in rows["fraud"]
    assert "@champion → v1" in rows["fraud"]
    assert "team=risk" in rows["fraud"]
    assert "catches fraud" in rows["fraud"]
    assert "<img src=x" not in page.text
    assert 'aria-current="page">Models</a>' in page.text


def test_filter_is_kept_and_a_bad_one_is_shown_in_the_page(
    models_api: Api, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("train-a")
    registry.create_registered_model("eval-b")
    page = models_api.get("/models", params={"filter": "name LIKE 'train%'"})
    assert set(_rows(page.text)) == {"train-a"}
    assert 'value="name LIKE &#39;train%&#39;"' in page.text

    bad = models_api.get("/models", params={"filter": "name ==== 'x"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    assert "No results: fix the filter above." in bad.text


def test_without_a_registry_the_page_says_so(api: Api) -> None:
    page = api.get("/models")
    assert page.status_code == 404
    assert "no model registry" in page.text

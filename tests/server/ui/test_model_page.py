"""The registered model page, rendered by the real app over real SQLite stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from runlab.entities.registry import RegistryEvent
from runlab.server.ui.views.model import describe_event
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api


@pytest.fixture
def models_api(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> Iterator[Api]:
    yield from make_api(sqlite_store, registry_store=registry)


def _run_id(store: SqlTrackingStore) -> str:
    experiment = store.get_experiment_by_name("Default")
    assert experiment is not None
    return store.create_run(experiment.experiment_id, "u", 1_700_000_000_000, [], "r").info.run_id


def _version(store: SqlTrackingStore, registry: SqlRegistryStore, name: str, **kw: str) -> int:
    """Register a new version of ``name`` from a fresh run's ``model`` folder."""
    run_id = _run_id(store)
    source = f"{store.get_run(run_id).info.artifact_uri}/model"
    return registry.create_model_version(name, source, run_id=run_id, **kw).version


def _page_url(name: str) -> str:
    return "/models/" + quote(name, safe="")


def _versions(html: str) -> dict[str, str]:
    """Each versions-table row's version number → the row's HTML."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r'<tr id="version-\d+" data-version="(\d+)".*?</tr>', html, re.S)
    }


def _section(html: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert match, f"no table {table_id}"
    return match.group(0)


def test_shows_versions_stages_aliases_tags_and_description(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("fraud", tags={"team": "risk"}, description="catches fraud")
    first = _version(sqlite_store, registry, "fraud", description="the first one")
    second = _version(sqlite_store, registry, "fraud")
    registry.set_model_version_tag("fraud", second, "validated", "yes")
    registry.transition_model_version_stage("fraud", first, "Production")
    registry.set_registered_model_alias("fraud", "champion", first)
    registry.set_registered_model_alias("fraud", "challenger", second)

    page = models_api.get("/models/fraud")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert 'data-name="fraud"' in html
    assert '<h1 class="model-name">fraud</h1>' in html
    assert "catches fraud" in html
    rows = _versions(html)
    assert list(rows) == ["2", "1"]  # newest first
    assert 'data-stage="Production"' in rows["1"]
    assert 'data-stage="None"' in rows["2"]
    assert '<option value="Production" selected>' in rows["1"]
    assert "@champion" in rows["1"] and "@challenger" in rows["2"]
    assert "the first one" in rows["1"]
    assert "validated=yes" in rows["2"]
    assert "READY" in rows["1"]
    aliases = _section(html, "aliases")
    assert 'data-alias="champion"' in aliases and "v1" in aliases
    assert 'data-tag-key="team" data-tag-value="risk"' in _section(html, "tags")
    for table in ("aliases", "tags", "versions", "history"):
        assert re.search(rf'<table[^>]*id="{table}"[^>]*data-keynav', html)
    assert "/static/model.js?v=" in html and "/static/model.css?v=" in html
    assert 'aria-current="page">Models</a>' in html


def test_source_runs_are_linked_when_they_exist(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("clf")
    run_id = _run_id(sqlite_store)
    source = f"{sqlite_store.get_run(run_id).info.artifact_uri}/model"
    registry.create_model_version("clf", source, run_id=run_id)

    rows = _versions(models_api.get("/models/clf").text)

    assert f'<a href="/runs/{run_id}" title="Run {run_id}">r</a>' in rows["1"]
    assert source in rows["1"]


def test_a_source_run_the_tracking_store_lacks_is_shown_without_a_link(
    sqlite_store: SqlTrackingStore, registry: SqlRegistryStore, tmp_path: Path
) -> None:
    # The registry may sit beside another tracking store than the one the runs were made in.
    registry.create_registered_model("clf")
    run_id = _run_id(sqlite_store)
    registry.create_model_version(
        "clf", f"{sqlite_store.get_run(run_id).info.artifact_uri}/model", run_id=run_id
    )
    other = SqlTrackingStore(f"sqlite:///{tmp_path / 'other.db'}", (tmp_path / "a2").as_uri())
    try:
        for api in make_api(other, registry_store=registry):
            rows = _versions(api.get("/models/clf").text)
    finally:
        other.close()

    assert "/runs/" not in rows["1"]
    assert f"{run_id[:8]} (gone)" in rows["1"]


def test_history_lists_transitions_and_alias_moves_newest_first(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("clf")
    first = _version(sqlite_store, registry, "clf")
    second = _version(sqlite_store, registry, "clf")
    registry.transition_model_version_stage("clf", first, "Staging", user_id="ana")
    registry.set_registered_model_alias("clf", "champion", first)
    registry.set_registered_model_alias("clf", "champion", second)
    registry.delete_registered_model_alias("clf", "champion")

    history = _section(models_api.get("/models/clf").text, "history")

    changes = re.findall(r'<td class="change">(.*?)</td>', history)
    assert changes == [
        "Alias @champion removed",
        "Alias @champion moved from v1",
        "Alias @champion set",
        "Stage None → Staging",
    ]
    assert "ana" in history


def test_changes_through_the_api_show_after_reload(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    # The same calls model.js makes, then the page the reload shows.
    registry.create_registered_model("clf")
    _version(sqlite_store, registry, "clf")
    _version(sqlite_store, registry, "clf")
    calls = [
        ("PATCH", "registered-models/update", {"name": "clf", "description": "new text"}),
        ("POST", "registered-models/set-tag", {"name": "clf", "key": "k", "value": "v"}),
        ("POST", "registered-models/alias", {"name": "clf", "alias": "best", "version": "2"}),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "clf", "version": "1", "stage": "Production"},
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {
                "name": "clf",
                "version": "2",
                "stage": "Production",
                "archive_existing_versions": True,
            },
        ),
    ]
    for method, path, body in calls:
        assert models_api.mlflow(method, path, body).status_code == 200

    html = models_api.get("/models/clf").text

    rows = _versions(html)
    assert 'data-stage="Production"' in rows["2"]
    assert 'data-stage="Archived"' in rows["1"]
    assert "@best" in rows["2"]
    assert "new text" in html
    assert 'data-tag-key="k" data-tag-value="v"' in html
    changes = re.findall(r'<td class="change">(.*?)</td>', _section(html, "history"))
    assert changes[:2] == ["Stage Production → Archived", "Stage None → Production"]


@pytest.mark.parametrize("name", ["fraud model v2", "50% off?#x", "a.b..c", "o'brien"])
def test_names_with_spaces_and_url_characters_are_linked_and_found(
    models_api: Api, registry: SqlRegistryStore, name: str
) -> None:
    registry.create_registered_model(name, description="odd name")

    listing = models_api.get("/models").text
    href = re.search(r'<a href="(/models/[^"]+)">', listing)
    assert href is not None
    assert href.group(1) == _page_url(name)
    page = models_api.get(href.group(1))

    assert page.status_code == 200
    assert "odd name" in page.text


def test_a_name_with_a_slash_reaches_the_page_and_is_refused_there(
    models_api: Api, registry: SqlRegistryStore
) -> None:
    # The route takes the rest of the path as the name, so a slash (encoded or not) is not a
    # different address: the store says why no model can have such a name.
    for url in ("/models/team/fraud model", "/models/team%2Ffraud%20model"):
        page = models_api.get(url)
        assert page.status_code == 400
        assert 'id="model-error"' in page.text
        assert "may not contain &#39;/&#39;" in page.text


def test_unknown_model_is_a_404_with_the_message_in_the_page(
    models_api: Api, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("known")

    page = models_api.get("/models/nope")

    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'id="model-error"' in page.text
    assert re.search(r"nope", page.text.split('id="model-error"')[1])
    assert 'src="/static/model.js' not in page.text  # nothing to act on


def test_traversal_like_path_is_a_model_name_not_a_file(
    models_api: Api, registry: SqlRegistryStore
) -> None:
    page = models_api.get("/models/..%2F..%2Fetc%2Fpasswd")

    assert page.status_code == 400
    assert 'id="model-error"' in page.text
    assert "root:" not in page.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("x" * 300, "at most 256"),
        ("a%00b", "control characters"),
        ("%20lead", "white space"),
    ],
)
def test_names_no_model_can_have_are_refused_in_the_page(
    models_api: Api, path: str, message: str
) -> None:
    page = models_api.get(f"/models/{path}")

    assert page.status_code == 400
    error = re.search(r'id="model-error">(.*?)</p>', page.text, re.S)
    assert error is not None and message in error.group(1)


def test_empty_name_is_refused_in_the_page(models_api: Api) -> None:
    page = models_api.get("/models/")

    assert 400 <= page.status_code < 500
    assert 'id="model-error"' in page.text


def test_without_a_registry_the_page_says_so(api: Api) -> None:
    page = api.get("/models/anything")

    assert page.status_code == 404
    assert "no model registry" in page.text


def test_markup_in_names_descriptions_and_tags_is_escaped(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    evil = "<script>alert(1)</script>"
    name = "<b>bold<b>"
    registry.create_registered_model(name, tags={"k": evil}, description=evil)
    _version(sqlite_store, registry, name, description=evil)

    page = models_api.get(_page_url(name))

    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<b>bold" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'data-name="&lt;b&gt;bold&lt;b&gt;"' in page.text


def test_a_deleted_version_reads_as_such_in_the_history() -> None:
    event = RegistryEvent("m", "stage", "3", "Staging", None, 0)
    row = describe_event(event)
    assert (row.version, row.change) == ("3", "Version deleted (was Staging)")

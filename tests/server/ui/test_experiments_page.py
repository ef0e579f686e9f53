"""The experiments list page, rendered by the real app over a real SQLite store."""

from __future__ import annotations

import re

from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api


def _rows(html: str) -> dict[str, str]:
    """Each experiment row's name attribute → the row's HTML."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(
            r'<tr data-experiment-id="\d+" data-name="([^"]*)".*?</tr>', html, re.S
        )
    }


def test_lists_experiments_with_run_counts_and_last_activity(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    busy = sqlite_store.create_experiment("busy")
    sqlite_store.create_experiment("idle")
    run = sqlite_store.create_run(busy, "u", 1_700_000_000_000, [], "r1")
    sqlite_store.create_run(busy, "u", 1_700_000_001_000, [], "r2")
    # Far in the future, so it is later than the experiment's own last update (now).
    sqlite_store.update_run_info(run.info.run_id, "FINISHED", end_time=4_102_444_800_000)

    for url in ("/", "/experiments"):
        page = api.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        rows = _rows(page.text)
        assert set(rows) == {"busy", "idle", "Default"}
        assert re.search(r'<td class="num">2</td>', rows["busy"])
        assert "2100-01-01 00:00:00" in rows["busy"]
        assert re.search(r'<td class="num">0</td>', rows["idle"])
    assert 'aria-current="page">Experiments</a>' in page.text
    assert "/static/experiments.js?v=" in page.text


def test_search_filters_by_name_and_keeps_the_query(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    sqlite_store.create_experiment("train-a")
    sqlite_store.create_experiment("eval-b")

    page = api.get("/experiments", params={"filter": "name LIKE 'train%'"})

    assert page.status_code == 200
    assert set(_rows(page.text)) == {"train-a"}
    assert 'value="name LIKE &#39;train%&#39;"' in page.text


def test_malformed_filter_is_shown_in_the_page(api: Api) -> None:
    page = api.get("/experiments", params={"filter": "name ==== 'x"})

    assert page.status_code == 400
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'id="filter-error"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "No results: fix the filter above." in page.text


def test_deleted_experiments_show_with_the_view_toggle(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    gone = sqlite_store.create_experiment("gone")
    sqlite_store.create_experiment("kept")
    sqlite_store.delete_experiment(gone)

    assert set(_rows(api.get("/experiments").text)) == {"kept", "Default"}
    deleted = api.get("/experiments", params={"view": "deleted"}).text
    assert set(_rows(deleted)) == {"gone"}
    assert 'data-action="restore"' in deleted
    assert set(_rows(api.get("/experiments", params={"view": "all"}).text)) == {
        "gone",
        "kept",
        "Default",
    }


def test_names_are_escaped(api: Api, sqlite_store: SqlTrackingStore) -> None:
    sqlite_store.create_experiment("<script>alert(1)</script>")

    page = api.get("/experiments").text

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_bad_page_token_is_shown_in_the_page(api: Api, sqlite_store: SqlTrackingStore) -> None:
    page = api.get("/experiments", params={"page_token": "not-a-token"})

    assert page.status_code == 400
    assert 'id="filter-error"' in page.text


def test_pages_allow_only_their_own_scripts(api: Api) -> None:
    import base64
    import hashlib

    page = api.get("/experiments")

    policy = page.headers["content-security-policy"]
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"

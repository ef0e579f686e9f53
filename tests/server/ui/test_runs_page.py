"""The runs table of an experiment, rendered by the real app over a real SQLite store."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

from runlab.entities import Metric, Param, RunTag
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

T0 = 1_700_000_000_000


def _names(page: str) -> list[str]:
    """The run names of the table's rows, in order."""
    return re.findall(r'<tr data-run-id="[0-9a-f]+" data-name="([^"]*)"', page)


def _row(page: str, name: str) -> str:
    match = re.search(
        rf'<tr data-run-id="[0-9a-f]+" data-name="{re.escape(name)}".*?</tr>', page, re.S
    )
    assert match, f"no row {name!r}"
    return match.group(0)


def _headers(page: str) -> dict[str, str]:
    """Each header's column name → the header's HTML."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r'<th scope="col"[^>]*data-column="([^"]*)".*?</th>', page, re.S)
    }


def _link(fragment: str) -> str:
    match = re.search(r'href="([^"]*)"', fragment)
    assert match
    return html.unescape(match.group(1))


def _pager(page: str, rel: str) -> str | None:
    """The address of the Previous ("prev") or Next ("next") link, if there is one."""
    match = re.search(rf'<a href="([^"]*)" rel="{rel}"', page)
    return html.unescape(match.group(1)) if match else None


def _run(
    store: SqlTrackingStore,
    exp: str,
    name: str,
    start: int = T0,
    acc: float | None = None,
    lr: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    tag_list = [RunTag(k, v) for k, v in (tags or {}).items()]
    run_id = store.create_run(exp, "alice", start, tag_list, name).info.run_id
    metrics = [Metric("acc", acc, start, 0)] if acc is not None else []
    params = [Param("lr", lr)] if lr is not None else []
    store.log_batch(run_id, metrics, params, [])
    return run_id


@pytest.fixture
def exp(sqlite_store: SqlTrackingStore) -> str:
    """An experiment with three finished runs (acc 0.5, 0.9, 0.7; the last started latest)."""
    exp = sqlite_store.create_experiment("vision", tags={"mlflow.note.content": "Try <b>lr</b>"})
    for i, (name, acc, lr) in enumerate([("a", 0.5, "0.1"), ("b", 0.9, "0.01"), ("c", 0.7, "0.1")]):
        run_id = _run(sqlite_store, exp, name, T0 + i * 1000, acc, lr)
        sqlite_store.update_run_info(run_id, "FINISHED", end_time=T0 + i * 1000 + 65_000)
    return exp


def test_lists_runs_newest_first_with_the_fixed_columns(
    api: Api, sqlite_store: SqlTrackingStore, exp: str
) -> None:
    src = "/home/alice/project/train_a_very_long_script_name_for_vision.py"
    running = _run(sqlite_store, exp, "live", T0 + 5000, tags={"mlflow.source.name": src})

    page = api.get(f"/experiments/{exp}")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert _names(page.text) == ["live", "c", "b", "a"]
    assert "<h1>vision" in page.text
    assert f"<dd>{exp}</dd>" in page.text
    # The description is the experiment's note, escaped.
    assert "Try &lt;b&gt;lr&lt;/b&gt;" in page.text
    a = _row(page.text, "a")
    assert '<span class="status status-finished">FINISHED</span>' in a
    assert "1m 05s" in a
    assert "<td>alice</td>" in a
    live = _row(page.text, "live")
    assert f'href="/runs/{running}"' in live
    assert "running for" in live
    assert "train_a_very_long_script_name_f…" in live
    assert f'title="{src}"' in live
    # Metrics and params are columns by default, metrics right-aligned.
    assert set(_headers(page.text)) >= {"metrics.acc", "params.lr"}
    assert '<td class="num" title="0.9">0.9</td>' in _row(page.text, "b")
    assert "data-keynav" in page.text
    assert "/static/runs.js?v=" in page.text
    assert "/static/runs.css?v=" in page.text


def test_experiments_list_links_to_the_runs_table(api: Api, exp: str) -> None:
    page = api.get("/experiments")

    assert f'<a href="/experiments/{exp}">vision</a>' in page.text


def test_filter_with_the_search_grammar_is_kept_in_the_page(
    api: Api, sqlite_store: SqlTrackingStore, exp: str
) -> None:
    query = "metrics.acc > 0.6 and params.lr = '0.1' and attributes.status = 'FINISHED'"

    page = api.get(f"/experiments/{exp}", params={"filter": query})

    assert page.status_code == 200
    assert _names(page.text) == ["c"]
    assert f'value="{escape(query)}"' in page.text
    # Sort links keep the filter.
    sort = _link(_headers(page.text)["metrics.acc"])
    assert parse_qs(urlsplit(sort).query)["filter"] == [query]


def test_tag_filter(api: Api, sqlite_store: SqlTrackingStore, exp: str) -> None:
    _run(sqlite_store, exp, "tagged", tags={"team": "x"})

    page = api.get(f"/experiments/{exp}", params={"filter": "tags.team = 'x'"})

    assert _names(page.text) == ["tagged"]


@pytest.mark.parametrize(
    "query", ["metrics.acc >", "params.lr == '0.1'", "nonsense.key = 1", "metrics.acc > 'x"]
)
def test_malformed_filter_shows_the_stores_message_and_no_rows(
    api: Api, exp: str, query: str
) -> None:
    page = api.get(f"/experiments/{exp}", params={"filter": query})

    assert page.status_code == 400
    assert 'id="filter-error"' in page.text
    assert "Invalid filter" in page.text
    assert 'aria-invalid="true"' in page.text
    assert _names(page.text) == []
    assert "No results: fix the error above." in page.text
    # The experiment's header and the filter box stay, so the filter can be fixed.
    assert "<h1>vision" in page.text
    assert f'value="{escape(query)}"' in page.text


def test_sort_by_a_metric_both_ways_by_clicking_its_header_twice(api: Api, exp: str) -> None:
    first = _link(_headers(api.get(f"/experiments/{exp}").text)["metrics.acc"])
    assert parse_qs(urlsplit(first).query)["order_by"] == ["metrics.`acc` DESC"]

    page = api.get(first)

    assert page.status_code == 200
    assert _names(page.text) == ["b", "c", "a"]
    header = _headers(page.text)["metrics.acc"]
    assert 'aria-sort="descending"' in header
    flipped = api.get(_link(header))
    assert _names(flipped.text) == ["a", "c", "b"]
    assert 'aria-sort="ascending"' in _headers(flipped.text)["metrics.acc"]


def test_sort_by_an_attribute_both_ways(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"order_by": "attributes.run_name ASC"})
    assert _names(page.text) == ["a", "b", "c"]
    header = _headers(page.text)["attributes.run_name"]
    assert 'aria-sort="ascending"' in header
    assert parse_qs(urlsplit(_link(header)).query)["order_by"] == ["attributes.run_name DESC"]

    flipped = api.get(_link(header))

    assert _names(flipped.text) == ["c", "b", "a"]
    # Start time's first click is newest first; the default order is that too.
    start = _link(_headers(flipped.text)["attributes.start_time"])
    assert parse_qs(urlsplit(start).query)["order_by"] == ["attributes.start_time DESC"]
    assert _names(api.get(start).text) == ["c", "b", "a"]


def test_sort_by_a_key_with_dots_and_spaces(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("odd keys")
    for name, value in [("low", 1.0), ("high", 2.0)]:
        run_id = _run(sqlite_store, exp, name)
        sqlite_store.log_batch(run_id, [Metric("val loss.mean", value, T0, 0)], [], [])

    first = api.get(f"/experiments/{exp}")
    page = api.get(_link(_headers(first.text)["metrics.val loss.mean"]))

    assert page.status_code == 200
    assert _names(page.text) == ["high", "low"]


def test_malformed_order_by_is_shown_in_the_page(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"order_by": "duration DESC"})

    assert page.status_code == 400
    assert 'id="filter-error"' in page.text
    assert "Invalid order_by clause" in page.text
    assert "unknown run attribute" in page.text
    assert _names(page.text) == []


def test_duration_is_not_offered_as_a_sort(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}").text

    assert '<th scope="col" class="num">Duration</th>' in page


def test_columns_from_the_address(api: Api, sqlite_store: SqlTrackingStore, exp: str) -> None:
    _run(sqlite_store, exp, "tagged", tags={"team": "x"})

    page = api.get(f"/experiments/{exp}", params={"columns": ["tags.team", "params.lr"]})

    assert page.status_code == 200
    chosen = [h for h in _headers(page.text) if not h.startswith("attributes.")]
    assert chosen == ["tags.mlflow.source.name", "tags.team", "params.lr"]
    assert '<td class="" title="x">x</td>' in _row(page.text, "tagged")
    # The chooser ticks what is shown; system tags are offered but marked.
    assert 'value="tags.team" checked' in page.text
    assert 'value="metrics.acc">' in page.text
    assert 'class="choice system" data-key="mlflow.runname"' in page.text
    # Links keep the choice.
    sort = _link(_headers(page.text)["attributes.status"])
    assert parse_qs(urlsplit(sort).query)["columns"] == ["tags.team", "params.lr"]


def test_choosing_no_columns_is_not_the_defaults(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"columns": ""})

    assert page.status_code == 200
    assert "metrics.acc" not in _headers(page.text)
    assert "<summary>Columns (0)</summary>" in page.text


def test_default_columns_stop_at_eight_and_leave_out_tags(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("wide")
    run_id = _run(sqlite_store, exp, "r", tags={"team": "x"})
    sqlite_store.log_batch(
        run_id,
        [Metric(f"m{i}", 1.0, T0, 0) for i in range(5)],
        [Param(f"p{i}", "1") for i in range(5)],
        [],
    )

    chosen = [h for h in _headers(api.get(f"/experiments/{exp}").text) if "." in h]

    assert chosen[:2] == ["attributes.run_name", "attributes.status"]
    assert chosen[5:] == [f"metrics.m{i}" for i in range(5)] + [
        "params.p0",
        "params.p1",
        "params.p2",
    ]


@pytest.mark.parametrize("column", ["foo.bar", "metrics", "metrics.", "attributes.status"])
def test_unknown_column_is_a_400_in_the_page(api: Api, exp: str, column: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"columns": column})

    assert page.status_code == 400
    assert "Unknown column" in html.unescape(page.text)
    assert "<h1>vision" in page.text


@pytest.mark.parametrize("size", ["7", "abc", "-1", "100000"])
def test_bad_page_size_is_a_400_in_the_page(api: Api, exp: str, size: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"max_results": size})

    assert page.status_code == 400
    assert "is not one of 25, 50, 100, 500" in html.unescape(page.text)


def test_bad_view_is_a_400_in_the_page(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"view": "everything"})

    assert page.status_code == 400
    assert "Unknown view" in html.unescape(page.text)


def test_pages_forward_and_back_with_the_stores_tokens(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("many")
    for i in range(60):
        _run(sqlite_store, exp, f"r{i:02d}", T0 + i)

    first = api.get(f"/experiments/{exp}", params={"max_results": "25"})
    assert _names(first.text) == [f"r{i:02d}" for i in range(59, 34, -1)]
    assert _pager(first.text, "prev") is None
    second = api.get(_pager(first.text, "next") or "")
    assert _names(second.text) == [f"r{i:02d}" for i in range(34, 9, -1)]
    assert "Page 2" in second.text
    third = api.get(_pager(second.text, "next") or "")
    assert _names(third.text) == [f"r{i:02d}" for i in range(9, -1, -1)]
    assert _pager(third.text, "next") is None

    again = api.get(_pager(third.text, "prev") or "")
    assert _names(again.text) == _names(second.text)
    start = api.get(_pager(again.text, "prev") or "")
    assert _names(start.text) == _names(first.text)
    assert "Page 1" in start.text


def test_a_bad_page_token_is_shown_in_the_page(api: Api, exp: str) -> None:
    page = api.get(f"/experiments/{exp}", params={"page_token": "not-a-token"})

    assert page.status_code == 400
    assert 'id="filter-error"' in page.text
    assert _names(page.text) == []


def test_children_are_nested_under_a_parent_on_the_page(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("nested")
    parent = _run(sqlite_store, exp, "parent", T0)
    child = _run(sqlite_store, exp, "child", T0 + 2, tags={"mlflow.parentRunId": parent})
    _run(sqlite_store, exp, "grandchild", T0 + 3, tags={"mlflow.parentRunId": child})
    _run(sqlite_store, exp, "solo", T0 + 1)

    page = api.get(f"/experiments/{exp}").text

    # Newest first at the top level; children follow their parent whatever their start time.
    assert _names(page) == ["solo", "parent", "child", "grandchild"]
    assert 'class="toggle" aria-expanded="true"' in _row(page, "parent")
    assert "1 child<" in _row(page, "parent")
    assert f'data-parent-id="{parent}"' in _row(page, "child")
    assert 'class="depth-1"' in _row(page, "child")
    assert f'data-parent-id="{child}"' in _row(page, "grandchild")
    assert 'class="depth-2"' in _row(page, "grandchild")
    assert "data-parent-id" not in _row(page, "solo")


def test_a_child_whose_parent_is_not_on_the_page_names_its_parent(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("split")
    parent = _run(sqlite_store, exp, "the parent", T0, acc=0.1)
    _run(sqlite_store, exp, "orphan", T0 + 1, acc=0.9, tags={"mlflow.parentRunId": parent})
    _run(sqlite_store, exp, "lost", T0 + 2, acc=0.8, tags={"mlflow.parentRunId": "f" * 32})

    page = api.get(
        f"/experiments/{exp}", params={"filter": "metrics.acc > 0.5", "order_by": "start_time"}
    ).text

    assert _names(page) == ["orphan", "lost"]
    orphan = _row(page, "orphan")
    assert "data-parent-id" not in orphan
    assert f'child of <a href="/runs/{parent}">the parent</a>' in orphan
    assert 'child of <a href="/runs/ffffffffffffffffffffffffffffffff">ffffffff</a>' in _row(
        page, "lost"
    )


def test_a_parent_loop_still_shows_every_run_once(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("loop")
    first = _run(sqlite_store, exp, "first", T0)
    second = _run(sqlite_store, exp, "second", T0 + 1, tags={"mlflow.parentRunId": first})
    sqlite_store.set_tag(first, RunTag("mlflow.parentRunId", second))
    _run(sqlite_store, exp, "self", T0 + 2)
    sqlite_store.set_tag(
        _run(sqlite_store, exp, "own parent", T0 + 3), RunTag("mlflow.parentRunId", "x")
    )

    page = api.get(f"/experiments/{exp}").text

    assert sorted(_names(page)) == ["first", "own parent", "second", "self"]
    # The loop is cut at its newest run, which names its parent on the page.
    assert f'child of <a href="/runs/{first}">first</a>' in _row(page, "second")


def test_deleted_view_and_all_view(api: Api, sqlite_store: SqlTrackingStore, exp: str) -> None:
    gone = _run(sqlite_store, exp, "gone", T0 + 9000)
    sqlite_store.delete_run(gone)

    assert "gone" not in _names(api.get(f"/experiments/{exp}").text)
    deleted = api.get(f"/experiments/{exp}", params={"view": "deleted"}).text
    assert _names(deleted) == ["gone"]
    assert '<span class="badge">deleted</span>' in _row(deleted, "gone")
    assert 'id="restore-selected"' in deleted
    assert 'id="delete-selected"' not in deleted
    assert '<option value="deleted" selected>' in deleted
    everything = api.get(f"/experiments/{exp}", params={"view": "all"}).text
    assert _names(everything) == ["gone", "c", "b", "a"]
    assert 'id="restore-selected"' in everything and 'id="delete-selected"' in everything


def test_unknown_experiment_is_a_404_page(api: Api) -> None:
    page = api.get("/experiments/424242")

    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Experiment not found" in page.text
    assert "424242" in page.text
    assert 'id="filter-error"' in page.text


@pytest.mark.parametrize("bad_id", ["abc", "1 OR 1=1", "-1", "1.5"])
def test_a_malformed_experiment_id_is_not_found_in_the_page(api: Api, bad_id: str) -> None:
    page = api.get(f"/experiments/{bad_id}")

    assert page.status_code == 404
    assert "Experiment not found" in page.text
    assert 'id="filter-error"' in page.text


def test_a_traversal_path_is_no_page(api: Api) -> None:
    page = api.get("/experiments/..%2F..%2Fetc%2Fpasswd")

    assert page.status_code == 404
    assert "Nothing here" in page.text or "Experiment not found" in page.text


def test_names_and_values_are_escaped(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("<script>x</script>")
    run_id = _run(sqlite_store, exp, "<img src=x onerror=alert(1)>", lr="<b>")

    page = api.get(f"/experiments/{exp}").text

    assert "<script>x</script>" not in page
    assert "<img src=x" not in page
    assert "<b>" not in page
    assert f'href="/runs/{run_id}"' in page


def test_a_deleted_experiment_still_shows_its_runs_marked_deleted(
    api: Api, sqlite_store: SqlTrackingStore, exp: str
) -> None:
    sqlite_store.delete_experiment(exp)

    page = api.get(f"/experiments/{exp}", params={"view": "deleted"})

    assert page.status_code == 200
    assert '<h1>vision <span class="badge">deleted</span></h1>' in page.text
    # Deleting an experiment deletes its runs; they are in the deleted view, restorable.
    assert sorted(_names(page.text)) == ["a", "b", "c"]

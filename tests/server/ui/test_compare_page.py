"""The compare page, rendered by the real app over a real SQLite store."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from runlab.entities import Metric, Param
from runlab.server.ui.views.compare import MAX_RUNS, PARALLEL_PARAMS, run_color
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

T0 = 1_700_000_000_000


def _run(
    store: SqlTrackingStore,
    experiment_id: str,
    name: str,
    params: dict[str, str],
    metrics: dict[str, float],
) -> str:
    run = store.create_run(experiment_id, "u", T0, [], name)
    run_id = run.info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric(k, v, T0 + 1, 3) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
    )
    return run_id


def _rows(page: str) -> dict[str, str]:
    """Each table row's key → the row's HTML."""
    return {
        html.unescape(m.group(2)): m.group(0)
        for m in re.finditer(r'<tr class="(differs|same)" data-key="([^"]*)">.*?</tr>', page, re.S)
    }


def _cells(row: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _data(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="compare-data">(.*?)</script>', page, re.S
    )
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _compare(api: Api, *run_ids: str) -> Any:
    return api.get("/compare", params=[("runs", r) for r in run_ids])


@pytest.fixture
def two_runs(sqlite_store: SqlTrackingStore) -> tuple[str, str]:
    """alpha and beta: lr, seed, layers and loss differ; optimizer and acc do not."""
    exp = sqlite_store.create_experiment("tuning")
    alpha = {"lr": "0.1", "optimizer": "adam", "seed": "1"}
    beta = {"lr": "0.01", "optimizer": "adam", "layers": "4"}
    return (
        _run(sqlite_store, exp, "alpha", alpha, {"loss": 0.5, "acc": 0.9}),
        _run(sqlite_store, exp, "beta", beta, {"loss": 0.25, "acc": 0.9}),
    )


def test_table_lists_params_then_metrics_with_a_column_per_run(
    api: Api, two_runs: tuple[str, str]
) -> None:
    a, b = two_runs

    page = _compare(api, a, b)

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    rows = _rows(page.text)
    # Params sorted by key, then metrics sorted by key.
    assert list(rows) == ["layers", "lr", "optimizer", "seed", "acc", "loss"]
    assert _cells(rows["lr"]) == ["0.1", "0.01"]
    assert _cells(rows["layers"]) == ["—", "4"]
    assert _cells(rows["loss"]) == ["0.5", "0.25"]
    # Column headers: the runs in the order asked, linked to their pages.
    head = page.text.split("<thead>")[2].split("</thead>")[0]
    assert head.index(f'href="/runs/{a}">alpha') < head.index(f'href="/runs/{b}">beta')


def test_rows_that_differ_are_marked_for_eyes_and_screen_readers(
    api: Api, two_runs: tuple[str, str]
) -> None:
    rows = _rows(_compare(api, *two_runs).text)

    differing = {key for key, row in rows.items() if row.startswith('<tr class="differs"')}
    # A key one run lacks differs too (seed, layers); equal values do not (optimizer, acc).
    assert differing == {"layers", "lr", "seed", "loss"}
    assert '<span class="visually-hidden">differs: </span>' in rows["lr"]
    assert "differs" not in rows["optimizer"].split(">", 1)[1]
    assert "4 of 6 rows differ" in _compare(api, *two_runs).text


def test_header_lists_runs_with_experiment_status_and_a_colour(
    api: Api, sqlite_store: SqlTrackingStore, two_runs: tuple[str, str]
) -> None:
    a, b = two_runs
    sqlite_store.update_run_info(b, "FAILED", end_time=T0 + 5)

    page = _compare(api, a, b).text

    runs = re.search(r'<table class="grid" id="compare-runs".*?</table>', page, re.S)
    assert runs is not None
    row_b = re.search(rf'<tr data-run-id="{b}">.*?</tr>', runs.group(0), re.S)
    assert row_b is not None
    assert f'<a href="/runs/{b}">beta</a>' in row_b.group(0)
    assert ">tuning</a>" in row_b.group(0)
    assert "<td>FAILED</td>" in row_b.group(0)
    assert f"background-color: {run_color(1)}" in row_b.group(0)
    # The plots get the same colour for the same run.
    assert _data(page)["runs"][1] == {"id": b, "name": "beta", "color": run_color(1)}


def test_runs_of_different_experiments_compare(api: Api, sqlite_store: SqlTrackingStore) -> None:
    first = sqlite_store.create_experiment("first")
    second = sqlite_store.create_experiment("second")
    a = _run(sqlite_store, first, "a", {"lr": "1"}, {"loss": 1.0})
    b = _run(sqlite_store, second, "b", {"lr": "2"}, {"loss": 2.0})

    page = _compare(api, a, b)

    assert page.status_code == 200
    assert f'href="/experiments/{first}">first</a>' in page.text
    assert f'href="/experiments/{second}">second</a>' in page.text


def test_embedded_data_carries_every_column_for_the_plots(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("e")
    a = _run(sqlite_store, exp, "a", {"lr": "0.1"}, {"loss": float("nan"), "acc": 0.5})
    b = _run(sqlite_store, exp, "b", {"opt": "sgd"}, {"loss": 1.5})

    page = _compare(api, a, b).text

    data = _data(page)
    columns = {(c["kind"], c["key"]): c for c in data["columns"]}
    assert columns["param", "lr"]["values"] == ["0.1", None]
    assert columns["param", "opt"]["values"] == [None, "sgd"]
    # JSON has no NaN: a plot leaves it out, the table still says what it is.
    assert columns["metric", "loss"]["values"] == [None, 1.5]
    assert columns["metric", "acc"] == {
        "kind": "metric",
        "key": "acc",
        "values": [0.5, None],
        "present": [True, False],
        "differs": True,
    }
    # A NaN metric is still there: its run gets a line in the metric's chart.
    assert columns["metric", "loss"]["present"] == [True, True]
    assert _cells(_rows(page)["loss"])[0] == "NaN"


def test_a_script_end_tag_in_a_value_cannot_break_out_of_the_data(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("e")
    evil = "</script><script>alert(1)</script>"
    a = _run(sqlite_store, exp, evil, {"note": evil}, {})
    b = _run(sqlite_store, exp, "b", {"note": "fine"}, {})

    page = _compare(api, a, b).text

    assert evil not in page
    assert "<script>alert(1)" not in page
    data = _data(page)
    assert data["runs"][0]["name"] == evil
    assert data["columns"][0]["values"] == [evil, "fine"]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_first_four_metrics_are_charted_and_every_metric_is_offered(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("e")
    metrics = {f"m{i}": float(i) for i in range(6)}
    a = _run(sqlite_store, exp, "a", {"p": "x"}, metrics)
    b = _run(sqlite_store, exp, "b", {"p": "y"}, metrics)

    page = _compare(api, a, b).text

    boxes = re.findall(r'<input type="checkbox" name="metric" value="([^"]+)"( checked)?>', page)
    assert [(key, bool(checked)) for key, checked in boxes] == [(f"m{i}", i < 4) for i in range(6)]
    assert re.findall(r'<figure class="compare-chart" data-metric="([^"]+)"', page) == [
        "m0",
        "m1",
        "m2",
        "m3",
    ]
    # The scatter's axes default to a param that differs against the first metric.
    assert '<option value="param:p" selected>' in page
    assert '<option value="metric:m0" selected>' in page
    assert "/static/compare.js?v=" in page
    assert "/static/vendor/plotly-" in page


def test_duplicate_ids_count_once(api: Api, two_runs: tuple[str, str]) -> None:
    a, b = two_runs

    page = _compare(api, a, b, a, b)

    assert page.status_code == 200
    assert len(_data(page.text)["runs"]) == 2


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_runs_is_a_400_in_the_page(
    api: Api, two_runs: tuple[str, str], count: int
) -> None:
    page = _compare(api, *two_runs[:count])

    assert page.status_code == 400
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'id="compare-error"' in page.text
    assert "Choose at least 2 different runs to compare" in page.text
    assert "compare-data" not in page.text


def test_one_run_named_twice_is_still_one_run(api: Api, two_runs: tuple[str, str]) -> None:
    page = _compare(api, two_runs[0], two_runs[0], " ")

    assert page.status_code == 400
    assert "(got 1)" in page.text


def test_more_than_the_limit_is_a_400_in_the_page(api: Api) -> None:
    page = _compare(api, *(f"{i:032x}" for i in range(MAX_RUNS + 1)))

    assert page.status_code == 400
    assert 'id="compare-error"' in page.text
    assert f"At most {MAX_RUNS} runs can be compared at once (got {MAX_RUNS + 1})" in page.text


@pytest.mark.parametrize(
    "bad", ["0" * 32, "no-such-run", "../../etc/passwd", "<b>x</b>", "' OR 1=1 --", "%", "é"]
)
def test_an_unknown_run_is_a_404_that_names_it(
    api: Api, two_runs: tuple[str, str], bad: str
) -> None:
    page = _compare(api, two_runs[0], bad)

    assert page.status_code == 404
    error = re.search(r'<p class="error" role="alert" id="compare-error">(.*?)</p>', page.text)
    assert error is not None
    assert bad in html.unescape(error.group(1))
    assert "<b>x</b>" not in page.text


def test_a_hundred_runs_compare(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("many")
    ids = [_run(sqlite_store, exp, f"r{i}", {"i": str(i)}, {"m": i / 10}) for i in range(MAX_RUNS)]

    page = _compare(api, *ids)

    assert page.status_code == 200
    data = _data(page.text)
    assert [r["name"] for r in data["runs"]] == [f"r{i}" for i in range(MAX_RUNS)]
    # Past the palette, colours keep coming and stay distinct from each other.
    assert len({r["color"] for r in data["runs"]}) == MAX_RUNS


def test_runs_without_params_or_metrics_say_so(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("e")
    a = _run(sqlite_store, exp, "a", {}, {})
    b = _run(sqlite_store, exp, "b", {}, {})

    page = _compare(api, a, b)

    assert page.status_code == 200
    assert "None of these runs has logged a metric." in page.text
    assert "No params logged." in page.text
    assert "No metrics logged." in page.text
    assert _data(page.text)["columns"] == []


def test_only_this_page_may_eval_for_plotlys_webgl_plots(
    api: Api, two_runs: tuple[str, str]
) -> None:
    policy = _compare(api, *two_runs).headers["content-security-policy"]
    others = api.get("/experiments").headers["content-security-policy"]

    # Everything else stays as strict as on every other page.
    assert policy == others.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
    assert "'unsafe-eval'" not in others


def test_keys_sort_naturally(api: Api, sqlite_store: SqlTrackingStore) -> None:
    exp = sqlite_store.create_experiment("e")
    metrics = {"m10": 1.0, "m2": 2.0, "M1": 3.0}
    a = _run(sqlite_store, exp, "a", {"layer10": "x", "layer9": "y"}, metrics)
    b = _run(sqlite_store, exp, "b", {"layer10": "x", "layer9": "y"}, metrics)

    assert list(_rows(_compare(api, a, b).text)) == ["layer9", "layer10", "M1", "m2", "m10"]


def test_scatter_of_metrics_only_defaults_to_two_different_metrics(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("e")
    a = _run(sqlite_store, exp, "a", {}, {"acc": 0.5, "loss": 1.0})
    b = _run(sqlite_store, exp, "b", {}, {"acc": 0.6, "loss": 2.0})

    page = _compare(api, a, b).text

    x = re.search(r'<select id="scatter-x">.*?</select>', page, re.S)
    y = re.search(r'<select id="scatter-y">.*?</select>', page, re.S)
    assert x is not None and y is not None
    assert '<option value="metric:acc" selected>' in x.group(0)
    assert '<option value="metric:loss" selected>' in y.group(0)


def test_parallel_coordinates_start_with_the_first_params_that_differ(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    exp = sqlite_store.create_experiment("e")
    same = {"constant": "1"}
    a = _run(sqlite_store, exp, "a", {**same, **{f"p{i}": "a" for i in range(10)}}, {"m": 1.0})
    b = _run(sqlite_store, exp, "b", {**same, **{f"p{i}": "b" for i in range(10)}}, {"m": 2.0})

    page = _compare(api, a, b).text

    boxes = re.findall(r'<input type="checkbox" name="param" value="([^"]+)"( checked)?>', page)
    checked = [key for key, on in boxes if on]
    assert checked == [f"p{i}" for i in range(PARALLEL_PARAMS)]
    assert len(boxes) == 11  # every param can be chosen, the constant one too

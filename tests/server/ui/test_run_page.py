"""The run page, rendered by the real app over a real SQLite store."""

from __future__ import annotations

import html
import json
import re

import pytest

from runlab.entities import Metric, Param, RunTag
from runlab.server.ui.formatting import format_duration, format_number
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

START = 1_700_000_000_000


def _section(page: str, section_id: str) -> str:
    """The HTML of one ``<section id=...>`` of the page."""
    match = re.search(rf'<section id="{section_id}".*?</section>', page, re.S)
    assert match, section_id
    return match.group(0)


def _cells(row_html: str) -> list[str]:
    """The text of each cell of one table row."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row_html, re.S)
    ]


def _rows(table_html: str) -> list[list[str]]:
    return [_cells(row) for row in re.findall(r"<tr[^>]*>.*?</tr>", table_html, re.S)[1:]]


@pytest.fixture
def run_id(sqlite_store: SqlTrackingStore) -> str:
    """A finished run with params, metrics, tags, a description and source details."""
    experiment = sqlite_store.create_experiment("vision")
    tags = [
        RunTag("mlflow.source.name", "train.py"),
        RunTag("mlflow.source.type", "LOCAL"),
        RunTag("mlflow.source.git.commit", "0123456789abcdef0123"),
        RunTag("mlflow.project.entryPoint", "main"),
        RunTag("mlflow.note.content", "Baseline with\nthe new augmentations"),
        RunTag("team", "perception"),
    ]
    run = sqlite_store.create_run(experiment, "alice", START, tags, "baseline")
    rid = run.info.run_id
    sqlite_store.log_batch(
        rid,
        metrics=[Metric("loss", 1.0 / (s + 1), START + s, s) for s in range(50)]
        + [Metric("loss", 9.5, START + 3, 3), Metric("acc", 0.75, START, 0)],
        params=[Param("lr", "0.01"), Param("layers", "12")],
    )
    sqlite_store.update_run_info(rid, "FINISHED", end_time=START + 125_000)
    return rid


def test_overview_fields(api: Api, run_id: str) -> None:
    page = api.get(f"/runs/{run_id}")

    assert page.status_code == 200
    text = page.text
    overview = _section(text, "overview")
    assert f'<code id="run-id">{run_id}</code>' in overview
    assert re.search(r'<a href="/experiments/\d+">vision</a>', overview)
    assert "baseline" in text and 'class="status status-finished">finished<' in text
    assert "2023-11-14 22:13:20" in overview  # start, UTC
    assert "2023-11-14 22:15:25" in overview  # end
    assert '<dd id="duration">2m 05s' in overview
    assert "<dd>alice</dd>" in overview
    assert "train.py" in overview and "(local)" in overview
    assert 'title="0123456789abcdef0123">0123456789ab</code>' in overview
    assert "<dd>main</dd>" in overview
    assert 'id="parent">\n    —' in overview or re.search(r'id="parent">\s*—', overview)
    # Plotly.js is not a script of the page (it would hold the page up for a second): charts
    # load it from the address in the meta tag once their first drawing is on screen.
    assert 'src="/static/vendor/plotly-' not in text
    assert re.search(
        r'<meta name="runlab-plotly" content="/static/vendor/plotly-[\d.]+\.min\.js">', text
    )
    assert 'src="/static/run.js?v=' in text
    assert "/static/charts.css?v=" in text and "/static/artifacts.css?v=" in text
    assert f'<section id="artifacts" data-run-id="{run_id}"' in text


def test_description_params_and_tags(api: Api, run_id: str) -> None:
    text = api.get(f"/runs/{run_id}").text

    description = _section(text, "description")
    assert "Baseline with\nthe new augmentations</div>" in description
    assert "Baseline with\nthe new augmentations</textarea>" in description
    assert _rows(_section(text, "params")) == [["layers", "12"], ["lr", "0.01"]]
    tags = _section(text, "tags")
    # User tags are editable rows; mlflow.* tags sit in the collapsed system list.
    assert 'data-tag-key="team" data-tag-value="perception"' in tags
    assert "System tags (6)" in tags  # five set here, plus mlflow.runName
    assert 'data-tag-key="mlflow.' not in tags


def test_metric_summary_values(api: Api, run_id: str) -> None:
    metrics = _section(api.get(f"/runs/{run_id}").text, "metrics")

    # key, latest, step of latest, min, max, number of points
    assert _rows(metrics) == [
        ["acc", "0.75", "0", "0.75", "0.75", "1"],
        ["loss", "0.02", "49", "0.02", "9.5", "51"],
    ]
    charts = _section(api.get(f"/runs/{run_id}").text, "charts")
    assert charts.count('class="metric-chart" data-metric-key=') == 2


def test_parent_and_children_links(api: Api, sqlite_store: SqlTrackingStore, run_id: str) -> None:
    experiment = sqlite_store.get_run(run_id).info.experiment_id
    children = [
        sqlite_store.create_run(
            experiment, "bob", START + i, [RunTag("mlflow.parentRunId", run_id)], f"fold-{i}"
        ).info.run_id
        for i in range(2)
    ]
    parent_page = api.get(f"/runs/{run_id}").text
    listed = re.search(r'id="children">.*?</dd>', parent_page, re.S)
    assert listed
    for i, child in enumerate(children):
        assert f'<a href="/runs/{child}">fold-{i}</a>' in listed.group(0)
    # Newest first, and the children can be compared in one click.
    assert listed.group(0).index("fold-1") < listed.group(0).index("fold-0")
    assert f"/compare?runs={children[1]}&amp;runs={children[0]}" in parent_page

    child_page = api.get(f"/runs/{children[0]}").text
    assert re.search(rf'id="parent">\s*<a href="/runs/{run_id}">baseline</a>', child_page)
    assert 'id="compare-children"' not in child_page


def test_parent_that_no_longer_exists_is_named_not_linked_as_found(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    gone = "f" * 32
    run = sqlite_store.create_run("0", "u", START, [RunTag("mlflow.parentRunId", gone)], "orphan")
    page = api.get(f"/runs/{run.info.run_id}").text
    assert re.search(rf'<a href="/runs/{gone}">{gone}</a> <span class="muted">\(not found\)', page)


def test_logged_models_new_and_legacy(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    experiment = sqlite_store.get_run(run_id).info.experiment_id
    model = sqlite_store.create_logged_model(
        experiment, "classifier", source_run_id=run_id, model_type="agent"
    )
    sqlite_store.create_logged_model(experiment, "someone-elses")  # not this run's
    api.mlflow(
        "POST",
        "runs/log-model",
        {
            "run_id": run_id,
            "model_json": json.dumps(
                {
                    "artifact_path": "sk_model",
                    "flavors": {"sklearn": {}, "python_function": {}},
                    "utc_time_created": "2023-11-14 22:14:00.000000",
                    "run_id": run_id,
                }
            ),
        },
    )
    models = _section(api.get(f"/runs/{run_id}").text, "models")
    rows = _rows(models)
    assert len(rows) == 2
    assert rows[0][0] == "classifier" and rows[0][1].startswith(f"models:/{model.model_id}")
    assert rows[0][2] == "agent" and rows[0][3] == "pending"
    assert rows[1] == [
        "sk_model",
        f"runs:/{run_id}/sk_model",
        "python_function, sklearn",
        "legacy",
        "2023-11-14 22:14:00.000000",
    ]
    assert "someone-elses" not in models
    # A legacy model's folder opens in the artifact browser below.
    assert (
        f'<a href="#artifact=sk_model" title="Show in the artifact browser"><code>runs:/{run_id}/sk_model'
        in models
    )


def test_a_history_tag_that_is_not_a_list_is_reported(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    sqlite_store.set_tag(run_id, RunTag("mlflow.log-model.history", "{not json"))
    page = api.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "does not hold a JSON list of models" in _section(page.text, "models")


def test_unknown_run_is_a_404_page_with_the_message(api: Api) -> None:
    page = api.get("/runs/" + "a" * 32)

    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert re.search(r'<p class="error" role="alert" id="run-error">[^<]*' + "a" * 32, page.text)
    assert 'src="/static/run.js' not in page.text  # nothing to script on an error page


@pytest.mark.parametrize("bad", ["%3Cscript%3E", "x'%20OR%20'1'='1", "%00", "-1"])
def test_malformed_run_ids_are_refused_in_the_page(api: Api, bad: str) -> None:
    page = api.get(f"/runs/{bad}")

    assert 400 <= page.status_code < 500
    assert 'id="run-error"' in page.text
    assert "<script>" not in page.text.split('id="run-error"')[1]


@pytest.mark.parametrize("tail", ["/..%2F..%2Fetc%2Fpasswd", "/artifacts"])
def test_a_path_below_a_run_is_the_not_found_page(api: Api, run_id: str, tail: str) -> None:
    page = api.get(f"/runs/{run_id}{tail}")
    assert page.status_code == 404
    assert "Nothing here" in page.text


def test_tag_values_and_names_are_escaped(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    evil = "<script>alert(1)</script>"
    sqlite_store.set_tag(run_id, RunTag("note", evil))
    sqlite_store.set_tag(run_id, RunTag("mlflow.note.content", evil))
    sqlite_store.log_param(run_id, Param("p:b", evil))
    page = api.get(f"/runs/{run_id}").text

    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(page, "tags")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(page, "description")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(page, "params")


def test_a_run_with_nothing_logged(api: Api, sqlite_store: SqlTrackingStore) -> None:
    run = sqlite_store.create_run("0", "", START, [], "empty")
    text = api.get(f"/runs/{run.info.run_id}").text

    assert "No parameters." in text and "No metrics." in text and "No tags." in text
    assert "No description." in text and "No models logged by this run." in text
    # Still running: the duration counts up to now.
    assert "so far" in _section(text, "overview")


def test_many_params_get_a_filter_box(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    sqlite_store.log_batch(run_id, params=[Param(f"p{i:02d}", str(i)) for i in range(20)])
    params = _section(api.get(f"/runs/{run_id}").text, "params")
    assert 'id="params-filter"' in params and 'data-table="params-table"' in params


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (None, "—"),
        (-5, "—"),
        (850, "850 ms"),
        (42_100, "42.1 s"),
        (185_000, "3m 05s"),
        (7_620_000, "2h 07m"),
        (273_600_000, "3d 4h"),
    ],
)
def test_format_duration(millis: int | None, text: str) -> None:
    assert format_duration(millis) == text


def test_format_number() -> None:
    assert [format_number(v) for v in (None, float("nan"), float("inf"), -float("inf"))] == [
        "—",
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    assert format_number(1 / 3) == "0.333333"


def test_a_deleted_run_still_opens_marked_deleted(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    sqlite_store.delete_run(run_id)
    page = api.get(f"/runs/{run_id}")

    assert page.status_code == 200
    assert '<span class="badge">deleted</span>' in page.text
    assert "<dd>deleted</dd>" in _section(page.text, "overview")


def test_a_run_of_a_deleted_experiment_still_opens(
    api: Api, sqlite_store: SqlTrackingStore, run_id: str
) -> None:
    sqlite_store.delete_experiment(sqlite_store.get_run(run_id).info.experiment_id)
    page = api.get(f"/runs/{run_id}")

    assert page.status_code == 200
    assert re.search(r'<a href="/experiments/\d+">vision</a>', _section(page.text, "overview"))

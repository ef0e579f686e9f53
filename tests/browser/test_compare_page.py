"""The compare page in a real browser: plots draw, axes change, the table filters to differences.

The tests share one server (``runlab_server`` is per module), so each seeds its own runs in an
experiment named after itself.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from runlab.entities import Metric, Param
from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn


def _seed(server: RunlabUiServer, name: str) -> list[str]:
    """Three runs in two experiments with params that differ and a 50-step loss curve each."""
    client = server.client
    first = client.create_experiment(f"{name}-a")
    second = client.create_experiment(f"{name}-b")
    now = int(time.time() * 1000)
    ids = []
    for i, (experiment, lr, optimizer) in enumerate(
        [(first, "0.1", "adam"), (first, "0.01", "sgd"), (second, "0.001", "adam")]
    ):
        run_id = client.create_run(experiment, run_name=f"run-{i}").info.run_id
        loss = [Metric("loss", 1.0 / (1 + step * (i + 1)), now + step, step) for step in range(50)]
        client.log_batch(
            run_id,
            metrics=[*loss, Metric("acc", 0.5 + i / 10, now, 0)],
            params=[Param("lr", lr), Param("optimizer", optimizer), Param("batch", "32")],
            synchronous=True,
        )
        ids.append(run_id)
    return ids


def _open(page: Page, server: RunlabUiServer, ids: list[str]) -> None:
    # The page loads Plotly.js (some 4 MB to parse): on a busy 2-CPU machine that alone can
    # take most of the default 10 s, so the load gets longer.
    page.goto(f"{server.url}/compare?" + "&".join(f"runs={i}" for i in ids), timeout=30_000)


def _eventually(page: Page, script: str, expected: Any, arg: Any = None) -> None:
    """Poll ``page.evaluate(script, arg)`` until it equals ``expected`` (10 s at most).

    Not ``page.wait_for_function``: Playwright runs its predicate with eval, which the pages'
    CSP forbids; ``page.evaluate`` goes through the debugging protocol instead.
    """
    deadline = time.monotonic() + 10
    while (value := page.evaluate(script, arg)) != expected:
        assert time.monotonic() < deadline, f"{script} is {value!r}, not {expected!r}"
        page.wait_for_timeout(100)


def _plot_data(page: Page, selector: str) -> Any:
    """The traces Plotly drew in the element, once it has drawn some."""
    expect(page.locator(selector)).to_have_class(re.compile(r"\bjs-plotly-plot\b"))
    _eventually(page, "s => (document.querySelector(s).data || []).length > 0", True, selector)
    return page.evaluate("s => document.querySelector(s).data", selector)


@pytest.fixture
def compared(runlab_server: RunlabUiServer, request: pytest.FixtureRequest) -> list[str]:
    return _seed(runlab_server, request.node.name)


def test_the_plots_draw_without_errors(
    runlab_server: RunlabUiServer, compared: list[str], page: Page, screenshot: ScreenshotFn
) -> None:
    # A script that catches a CSP refusal itself (Plotly's WebGL code does) logs no error.
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    _open(page, runlab_server, compared)

    expect(page).to_have_title(re.compile("Compare runs"))
    expect(page.locator("#compare-runs tbody tr")).to_have_count(3)
    parcoords = _plot_data(page, "#parcoords")
    assert parcoords[0]["type"] == "parcoords"
    # lr and optimizer differ (batch does not), then the chosen metric.
    labels = [d["label"] for d in parcoords[0]["dimensions"]]
    assert labels == ["lr", "optimizer", "acc"]
    optimizer = parcoords[0]["dimensions"][1]
    assert optimizer["ticktext"] == ["adam", "sgd"]
    # Plotly says "WebGL is not supported" when it could not set up its WebGL drawing.
    expect(page.locator("#parcoords")).not_to_contain_text("WebGL")
    expect(page.locator("#parcoords canvas").first).to_be_attached()

    scatter = _plot_data(page, "#scatter")
    assert scatter[0]["text"] == ["run-0", "run-1", "run-2"]
    assert scatter[0]["x"] == [0.1, 0.01, 0.001]  # lr, the first param that differs
    assert scatter[0]["y"] == pytest.approx([0.5, 0.6, 0.7])  # acc, the first metric

    # Both metrics are charted (the first four are chosen), every run overlaid.
    chart = _plot_data(page, "#metric-charts figure[data-metric=loss] .metric-chart-plot")
    names = {t.get("name") for t in chart if t.get("showlegend", True) is not False}
    assert names == {"run-0", "run-1", "run-2"}
    assert page.evaluate("() => window.cspViolations") == []
    screenshot(page, "compare")


def test_changing_the_plots_choices_redraws_them(
    runlab_server: RunlabUiServer, compared: list[str], page: Page
) -> None:
    _open(page, runlab_server, compared)
    _plot_data(page, "#scatter")

    page.select_option("#scatter-x", "param:optimizer")
    page.select_option("#scatter-y", "metric:loss")

    _eventually(page, "() => document.getElementById('scatter').data[0].x[0]", "adam")
    scatter = _plot_data(page, "#scatter")
    assert scatter[0]["x"] == ["adam", "sgd", "adam"]
    assert page.evaluate("() => document.getElementById('scatter').layout.xaxis.type") == (
        "category"
    )
    page.check("#scatter-log-y")
    _eventually(page, "() => document.getElementById('scatter').layout.yaxis.type", "log")
    page.select_option("#parallel-metric", "loss")
    page.locator('#parallel-params input[value="lr"]').uncheck()
    page.locator('#parallel-params input[value="batch"]').check()
    _eventually(
        page, "() => document.getElementById('parcoords').data[0].dimensions.at(-1).label", "loss"
    )
    dimensions = _plot_data(page, "#parcoords")[0]["dimensions"]
    assert [d["label"] for d in dimensions] == ["batch", "optimizer", "loss"]


def test_only_differences_hides_equal_rows(
    runlab_server: RunlabUiServer, compared: list[str], page: Page, screenshot: ScreenshotFn
) -> None:
    _open(page, runlab_server, compared)
    same = page.locator('#compare-values tr[data-key="batch"]')
    differs = page.locator('#compare-values tr[data-key="lr"]')
    expect(same).to_be_visible()
    expect(differs).to_have_class("differs")

    page.get_by_label("Only differences").check()

    expect(same).to_be_hidden()
    expect(differs).to_be_visible()
    # The keyboard's way into the table moves to the first row still shown.
    expect(page.locator('#compare-values tr[tabindex="0"]')).to_have_attribute("data-key", "lr")
    page.locator('#compare-values tr[tabindex="0"]').focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator('#compare-values tr[data-key="optimizer"]')).to_be_focused()
    screenshot(page, "compare-only-differences")
    page.get_by_label("Only differences").uncheck()
    expect(same).to_be_visible()


def test_choosing_metrics_adds_and_removes_charts(
    runlab_server: RunlabUiServer, compared: list[str], page: Page
) -> None:
    _open(page, runlab_server, compared)
    charts = page.locator("#metric-charts figure")
    expect(charts).to_have_count(2)

    page.locator('#chart-metrics input[value="acc"]').uncheck()
    expect(charts).to_have_count(1)
    page.locator('#chart-metrics input[value="acc"]').check()
    expect(charts).to_have_count(2)
    # Charts keep the checkboxes' order (acc before loss).
    expect(charts.first).to_have_attribute("data-metric", "acc")
    _plot_data(page, "#metric-charts figure[data-metric=acc] .metric-chart-plot")


def test_a_metric_logged_once_per_run_is_drawn_with_markers(
    runlab_server: RunlabUiServer, compared: list[str], page: Page
) -> None:
    _open(page, runlab_server, compared)

    # acc has one point per run: a bare line through one point would draw nothing.
    acc = _plot_data(page, "#metric-charts figure[data-metric=acc] .metric-chart-plot")
    assert {t["mode"] for t in acc} == {"lines+markers"}
    loss = _plot_data(page, "#metric-charts figure[data-metric=loss] .metric-chart-plot")
    assert {t["mode"] for t in loss if "line" in t and t["line"].get("width")} == {"lines"}


def test_an_unknown_run_shows_the_error_in_the_page(
    runlab_server: RunlabUiServer, compared: list[str], page: Page, console_errors: ConsoleErrors
) -> None:
    console_errors.allow(r"status of 404")  # the page itself answers 404

    _open(page, runlab_server, [compared[0], "f" * 32])

    expect(page.locator("#compare-error")).to_contain_text("f" * 32)


def test_names_and_values_show_as_typed_in_the_plots(
    runlab_server: RunlabUiServer, page: Page, request: pytest.FixtureRequest
) -> None:
    client = runlab_server.client
    experiment = client.create_experiment(request.node.name)
    ids = []
    for i, value in enumerate(["x&y", "<i>z</i>"]):
        run_id = client.create_run(experiment, run_name=f"<b>r{i}</b> & co").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("acc", i + 1.0, 1, 0)],
            params=[Param("note", value)],
            synchronous=True,
        )
        ids.append(run_id)

    _open(page, runlab_server, ids)

    _plot_data(page, "#scatter")
    _plot_data(page, "#parcoords")
    texts = "id => [...document.querySelectorAll(`#${id} text`)].map(t => t.textContent)"
    scatter = set(page.evaluate(texts, "scatter"))
    parcoords = set(page.evaluate(texts, "parcoords"))
    # Plotly reads tags and entities in some texts (scatter) but not in others (parcoords).
    assert {"<b>r0</b> & co", "<b>r1</b> & co", "x&y", "<i>z</i>"} <= scatter
    assert {"x&y", "<i>z</i>"} <= parcoords
    assert page.locator("#scatter b, #parcoords i").count() == 0

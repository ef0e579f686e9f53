"""The run page in a real browser: charts draw and respond, description and tags persist.

The tests share one server (``runlab_server`` is per module), so each makes its own run.
"""

from __future__ import annotations

import json
import math
import time

from playwright.sync_api import Page, expect

from runlab.entities import Metric, Param
from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn

#: Points per metric: more than a chart has pixels, so buckets hold several and draw a band.
POINTS = 3000


def _seeded_run(server: RunlabUiServer, name: str, metrics: int = 2) -> str:
    """A finished run with params, ``metrics`` metric series of POINTS points and a tag."""
    client = server.client
    run = client.create_run("0", run_name=name, tags={"team": "vision"})
    run_id = run.info.run_id
    start = int(time.time() * 1000) - POINTS * 1000
    points = [
        Metric(f"metric_{k}", 1.0 + math.sin(s / 50) / (k + 1) + 1 / (s + 1), start + s * 1000, s)
        for k in range(metrics)
        for s in range(POINTS)
    ]
    client.log_batch(run_id, metrics=points, params=[Param("lr", "0.01"), Param("depth", "6")])
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _chart(key: str) -> str:
    return f'.metric-chart[data-metric-key="{key}"]'


def _plot(key: str) -> str:
    return f"{_chart(key)} .js-plotly-plot"


def _first_x(page: Page, key: str) -> object:
    """The x of the first drawn point of the chart's last trace (the value line)."""
    return page.eval_on_selector(_plot(key), "el => el.data[el.data.length - 1].x[0]")


def test_page_loads_and_charts_draw_and_respond_to_the_controls(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    run_id = _seeded_run(runlab_server, "browser-charts")
    page.goto(f"{runlab_server.url}/runs/{run_id}")

    expect(page.locator("#run-name")).to_contain_text("browser-charts")
    expect(page.locator("#metrics-table tbody tr")).to_have_count(2)
    plot = page.locator(_plot("metric_0"))
    expect(plot).to_be_visible()
    # The band (two traces) and the value line, one point a bucket: fewer than were logged.
    page.wait_for_function(
        "sel => { const el = document.querySelector(sel);"
        " return el && el.data && el.data.length === 3 && el.data[2].x.length > 100; }",
        arg=_plot("metric_0"),
    )
    assert page.eval_on_selector(_plot("metric_0"), "el => el.data[2].x.length") < POINTS
    assert isinstance(_first_x(page, "metric_0"), int)

    controls = page.locator("#chart-controls")
    controls.get_by_label("X axis").select_option("relative")
    page.wait_for_function(
        "sel => document.querySelector(sel).layout.xaxis.title.text.startsWith('Relative')",
        arg=_plot("metric_0"),
    )
    assert _first_x(page, "metric_0") == 0  # seconds since the first point
    controls.get_by_label("X axis").select_option("wall")
    page.wait_for_function(
        "sel => document.querySelector(sel).layout.xaxis.type === 'date'",
        arg=_plot("metric_0"),
    )
    controls.get_by_label("Log scale").check()
    page.wait_for_function(
        "sel => document.querySelector(sel).layout.yaxis.type === 'log'",
        arg=_plot("metric_1"),
    )
    # Smoothing adds the smoothed line over a faint raw one.
    controls.get_by_label("Smoothing").fill("0.9")
    page.wait_for_function(
        "sel => document.querySelector(sel).data.length === 4",
        arg=_plot("metric_0"),
    )
    expect(page.locator(".metric-chart-message.is-error")).to_have_count(0)
    screenshot(page, "run-page")


def test_zoom_fetches_the_visible_range(runlab_server: RunlabUiServer, page: Page) -> None:
    run_id = _seeded_run(runlab_server, "browser-zoom", metrics=1)
    page.goto(f"{runlab_server.url}/runs/{run_id}")
    selector = _plot("metric_0")
    page.wait_for_function(
        "sel => { const el = document.querySelector(sel); return el && el.data.length === 3; }",
        arg=selector,
    )
    with page.expect_response(lambda r: "start_step=100" in r.url and "end_step=200" in r.url):
        page.evaluate(
            "sel => Plotly.relayout(document.querySelector(sel), {'xaxis.range': [100, 200]})",
            selector,
        )
    page.wait_for_function(
        "sel => { const d = document.querySelector(sel).data; const x = d[d.length - 1].x;"
        " return x[0] >= 100 && x[x.length - 1] <= 200; }",
        arg=selector,
    )
    # Double-click's autorange returns to the whole series.
    page.evaluate(
        "sel => Plotly.relayout(document.querySelector(sel), {'xaxis.autorange': true})", selector
    )
    page.wait_for_function(
        "sel => { const d = document.querySelector(sel).data;"
        " return d.length === 3 && d[2].x[d[2].x.length - 1] === 2999; }",
        arg=selector,
    )

    # On a wall-time axis the visible dates are mapped back to steps through the buckets.
    page.locator("#chart-controls").get_by_label("X axis").select_option("wall")
    page.wait_for_function(
        "sel => document.querySelector(sel).layout.xaxis.type === 'date'", arg=selector
    )
    low, high = page.eval_on_selector(
        selector, "el => [el.data[2].customdata[100], el.data[2].customdata[120]]"
    )
    with page.expect_response(lambda r: "start_step=" in r.url and "end_step=" in r.url):
        page.evaluate(
            "sel => { const el = document.querySelector(sel); const x = el.data[2].x;"
            " Plotly.relayout(el, {'xaxis.range': [x[100], x[120]]}); }",
            selector,
        )
    # Finer than before: one point a step, all near the chosen range.
    page.wait_for_function(
        "([sel, low, high]) => { const d = document.querySelector(sel).data;"
        " const steps = d[d.length - 1].customdata;"
        " return d.length === 1 && steps.length > 21 && steps[0] >= low - 20"
        " && steps[steps.length - 1] <= high + 20 && steps[1] - steps[0] === 1; }",
        arg=[selector, low, high],
    )


def test_charts_are_drawn_only_when_scrolled_into_view(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    client = runlab_server.client
    run_id = client.create_run("0", run_name="browser-many-metrics").info.run_id
    keys = [f"m{k:02d}" for k in range(30)]
    client.log_batch(run_id, metrics=[Metric(k, float(s), 0, s) for k in keys for s in range(5)])
    page.goto(f"{runlab_server.url}/runs/{run_id}", wait_until="networkidle")

    # The 30-row metrics table fills the first screen: no chart has been fetched yet.
    expect(page.locator("#metrics-table tbody tr")).to_have_count(len(keys))
    assert page.locator(".metric-chart .js-plotly-plot").count() == 0
    # Following a metric's link scrolls to its chart, which is then drawn; far ones are not.
    page.locator("#metrics-table").get_by_role("link", name="m29").click()
    expect(page.locator(f"{_chart('m29')} .js-plotly-plot")).to_be_visible()
    # The charts between (passed over by the jump, never on screen) are still not drawn.
    assert page.locator(f"{_chart('m12')} .js-plotly-plot").count() == 0


def test_a_series_of_only_nan_says_so_in_its_chart(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    client = runlab_server.client
    run_id = client.create_run("0", run_name="browser-nan").info.run_id
    client.log_batch(run_id, metrics=[Metric("diverged", math.nan, 0, s) for s in range(10)])
    page.goto(f"{runlab_server.url}/runs/{run_id}")
    expect(page.locator(f"{_chart('diverged')} .metric-chart-message")).to_have_text(
        "Only NaN or infinite values in diverged."
    )
    expect(page.locator("#metrics-table tbody td").nth(1)).to_have_text("NaN")


def test_description_and_tags_persist_after_reload(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    run_id = _seeded_run(runlab_server, "browser-edits")
    url = f"{runlab_server.url}/runs/{run_id}"
    page.goto(url)

    # Escape gives up an edit and leaves the text as it was.
    page.get_by_role("button", name="Edit description").click()
    page.get_by_role("textbox", name="Description").fill("thrown away")
    page.keyboard.press("Escape")
    expect(page.locator("#description-text")).to_have_text("No description.")
    expect(page.get_by_role("button", name="Edit description")).to_be_focused()

    page.get_by_role("button", name="Edit description").click()
    page.get_by_role("textbox", name="Description").fill("Tried <b>bold</b> ideas\nsecond line")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("Description saved.")
    expect(page.locator("#description-text")).to_have_text("Tried <b>bold</b> ideas\nsecond line")

    form = page.locator("#add-tag")
    form.get_by_label("Name").fill("stage")
    form.get_by_label("Value").fill("candidate")
    form.get_by_role("button", name="Set tag").click()
    expect(page.locator('#tags-table tr[data-tag-key="stage"] td.value')).to_have_text("candidate")
    # A row's Edit puts the tag in the form, where setting it again changes its value.
    page.locator('#tags-table tr[data-tag-key="stage"]').get_by_role("button", name="Edit").click()
    expect(form.get_by_label("Name")).to_have_value("stage")
    expect(form.get_by_label("Value")).to_be_focused()
    form.get_by_label("Value").fill("release")
    form.get_by_role("button", name="Set tag").click()
    expect(page.locator('#tags-table tr[data-tag-key="stage"] td.value')).to_have_text("release")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#tags-table tr[data-tag-key="team"]').get_by_role("button", name="Delete").click()
    expect(page.locator('#tags-table tr[data-tag-key="team"]')).to_have_count(0)

    page.reload()
    expect(page.locator("#description-text")).to_have_text("Tried <b>bold</b> ideas\nsecond line")
    expect(page.locator('#tags-table tr[data-tag-key="stage"] td.value')).to_have_text("release")
    expect(page.locator('#tags-table tr[data-tag-key="team"]')).to_have_count(0)
    assert runlab_server.client.get_run(run_id).data.tags["stage"] == "release"
    screenshot(page, "run-page-edited")


def test_a_refused_tag_is_reported_in_the_page(
    runlab_server: RunlabUiServer, page: Page, console_errors: ConsoleErrors
) -> None:
    run_id = _seeded_run(runlab_server, "browser-bad-tag", metrics=0)
    # The server's 400 makes Chromium log the failed request; the page must say why.
    console_errors.allow(r"status of 400")
    page.goto(f"{runlab_server.url}/runs/{run_id}")
    form = page.locator("#add-tag")
    form.get_by_label("Name").fill("no<angle>brackets")
    form.get_by_role("button", name="Set tag").click()
    expect(page.locator("#notice")).to_contain_text("no<angle>brackets")
    expect(page.locator("#notice")).not_to_have_class("notice ok")
    page.reload()
    expect(page.locator("#tags-table tbody tr[data-tag-key]")).to_have_count(1)  # only "team"


def test_a_legacy_model_links_to_its_folder_in_the_artifact_browser(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    client = runlab_server.client
    run_id = client.create_run("0", run_name="browser-legacy-model").info.run_id
    client.log_text(run_id, "flavors:\n  sklearn: {}\n", "sk_model/MLmodel")
    entry = {"artifact_path": "sk_model", "flavors": {"sklearn": {}}, "run_id": run_id}
    client.set_tag(run_id, "mlflow.log-model.history", json.dumps([entry]))
    page.goto(f"{runlab_server.url}/runs/{run_id}")

    link = page.locator("#models-table").get_by_role("link", name=f"runs:/{run_id}/sk_model")
    link.click()
    folder = page.locator("#artifacts li[role=treeitem]").filter(
        has=page.locator(":scope > .label .name:text-is('sk_model')")
    )
    expect(folder).to_have_attribute("aria-expanded", "true")
    # Closed again, the folder reopens from the same link, though the address does not change.
    folder.locator(":scope > .label").click()
    expect(folder).to_have_attribute("aria-expanded", "false")
    link.click()
    expect(folder).to_have_attribute("aria-expanded", "true")
    # A full-page shot taken scrolled down draws sticky table headers where they stuck.
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "run-page-legacy-model")


def test_children_link_to_their_page_which_links_back(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    parent = _seeded_run(runlab_server, "browser-parent", metrics=0)
    child = runlab_server.client.create_run(
        "0", run_name="browser-child", tags={"mlflow.parentRunId": parent}
    ).info.run_id
    page.goto(f"{runlab_server.url}/runs/{parent}")
    page.locator("#children").get_by_role("link", name="browser-child").click()
    expect(page).to_have_url(f"{runlab_server.url}/runs/{child}")
    expect(page.locator("#parent a")).to_have_text("browser-parent")


def test_unknown_run_shows_the_message(
    runlab_server: RunlabUiServer, page: Page, console_errors: ConsoleErrors
) -> None:
    run_id = "0" * 32
    # Chromium logs the 404 of the page itself; that is the point of this test.
    console_errors.allow(r"status of 404")
    response = page.goto(f"{runlab_server.url}/runs/{run_id}")
    assert response is not None and response.status == 404
    expect(page.locator("#run-error")).to_contain_text(run_id)


def test_charts_are_drawn_before_plotly_is_ready_and_say_when_it_never_is(
    runlab_server: RunlabUiServer,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: ScreenshotFn,
) -> None:
    run_id = _seeded_run(runlab_server, "browser-no-plotly", metrics=1)
    # Plotly.js never arrives: the first drawing (SVG) must stand on its own.
    page.route("**/static/vendor/plotly-*", lambda route: route.abort())
    console_errors.allow(r"Failed to load resource")
    page.goto(f"{runlab_server.url}/runs/{run_id}")

    chart = page.locator(_chart("metric_0"))
    line = chart.locator("svg.quick-chart path.quick-line")
    expect(line).to_be_visible()
    # The whole series, to its last step, with its min/max band and numbered axes.
    expect(line).to_have_attribute("data-x-last", str(POINTS - 1))
    expect(chart.locator("svg.quick-chart polygon")).to_have_count(1)
    expect(chart.locator("svg.quick-chart text", has_text="Step")).to_be_visible()
    expect(chart.locator(".metric-chart-message")).to_contain_text(
        "The interactive chart is unavailable: Plotly.js did not load."
    )
    assert chart.locator(".js-plotly-plot").count() == 0

    # The controls still redraw it: a log scale and smoothing (a faint raw line behind).
    controls = page.locator("#chart-controls")
    controls.get_by_label("Log scale").check()
    expect(chart.locator(".metric-chart-message")).to_contain_text("Plotly.js did not load")
    controls.get_by_label("Smoothing").fill("0.9")
    expect(chart.locator("svg.quick-chart path.quick-line")).to_have_count(2)
    screenshot(page, "run-page-chart-before-plotly")

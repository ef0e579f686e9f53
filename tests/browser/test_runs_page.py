"""The runs table in a real browser: filter, sort, columns, nesting, compare and delete.

The tests share one server (``runlab_server`` is per module), so each seeds its own experiment,
named after the test, and looks only at its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from runlab.entities import Metric, Param, RunTag
from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn

T0 = 1_700_000_000_000


@dataclass
class Seeded:
    """An experiment of four runs: a, b and c (acc 0.5, 0.9, 0.7) and b's child run."""

    url: str
    ids: dict[str, str]


def _names(page: Page) -> list[str]:
    return page.locator("#runs tbody tr[data-name]").evaluate_all(
        "rows => rows.map(row => row.dataset.name)"
    )


def _row(page: Page, name: str) -> Locator:
    return page.locator(f'#runs tr[data-name="{name}"]')


@pytest.fixture
def seeded(runlab_server: RunlabUiServer, request: pytest.FixtureRequest) -> Seeded:
    client = runlab_server.client
    exp = client.create_experiment(f"runs-{request.node.name}")
    ids: dict[str, str] = {}
    for i, (name, acc, lr) in enumerate([("a", 0.5, "0.1"), ("b", 0.9, "0.01"), ("c", 0.7, "0.1")]):
        run_id = client.create_run(exp, start_time=T0 + i * 1000, run_name=name).info.run_id
        client.log_batch(
            run_id,
            [Metric("acc", acc, T0, 0)],
            [Param("lr", lr)],
            [RunTag("team", "vision" if name != "a" else "nlp")],
            synchronous=True,
        )
        client.set_terminated(run_id, end_time=T0 + i * 1000 + 90_000)
        ids[name] = run_id
    child = client.create_run(
        exp, start_time=T0 + 5000, run_name="b-child", tags={"mlflow.parentRunId": ids["b"]}
    )
    ids["b-child"] = child.info.run_id
    return Seeded(f"{runlab_server.url}/experiments/{exp}", ids)


def test_the_table_loads_with_children_under_their_parent(
    page: Page, seeded: Seeded, screenshot: ScreenshotFn
) -> None:
    page.goto(seeded.url)

    expect(page).to_have_title(re.compile("runs-test_the_table_loads"))
    assert _names(page) == ["c", "b", "b-child", "a"]
    expect(_row(page, "b").locator(".status")).to_have_text("FINISHED")
    expect(_row(page, "b-child")).to_contain_text("running for")
    expect(page.locator('#runs th[data-column="metrics.acc"]')).to_be_visible()
    screenshot(page, "runs-table")

    toggle = _row(page, "b").locator("button.toggle")
    toggle.click()
    expect(_row(page, "b-child")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(_row(page, "b-child")).to_be_visible()


def test_filter_with_the_search_grammar(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)

    page.fill("#filter", "metrics.acc > 0.6 and tags.team = 'vision'")
    page.press("#filter", "Enter")

    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert _names(page) == ["c", "b"]
    assert parse_qs(urlsplit(page.url).query)["filter"] == [
        "metrics.acc > 0.6 and tags.team = 'vision'"
    ]


def test_a_malformed_filter_is_shown_in_the_page(
    page: Page, seeded: Seeded, console_errors: ConsoleErrors, screenshot: ScreenshotFn
) -> None:
    console_errors.allow(r"status of 400")  # the page itself answers 400
    page.goto(seeded.url)

    page.fill("#filter", "metrics.acc >")
    page.click("#run-filter button[type=submit]")

    expect(page.locator("#filter-error")).to_contain_text("Invalid filter")
    expect(page.locator("#runs td.empty")).to_contain_text("fix the error")
    expect(page.locator("#filter")).to_have_value("metrics.acc >")
    screenshot(page, "runs-filter-error")


def test_clicking_a_header_sorts_and_clicking_again_flips(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    header = page.locator('#runs th[data-column="metrics.acc"]')

    header.locator("a").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert _names(page)[:2] == ["b", "b-child"]
    assert [n for n in _names(page) if n != "b-child"] == ["b", "c", "a"]

    header.locator("a").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    # The child has no acc: it sorts after the rest, but is shown under its parent.
    assert [n for n in _names(page) if n != "b-child"] == ["a", "c", "b"]

    name = page.locator('#runs th[data-column="attributes.run_name"]')
    name.locator("a").click()
    expect(name).to_have_attribute("aria-sort", "ascending")
    assert [n for n in _names(page) if n != "b-child"] == ["a", "b", "c"]


def test_choosing_a_column(page: Page, seeded: Seeded, screenshot: ScreenshotFn) -> None:
    page.goto(seeded.url)
    expect(page.locator('#runs th[data-column="tags.team"]')).to_have_count(0)

    page.click("#column-chooser summary")
    page.fill("#column-search", "tea")
    expect(page.locator('label.choice[data-key="acc"]')).to_be_hidden()
    page.check('input[name="columns"][value="tags.team"]')
    page.fill("#column-search", "")
    page.uncheck('input[name="columns"][value="params.lr"]')
    screenshot(page, "runs-column-chooser")
    page.click(".chooser-form button[type=submit]")

    expect(page.locator('#runs th[data-column="tags.team"]')).to_be_visible()
    expect(page.locator('#runs th[data-column="params.lr"]')).to_have_count(0)
    expect(_row(page, "a")).to_contain_text("nlp")
    assert parse_qs(urlsplit(page.url).query)["columns"] == ["metrics.acc", "tags.team"]


def test_selecting_two_runs_and_comparing(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    compare = page.locator("#compare")
    expect(compare).to_be_disabled()

    _row(page, "a").locator("input.pick").check()
    expect(compare).to_have_text("Compare (1)")
    expect(compare).to_be_disabled()
    _row(page, "c").locator("input.pick").check()
    expect(compare).to_have_text("Compare (2)")
    expect(compare).to_be_enabled()
    compare.click()

    page.wait_for_url(re.compile(r"/compare\?"))
    assert sorted(parse_qs(urlsplit(page.url).query)["runs"]) == sorted(
        [seeded.ids["a"], seeded.ids["c"]]
    )
    # The compare page's own behaviour is its tests' subject; here: it accepted both runs.
    expect(page.locator("#compare-error")).to_have_count(0)


def test_select_all_and_delete_selected(
    page: Page, seeded: Seeded, runlab_server: RunlabUiServer
) -> None:
    page.goto(seeded.url)
    page.check("#select-all")
    expect(page.locator("#compare")).to_have_text("Compare (4)")
    page.uncheck("#select-all")
    expect(page.locator("#delete-selected")).to_be_disabled()

    _row(page, "a").locator("input.pick").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-selected")

    expect(_row(page, "a")).to_have_count(0)
    assert runlab_server.client.get_run(seeded.ids["a"]).info.lifecycle_stage == "deleted"

    page.select_option("#view", "deleted")
    page.click("#run-filter button[type=submit]")
    expect(_row(page, "a")).to_be_visible()
    _row(page, "a").locator("input.pick").check()
    page.click("#restore-selected")
    expect(_row(page, "a")).to_have_count(0)
    assert runlab_server.client.get_run(seeded.ids["a"]).info.lifecycle_stage == "active"


def test_next_and_previous_pages(page: Page, runlab_server: RunlabUiServer) -> None:
    client = runlab_server.client
    exp = client.create_experiment("runs-paging")
    for i in range(30):
        client.create_run(exp, start_time=T0 + i, run_name=f"p{i:02d}")
    page.goto(f"{runlab_server.url}/experiments/{exp}")

    page.select_option("#max_results", "25")
    page.click("#run-filter button[type=submit]")
    expect(page.locator("#runs tbody tr")).to_have_count(25)
    page.click("#next-page")
    expect(page.locator("#runs tbody tr")).to_have_count(5)
    assert _names(page)[0] == "p04"
    page.click("#previous-page")
    expect(page.locator("#runs tbody tr")).to_have_count(25)
    assert _names(page)[0] == "p29"


def test_keyboard_moves_between_rows_and_space_picks(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    rows = page.locator("#runs tbody tr")

    rows.first.focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press(" ")
    expect(rows.nth(1).locator("input.pick")).to_be_checked()
    page.keyboard.press("End")
    page.keyboard.press(" ")
    expect(page.locator("#compare")).to_have_text("Compare (2)")
    expect(page.locator("#compare")).to_be_enabled()


def test_a_wide_table_scrolls_in_its_box_at_laptop_width(
    page: Page, runlab_server: RunlabUiServer, screenshot: ScreenshotFn
) -> None:
    client = runlab_server.client
    exp = client.create_experiment("runs-wide")
    for i in range(3):
        run_id = client.create_run(exp, start_time=T0 + i, run_name=f"wide-{i}").info.run_id
        client.log_batch(
            run_id,
            [Metric(f"validation/accuracy_top_{k}", 0.1 * k + i, T0, 0) for k in range(5)],
            [Param(f"optimizer.learning_rate_{k}", f"{0.001 * k:.4f}") for k in range(5)],
            [RunTag("mlflow.source.name", "/home/someone/projects/vision/train_resnet.py")],
            synchronous=True,
        )
    page.goto(f"{runlab_server.url}/experiments/{exp}")

    expect(page.locator("#runs th.chosen")).to_have_count(8)
    # The page itself never scrolls sideways; the table's box does.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "runs-wide-table")


def test_compare_is_offered_for_at_most_the_compare_pages_limit(
    page: Page, runlab_server: RunlabUiServer
) -> None:
    client = runlab_server.client
    exp = client.create_experiment("runs-many-picked")
    for i in range(101):
        client.create_run(exp, start_time=T0 + i, run_name=f"m{i:03d}")
    page.goto(f"{runlab_server.url}/experiments/{exp}?max_results=500")

    page.check("#select-all")
    compare = page.locator("#compare")
    expect(compare).to_have_text("Compare (101)")
    expect(compare).to_be_disabled()
    expect(compare).to_have_attribute("title", re.compile("at most 100"))
    page.locator("#runs input.pick").first.uncheck()
    expect(compare).to_be_enabled()
    expect(page.locator("#select-all")).to_have_js_property("indeterminate", True)

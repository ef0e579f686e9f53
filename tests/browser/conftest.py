"""Fixtures for the UI's browser tests: real Chromium, real ``runlab server`` processes.

Chromium is Debian's ``/usr/bin/chromium`` (``apt-get install -y chromium``), driven through
Playwright's sync API. Without it these tests FAIL, saying how to install it; they never skip.

The fixtures, in the order a test uses them::

    def test_lists_experiments(runlab_server, page, screenshot):
        runlab_server.client.create_experiment("demo")           # seed through the public client
        page.goto(f"{runlab_server.url}/experiments")
        expect(page.locator("tr[data-name=demo]")).to_be_visible()
        screenshot(page, "experiments-list")                     # test-output/screenshots/...

- ``runlab_server``: one server per test module (and xdist worker), shared by the module's tests,
  so give what you create unique names. ``fresh_runlab_server`` is an empty one for one test.
- ``page``: a new browser context per test (1280x800). Console errors, uncaught exceptions and
  CSP violations fail the test at teardown, listing the messages; declare the ones a test
  provokes on purpose with ``console_errors.allow(regex)``.
- ``screenshot(page, name)``: a full-page PNG in ``test-output/screenshots/<name>.png``. A failed
  test also leaves ``FAILED-<test name>.png`` there.

Wait with ``expect(locator)`` and locators, not ``page.wait_for_function("…")``: Playwright
evaluates a string predicate with eval, which the pages' CSP forbids (and the violation would
fail the test). ``page.evaluate`` works.

Under ``pytest -n 2`` each worker runs its own Chromium and servers, on free ports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.browser import (
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    ConsoleErrors,
    RunlabUiServer,
    ScreenshotFn,
    launch_chromium,
    running_ui_server,
    save_screenshot,
    watch_errors,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Remember whether the test body failed, so ``page`` can screenshot the failure."""
    report = yield
    if call.when == "call" and getattr(report, "failed", False):
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (and xdist worker).

    Not for the whole session: while Playwright's sync API is started it leaves its event loop
    marked as running in the main thread, and every later test of the worker that calls
    ``asyncio.run`` or ``anyio.run`` would fail. Stopping it after each module puts that right.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def runlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunlabUiServer]:
    """A ``runlab server`` over a fresh SQLite database, shared by the tests of one module.

    ``.url`` is the base URL; ``.client`` a :class:`runlab.Client` of the server (tracking and
    registry) for seeding; ``.log()`` the server's output. Tests of the module see each other's
    data, so name what you create after the test (``request.node.name``) or check only your own.
    """
    with running_ui_server(tmp_path_factory.mktemp("runlab-ui-server")) as server:
        yield server


@pytest.fixture
def fresh_runlab_server(tmp_path: Path) -> Iterator[RunlabUiServer]:
    """Like ``runlab_server``, but empty and for this test alone (costs a server start)."""
    with running_ui_server(tmp_path / "runlab-ui-server") as server:
        yield server


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """The errors ``page`` reports; call ``.allow(regex)`` for ones the test expects."""
    return ConsoleErrors()


@pytest.fixture
def page(
    browser: Browser, console_errors: ConsoleErrors, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh page in its own browser context, 1280x800, that fails the test on page errors.

    Every console.error, uncaught exception or CSP violation not declared with
    ``console_errors.allow`` fails the test at teardown with the messages. Dialogs
    (``confirm``, ``prompt``) are dismissed unless the test handles them, e.g.
    ``page.once("dialog", lambda d: d.accept("new name"))``. Locators time out after 10 s.
    """
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    watch_errors(tab, console_errors)
    try:
        yield tab
        if request.node.stash.get(_FAILED, False):
            save_screenshot(tab, f"FAILED-{request.node.name}")
    finally:
        context.close()
    unexpected = console_errors.unexpected()
    if unexpected:
        pytest.fail(
            "the page reported errors:\n  " + "\n  ".join(unexpected),
            pytrace=False,
        )


@pytest.fixture
def screenshot() -> ScreenshotFn:
    """``screenshot(page, name)``: save a full-page PNG to ``test-output/screenshots/<name>.png``."""
    return save_screenshot

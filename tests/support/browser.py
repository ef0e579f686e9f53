"""A real Chromium driving real ``runlab server`` processes, for the UI's browser tests.

Chromium is Debian's (``/usr/bin/chromium``), driven through Playwright's sync API. Nothing here
replaces runlab code: the server is the ``runlab server`` command, seeded through the public
client over HTTP, and the browser loads the pages as a user's would.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.cli_server import runlab_cli_server
from support.servers import REPO_ROOT, ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, ViewportSize

    from runlab.tracking.client import Client

CHROMIUM = Path(os.environ.get("RUNLAB_TEST_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = "apt-get install -y chromium"
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
VIEWPORT: ViewportSize = {
    "width": 1280,
    "height": 800,
}  # the laptop width the UI must stay readable at
# Long enough for a loaded 2-CPU machine, short enough that a missing element fails quickly.
DEFAULT_TIMEOUT_MS = 10_000


def chromium_args() -> list[str]:
    """Chromium flags for a headless run in a container.

    Chromium refuses its sandbox as root, and /dev/shm is often tiny in containers. Without a
    GPU, its GPU process would emulate one in software: wasted CPU for pages of SVG and tables.
    """
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def chromium_executable(configured: Path = CHROMIUM) -> Path:
    """Chromium's executable: ``configured`` or the one on PATH; fails saying how to install it."""
    if configured.is_file():
        return configured
    on_path = shutil.which("chromium")
    if on_path is not None:
        return Path(on_path)
    pytest.fail(
        f"Chromium is not installed at {configured} nor on PATH; the browser tests need it: "
        f"run `{INSTALL_HINT}`.",
        pytrace=False,
    )


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch Debian's Chromium headless, or fail the test saying how to install it."""
    executable = chromium_executable()
    try:
        return playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=chromium_args()
        )
    except Exception as exc:  # Playwright's own error type depends on how the launch failed
        pytest.fail(
            f"Chromium at {executable} did not start ({exc}); the browser tests need a working "
            f"Chromium: run `{INSTALL_HINT}`.",
            pytrace=False,
        )


@dataclasses.dataclass
class RunlabUiServer:
    """A running ``runlab server`` and a client of it, for seeding what the pages show.

    ``url`` is the base URL to open in the browser (``f"{server.url}/experiments"``); ``client``
    is a :class:`runlab.Client` talking to the same server over HTTP (tracking and registry),
    so tests create experiments, runs, metrics, artifacts and models the way users do.
    """

    process: ServerProcess
    client: Client
    data_dir: Path

    @property
    def url(self) -> str:
        """The server's base URL, also its tracking URI."""
        return self.process.url

    def log(self) -> str:
        """The tail of what the server printed (for failure messages)."""
        return self.process.log()


@contextmanager
def running_ui_server(data_dir: Path) -> Iterator[RunlabUiServer]:
    """Start ``runlab server`` over a fresh SQLite file in ``data_dir``; stop it afterwards.

    Artifacts go to the folder beside the database (the server's default), so everything the
    server writes stays in ``data_dir``.
    """
    from runlab.tracking.client import Client

    data_dir.mkdir(parents=True, exist_ok=True)
    process = runlab_cli_server(data_dir).start()
    try:
        yield RunlabUiServer(process, Client(process.url, registry_uri=process.url), data_dir)
    finally:
        process.stop()


class ConsoleErrors:
    """Errors a page reported: console.error messages, uncaught exceptions and CSP violations.

    A test that provokes an error on purpose (a 400 from a bad filter makes Chromium log "Failed
    to load resource") declares it with :meth:`allow`; any other error fails the test.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Accept errors whose text matches the regular expression ``pattern`` (re.search)."""
        self._allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        """Playwright's ``console`` listener: keep the error-level messages."""
        if message.type == "error":
            where = message.location.get("url") or ""
            self.messages.append(
                f"console.error: {message.text}" + (f" ({where})" if where else "")
            )

    def on_page_error(self, error: Exception) -> None:
        """Playwright's ``pageerror`` listener: an exception no script caught."""
        self.messages.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        """The errors no :meth:`allow` pattern covers."""
        return [m for m in self.messages if not any(p.search(m) for p in self._allowed)]


def watch_errors(page: Page, errors: ConsoleErrors | None = None) -> ConsoleErrors:
    """Record ``page``'s console errors and uncaught exceptions into ``errors`` (or a new one)."""
    errors = errors if errors is not None else ConsoleErrors()
    page.on("console", errors.on_console)
    page.on("pageerror", errors.on_page_error)
    return errors


def screenshot_name(name: str) -> str:
    """A file-name-safe version of ``name`` (letters, digits, ``-``, ``_`` and ``.``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    if not cleaned:
        raise ValueError(f"screenshot name {name!r} has no usable characters")
    return cleaned


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``test-output/screenshots/<name>.png``; return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{screenshot_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


ScreenshotFn = Callable[["Page", str], Path]

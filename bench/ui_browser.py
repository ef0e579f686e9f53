"""Timing a page in Chromium: from navigation start to the first frame that shows a given thing.

Each load is cold: a new browser context (empty cache, no cookies or storage), a 1280x800
viewport, Debian's ``/usr/bin/chromium`` headless through Playwright. A probe script, added to
the page before any of its own scripts run, checks on every animation frame whether the target
is there and visible, and records ``performance.now()`` (milliseconds since navigation start)
the first time it is. The probe only reads the DOM once per frame, so it costs both pages the
same little; its resolution is one frame (about 17 ms).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}

# The probe. TARGET is {"selector": css, "min": n, "path": bool, "xmax": number | null}: at
# least ``min`` visible matches; with ``path``, each must be an SVG path with real geometry (a
# drawn Plotly line, not the empty placeholder it starts as); with ``xmax``, a Plotly trace on
# the page must reach that x (a chart that draws a first part of the data and then the rest, as
# MLflow's metric page does, is drawn only once it shows the whole series).
_PROBE = """
(() => {
  const target = TARGET;
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) return false;
    if (target.path) {
      const d = el.getAttribute("d") || "";
      if (d.length < 20) return false;
    }
    return getComputedStyle(el).visibility !== "hidden";
  };
  const complete = () => {
    if (target.xmax === null) return true;
    // runlab's first drawing (SVG, before Plotly.js is ready) marks how far its line goes.
    if (!target.plotly_only) {
      for (const line of document.querySelectorAll("[data-x-last]")) {
        if (Number(line.dataset.xLast) >= target.xmax) return true;
      }
    }
    for (const plot of document.querySelectorAll(".js-plotly-plot")) {
      for (const trace of plot.data || []) {
        const x = trace.x;
        if (x && x.length && Number(x[x.length - 1]) >= target.xmax) return true;
      }
    }
    return false;
  };
  const check = () => {
    if (window.__benchDrawnAt !== undefined) return;
    const found = document.querySelectorAll(target.selector);
    let seen = 0;
    for (const el of found) if (visible(el) && ++seen >= target.min) break;
    if (seen >= target.min && complete()) {
      window.__benchDrawnAt = performance.now();
      // Marked in the DOM for Playwright to wait on: its string predicates need eval, which
      // runlab's CSP forbids.
      document.documentElement.dataset.benchDrawn = "1";
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();
"""


@dataclass(frozen=True)
class Target:
    """What "drawn" means on a page: ``min`` visible matches of ``selector``.

    With ``path``, the matches must be drawn SVG paths; with ``xmax``, a Plotly trace (or,
    unless ``plotly_only``, a line marked ``data-x-last``) must reach that x value (the last
    step of the series).
    """

    selector: str
    min: int = 1
    path: bool = False
    xmax: float | None = None
    plotly_only: bool = False

    def probe(self) -> str:
        """The probe script for this target."""
        spec = {
            "selector": self.selector,
            "min": self.min,
            "path": self.path,
            "xmax": self.xmax,
            "plotly_only": self.plotly_only,
        }
        return _PROBE.replace("TARGET", json.dumps(spec))


def chromium_args() -> list[str]:
    """Flags for a headless Chromium in a container (no sandbox as root, small /dev/shm)."""
    args = ["--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def load_once(browser: Any, url: str, target: Target, timeout_s: float) -> dict[str, Any]:
    """One cold load of ``url``: milliseconds to the target drawn, and to the document's end.

    Raises (with what the page showed) when the target does not appear within ``timeout_s``.
    """
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(target.probe())
        page = context.new_page()
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        try:
            page.wait_for_selector(
                "html[data-bench-drawn]", state="attached", timeout=timeout_s * 1000
            )
        except Exception as exc:
            text = page.evaluate("document.body ? document.body.innerText.slice(0, 300) : ''")
            raise RuntimeError(
                f"{target.selector!r} not drawn at {url} ({_first_line(exc)}); the page "
                f"showed: {' '.join(str(text).split())!r}"
            ) from exc
        drawn_ms = float(page.evaluate("window.__benchDrawnAt"))
        response_end = page.evaluate(
            "(performance.getEntriesByType('navigation')[0] || {}).responseEnd || null"
        )
        return {"drawn_ms": drawn_ms, "document_ms": response_end, "page": page}
    except Exception:
        context.close()
        raise


def measure(
    browser: Any,
    url: str,
    target: Target,
    loads: int,
    timeout_s: float,
    screenshot: Path | None = None,
) -> dict[str, Any]:
    """``loads`` cold loads after one untimed warm-up; the median and every sample, in seconds.

    The warm-up load lets the server import and cache what its first request needs, so the
    timed loads compare pages, not server start-up. With ``screenshot``, the last load's page
    is saved there as drawn (to check that the target was the right thing).
    """
    _close(load_once(browser, url, target, timeout_s))
    samples: list[float] = []
    documents: list[float] = []
    for i in range(loads):
        result = load_once(browser, url, target, timeout_s)
        try:
            samples.append(result["drawn_ms"] / 1000)
            if result["document_ms"] is not None:
                documents.append(float(result["document_ms"]) / 1000)
            if screenshot is not None and i == loads - 1:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                result["page"].screenshot(path=str(screenshot))
        finally:
            _close(result)
    return {
        "url": url,
        "loads": loads,
        "median_s": statistics.median(samples),
        "samples_s": samples,
        "document_median_s": statistics.median(documents) if documents else None,
    }


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _close(result: dict[str, Any]) -> None:
    result["page"].context.close()

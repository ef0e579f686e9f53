"""The UI's static files and the Plotly.js bundle of the installed ``plotly`` package.

Files are served from the package, never from a CDN, so the UI works with no internet. Each URL
carries a fingerprint of what it serves (a content hash, or Plotly's version), which lets
browsers cache them for a long time and still see a new release at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

#: URL prefix of the hand-written CSS and JS.
STATIC_PREFIX = "/static"

#: How long a browser may keep a fingerprinted file without asking again (one year).
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Assets:
    """Where the UI's files are and the URLs the templates put in pages."""

    static_version: str
    plotly_path: Path | None
    plotly_version: str

    def static_url(self, name: str) -> str:
        """The URL of a file under ``static/``, with the fingerprint that busts caches."""
        return f"{STATIC_PREFIX}/{name}?v={self.static_version}"

    @property
    def plotly_url(self) -> str:
        """The stable URL of Plotly.js: its version is part of the path."""
        return f"{STATIC_PREFIX}/vendor/plotly-{self.plotly_version}.min.js"


def load_assets() -> Assets:
    """Fingerprint the static folder and find Plotly.js, without importing ``plotly``.

    Importing ``plotly`` would load far more than one file's location costs, so the package is
    found with ``find_spec`` (which does not run it). A missing bundle leaves ``plotly_path`` as
    ``None`` and its URL answers 404: the pages work, only charts do not.
    """
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    plotly_path: Path | None = None
    plotly_version = "missing"
    spec = importlib.util.find_spec("plotly")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "package_data"
        if (candidate / "plotly.min.js").is_file():
            plotly_path = candidate / "plotly.min.js"
            plotly_version = importlib.metadata.version("plotly")
    return Assets(digest.hexdigest()[:12], plotly_path, plotly_version)

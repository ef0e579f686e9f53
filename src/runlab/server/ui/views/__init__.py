"""The UI's pages beyond the two lists, one module each.

Every module here defines ``routes(pages: Pages) -> list[Route]``; :func:`all_routes` collects
them, so a new page is one new module with its template, script and tests beside it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from starlette.routing import Route

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages


def all_routes(pages: Pages) -> list[Route]:
    """The routes of every page module in this package, in module-name order."""
    routes: list[Route] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes.extend(module.routes(pages))
    return routes

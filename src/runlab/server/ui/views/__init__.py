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
    """The routes of every page module in this package, in module-name order, except that
    routes ending in a rest-of-the-path parameter come last.

    Starlette serves the first route that matches: ``/models/{name:path}`` would otherwise
    take ``/models/<name>/compare`` as a model named ``<name>/compare``.
    """
    routes: list[Route] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes.extend(module.routes(pages))
    # sort() is stable: the order among the specific routes, and among the others, is kept.
    routes.sort(key=lambda route: route.path.endswith(":path}"))
    return routes

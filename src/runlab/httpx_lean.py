"""httpx, imported without its command-line tool.

``import httpx`` also imports ``httpx._main``, the ``httpx`` console command, which loads
click, rich and pygments: about 30 ms at every start of a training script or ``runlab run``
that talks to a tracking server, for a command runlab never runs. Importing httpx through this
module hides that one submodule while httpx initialises (httpx then defines a stand-in for it),
and nothing else changes: ``import httpx._main`` still works afterwards.

Use ``from runlab.httpx_lean import httpx`` where runlab would write ``import httpx``.
"""

from __future__ import annotations

import sys

__all__ = ["httpx"]

if "httpx" in sys.modules:
    import httpx
else:
    _hidden = "httpx._main" not in sys.modules
    if _hidden:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]  # `import` raises ImportError
    try:
        import httpx
    finally:
        if _hidden and sys.modules.get("httpx._main", 0) is None:
            del sys.modules["httpx._main"]

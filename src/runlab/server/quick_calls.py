"""Which calls may skip the worker thread: repeats of a request that was quick last time.

Calls whose cost grows with the data (a runs search, a listing) run on the thread pool so that
a long one never holds up the event loop. Handing a call to a worker thread and back costs
about 0.7 ms on a 2-core machine, though: for a runs search of a 100-run page that is a tenth
of what the caller waits, and most searches are repeats (a page refreshed, a table polled, a
notebook rerun). So a call is run on the event loop itself when

* no other request is being served at that moment (nobody is queued behind it), and
* the very same request (path, query string or body) took under :data:`QUICK_S` the last
  time it was served.

A request that arrives while such a call runs waits at most about that long; a repeat that
turns out slow is recorded, and its next run goes back to the thread pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["MAX_KEY_BYTES", "QUICK_S", "CountRequests", "QuickCalls", "request_key"]

#: A repeat is run on the event loop if its last run took less than this (seconds). A search
#: page of 100 runs takes 5-9 ms here, depending on how busy the machine is; the bound leaves
#: room for that, and a request queued behind such a call waits no longer than this.
QUICK_S = 0.025
#: Request bodies longer than this are never remembered (keys stay small).
MAX_KEY_BYTES = 4096


class QuickCalls:
    """The requests being served now, and how long recent ones took, by request."""

    def __init__(self, quick_s: float = QUICK_S, size: int = 512) -> None:
        self.quick_s = quick_s
        self._size = size
        #: HTTP requests being served now (counted by :class:`CountRequests`).
        self.in_flight = 0
        self._durations: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        # Durations are recorded from the event loop and from worker threads.
        self._lock = threading.Lock()

    def may_run_inline(self, key: tuple[Any, ...] | None) -> bool:
        """Whether the request ``key`` may run on the event loop now."""
        if key is None or self.in_flight > 1:
            return False
        last = self._durations.get(key)
        return last is not None and last < self.quick_s

    def record(self, key: tuple[Any, ...] | None, seconds: float) -> None:
        """Remember how long the request ``key`` took (the least recent are forgotten)."""
        if key is None:
            return
        with self._lock:
            self._durations[key] = seconds
            self._durations.move_to_end(key)
            while len(self._durations) > self._size:
                self._durations.popitem(last=False)


def request_key(path: str, query: bytes, body: bytes) -> tuple[str, bytes, bytes] | None:
    """What makes two requests the same call; None for a body too large to remember."""
    if len(body) > MAX_KEY_BYTES or len(query) > MAX_KEY_BYTES:
        return None
    return (path, query, body)


class CountRequests:
    """ASGI middleware counting the HTTP requests being served in ``calls.in_flight``."""

    def __init__(self, app: ASGIApp, calls: QuickCalls) -> None:
        self.app = app
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the event loop's thread runs this, so the counter needs no lock.
        self.calls.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.calls.in_flight -= 1

"""The ends of the metric series this process wrote last, kept to skip reading them back.

A metrics log-batch on PostgreSQL needs each key's last chunk and summary (its *tail*) before
it can write: new chunks take the next sequence numbers, a small batch merges into the tail
chunk, a resent one is deduplicated against it, and the summary adds the new points to the old
figures. Reading the tails costs a round trip before the write can go out. A training client
sends batch after batch for the same run, and the tails after each batch are exactly what this
process just wrote, so the next batch can be planned from a copy kept here and sent in the same
round trip as the run's lock.

The copy is never trusted on its own: each tail keeps the transaction id (``xmin``) of the
summary row it was read from or written as, and the batch's first statement after the lock
checks every key's row still has that id and count; any other writer (another worker, another
server) gives the row a new one. If the check fails the database refuses the transaction before
anything is written, and the batch is planned again from tails read from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["TailCache"]

T = TypeVar("T")

#: Series whose tails are kept, over all runs; the least recently written runs go first.
MAX_KEYS = 10_000


class TailCache(Generic[T]):
    """Per run, per key: the tail last written or read. Safe to share between threads."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._runs: OrderedDict[str, dict[str, T]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, run_id: str, keys: Iterable[str]) -> dict[str, T] | None:
        """The tails of every one of ``keys`` in ``run_id``, or None if any is not kept."""
        with self._lock:
            kept = self._runs.get(run_id)
            if kept is None:
                return None
            try:
                found = {key: kept[key] for key in keys}
            except KeyError:
                return None
            self._runs.move_to_end(run_id)
            return found

    def put(self, run_id: str, tails: dict[str, T]) -> None:
        """Keep ``tails`` for ``run_id`` (other keys of the run stay as they were)."""
        with self._lock:
            kept = self._runs.setdefault(run_id, {})
            self._size -= len(kept)
            kept.update(tails)
            self._size += len(kept)
            self._runs.move_to_end(run_id)
            while self._size > self._max_keys and len(self._runs) > 1:
                self._size -= len(self._runs.popitem(last=False)[1])

    def drop(self, run_id: str) -> None:
        """Forget everything kept for ``run_id``."""
        with self._lock:
            self._size -= len(self._runs.pop(run_id, {}))

    def __len__(self) -> int:
        """How many series' tails are kept."""
        with self._lock:
            return self._size

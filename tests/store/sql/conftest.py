"""A SqlTrackingStore on each backend, over a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    """A store over a fresh database, with artifacts under tmp_path."""
    s = SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri())
    yield s
    s.close()

"""A SqlTrackingStore and a SqlRegistryStore on each backend, over a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def store(
    opened_by_tracking_store: None, db_url: str, tmp_path: Path
) -> Iterator[SqlTrackingStore]:
    """A store over a fresh database (or an emptied, kept one), with artifacts under tmp_path."""
    s = SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri())
    yield s
    s.close()


@pytest.fixture
def registry_store(db_url: str, store: SqlTrackingStore) -> Iterator[SqlRegistryStore]:
    """A registry over the same fresh database as ``store`` (so versions can name its runs)."""
    s = SqlRegistryStore(db_url)
    yield s
    s.close()

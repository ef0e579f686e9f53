"""Fixtures of the permission tests: the world of :mod:`support.auth_world`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.auth_world import World, close_world, make_world


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for a module's read-only checks (building it hashes six passwords)."""
    world = make_world(tmp_path_factory.mktemp("world"))
    yield world
    close_world(world)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh world, for tests that change it."""
    made = make_world(tmp_path / "world")
    yield made
    close_world(made)

"""docs/auth.md's table of who may call each route is the one the server's rules give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.server.auth.rule_docs import rule_table_markdown
from support.auth_app import full_app
from support.auth_world import World, close_world, make_world

DOC = Path(__file__).resolve().parents[2] / "docs" / "auth.md"
BEGIN, END = "<!-- rule-table:begin -->", "<!-- rule-table:end -->"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = make_world(tmp_path_factory.mktemp("world"))
    yield made
    close_world(made)


def documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def test_the_table_is_generated_from_the_routes(world: World) -> None:
    # The app as `runlab server --auth` serves it: registry, artifact proxy, auth API, pages.
    expected = rule_table_markdown(full_app(world, auth_enabled=True).routes)
    assert documented_table() == expected, (
        "docs/auth.md is out of date: replace the table between the rule-table markers with "
        "the output of runlab.server.auth.rule_docs.rule_table_markdown(app.routes)"
    )


def test_the_table_names_the_routes_people_look_for() -> None:
    table = documented_table()
    for needle in (
        "`/api/2.0/mlflow/runs/log-batch`",
        "`/api/2.0/mlflow/users/create`",
        "`/api/2.0/mlflow/experiments/permissions/create`",
        "`/health`",
        "`/login`",
        "`/admin`",
    ):
        assert needle in table, needle

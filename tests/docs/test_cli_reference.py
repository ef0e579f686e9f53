"""docs/cli.md is generated from the commands' --help; it must match the code."""

from __future__ import annotations

from pathlib import Path

from runlab.cli.docgen import render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `python -m runlab.cli.docgen > docs/cli.md`."
    )


def test_cli_reference_covers_every_command() -> None:
    text = render()
    for command in (
        "runlab experiments list",
        "runlab experiments create",
        "runlab experiments delete",
        "runlab experiments restore",
        "runlab experiments rename",
        "runlab runs list",
        "runlab runs describe",
        "runlab runs delete",
        "runlab runs restore",
        "runlab models list",
        "runlab models describe",
        "runlab models versions",
        "runlab models stage",
        "runlab models alias",
        "runlab models history",
        "runlab models serve",
        "runlab models predict",
        "runlab models generate-dockerfile",
        "runlab models build-docker",
        "runlab db upgrade",
        "runlab server",
        "runlab ui",
    ):
        assert f"`{command}`" in text


def test_server_page_explains_every_server_option() -> None:
    from runlab.cli.server import server

    page = (REFERENCE.parent / "server.md").read_text(encoding="utf-8")
    for param in server.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("--") and name != "--help":
                assert f"`{name}" in page, f"docs/server.md does not mention {name}"

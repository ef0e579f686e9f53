"""Links between the user docs (README.md and docs/*.md) lead somewhere.

A link to another page must name a file that exists, and a ``#fragment`` must name one of that
page's headings (GitHub's anchor rules: lower case, punctuation dropped, spaces to hyphens), so
renaming a section cannot silently break the pages that point at it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def anchor(heading: str) -> str:
    """The id GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {anchor(h) for h in _HEADING.findall(text)}


def local_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return [
        target
        for target in _LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...
    ]


def test_anchor_follows_githubs_rules() -> None:
    assert anchor("Links in MLflow's form") == "links-in-mlflows-form"
    assert anchor("`runlab models serve`") == "runlab-models-serve"
    assert anchor("Speed: `--predict-mode`") == "speed---predict-mode"
    assert anchor("The cost of `RUNLAB_DURABLE`") == "the-cost-of-runlab_durable"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_to_a_page_and_section_resolves(page: Path) -> None:
    broken = []
    for target in local_links(page):
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {path_part}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: {linked.name} has no heading #{fragment}")
    assert not broken, f"{page.name}: " + "; ".join(broken)

"""The "what each permission can do" table of docs/auth.md, generated from the routes' rules.

The table is the rules the server applies, not a description of them: a test builds the app as
``runlab server --auth`` serves it and checks that docs/auth.md holds exactly this text.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute

from runlab.server.auth.rules import RuleRow, rule_table

__all__ = ["rule_table_markdown"]

_HEADER = "| Method | Route | Least permission | Who may call it |\n|---|---|---|---|"
_API, _AJAX = "/api/", "/ajax-api/"


def rule_table_markdown(routes: Iterable[BaseRoute]) -> str:
    """A Markdown table with a row per route and method of ``routes`` (an app's ``routes``).

    A route under ``/ajax-api/`` whose ``/api/`` twin has the same method and rule is left out
    (the docs say every such route is served under both prefixes alike); routes that exist only
    under ``/ajax-api/`` keep their row. ``|`` in a description is escaped.
    """
    rows = rule_table(routes)
    index = {(r.path, r.method): r for r in rows}
    lines = [_HEADER]
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if (row.path, row.method) in seen or _mirrored(row, index):
            continue
        seen.add((row.path, row.method))
        rule = row.rule.replace("|", "\\|")
        lines.append(f"| {row.method} | `{row.path}` | {row.permission} | {rule} |")
    return "\n".join(lines)


def _mirrored(row: RuleRow, index: dict[tuple[str, str], RuleRow]) -> bool:
    if not row.path.startswith(_AJAX):
        return False
    twin = index.get((_API + row.path[len(_AJAX) :], row.method))
    return twin is not None and (twin.permission, twin.rule) == (row.permission, row.rule)

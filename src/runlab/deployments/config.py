"""Parsing ``-C key=value`` pairs into a target's ``config`` dict.

Every ``runlab deployments`` command and the built-in targets' own commands read ``config``
the same way::

    parse_config(["instance_count=2", "tags={\"team\": \"ml\"}", "region=us-west-2"])
    # {"instance_count": 2, "tags": {"team": "ml"}, "region": "us-west-2"}

A value is read as JSON when it is valid JSON (numbers, ``true``/``false``/``null``, lists,
objects, quoted strings), otherwise it is kept as the text given. Only the first ``=`` splits,
so values may contain ``=``. A key given twice keeps its last value, as repeated command-line
options usually do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["parse_config", "parse_config_value"]


def parse_config_value(text: str) -> Any:
    """``text`` as JSON when it parses, else ``text`` itself (``us-west-2`` stays a string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_config(pairs: Sequence[str] | None) -> dict[str, Any]:
    """A config dict from ``key=value`` strings (see the module docstring for how values read).

    Raises :class:`~runlab.errors.InvalidParameter` for a pair without ``=`` or with an empty
    key, naming the pair.
    """
    if pairs is None:
        return {}
    if isinstance(pairs, str):
        # A lone string would otherwise be read character by character.
        raise InvalidParameter(
            f"Config pairs must be a list of 'key=value' strings, got the string {pairs!r}."
        )
    config: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, str) or "=" not in pair:
            raise InvalidParameter(
                f"Config {pair!r} is not a key=value pair (e.g. -C instance_count=2)."
            )
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise InvalidParameter(f"Config {pair!r} has an empty key (expected key=value).")
        config[key] = parse_config_value(value)
    return config

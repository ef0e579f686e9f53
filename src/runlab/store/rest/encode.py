"""runlab entities to MLflow JSON messages, on the client side (the mirror of ``decode``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runlab.entities import Metric
from runlab.protocol import encode_double

__all__ = ["key_values", "metric_message"]


def metric_message(m: Metric) -> dict[str, Any]:
    """A Metric message for log-batch. The model and dataset fields (MLflow 3) are sent only
    when set, so the server records the point on that logged model too."""
    out: dict[str, Any] = {
        "key": m.key,
        "value": encode_double(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    if m.model_id:
        out["model_id"] = m.model_id
    if m.dataset_name:
        out["dataset_name"] = m.dataset_name
    if m.dataset_digest:
        out["dataset_digest"] = m.dataset_digest
    return out


def key_values(items: Mapping[str, str] | Iterable[Any] | None) -> list[dict[str, str]]:
    """Tags or params (a dict, (key, value) pairs, or objects with ``.key`` and ``.value``) as
    the wire's list of ``{key, value}``."""
    if items is None:
        return []
    pairs: Iterable[Any] = items.items() if isinstance(items, Mapping) else items
    out = []
    for item in pairs:
        if isinstance(item, tuple):
            key, value = item
        else:
            key, value = item.key, item.value
        out.append({"key": key, "value": value})
    return out

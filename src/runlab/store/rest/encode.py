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
    # Unpacked at once and finite values passed as they are: the background writer turns up to
    # 1000 points per batch into messages, so this is the client's hot path.
    key, value, timestamp, step, dataset_name, dataset_digest, model_id, _run_id = m
    out: dict[str, Any] = {
        "key": key,
        # value - value is 0.0 only for finite values: NaN and +-Inf go out as strings.
        "value": value if value - value == 0.0 else encode_double(value),
        "timestamp": timestamp,
        "step": step,
    }
    if model_id:
        out["model_id"] = model_id
    if dataset_name:
        out["dataset_name"] = dataset_name
    if dataset_digest:
        out["dataset_digest"] = dataset_digest
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

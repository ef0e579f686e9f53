"""What the run page shows of each dataset a run used: one readable row per dataset input.

A dataset's ``source``, ``schema`` and ``profile`` are JSON strings that whoever logged the run
wrote (runlab, MLflow, or anything speaking the REST protocol), so each is parsed defensively:
text that does not parse, or parses into an unexpected shape, is shown as it is (shortened), and
never stops the page from rendering. orjson parses it, not json: json.loads recurses and a value
nested a few thousand levels deep would raise RecursionError; orjson refuses it past 1024 levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from runlab.entities import DatasetInput

__all__ = ["CONTEXT_TAG", "DatasetSummary", "dataset_summaries"]

#: The input tag holding the context a dataset was used in.
CONTEXT_TAG = "mlflow.data.context"
#: Longest raw text shown for a field that could not be read as expected.
_MAX_RAW = 200
#: Columns or tensors named in the one-line schema summary; the rest are in the full list.
_SUMMARY_ITEMS = 6


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset input as the page shows it."""

    name: str
    digest: str
    context: str | None
    source_type: str
    source: str
    #: A one-line description: "5 columns: a (long), …" or "features float64 [-1, 3]".
    schema: str
    #: Every column or tensor as (name, type), for the full list under the summary.
    schema_items: list[tuple[str, str]] = field(default_factory=list)
    #: (label, value) pairs of the profile, e.g. ("num_rows", "150").
    profile: list[tuple[str, str]] = field(default_factory=list)
    #: The input's tags other than the context.
    tags: list[tuple[str, str]] = field(default_factory=list)


def _parse(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _short(text: str) -> str:
    return text if len(text) <= _MAX_RAW else text[: _MAX_RAW - 1] + "…"


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def source_text(source_type: str, text: str) -> str:
    """Where the data came from: the URI or URL, the script for a code source, else the raw JSON."""
    fields = _parse(text)
    if isinstance(fields, dict):
        for key in ("uri", "url", "path", "table_name", "path_or_dataset"):
            if isinstance(fields.get(key), str):
                return _short(fields[key])
        tags = fields.get("tags")
        if source_type == "code" and isinstance(tags, dict):
            script = tags.get("mlflow.source.name")
            commit = tags.get("mlflow.source.git.commit")
            if isinstance(script, str) and script:
                return _short(script + (f" @ {commit[:12]}" if isinstance(commit, str) else ""))
    return _short(text) if text else "—"


def _type_name(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, dict):
        kind = kind.get("type")
    if kind == "tensor":
        tensor = spec.get("tensor-spec")
        if isinstance(tensor, dict):
            shape = tensor.get("shape")
            dims = ", ".join(map(_compact, shape)) if isinstance(shape, list) else "?"
            return f"{_compact(tensor.get('dtype', '?'))} [{dims}]"
        return "tensor"
    if isinstance(kind, str):
        # Arrays and objects carry their item types further in; the page names the kind only.
        return kind + ("" if spec.get("required", True) else ", optional")
    return "?"


def _spec_items(specs: Any) -> list[tuple[str, str]] | None:
    """(name, type) of each spec of a spec list; unnamed specs are named by position."""
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        return None
    return [
        (spec["name"] if isinstance(spec.get("name"), str) else f"[{position}]", _type_name(spec))
        for position, spec in enumerate(specs)
    ]


def schema_summary(text: str | None) -> tuple[str, list[tuple[str, str]]]:
    """A one-line description of a dataset schema and the (name, type) of each part."""
    schema = _parse(text)
    if isinstance(schema, dict) and "mlflow_colspec" in schema:
        items = _spec_items(schema["mlflow_colspec"])
        if items is not None:
            shown = ", ".join(f"{n} ({t})" for n, t in items[:_SUMMARY_ITEMS])
            more = len(items) - _SUMMARY_ITEMS
            plural = "" if len(items) == 1 else "s"
            return (
                f"{len(items)} column{plural}: {shown}" + (f", … {more} more" if more > 0 else ""),
                items,
            )
    if isinstance(schema, dict) and isinstance(schema.get("mlflow_tensorspec"), dict):
        parts = schema["mlflow_tensorspec"]
        items = []
        for role in ("features", "targets"):
            raw = parts.get(role)
            specs = _spec_items(_parse(raw) if isinstance(raw, str) else None) or []
            if len(specs) == 1 and specs[0][0] == "[0]":
                items.append((role, specs[0][1]))  # one unnamed array: the role names it
            else:
                items.extend((f"{role}.{name}", kind) for name, kind in specs)
        if items:
            shown = "; ".join(f"{n}: {t}" for n, t in items[:_SUMMARY_ITEMS])
            more = len(items) - _SUMMARY_ITEMS
            return shown + (f"; … {more} more" if more > 0 else ""), items
    if not text:
        return "—", []
    return _short(text), []


def profile_pairs(text: str | None) -> list[tuple[str, str]]:
    """The profile's entries as (label, value) text; the raw text when it is not a JSON object."""
    profile = _parse(text)
    if isinstance(profile, dict):
        return [(str(key), _short(_compact(value))) for key, value in profile.items()]
    return [("", _short(text))] if text else []


def dataset_summaries(inputs: list[DatasetInput]) -> list[DatasetSummary]:
    """One summary per dataset input, in the order the run lists them."""
    out = []
    for item in inputs:
        ds = item.dataset
        context = next((t.value for t in item.tags if t.key == CONTEXT_TAG), None)
        schema, schema_items = schema_summary(ds.schema)
        out.append(
            DatasetSummary(
                name=ds.name,
                digest=ds.digest,
                context=context,
                source_type=ds.source_type or "—",
                source=source_text(ds.source_type, ds.source),
                schema=schema,
                schema_items=schema_items,
                profile=profile_pairs(ds.profile),
                tags=sorted((t.key, t.value) for t in item.tags if t.key != CONTEXT_TAG),
            )
        )
    return out

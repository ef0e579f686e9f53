"""Column, tensor and parameter specs of a model signature, in MLflow's JSON layout.

A :class:`Schema` is a list of :class:`ColSpec` (tabular inputs: one spec per column) or of
:class:`TensorSpec` (array inputs: dtype and shape), never a mix. Each spec's ``to_dict`` gives the
exact dictionary MLflow writes into the ``signature:`` block of an ``MLmodel`` file, so a file written
here reads the same in MLflow and the other way round.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "DATA_TYPES",
    "Array",
    "ColSpec",
    "OtherType",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
]

# The scalar type names MLflow's column specs use, in its own spelling ("any" accepts every value).
DATA_TYPES = (
    "string",
    "long",
    "integer",
    "double",
    "float",
    "boolean",
    "binary",
    "datetime",
    "any",
)


@dataclass(frozen=True)
class Array:
    """A column whose every value is a list of ``items`` (a scalar type name or a nested Array)."""

    items: str | Array | OtherType

    def to_dict(self) -> dict[str, Any]:
        """The ``{"type": "array", "items": ...}`` layout."""
        items = (
            self.items.to_dict()
            if isinstance(self.items, (Array, OtherType))
            else {"type": self.items}
        )
        return {"type": "array", "items": items}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Array:
        """Read the layout :meth:`to_dict` writes."""
        items = data.get("items") or {}
        if items.get("type") == "array":
            return cls(cls.from_dict(items))
        if items.get("type") in DATA_TYPES:
            return cls(str(items["type"]))
        return cls(OtherType.from_dict(items))

    def __str__(self) -> str:
        return f"Array({self.items})"


@dataclass(frozen=True)
class OtherType:
    """A compound column type runlab does not model yet (e.g. MLflow's ``object`` or ``map``).

    Kept verbatim so that loading and re-saving a model never loses its signature; enforcement
    passes such columns through unchecked.
    """

    raw: tuple[tuple[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """The type's own keys, as read."""
        return json.loads(json.dumps(dict(self.raw)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OtherType:
        """Keep every key of a column spec except its name and ``required`` flag."""
        return cls(
            tuple(
                (k, json.loads(json.dumps(v)))
                for k, v in data.items()
                if k not in ("name", "required")
            )
        )

    def __str__(self) -> str:
        return str(dict(self.raw).get("type"))

    def __hash__(self) -> int:
        return hash(json.dumps(dict(self.raw), sort_keys=True))


ColType = str | Array | OtherType


def _check_type(name: Any) -> str:
    if name not in DATA_TYPES:
        raise InvalidParameter(
            f"Unsupported column type {name!r}: expected one of {', '.join(DATA_TYPES)} or an array."
        )
    return str(name)


@dataclass(frozen=True)
class ColSpec:
    """One column of a tabular schema: its type, an optional name, and whether it must be present."""

    type: ColType
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.type, (Array, OtherType)):
            object.__setattr__(self, "type", _check_type(self.type))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's layout: type (plus items for arrays), then name if any, then required."""
        out: dict[str, Any] = (
            self.type.to_dict()
            if isinstance(self.type, (Array, OtherType))
            else {"type": self.type}
        )
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColSpec:
        """Read one column spec; a missing ``required`` means required, as in older files."""
        kind = data.get("type")
        col_type: ColType
        if kind == "array":
            col_type = Array.from_dict(data)
        elif kind in DATA_TYPES:
            col_type = str(kind)
        else:
            col_type = OtherType.from_dict(data)
        return cls(type=col_type, name=data.get("name"), required=bool(data.get("required", True)))

    @property
    def type_name(self) -> str:
        """The type as a message shows it."""
        return str(self.type)


@dataclass(frozen=True)
class TensorSpec:
    """One tensor input or output: numpy dtype name, shape (``-1`` for a free dimension), name."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        # Accept numpy dtypes and classes as well as names; store the canonical name.
        object.__setattr__(self, "dtype", _dtype_name(self.dtype))
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's layout: name if any, ``"type": "tensor"`` and the ``tensor-spec``."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["type"] = "tensor"
        out["tensor-spec"] = {"dtype": self.dtype, "shape": list(self.shape)}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        """Read one tensor spec."""
        spec = data.get("tensor-spec") or {}
        return cls(dtype=spec["dtype"], shape=tuple(spec.get("shape") or ()), name=data.get("name"))


def _dtype_name(dtype: Any) -> str:
    import numpy as np  # numpy is a core dependency, but only models need it: load it on use

    try:
        return str(np.dtype(dtype))
    except TypeError as exc:
        raise InvalidParameter(f"Unsupported tensor dtype {dtype!r}: {exc}") from exc


Spec = ColSpec | TensorSpec


class Schema:
    """An ordered list of column specs or of tensor specs (not both)."""

    def __init__(self, inputs: Iterable[Spec]) -> None:
        self.inputs: list[Spec] = list(inputs)
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise InvalidParameter("A schema holds column specs or tensor specs, not both.")
        names = [s.name for s in self.inputs]
        if any(n is not None for n in names) and any(n is None for n in names):
            raise InvalidParameter("Either every spec of a schema has a name or none has.")
        named = [n for n in names if n is not None]
        if len(set(named)) != len(named):
            raise InvalidParameter(f"Duplicate names in a schema: {named}.")

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __repr__(self) -> str:
        return f"Schema({self.inputs!r})"

    @property
    def is_tensor_spec(self) -> bool:
        """True when the schema describes tensors rather than columns."""
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        """True when the specs are named (columns or named tensors)."""
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str | None]:
        """The spec names, in order (None for unnamed specs)."""
        return [s.name for s in self.inputs]

    def required_input_names(self) -> list[str]:
        """Names of the columns a request must carry."""
        return [
            s.name
            for s in self.inputs
            if s.name is not None and (not isinstance(s, ColSpec) or s.required)
        ]

    def to_dict(self) -> list[dict[str, Any]]:
        """The list of spec dictionaries."""
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        """The JSON string stored in an ``MLmodel`` file."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Sequence[dict[str, Any]]) -> Schema:
        """Read a list of spec dictionaries."""
        return cls(
            TensorSpec.from_dict(d) if d.get("type") == "tensor" else ColSpec.from_dict(d)
            for d in data
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """Read the JSON string stored in an ``MLmodel`` file."""
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class ParamSpec:
    """One inference parameter: name, scalar type, default, shape (None or ``(-1,)`` for lists)."""

    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _check_type(self.type))
        if self.type == "datetime" and isinstance(self.default, str):
            # The file holds an ISO string; keep a datetime so a read spec equals an inferred one.
            try:
                object.__setattr__(self, "default", _dt.datetime.fromisoformat(self.default))
            except ValueError as exc:
                raise InvalidParameter(
                    f"Parameter {self.name!r}: default {self.default!r} is not an ISO date-time."
                ) from exc
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's layout: name, default, shape, type."""
        default = self.default
        if self.type == "datetime" and default is not None and hasattr(default, "isoformat"):
            default = default.isoformat()  # keep the JSON string valid
        return {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParamSpec:
        """Read one parameter spec."""
        shape = data.get("shape")
        return cls(
            name=data["name"],
            type=data["type"],
            default=data.get("default"),
            shape=tuple(shape) if shape is not None else None,
        )


@dataclass
class ParamSchema:
    """The inference parameters a model's ``predict`` accepts."""

    params: list[ParamSpec] = field(default_factory=list)

    def __init__(self, params: Iterable[ParamSpec]) -> None:
        self.params = list(params)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise InvalidParameter(f"Duplicate parameter names: {names}.")

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def to_dict(self) -> list[dict[str, Any]]:
        """The list of parameter dictionaries."""
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        """The JSON string stored in an ``MLmodel`` file."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Sequence[dict[str, Any]]) -> ParamSchema:
        """Read a list of parameter dictionaries."""
        return cls(ParamSpec.from_dict(d) for d in data)

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        """Read the JSON string stored in an ``MLmodel`` file."""
        return cls.from_dict(json.loads(text))

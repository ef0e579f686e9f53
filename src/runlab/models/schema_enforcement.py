"""Check and convert a model's input against its signature's input schema at predict time.

``enforce_schema`` takes what a caller hands to ``predict`` — a pandas DataFrame or Series, a dict,
a list (of scalars or of records), a numpy array — and returns it in the shape the schema promises:
a DataFrame with the schema's columns and dtypes for a column schema, an array (or a dict of arrays)
for a tensor schema. Conversions that lose nothing are made (int32 → int64, int → double, a whole
float → long, an ISO string → datetime); anything else raises :class:`SchemaEnforcementError`, whose
message names the column and the type it expects.

A required column (``ColSpec.required``, the default) must hold a value in every row: a missing
one (None, NaN, NaT, pd.NA — what a JSON null or an empty CSV cell becomes) is refused, for
floating columns too, where NaN would otherwise pass as a number. Optional columns may be
absent or hold missing values.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runlab.errors import InvalidParameter
from runlab.models.schema import Array, ColSpec, OtherType, TensorSpec

if TYPE_CHECKING:  # annotations only
    from runlab.models.schema import ParamSchema, ParamSpec, Schema

__all__ = ["SchemaEnforcementError", "enforce_params", "enforce_schema"]

# The largest integers a double (53-bit mantissa) and a float (24-bit) hold exactly.
_EXACT_IN_DOUBLE = 2**53
_EXACT_IN_FLOAT = 2**24
_INT32 = (-(2**31), 2**31 - 1)


class SchemaEnforcementError(InvalidParameter):
    """An input that does not fit the model's signature (HTTP 400, INVALID_PARAMETER_VALUE).

    ``column`` is the offending column or tensor name (None for an unnamed one) and
    ``expected_type`` the type the schema asks for.
    """

    def __init__(
        self,
        message: str,
        error_code: str | None = None,
        *,
        column: str | None = None,
        expected_type: str | None = None,
    ) -> None:
        super().__init__(message, error_code)
        self.column = column
        self.expected_type = expected_type


def enforce_schema(model_input: Any, schema: Schema) -> Any:
    """Return ``model_input`` converted to ``schema``; raise SchemaEnforcementError if it cannot be."""
    if not len(schema):
        return model_input
    if schema.is_tensor_spec:
        return _enforce_tensors(model_input, schema)
    if getattr(model_input, "ndim", None) == 0 and hasattr(model_input, "item"):
        # A lone value parsed into a 0-d array (a JSON body's {"inputs": "text"}): one cell.
        model_input = model_input.item()
    return _enforce_columns(model_input, schema)


# --- column schemas ---------------------------------------------------------------------------


def _pandas() -> Any:
    try:
        import pandas
    except ModuleNotFoundError as exc:  # pragma: no cover - the test extra installs pandas
        raise ModuleNotFoundError(
            "Checking a column signature needs pandas: pip install 'runlab[pandas]'"
        ) from exc
    return pandas


def _label(name: Any) -> str:
    return f"column {name!r}" if name is not None else "the input column"


def _fail(spec: ColSpec, reason: str, column: Any = None) -> SchemaEnforcementError:
    name = spec.name if spec.name is not None else column
    return SchemaEnforcementError(
        f"Input {_label(name)} expects type '{spec.type_name}': {reason}",
        column=None if name is None else str(name),
        expected_type=spec.type_name,
    )


def _is_scalar(value: Any) -> bool:
    # Text is one value; lists, arrays, Series and dicts have a length and are not.
    return isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__len__")


def _to_frame(model_input: Any, schema: Schema) -> Any:
    import numpy as np

    pd = _pandas()
    names = schema.input_names()
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, pd.Series):
        column = model_input.name if model_input.name is not None else names[0]
        return model_input.to_frame(name=column if column is not None else 0)
    if isinstance(model_input, Mapping):
        # A dict of scalars is one row; a dict of sequences is one column per key.
        if all(_is_scalar(v) for v in model_input.values()):
            return pd.DataFrame([dict(model_input)])
        return pd.DataFrame(
            {k: list(v) if isinstance(v, np.ndarray) else v for k, v in model_input.items()}
        )
    if isinstance(model_input, np.ndarray):
        if model_input.ndim == 1:
            model_input = model_input.reshape(-1, 1)
        if model_input.ndim != 2:
            raise SchemaEnforcementError(
                f"A column signature takes a 1- or 2-dimensional array, got shape {model_input.shape}."
            )
        return pd.DataFrame(model_input, columns=_positional_names(names, model_input.shape[1]))
    if isinstance(model_input, (list, tuple)):
        if model_input and all(isinstance(r, Mapping) for r in model_input):
            return pd.DataFrame(list(model_input))
        if len(names) == 1 or all(_is_scalar(v) for v in model_input):
            return pd.DataFrame({names[0] if names[0] is not None else 0: list(model_input)})
        return pd.DataFrame(
            list(model_input), columns=_positional_names(names, len(model_input[0]))
        )
    if _is_scalar(model_input):
        return pd.DataFrame({names[0] if names[0] is not None else 0: [model_input]})
    raise SchemaEnforcementError(
        f"Cannot read an input of type {type(model_input).__name__} as the columns "
        f"{[n for n in names if n is not None] or 'of the signature'}."
    )


def _positional_names(names: list[str | None], width: int) -> list[Any]:
    # An array has no column names: its columns take the schema's names in order (trailing
    # optional columns may be left out); for an unnamed schema they are matched by position.
    if width <= len(names) and all(n is not None for n in names):
        return list(names[:width])
    return list(range(width))


# Column types whose values a numpy column of exactly this dtype already holds as required.
_EXACT_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}


def _already_conforming(model_input: Any, schema: Schema) -> bool:
    """True when a DataFrame holds exactly the schema's numeric columns, in order and dtype.

    The hot path of a scoring server: a JSON body of numbers becomes such a frame, and checking
    it column by column would cost more than the prediction of a small model. Every value of
    such a column is already what the slow path would produce (integer columns cannot hold a
    missing value; NaN in a floating column is checked by :func:`_refuse_missing_floats`), so
    the frame is used as it is.
    """
    if not schema.has_input_names() or not hasattr(model_input, "dtypes"):
        return False
    pd = _pandas()
    if not isinstance(model_input, pd.DataFrame):
        return False
    specs = schema.inputs
    if len(specs) != model_input.shape[1]:
        return False
    for spec, column, dtype in zip(specs, model_input.columns, model_input.dtypes, strict=True):
        if not isinstance(spec, ColSpec) or spec.name != column:
            return False
        if not isinstance(spec.type, str) or _EXACT_DTYPES.get(spec.type) != str(dtype):
            return False
    return True


def _refuse_missing_floats(frame: Any, specs: list[Any]) -> None:
    """Raise for a NaN in a required column of a frame :func:`_already_conforming` accepted."""
    import numpy as np

    if not any(s.required and s.type in ("double", "float") for s in specs):
        return
    # One block of floats (a view for an all-float64 frame; integers cannot be NaN): a few
    # microseconds, against the tens a column-by-column isna() costs.
    missing = np.isnan(frame.to_numpy(dtype=np.float64, copy=False)).sum(axis=0)
    for spec, count in zip(specs, missing.tolist(), strict=True):
        if count and spec.required:
            raise _missing_required(spec, count, spec.name)


def _missing_required(spec: ColSpec, count: int, column: Any) -> SchemaEnforcementError:
    return _fail(
        spec,
        f"it is required but has {count} missing value(s) (null, NaN or an empty cell).",
        column,
    )


def _enforce_columns(model_input: Any, schema: Schema) -> Any:
    if _already_conforming(model_input, schema):
        _refuse_missing_floats(model_input, list(schema.inputs))
        return model_input
    pd = _pandas()
    try:
        frame = _to_frame(model_input, schema)
    except (ValueError, TypeError) as exc:
        # e.g. rows of different lengths: the caller's mistake, reported as a bad input (400).
        raise SchemaEnforcementError(f"Cannot read the input as a table: {exc}") from exc
    specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
    if not schema.has_input_names():
        # Unnamed columns are taken by position.
        if frame.shape[1] < len(specs):
            raise SchemaEnforcementError(
                f"The signature expects {len(specs)} column(s), the input has {frame.shape[1]}."
            )
        # Positions are reported as plain ints ("column 0"), whatever the frame's labels are.
        return pd.DataFrame(
            {frame.columns[i]: _convert(frame.iloc[:, i], spec, i) for i, spec in enumerate(specs)},
            index=frame.index,
        )

    columns = {str(c): c for c in frame.columns}
    if len(columns) != frame.shape[1]:
        twice = sorted(
            {str(c) for c in frame.columns if list(map(str, frame.columns)).count(str(c)) > 1}
        )
        raise SchemaEnforcementError(
            f"The input names column(s) {', '.join(map(repr, twice))} more than once; each "
            "column may appear once.",
            column=twice[0],
        )
    missing = [s for s in specs if s.required and s.name not in columns]
    if missing:
        listed = ", ".join(f"{s.name!r} ({s.type_name})" for s in missing)
        first = missing[0]
        raise SchemaEnforcementError(
            f"Input is missing required column(s) {listed}.",
            column=first.name,
            expected_type=first.type_name,
        )
    # Only the schema's columns reach the model, in the schema's order.
    return pd.DataFrame(
        {
            s.name: _convert(frame[columns[str(s.name)]], s, s.name)
            for s in specs
            if s.name in columns
        },
        index=frame.index,
    )


def _convert(series: Any, spec: ColSpec, column: Any) -> Any:
    import numpy as np

    col_type = spec.type
    if isinstance(col_type, OtherType):
        _check_mappings(series, spec, col_type, column)
        return series
    if col_type == "any":
        return series
    missing = np.asarray(series.isna())
    if missing.any() and spec.required:
        raise _missing_required(spec, int(missing.sum()), column)
    if missing.any() and col_type in ("double", "float"):
        # An optional floating column holds a missing value as NaN (pd.NA and None included).
        series = series.astype(object).mask(missing, np.nan)
    if missing.any() and col_type not in ("double", "float"):
        present = series[~missing]
        converted = _convert_present(present, spec, column)
        out = series.astype(object)
        out[~missing] = list(converted)
        out[missing] = None
        return out
    return _convert_present(series, spec, column)


def _check_mappings(series: Any, spec: ColSpec, col_type: OtherType, column: Any) -> None:
    """Objects and maps must be dicts; an object must carry its required properties.

    Property values are not converted: the model receives the dicts as they came.
    """
    raw = dict(col_type.raw)
    if raw.get("type") not in ("object", "map"):
        return  # a type runlab does not know at all: passed through unchecked
    for value in series.tolist():
        if value is None:
            if spec.required:
                raise _fail(spec, "it is required but has a missing value.", column)
            continue
        if not isinstance(value, Mapping):
            raise _fail(spec, f"got {value!r} ({type(value).__name__}), expected a dict.", column)
        if raw["type"] == "object":
            properties = raw.get("properties") or {}
            absent = [
                k for k, p in properties.items() if p.get("required", True) and k not in value
            ]
            if absent:
                raise _fail(spec, f"a value lacks the required propert(ies) {absent}.", column)


def _bad_value(series: Any, spec: ColSpec, column: Any, ok: Any) -> SchemaEnforcementError:
    bad = next(v for v in series.tolist() if not ok(v))
    return _fail(
        spec,
        f"got {bad!r} ({type(bad).__name__}), which cannot be converted safely.",
        column,
    )


def _convert_present(series: Any, spec: ColSpec, column: Any) -> Any:
    import numpy as np

    pd = _pandas()
    col_type = spec.type
    if not isinstance(series.dtype, np.dtype) and not str(series.dtype).startswith("datetime64"):
        # pandas extension dtypes (Int64, Float64, boolean, string): judge their Python values.
        series = series.astype(object)
    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else None
    if isinstance(col_type, Array):
        ok = lambda v: isinstance(v, (list, tuple, np.ndarray))  # noqa: E731
        if not all(ok(v) for v in series.tolist()):
            raise _bad_value(series, spec, column, ok)
        return series
    if col_type in ("double", "float"):
        target = np.float64 if col_type == "double" else np.float32
        limit = _EXACT_IN_DOUBLE if col_type == "double" else _EXACT_IN_FLOAT
        if kind == "f":
            # float64 → float is accepted: a JSON or CSV client cannot send 32-bit floats.
            return series.astype(target)
        if kind in ("i", "u"):
            if len(series) and int(np.abs(series.to_numpy()).max()) > limit:
                raise _fail(spec, f"an integer beyond ±{limit} would lose precision.", column)
            return series.astype(target)

        def ok(v: Any) -> bool:
            return (
                isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, (bool, np.bool_))
                and (not isinstance(v, (int, np.integer)) or abs(int(v)) <= limit)
            )

        values = series.tolist()
        if kind == "O" and all(v is None or ok(v) for v in values):
            return series.astype(target)
        raise _bad_value(series, spec, column, lambda v: v is None or ok(v))
    if col_type in ("long", "integer"):
        int_target = np.int64 if col_type == "long" else np.int32
        low, high = _INT32 if col_type == "integer" else (-(2**63), 2**63 - 1)

        def ok(v: Any) -> bool:
            if isinstance(v, (bool, np.bool_)):
                return False
            if isinstance(v, (float, np.floating)):
                # A whole float (1.0, as JSON often sends it) is a long; 1.5 is not.
                return bool(np.isfinite(v) and float(v).is_integer() and low <= v <= high)
            return isinstance(v, (int, np.integer)) and low <= int(v) <= high

        if kind in ("i", "u") and (
            not len(series) or (low <= series.min() and series.max() <= high)
        ):
            return series.astype(int_target)
        if kind in ("i", "u", "f", "O") and all(ok(v) for v in series.tolist()):
            return series.astype(int_target)
        raise _bad_value(series, spec, column, ok)
    if col_type == "boolean":
        if kind == "b":
            return series
        ok = lambda v: isinstance(v, (bool, np.bool_))  # noqa: E731
        if all(ok(v) for v in series.tolist()):
            return series.astype(bool)
        raise _bad_value(series, spec, column, ok)
    if col_type == "string":
        ok = lambda v: isinstance(v, str)  # noqa: E731
        if all(ok(v) for v in series.tolist()):
            return series.astype(object)
        raise _bad_value(series, spec, column, ok)
    if col_type == "binary":
        ok = lambda v: isinstance(v, (bytes, bytearray))  # noqa: E731
        if all(ok(v) for v in series.tolist()):
            return series.astype(object)
        raise _bad_value(series, spec, column, ok)
    if col_type == "datetime":
        if str(series.dtype).startswith("datetime64"):
            return series
        for value in series.tolist():
            if not isinstance(value, (str, _dt.date, np.datetime64, pd.Timestamp)):
                raise _fail(
                    spec,
                    f"got {value!r} ({type(value).__name__}), which is not a date or time.",
                    column,
                )
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError) as exc:
            raise _fail(spec, f"a value is not a date or time ({exc}).", column) from exc
    raise _fail(spec, "this type is not supported.", column)  # pragma: no cover - ColSpec checks


# --- tensor schemas ---------------------------------------------------------------------------


def _enforce_tensors(model_input: Any, schema: Schema) -> Any:
    specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
    if not schema.has_input_names():
        return _enforce_tensor(_as_array(model_input, None), specs[0])
    if isinstance(model_input, Mapping):
        missing = [s.name for s in specs if s.name not in model_input]
        if missing:
            first = specs[[s.name for s in specs].index(missing[0])]
            raise SchemaEnforcementError(
                f"Input is missing required tensor(s) {missing}.",
                column=first.name,
                expected_type=first.dtype,
            )
        return {s.name: _enforce_tensor(_as_array(model_input[s.name], s.name), s) for s in specs}
    if len(specs) == 1:
        return {specs[0].name: _enforce_tensor(_as_array(model_input, specs[0].name), specs[0])}
    raise SchemaEnforcementError(
        f"The signature expects a dict of tensors {[s.name for s in specs]}, "
        f"got {type(model_input).__name__}."
    )


def _as_array(value: Any, name: str | None) -> Any:
    import numpy as np

    if hasattr(value, "to_numpy"):  # DataFrame or Series
        return value.to_numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        where = f"tensor {name!r}" if name is not None else "the input tensor"
        raise SchemaEnforcementError(
            f"Cannot read {where} as an array: {exc}", column=name
        ) from exc


def _enforce_tensor(array: Any, spec: TensorSpec) -> Any:
    import numpy as np

    where = f"Input tensor {spec.name!r}" if spec.name is not None else "The input tensor"
    expected = f"dtype {spec.dtype} and shape {spec.shape}"
    target = np.dtype(spec.dtype)

    def fail(reason: str) -> SchemaEnforcementError:
        return SchemaEnforcementError(
            f"{where} expects {expected}: {reason}", column=spec.name, expected_type=spec.dtype
        )

    if array.dtype != target:
        # Only casts numpy calls safe (no value can change): int32 → int64, int → float64, …
        if array.dtype.kind == "O" or not np.can_cast(array.dtype, target, casting="safe"):
            raise fail(f"got dtype {array.dtype}, which cannot be converted safely.")
        array = array.astype(target)
    if len(spec.shape) != array.ndim or any(
        want != -1 and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise fail(f"got shape {array.shape}.")
    return array


# --- inference parameters ---------------------------------------------------------------------


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """Return the parameters a ``predict`` call gets: the given ones checked, defaults for the rest.

    Names the schema does not declare are dropped (a model without a parameter schema gets none),
    so a client cannot push arbitrary keyword arguments into a model. A value of the wrong type
    raises SchemaEnforcementError naming the parameter and its type.
    """
    if schema is None:
        return {}
    given = dict(params or {})
    out: dict[str, Any] = {}
    for spec in schema:
        if spec.name not in given:
            out[spec.name] = spec.default
            continue
        value = given[spec.name]
        if spec.shape is None:
            out[spec.name] = _param_value(value, spec)
        elif isinstance(value, (list, tuple)) or _is_array(value):
            out[spec.name] = [_param_value(v, spec) for v in list(value)]
        else:
            raise _param_fail(spec, f"got {value!r}, expected a list.")
    return out


def _is_array(value: Any) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray) and value.ndim == 1


def _param_fail(spec: ParamSpec, reason: str) -> SchemaEnforcementError:
    shape = " list" if spec.shape is not None else ""
    return SchemaEnforcementError(
        f"Parameter {spec.name!r} expects type '{spec.type}'{shape}: {reason}",
        column=spec.name,
        expected_type=spec.type,
    )


def _param_value(value: Any, spec: ParamSpec) -> Any:
    import numpy as np

    if value is None:
        return None
    kind = spec.type
    is_bool = isinstance(value, (bool, np.bool_))
    if kind == "boolean" and is_bool:
        return bool(value)
    if kind in ("long", "integer") and not is_bool:
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
    if kind in ("double", "float") and not is_bool and isinstance(value, (int, float, np.number)):
        return float(value)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "binary" and isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if kind == "datetime":
        if isinstance(value, _dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value)
            except ValueError:
                pass
    if kind == "any":
        return value
    raise _param_fail(
        spec, f"got {value!r} ({type(value).__name__}), which cannot be converted safely."
    )

"""Reading and checking the fields of an MLflow REST request.

MLflow's server parses requests with protobuf, silently dropping mistyped fields; runlab checks
every field it reads and answers a wrong type with a 400 that names the field. Both spellings of a
field are accepted (snake_case and protobuf's camelCase), but not both at once.

Refusals use MLflow's wording, which its clients and tests match on: "Missing value for required
parameter 'x'." and "Invalid value 31 for parameter 'x' supplied: ..." (the value as JSON), then
say what the field must hold.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runlab.errors import InvalidParameter
from runlab.protocol import decode_double
from runlab.server import json_body

if TYPE_CHECKING:
    from runlab.server.auth import Principal

_INT64_MAX = 2**63 - 1
#: Longest preview of a refused value in a message: a request value can be megabytes long.
_SHOWN_MAX = 100
_JSON_KINDS: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def shown(value: Any) -> str:
    """``value`` as MLflow's messages show it (compact JSON, so strings in double quotes), cut
    short after 100 characters."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = json_body.shown(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


def _kind(value: Any) -> str:
    """What JSON calls the type of ``value`` ("a string", "a list"...)."""
    if value is None:
        return "null"
    return _JSON_KINDS.get(type(value), type(value).__name__)


def missing_value(field: str) -> InvalidParameter:
    """MLflow's error for a required field that was not sent (or sent as null)."""
    return InvalidParameter(f"Missing value for required parameter '{field}'.")


def invalid_value(field: str, value: Any, rule: str) -> InvalidParameter:
    """MLflow's error for a field of the wrong type or form; ``rule`` says what it must be."""
    return InvalidParameter(
        f"Invalid value {shown(value)} for parameter '{field}' supplied: {rule}"
    )


_NOT_AN_INTEGER = "it must be an integer (a number without a fraction, or a string of digits)"
_OUT_OF_RANGE = "it is outside the 64-bit integer range."


@functools.lru_cache(maxsize=1024)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RequestFields:
    """Typed access to one request's fields, with errors that name the field.

    ``data`` is the decoded JSON body, or the query parameters of a GET (values are then lists of
    strings, and scalars are parsed from text as protobuf's JSON parser would).
    """

    def __init__(
        self, data: Mapping[str, Any], *, from_query: bool = False, path: str = ""
    ) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise InvalidParameter("The request body must be a JSON object.")
        self._data = data
        self._from_query = from_query
        #: Where this object sits in the request (``tags[2].``), so errors name the full field.
        self._path = path
        #: The name of the user an authentication layer vouched for (the ASGI scope's ``user``),
        #: or None when the server has no authentication. Handlers that record who made a
        #: change prefer it to anything the request says about itself.
        self.authenticated_user: str | None = None
        #: Who made the request, on a server that checks permissions (None when it does not, or
        #: for an anonymous request to a public route). Search handlers filter by it.
        self.principal: Principal | None = None

    def raw(self) -> Mapping[str, Any]:
        """The decoded object as sent (for fast paths that check types themselves)."""
        return self._data

    def with_values(self, values: Mapping[str, Any]) -> RequestFields:
        """These fields plus ``values`` (which win), e.g. a route's path parameters."""
        out = RequestFields({**self._data, **values}, from_query=self._from_query, path=self._path)
        out.authenticated_user = self.authenticated_user
        out.principal = self.principal
        return out

    def _raw(self, name: str) -> tuple[bool, Any]:
        camel = _camel(name)
        has_snake = name in self._data
        has_camel = camel != name and camel in self._data
        if has_snake and has_camel:
            raise InvalidParameter(
                f"Field '{self._path}{name}' was given twice (as '{name}' and '{camel}')."
            )
        if has_snake:
            value = self._data[name]
        elif has_camel:
            value = self._data[camel]
        else:
            return False, None
        if self._from_query and isinstance(value, list):
            return True, value
        return True, value

    def _scalar(self, name: str) -> tuple[bool, Any]:
        present, value = self._raw(name)
        if present and self._from_query and isinstance(value, list):
            if len(value) != 1:
                raise invalid_value(
                    f"{self._path}{name}", value, f"give it once, not {len(value)} times."
                )
            value = value[0]
        if present and value is None:
            return False, None
        return present, value

    def has(self, name: str) -> bool:
        """True if the field was sent (with a non-null value)."""
        return self._scalar(name)[0] if not self._from_query else self._raw(name)[0]

    def string(
        self, name: str, *, required: bool = False, default: str | None = None
    ) -> str | None:
        """A string field."""
        present, value = self._scalar(name)
        if not present:
            if required:
                raise missing_value(f"{self._path}{name}")
            return default
        if not isinstance(value, str):
            raise invalid_value(
                f"{self._path}{name}", value, f"it must be a string, not {_kind(value)}."
            )
        return value

    def required_string(self, name: str) -> str:
        """A string field that must be present."""
        value = self.string(name, required=True)
        assert value is not None
        return value

    def int64(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        """An integer field; numeric strings are accepted, as protobuf's JSON parser does."""
        present, value = self._scalar(name)
        field = f"{self._path}{name}"
        if not present:
            if required:
                raise missing_value(field)
            return default
        if isinstance(value, bool):
            raise invalid_value(field, value, f"{_NOT_AN_INTEGER}, not a boolean.")
        if isinstance(value, int):
            result = value
        elif isinstance(value, float) and value.is_integer():
            # orjson reads an integer literal past 64 bits as a float, rounded: -(2**63) - 1
            # arrives as -2.0**63. A float this large cannot say which integer was meant.
            if abs(value) >= 2**63:
                raise invalid_value(field, value, _OUT_OF_RANGE)
            result = int(value)
        elif isinstance(value, str):
            try:
                result = int(value.strip())
            except ValueError:
                raise invalid_value(field, value, f"{_NOT_AN_INTEGER}.") from None
        else:
            raise invalid_value(field, value, f"{_NOT_AN_INTEGER}, not {_kind(value)}.")
        if not -_INT64_MAX - 1 <= result <= _INT64_MAX:
            raise invalid_value(field, value, _OUT_OF_RANGE)
        return result

    def double(self, name: str, *, required: bool = False) -> float | None:
        """A double field; ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` are accepted."""
        present, value = self._scalar(name)
        if not present:
            if required:
                raise missing_value(f"{self._path}{name}")
            return None
        return parse_double(value, f"{self._path}{name}")

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """A boolean field (``true``/``false`` in any case when it comes from a query string)."""
        present, value = self._scalar(name)
        if not present:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_value(f"{self._path}{name}", value, "it must be true or false.")

    def string_list(self, name: str) -> list[str]:
        """A repeated string field (absent means empty)."""
        present, value = self._raw(name)
        if not present or value is None:
            return []
        if isinstance(value, str) and self._from_query:
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_value(f"{self._path}{name}", value, "it must be a list of strings.")
        return value

    def object_list(self, name: str, *, required: bool = False) -> list[RequestFields]:
        """A repeated message field, each element wrapped for typed access."""
        present, value = self._raw(name)
        if not present or value is None:
            if required:
                raise missing_value(f"{self._path}{name}")
            return []
        if not isinstance(value, list):
            raise invalid_value(
                f"{self._path}{name}", value, f"it must be a list of objects, not {_kind(value)}."
            )
        out = []
        for i, item in enumerate(value):
            if type(item) is not dict and not isinstance(item, Mapping):
                raise invalid_value(
                    f"{self._path}{name}[{i}]", item, f"it must be an object, not {_kind(item)}."
                )
            out.append(RequestFields(item, path=f"{self._path}{name}[{i}]."))
        return out

    def object(self, name: str) -> RequestFields | None:
        """A nested message field."""
        present, value = self._scalar(name)
        if not present:
            return None
        if not isinstance(value, Mapping):
            raise invalid_value(
                f"{self._path}{name}", value, f"it must be an object, not {_kind(value)}."
            )
        return RequestFields(value, path=f"{self._path}{name}.")

    def enum(
        self, name: str, names: Mapping[str, int], *, default: int | None = None
    ) -> int | None:
        """An enum field given by name (any case) or by number."""
        present, value = self._scalar(name)
        if not present:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and value in names.values():
            return value
        if isinstance(value, str):
            if value.upper() in names:
                return names[value.upper()]
            if value.isdigit() and int(value) in names.values():
                return int(value)
        raise invalid_value(f"{self._path}{name}", value, f"it must be one of {', '.join(names)}.")


def run_id_of(f: RequestFields) -> str:
    """``run_id``, or its deprecated twin ``run_uuid``; both may be sent if they agree.

    Handlers and the permission check read a request's run through this one function, so both
    always mean the same run.
    """
    run_id = f.string("run_id")
    run_uuid = f.string("run_uuid")
    if run_id and run_uuid and run_id != run_uuid:
        raise InvalidParameter(
            f"Fields 'run_id' ({run_id!r}) and 'run_uuid' ({run_uuid!r}) disagree; send one."
        )
    value = run_id or run_uuid
    if not value:
        raise missing_value("run_id")
    return value


def parse_double(value: Any, name: str) -> float:
    """A JSON double: a number, or one of the proto3 strings for NaN and the infinities."""
    try:
        return decode_double(value)
    except ValueError:
        raise invalid_value(
            name,
            value,
            'it must be a number, or one of the strings "NaN", "Infinity" and "-Infinity".',
        ) from None

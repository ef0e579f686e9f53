"""Reading and checking the fields of an MLflow REST request.

MLflow's server parses requests with protobuf, silently dropping mistyped fields; runlab checks
every field it reads and answers a wrong type with a 400 that names the field. Both spellings of a
field are accepted (snake_case and protobuf's camelCase), but not both at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from runlab.errors import InvalidParameter
from runlab.protocol import decode_double
from runlab.server.json_body import shown

_INT64_MAX = 2**63 - 1


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

    def raw(self) -> Mapping[str, Any]:
        """The decoded object as sent (for fast paths that check types themselves)."""
        return self._data

    def with_values(self, values: Mapping[str, Any]) -> RequestFields:
        """These fields plus ``values`` (which win), e.g. a route's path parameters."""
        out = RequestFields({**self._data, **values}, from_query=self._from_query, path=self._path)
        out.authenticated_user = self.authenticated_user
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
                raise InvalidParameter(
                    f"Field '{self._path}{name}' must be given once, got {len(value)} values."
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
                raise InvalidParameter(f"Missing value for required field '{self._path}{name}'.")
            return default
        if not isinstance(value, str):
            raise InvalidParameter(
                f"Field '{self._path}{name}' must be a string, got {type(value).__name__} {shown(value)}."
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
        if not present:
            if required:
                raise InvalidParameter(f"Missing value for required field '{self._path}{name}'.")
            return default
        if isinstance(value, bool):
            raise InvalidParameter(f"Field '{self._path}{name}' must be an integer, got a boolean.")
        if isinstance(value, int):
            result = value
        elif isinstance(value, float) and value.is_integer():
            # orjson reads an integer literal past 64 bits as a float, rounded: -(2**63) - 1
            # arrives as -2.0**63. A float this large cannot say which integer was meant.
            if abs(value) >= 2**63:
                raise InvalidParameter(
                    f"Field '{self._path}{name}' is out of the 64-bit integer range."
                )
            result = int(value)
        elif isinstance(value, str):
            try:
                result = int(value.strip())
            except ValueError:
                raise InvalidParameter(
                    f"Field '{self._path}{name}' must be an integer, got {shown(value)}."
                ) from None
        else:
            raise InvalidParameter(
                f"Field '{self._path}{name}' must be an integer, got {shown(value)}."
            )
        if not -_INT64_MAX - 1 <= result <= _INT64_MAX:
            raise InvalidParameter(
                f"Field '{self._path}{name}' is out of the 64-bit integer range."
            )
        return result

    def double(self, name: str, *, required: bool = False) -> float | None:
        """A double field; ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` are accepted."""
        present, value = self._scalar(name)
        if not present:
            if required:
                raise InvalidParameter(f"Missing value for required field '{self._path}{name}'.")
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
        raise InvalidParameter(
            f"Field '{self._path}{name}' must be true or false, got {shown(value)}."
        )

    def string_list(self, name: str) -> list[str]:
        """A repeated string field (absent means empty)."""
        present, value = self._raw(name)
        if not present or value is None:
            return []
        if isinstance(value, str) and self._from_query:
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidParameter(
                f"Field '{self._path}{name}' must be a list of strings, got {shown(value)}."
            )
        return value

    def object_list(self, name: str, *, required: bool = False) -> list[RequestFields]:
        """A repeated message field, each element wrapped for typed access."""
        present, value = self._raw(name)
        if not present or value is None:
            if required:
                raise InvalidParameter(f"Missing value for required field '{self._path}{name}'.")
            return []
        if not isinstance(value, list):
            raise InvalidParameter(
                f"Field '{self._path}{name}' must be a list of objects, got {shown(value)}."
            )
        out = []
        for i, item in enumerate(value):
            if type(item) is not dict and not isinstance(item, Mapping):
                raise InvalidParameter(
                    f"Field '{self._path}{name}[{i}]' must be an object, got {shown(item)}."
                )
            out.append(RequestFields(item, path=f"{self._path}{name}[{i}]."))
        return out

    def object(self, name: str) -> RequestFields | None:
        """A nested message field."""
        present, value = self._scalar(name)
        if not present:
            return None
        if not isinstance(value, Mapping):
            raise InvalidParameter(
                f"Field '{self._path}{name}' must be an object, got {shown(value)}."
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
        raise InvalidParameter(
            f"Field '{self._path}{name}' must be one of {', '.join(names)}, got {shown(value)}."
        )


def parse_double(value: Any, name: str) -> float:
    """A JSON double: a number, or one of the proto3 strings for NaN and the infinities."""
    try:
        return decode_double(value)
    except ValueError:
        raise InvalidParameter(f"Field '{name}' must be a number, got {shown(value)}.") from None

"""Typed access to vendor JSON, where every missing or mistyped field is a ParseError."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from trustroom._core.timeutil import parse_time
from trustroom.evidence._errors import ParseError

__all__ = ["JsonObject", "load_object"]


def load_object(text: str | bytes, what: str) -> JsonObject:
    try:
        value = orjson.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"{what} is not valid JSON: {exc}", structure=what) from exc
    return JsonObject(value, what)


class JsonObject:
    """A JSON object with accessors that check types and name the failing path."""

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ParseError(f"{path} must be a JSON object", structure=path)
        self.value: dict[str, Any] = value
        self.path = path

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.value:
            if default is not ...:
                return default
            raise ParseError(f"{self.path} lacks '{key}'", structure=self.path, field=key)
        item = self.value[key]
        if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
            raise ParseError(
                f"{self.path}.{key} has the wrong type", structure=self.path, field=key
            )
        return item

    def string(self, key: str) -> str:
        return self._get(key, str)  # type: ignore[no-any-return]

    def integer(self, key: str, default: Any = ...) -> int:
        return self._get(key, int, default)  # type: ignore[no-any-return]

    def hex_bytes(self, key: str, size: int) -> bytes:
        text = self.string(key)
        try:
            value = bytes.fromhex(text)
        except ValueError as exc:
            raise ParseError(f"{self.path}.{key} is not hex", field=key) from exc
        if len(value) != size:
            raise ParseError(f"{self.path}.{key} must be {size} bytes", field=key)
        return value

    def time(self, key: str) -> datetime:
        text = self.string(key)
        try:
            return parse_time(text)
        except ValueError as exc:
            raise ParseError(f"{self.path}.{key} is not an RFC 3339 time: {text!r}") from exc

    def obj(self, key: str) -> JsonObject:
        return JsonObject(self._get(key, dict), f"{self.path}.{key}")

    def objects(self, key: str, default: Any = ...) -> list[JsonObject]:
        items = self._get(key, list, default)
        return [JsonObject(v, f"{self.path}.{key}[{i}]") for i, v in enumerate(items)]

    def items(self, key: str) -> list[Any]:
        """The raw list ``key``, for callers that validate its items in bulk."""
        return self._get(key, list)  # type: ignore[no-any-return]

    def strings(self, key: str) -> tuple[str, ...]:
        items = self._get(key, list, [])
        if not set(map(type, items)) <= {str}:
            raise ParseError(f"{self.path}.{key} must be a list of strings", field=key)
        return tuple(items)

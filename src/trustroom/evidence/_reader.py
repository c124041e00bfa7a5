"""Bounds-checked little-endian reading of binary evidence.

Every read past the end raises :class:`ParseError` naming the structure and field, so a
truncated or lying length field never turns into an IndexError or a silent short slice.
"""

from __future__ import annotations

from trustroom.evidence._errors import ParseError

__all__ = ["Reader"]


class Reader:
    """A cursor over ``data`` that reads fields in order."""

    __slots__ = ("data", "offset", "what")

    def __init__(self, data: bytes, what: str, offset: int = 0) -> None:
        self.data = data
        self.what = what
        self.offset = offset

    def take(self, size: int, field: str) -> bytes:
        end = self.offset + size
        if size < 0 or end > len(self.data):
            raise ParseError(
                f"{self.what} is truncated: {field} needs {size} bytes at offset {self.offset}, "
                f"but only {max(len(self.data) - self.offset, 0)} remain",
                structure=self.what,
                field=field,
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")

    def u64(self, field: str) -> int:
        return int.from_bytes(self.take(8, field), "little")

    def remaining(self) -> int:
        return len(self.data) - self.offset

"""Which line of a TOML document holds a given key or array item, for error messages.

``tomllib`` gives values without positions; this scans the text once for table headers and
``key =`` lines, which is enough to point a person at the line to fix.
"""

from __future__ import annotations

import re

__all__ = ["Lines"]

Path = tuple[str | int, ...]

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\](?!\])")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) or m.group(0) for m in _PART.finditer(dotted))


class Lines:
    """Line numbers (from 1) of the keys and tables of one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._where: dict[Path, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: Path = ()
        for number, line in enumerate(self._lines, start=1):
            if match := _ARRAY_TABLE.match(line):
                name = _parts(match.group(1))
                index = counts[name] = counts.get(name, -1) + 1
                table = (*name, index)
            elif match := _TABLE.match(line):
                table = _parts(match.group(1))
            elif match := _KEY.match(line):
                self._where.setdefault((*table, *_parts(match.group(1))), number)
                continue
            else:
                continue
            self._where.setdefault(table, number)

    def of(self, path: Path, item: str | None = None) -> int | None:
        """The line of ``path`` (or of its nearest enclosing key or table). With ``item``, a
        string in an array, the line of the array holding that string literal."""
        for end in range(len(path), 0, -1):
            number = self._where.get(path[:end])
            if number is not None:
                break
        else:
            return None
        if item is None:
            return number
        literals = (f'"{item}"', f"'{item}'")
        for offset, line in enumerate(self._lines[number - 1 :]):
            if offset and (_KEY.match(line) or _TABLE.match(line) or _ARRAY_TABLE.match(line)):
                break
            if any(literal in line for literal in literals):
                return number + offset
        return number

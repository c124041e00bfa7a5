"""SQL statements run without SQLAlchemy's per-execution work, for hot paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = ["CompiledStatement"]


@dataclass(frozen=True)
class CompiledStatement:
    """A statement compiled once for one dialect, run on the DBAPI cursor of a SQLAlchemy
    connection (inside its transaction, if any): about a third of the CPU of running it
    through SQLAlchemy, which hot paths (a key broker's protocol steps, a log's proofs) are
    worth. Only plain values go through (str, int, bytes, None): no type processing is
    needed or done."""

    sql: str
    defaults: Mapping[str, Any]
    positions: tuple[str, ...] | None  # parameter names in order, for positional paramstyles

    @classmethod
    def of(cls, statement: sa.ClauseElement, dialect: sa.Dialect) -> CompiledStatement:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
        positions = compiled.positiontup
        return cls(str(compiled), dict(compiled.params), tuple(positions) if positions else None)

    def run(self, db: sa.Connection, params: Mapping[str, Any]) -> tuple[Any, int]:
        """The first row (or None) and the row count."""
        row, count, _ = self._execute(db, params, all_rows=False)
        return row, count

    def rows(self, db: sa.Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row."""
        return self._execute(db, params, all_rows=True)[2]

    def _execute(
        self, db: sa.Connection, params: Mapping[str, Any], *, all_rows: bool
    ) -> tuple[Any, int, list[Any]]:
        values = {**self.defaults, **params}
        arguments = tuple(values[n] for n in self.positions) if self.positions else values
        connection = db.connection.dbapi_connection
        assert connection is not None
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, arguments)
            if not cursor.description:
                return None, cursor.rowcount, []
            if all_rows:
                return None, cursor.rowcount, list(cursor.fetchall())
            return cursor.fetchone(), cursor.rowcount, []
        except db.dialect.loaded_dbapi.Error as exc:
            # The pool must not hand out a connection the server has dropped; SQLAlchemy does
            # this for statements it runs itself.
            if db.dialect.is_disconnect(exc, connection, cursor):
                db.invalidate(exc)
            raise
        finally:
            cursor.close()

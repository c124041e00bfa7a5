"""SQL statements run without SQLAlchemy's per-execution work, for hot paths."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = ["CompiledStatement", "sqlite_write_ahead_log"]


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
        with _cursor(db, self.sql) as cursor:
            cursor.execute(self.sql, self._arguments(params))
            return (cursor.fetchone() if cursor.description else None), cursor.rowcount

    def many(self, db: sa.Connection, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Run the statement once per row of values for the parameters ``names``, as one
        ``executemany``; rows in the statement's own parameter order go through as they are."""
        if self.positions is not None and tuple(names) == self.positions:
            arguments: Iterable[Any] = rows
        else:
            arguments = [self._arguments(dict(zip(names, row, strict=True))) for row in rows]
        with _cursor(db, self.sql) as cursor:
            cursor.executemany(self.sql, arguments)

    def _arguments(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params}
        return tuple(values[n] for n in self.positions) if self.positions else values


@contextmanager
def _cursor(db: sa.Connection, sql: str) -> Iterator[Any]:
    """A cursor of ``db``'s DBAPI connection; the driver's errors come out as SQLAlchemy's
    (``sqlalchemy.exc.OperationalError`` and the rest), as for statements SQLAlchemy runs,
    so that callers handle one set of errors whichever way a statement ran."""
    connection = db.connection.dbapi_connection
    assert connection is not None
    dbapi_error = db.dialect.loaded_dbapi.Error
    cursor = connection.cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        # The pool must not hand out a connection the server has dropped; SQLAlchemy does
        # this for statements it runs itself.
        dropped = db.dialect.is_disconnect(exc, connection, cursor)
        if dropped:
            db.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            sql, None, exc, dbapi_error, connection_invalidated=dropped, dialect=db.dialect
        ) from exc
    finally:
        cursor.close()


def sqlite_write_ahead_log(synchronous: str, busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    """A "connect" listener putting each SQLite connection in WAL mode (readers run beside
    the one writer) with ``synchronous`` (NORMAL or FULL) and a busy timeout."""

    def configure(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    return configure

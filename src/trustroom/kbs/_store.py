"""Everything the broker needs to serve a client, in SQL (SQLAlchemy Core).

Sessions, sealed resources, the resource policy, reference values and the token
signing keys all live in the database, none in process memory, so several broker processes on
one database (PostgreSQL for real replicas) serve the same clients: a client may ``auth`` on
one and ``attest`` on another (Trustee's in-memory sessions prevented this: trustee #1092).
Cross-process races are settled by the database: a session leaves the "authed" state (its
nonce spent) by one conditional UPDATE, and the first process to store a signing key wins.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from trustroom._core.paths import trustroom_home
from trustroom._core.sql import CompiledStatement, sqlite_write_ahead_log
from trustroom.kbs._errors import StoreUnavailable

__all__ = ["KbsStore", "SessionRow", "default_database_url"]

_metadata = sa.MetaData()

_sessions = sa.Table(
    "kbs_sessions",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # "authed" or "attested"
    sa.Column("tee", sa.String(32), nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # Unix seconds
    sa.Column("token", sa.Text, nullable=True),
)
_resources = sa.Table(
    "kbs_resources",
    _metadata,
    sa.Column("path", sa.String(512), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
_policies = sa.Table(
    "kbs_policies",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("rego", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
_reference_values = sa.Table(
    "kbs_reference_values",
    _metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # ReferenceValues.to_dict() as JSON
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
_signing_keys = sa.Table(
    "kbs_signing_keys",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)


# The protocol steps' statements, built once and compiled per dialect (CompiledStatement): building
# and keying a statement per call cost more than running it, and SQLAlchemy's per-execution
# work (parameter and result processing) was most of a step's SQL time.
_p = sa.bindparam
_INSERT_SESSION = _sessions.insert()
_SELECT_SESSION = _sessions.select().where(_sessions.c.id == _p("id"))
_MARK_ATTESTED = (
    _sessions.update()
    .where(_sessions.c.id == _p("session_id"), _sessions.c.state == "authed")
    .values(state="attested", token=_p("token"), expires_at=_p("expires"))
)
_SELECT_RESOURCE = sa.select(_resources.c.sealed).where(_resources.c.path == _p("path"))
# The resource step's two reads in one round trip.
_SELECT_SESSION_AND_RESOURCE = sa.select(*_sessions.c, _SELECT_RESOURCE.scalar_subquery()).where(
    _sessions.c.id == _p("id")
)
_SELECT_POLICY = sa.select(_policies.c.rego).where(_policies.c.id == _p("id"))
_SELECT_REFERENCE_VALUES = sa.select(_reference_values.c.name, _reference_values.c.document)
_SELECT_SIGNING_KEYS = sa.select(_signing_keys.c.document).where(_signing_keys.c.id == _p("id"))


def default_database_url() -> str:
    """``sqlite:///$TRUSTROOM_HOME/kbs/kbs.db`` (the directory is created on first use)."""
    return f"sqlite:///{trustroom_home() / 'kbs' / 'kbs.db'}"


def _epoch(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp())


@dataclass(frozen=True)
class SessionRow:
    id: str
    state: str
    tee: str
    nonce: str
    expires_at: datetime
    token: str | None


def _session_row(row: Any) -> SessionRow:
    id_, state, tee, nonce, expires_at, token = row
    return SessionRow(id_, state, tee, nonce, datetime.fromtimestamp(expires_at, UTC), token)


def _postgresql_asynchronous_commit(connection: Any, _record: Any) -> None:
    # The same trade as SQLite's synchronous=NORMAL, for the protocol steps' connections only:
    # a commit returns before its WAL record is flushed (half a millisecond a step here). A
    # crash of the database server may lose the last sessions, never corrupt the rest;
    # admin writes keep synchronous commits.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")


def _engine(url: str, *, serving: bool = False) -> sa.Engine:
    options: dict[str, Any] = {}
    if serving:
        # In autocommit for good: switching a pooled connection to autocommit and back
        # cost more than a protocol step's statements.
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
    if sa.engine.make_url(url).get_backend_name() != "sqlite":
        # Enough connections for a worker's handler threads without queueing for one. SQLite
        # keeps SQLAlchemy's default: its writers take turns on one lock, and more
        # connections only make them wait past busy_timeout.
        options |= {"pool_size": 20, "max_overflow": 20}
    engine = sa.create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        # NORMAL syncs at checkpoints instead of every commit: a crash of the process loses
        # nothing, a power cut at most the last sessions, which clients redo. Policies and
        # resources are written rarely.
        sa.event.listen(engine, "connect", sqlite_write_ahead_log("NORMAL", 5000))
    elif serving and engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _postgresql_asynchronous_commit)
    return engine


@contextmanager
def _answering() -> Iterator[None]:
    """A database that does not answer, or stays locked past its timeout, is StoreUnavailable
    (a 503 the client may retry) rather than a crash."""
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(f"the broker's database did not answer: {exc.orig}") from exc
    except sa.exc.TimeoutError as exc:
        raise StoreUnavailable(f"no database connection came free: {exc}") from exc


class KbsStore:
    """The broker's tables on one SQLAlchemy engine; creates them if missing.

    ``serving_engine`` is the one protocol steps use (:meth:`serving`): the same database,
    its own connections, in autocommit.
    """

    def __init__(self, url: str | None = None, *, engine: sa.Engine | None = None) -> None:
        # Protocol steps run on connections of their own (see _engine), unless the engine is
        # given or a second one would not reach the same data (an in-memory database).
        serving: sa.Engine | None = None
        if engine is None:
            url = url or default_database_url()
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = _engine(url)
            if engine.url.database not in (None, "", ":memory:"):
                serving = _engine(url, serving=True)
        self.serving_engine = serving or engine.execution_options(isolation_level="AUTOCOMMIT")
        self.engine = engine
        self._held = threading.local()
        dialect = engine.dialect
        self._insert_session = CompiledStatement.of(_INSERT_SESSION, dialect)
        self._select_session = CompiledStatement.of(_SELECT_SESSION, dialect)
        self._mark_attested = CompiledStatement.of(_MARK_ATTESTED, dialect)
        self._select_resource = CompiledStatement.of(_SELECT_RESOURCE, dialect)
        self._select_session_and_resource = CompiledStatement.of(
            _SELECT_SESSION_AND_RESOURCE, dialect
        )
        with _answering():
            _metadata.create_all(engine)

    # -- sessions ----------------------------------------------------------------------

    def create_session(self, session_id: str, tee: str, nonce: str, expires: datetime) -> None:
        with self._db(write=True) as db:
            self._insert_session.run(
                db,
                {
                    "id": session_id,
                    "state": "authed",
                    "tee": tee,
                    "nonce": nonce,
                    "expires_at": _epoch(expires),
                    "token": None,
                },
            )

    def session(self, session_id: str) -> SessionRow | None:
        with self._db() as db:
            row, _ = self._select_session.run(db, {"id": session_id})
        return _session_row(row) if row is not None else None

    def session_and_resource(
        self, session_id: str, path: str
    ) -> tuple[SessionRow | None, bytes | None]:
        """The session, and the sealed resource at ``path`` if there is both."""
        with self._db() as db:
            row, _ = self._select_session_and_resource.run(db, {"id": session_id, "path": path})
        if row is None:
            return None, None
        return _session_row(row[:6]), bytes(row[6]) if row[6] is not None else None

    def mark_attested(self, session_id: str, token: str, expires: datetime) -> bool:
        """Move an "authed" session to "attested" with ``token``, spending its nonce; False
        if it was not "authed" any more (another request, on any process, got there first)."""
        with self._db(write=True) as db:
            _, count = self._mark_attested.run(
                db, {"session_id": session_id, "token": token, "expires": _epoch(expires)}
            )
        return count == 1

    def purge_expired(self, at: datetime) -> None:
        """Drop expired sessions."""
        with self._db(write=True) as db:
            db.execute(_sessions.delete().where(_sessions.c.expires_at < _epoch(at)))

    # -- resources -----------------------------------------------------------------------

    def put_resource(self, path: str, sealed: bytes, at: datetime) -> None:
        self._upsert(_resources, "path", path, sealed=sealed, updated_at=_epoch(at))

    def resource(self, path: str) -> bytes | None:
        with self._db() as db:
            row, _ = self._select_resource.run(db, {"path": path})
        return bytes(row[0]) if row is not None else None

    def delete_resource(self, path: str) -> bool:
        with self._db(write=True) as db:
            result = db.execute(_resources.delete().where(_resources.c.path == path))
        return bool(result.rowcount)

    # -- policies and reference values ----------------------------------------------------

    def put_policy(self, policy_id: str, rego: str, at: datetime) -> None:
        self._upsert(_policies, "id", policy_id, rego=rego, updated_at=_epoch(at))

    def policy(self, policy_id: str) -> str | None:
        with self._db() as db:
            return db.execute(_SELECT_POLICY, {"id": policy_id}).scalar()

    def put_reference_values(self, name: str, document: dict[str, Any], at: datetime) -> None:
        text = json.dumps(document, sort_keys=True)
        self._upsert(_reference_values, "name", name, document=text, updated_at=_epoch(at))

    def reference_values(self) -> dict[str, dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(_SELECT_REFERENCE_VALUES)
            return {row.name: json.loads(row.document) for row in rows}

    # -- signing keys --------------------------------------------------------------------

    def signing_keys(self, key_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            value = db.execute(_SELECT_SIGNING_KEYS, {"id": key_id}).scalar()
        return json.loads(value) if value is not None else None

    def init_signing_keys(self, key_id: str, document: dict[str, Any]) -> dict[str, Any]:
        """Store ``document`` unless keys exist already; return the stored ones either way."""
        try:
            with self._db(write=True) as db:
                db.execute(_signing_keys.insert().values(id=key_id, document=json.dumps(document)))
        except IntegrityError:
            pass  # another process got there first: everyone uses its keys
        stored = self.signing_keys(key_id)
        assert stored is not None
        return stored

    def replace_signing_keys(self, key_id: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Compare-and-swap: store ``new`` only if ``old`` is still stored."""
        with self._db(write=True) as db:
            result = db.execute(
                _signing_keys.update()
                .where(_signing_keys.c.id == key_id)
                .where(_signing_keys.c.document == json.dumps(old))
                .values(document=json.dumps(new))
            )
        return bool(result.rowcount)

    # -- helpers ---------------------------------------------------------------------------

    @contextmanager
    def serving(self) -> Iterator[None]:
        """One connection, in autocommit, for every call this thread makes inside the block
        (a protocol step's handful of statements). Each of those calls is one statement, so
        it commits by itself; on PostgreSQL this saves the BEGIN, COMMIT and checkout
        ROLLBACK round trips around every statement."""
        if getattr(self._held, "connection", None) is not None:
            yield
            return
        with _answering(), self.serving_engine.connect() as db:
            self._held.connection = db
            try:
                yield
            finally:
                self._held.connection = None

    @contextmanager
    def _db(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """A connection, in a transaction if ``write`` (or the held autocommit one)."""
        held: sa.Connection | None = getattr(self._held, "connection", None)
        if held is not None:
            with _answering():
                yield held
            return
        with _answering(), self.engine.begin() if write else self.engine.connect() as db:
            yield db

    def _upsert(self, table: sa.Table, key: str, value: str, **columns: Any) -> None:
        # Portable upsert (SQLite and PostgreSQL alike): update, insert if nothing was there.
        with self._db(write=True) as db:
            result = db.execute(table.update().where(table.c[key] == value).values(**columns))
            if not result.rowcount:
                db.execute(table.insert().values({key: value, **columns}))

"""The log's tables, in SQL (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

Modelled on Tessera's storage: one row of tree state (size, root and the compact range's
right edge, from which the next batch is integrated without reading anything else), the
entries, the signed checkpoints, and the tree's node hashes in tiles of 8 levels and 256
hashes wide as c2sp.org/tlog-tiles lays them out. A tile row holds all 8 levels of its
subtree (510 hashes), not just the bottom row tlog-tiles serves, so any node of a proof is
a slice of a row: a proof at a million entries reads three rows and hashes nothing but the
right edge.

Appends serialise on the state row (its first statement writes it, which takes SQLite's
write lock or the PostgreSQL row lock), and a batch commits whole or not at all: an index is
acknowledged only after its commit, so a crash never loses an acknowledged entry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from trustroom._core.paths import trustroom_home
from trustroom._core.sql import CompiledStatement, sqlite_write_ahead_log
from trustroom.ledger._errors import LogExists, LogNotFound, StoreUnavailable, TreeStateInvalid

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "LedgerStore",
    "State",
    "StoredCheckpoint",
    "Tile",
    "TileBatch",
    "default_database_url",
    "tile_of",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_HASH = 32
# Levels 0..7 of a tile's subtree, bottom row first: 256 + 128 + ... + 2 hashes.
_TILE_NODES = 2 * TILE_WIDTH - 2
_TILE_BYTES = _TILE_NODES * _HASH

_metadata = sa.MetaData()
_meta = sa.Table(
    "ledger_meta",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
)
_state = sa.Table(
    "ledger_state",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("edge", sa.LargeBinary, nullable=False),  # the compact range's hashes
)
_entries = sa.Table(
    "ledger_entries",
    _metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
# Which entries are governance records, so that the consortium is replayed without reading
# the whole log, and the append path keeps no index beyond the entries' own.
_governance = sa.Table(
    "ledger_governance",
    _metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
)
# Submissions accepted over HTTP, by digest: a replay within the time window is refused.
_submissions = sa.Table(
    "ledger_submissions",
    _metadata,
    sa.Column("digest", sa.String(80), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
_tiles = sa.Table(
    "ledger_tiles",
    _metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("nodes", sa.LargeBinary, nullable=False),
)
_checkpoints = sa.Table(
    "ledger_checkpoints",
    _metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("signed_at", sa.BigInteger, nullable=False),
)

_p = sa.bindparam
_LOCK_STATE = _state.update().where(_state.c.id == 1).values(size=_state.c.size)
_SELECT_STATE = sa.select(_state.c.size, _state.c.root, _state.c.edge).where(_state.c.id == 1)
_UPDATE_STATE = (
    _state.update()
    .where(_state.c.id == 1)
    .values(size=_p("new_size"), root=_p("new_root"), edge=_p("new_edge"))
)
_INSERT_ENTRY = _entries.insert()
_SELECT_ENTRY = sa.select(_entries.c.data).where(_entries.c.idx == _p("idx"))
_SELECT_SIZE = sa.select(_state.c.size).where(_state.c.id == 1)
_SELECT_TILE = sa.select(_tiles.c.width, _tiles.c.nodes).where(
    _tiles.c.level == _p("level"), _tiles.c.idx == _p("idx")
)
_INSERT_TILE = _tiles.insert()
_UPDATE_TILE = (
    _tiles.update()
    .where(_tiles.c.level == _p("level"), _tiles.c.idx == _p("idx"))
    .values(width=_p("width"), nodes=_p("nodes"))
)
_LAST_CHECKPOINT = (
    sa.select(_checkpoints.c.size, _checkpoints.c.root, _checkpoints.c.note)
    .order_by(_checkpoints.c.size.desc())
    .limit(1)
)


def default_database_url() -> str:
    """``sqlite:///$TRUSTROOM_HOME/ledger/ledger.db``."""
    return f"sqlite:///{trustroom_home() / 'ledger' / 'ledger.db'}"


def tile_of(level: int, index: int) -> tuple[int, int, int]:
    """Where node (``level``, ``index``) lives: tile level, tile index, and its position
    among the tile's 510 hashes."""
    tile_level, within = divmod(level, TILE_HEIGHT)
    shift = TILE_HEIGHT - within
    row_start = 2 * TILE_WIDTH - (2 * TILE_WIDTH >> within)
    return tile_level, index >> shift, row_start + (index & ((1 << shift) - 1))


@dataclass(frozen=True)
class State:
    size: int
    root: bytes
    edge: tuple[bytes, ...]


@dataclass(frozen=True)
class Tile:
    """A stored tile: ``width`` hashes in its bottom row, all its levels in ``nodes``."""

    width: int
    nodes: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


@contextmanager
def _answering() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(f"the ledger's database did not answer: {exc.orig}") from exc


class TileBatch:
    """The tiles an append batch touches, read once and written back once."""

    def __init__(self, store: LedgerStore, db: sa.Connection) -> None:
        self._store = store
        self._db = db
        self.tiles: dict[tuple[int, int], bytearray] = {}
        self.widths: dict[tuple[int, int], int] = {}
        self._new: set[tuple[int, int]] = set()

    def store(self, level: int, first: int, hashes: Sequence[bytes]) -> None:
        """Put a run of node hashes of ``level`` from index ``first`` into their tiles, a
        slice of each tile the run crosses (a CompactRange store)."""
        per_tile = TILE_WIDTH >> (level % TILE_HEIGHT)  # nodes of this level in one tile
        done = 0
        while done < len(hashes):
            tile_level, tile_index, position = tile_of(level, first + done)
            key = (tile_level, tile_index)
            offset = (first + done) % per_tile
            count = min(per_tile - offset, len(hashes) - done)
            nodes = self.tiles.get(key)
            if nodes is None:
                nodes = self.tiles[key] = self._read(key)
            nodes[position * _HASH : (position + count) * _HASH] = b"".join(
                hashes[done : done + count]
            )
            if per_tile == TILE_WIDTH:  # the tile's bottom row: its width grows
                self.widths[key] = offset + count
            done += count

    def _read(self, key: tuple[int, int]) -> bytearray:
        row, _ = self._store._select_tile.run(self._db, {"level": key[0], "idx": key[1]})
        if row is None:
            self._new.add(key)
            return bytearray(_TILE_BYTES)
        self.widths[key] = row[0]
        return bytearray(row[1])

    def write(self) -> None:
        for key, nodes in self.tiles.items():
            values = {"level": key[0], "idx": key[1], "width": self.widths.get(key, 0)}
            statement = self._store._insert_tile if key in self._new else self._store._update_tile
            statement.run(self._db, {**values, "nodes": bytes(nodes)})


class LedgerStore:
    """The log's tables on one SQLAlchemy engine; creates them if missing."""

    def __init__(self, url: str | None = None, *, engine: sa.Engine | None = None) -> None:
        if engine is None:
            url = url or default_database_url()
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url)
            if engine.dialect.name == "sqlite":
                # FULL syncs the WAL at every commit, so an acknowledged append survives a
                # power cut too, not just a crash: an audit log must not forget. Batching is
                # what keeps that affordable.
                sa.event.listen(engine, "connect", sqlite_write_ahead_log("FULL", 10_000))
        self.engine = engine
        self._insert_entry = CompiledStatement.of(_INSERT_ENTRY, engine.dialect)
        self._select_size = CompiledStatement.of(_SELECT_SIZE, engine.dialect)
        self._select_tile = CompiledStatement.of(_SELECT_TILE, engine.dialect)
        self._insert_tile = CompiledStatement.of(_INSERT_TILE, engine.dialect)
        self._update_tile = CompiledStatement.of(_UPDATE_TILE, engine.dialect)
        with _answering():
            _metadata.create_all(engine)

    # -- metadata ------------------------------------------------------------------------

    def meta(self) -> dict[str, bytes]:
        with _answering(), self.engine.connect() as db:
            return {row.name: bytes(row.value) for row in db.execute(sa.select(_meta))}

    @contextmanager
    def creating(
        self, meta: Mapping[str, bytes], empty_root: bytes
    ) -> Iterator[tuple[State, TileBatch, sa.Connection]]:
        """Store the log's metadata and an empty tree, and yield as :meth:`appending` does,
        so that the first entries commit with them or not at all; LogExists if a log is
        there already (or another process creates one at the same moment)."""
        try:
            with _answering(), self.engine.begin() as db:
                if db.execute(sa.select(_state.c.id)).first() is not None:
                    raise LogExists("the database holds a log already")
                db.execute(_meta.insert(), [{"name": k, "value": v} for k, v in meta.items()])
                db.execute(_state.insert(), {"id": 1, "size": 0, "root": empty_root, "edge": b""})
                yield State(0, empty_root, ()), TileBatch(self, db), db
        except IntegrityError as exc:
            raise LogExists("another process created a log in this database meanwhile") from exc

    # -- appends ------------------------------------------------------------------------

    @contextmanager
    def appending(self) -> Iterator[tuple[State, TileBatch, sa.Connection]]:
        """A write transaction holding the append lock, with the current state and a batch
        collecting tile updates; the caller inserts entries and calls :meth:`commit`."""
        with _answering(), self.engine.begin() as db:
            db.execute(_LOCK_STATE)
            state = _state_of(db.execute(_SELECT_STATE).first())
            yield state, TileBatch(self, db), db

    def commit(
        self,
        db: sa.Connection,
        batch: TileBatch,
        first: int,
        entries: Sequence[bytes],
        governance: Sequence[int],
        state: State,
    ) -> None:
        """Store ``entries`` (canonical records) from index ``first``, which of them are
        governance records (their indices), the touched tiles and the new ``state``, in the
        appending transaction."""
        self._insert_entry.many(db, ("idx", "data"), zip(itertools.count(first), entries))
        if governance:
            db.execute(_governance.insert(), [{"idx": i} for i in governance])
        batch.write()
        db.execute(
            _UPDATE_STATE,
            {"new_size": state.size, "new_root": state.root, "new_edge": b"".join(state.edge)},
        )

    # -- reads ----------------------------------------------------------------------------

    def state(self) -> State:
        with _answering(), self.engine.connect() as db:
            return _state_of(db.execute(_SELECT_STATE).first())

    def entry(self, index: int) -> bytes | None:
        with _answering(), self.engine.connect() as db:
            value = db.execute(_SELECT_ENTRY, {"idx": index}).scalar()
        return bytes(value) if value is not None else None

    def entries(self, start: int, stop: int) -> list[bytes]:
        with _answering(), self.engine.connect() as db:
            rows = db.execute(
                sa.select(_entries.c.data)
                .where(_entries.c.idx >= start, _entries.c.idx < stop)
                .order_by(_entries.c.idx)
            )
            return [bytes(row.data) for row in rows]

    @staticmethod
    def claim_submission(db: sa.Connection, digest: str, created_at: int) -> bool:
        """Record a submission in the appending transaction; False if it was seen before."""
        seen = db.execute(
            sa.select(_submissions.c.digest).where(_submissions.c.digest == digest)
        ).first()
        if seen is not None:
            return False
        db.execute(_submissions.insert(), {"digest": digest, "created_at": created_at})
        return True

    @staticmethod
    def governance_entries(db: sa.Connection) -> list[bytes]:
        """Every governance record, in log order, read in the caller's transaction."""
        rows = db.execute(
            sa.select(_entries.c.data)
            .join(_governance, _governance.c.idx == _entries.c.idx)
            .order_by(_entries.c.idx)
        )
        return [bytes(row.data) for row in rows]

    def tiles(self, keys: set[tuple[int, int]]) -> tuple[int, dict[tuple[int, int], Tile]]:
        """The tree's size and each asked-for tile that exists, read together: a proof's
        whole storage work (one statement per tile, compiled once)."""
        with _answering(), self.engine.connect() as db:
            size = self._select_size.run(db, {})[0]
            found: dict[tuple[int, int], Tile] = {}
            for level, index in keys:
                row, _ = self._select_tile.run(db, {"level": level, "idx": index})
                if row is not None:
                    found[level, index] = Tile(row[0], bytes(row[1]))
        if size is None:
            raise LogNotFound("the database holds no log")
        return size[0], found

    # -- checkpoints -------------------------------------------------------------------------

    def last_checkpoint(self) -> StoredCheckpoint | None:
        with _answering(), self.engine.connect() as db:
            row = db.execute(_LAST_CHECKPOINT).first()
        return StoredCheckpoint(row.size, bytes(row.root), row.note) if row else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        with _answering(), self.engine.connect() as db:
            row = db.execute(
                sa.select(_checkpoints.c.size, _checkpoints.c.root, _checkpoints.c.note).where(
                    _checkpoints.c.size == size
                )
            ).first()
        return StoredCheckpoint(row.size, bytes(row.root), row.note) if row else None

    def add_checkpoint(self, checkpoint: StoredCheckpoint, signed_at: int) -> None:
        with _answering(), self.engine.begin() as db:
            db.execute(
                _checkpoints.insert(),
                {
                    "size": checkpoint.size,
                    "root": checkpoint.root,
                    "note": checkpoint.note,
                    "signed_at": signed_at,
                },
            )

    def replace_checkpoint_note(self, size: int, note: str) -> None:
        """Store ``note`` (the same checkpoint with more cosignatures) for ``size``."""
        with _answering(), self.engine.begin() as db:
            db.execute(_checkpoints.update().where(_checkpoints.c.size == size).values(note=note))


def _state_of(row: Any) -> State:
    if row is None:
        raise LogNotFound("the database holds no log")
    edge = bytes(row.edge)
    state = State(
        row.size, bytes(row.root), tuple(edge[i : i + _HASH] for i in range(0, len(edge), _HASH))
    )
    # The right edge holds one hash per set bit of the size (a perfect subtree each).
    if len(edge) % _HASH or len(state.edge) != state.size.bit_count() or len(state.root) != _HASH:
        raise TreeStateInvalid(
            f"the stored tree of size {state.size} has {len(edge)} bytes of right edge"
        )
    return state

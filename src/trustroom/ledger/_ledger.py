"""The log itself: appends in durable batches, signed checkpoints, proofs and receipts.

::

    ledger = Ledger.init("example.org/ledger", "sqlite:///ledger.db")
    indices = ledger.append([record.canonical() for record in records])  # durable on return
    note = ledger.checkpoint()                       # a c2sp.org/tlog-checkpoint signed note
    receipt = ledger.receipt(indices[0])             # c2sp.org/tlog-proof, checked offline

A batch is integrated into the tree from the stored right edge (the compact range), never by
recomputing it, in the same transaction that stores its entries. A checkpoint is signed only
after a consistency proof from the last signed one, built from the stored nodes, verifies:
the log never signs two checkpoints that disagree, even over an altered database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import rfc8785
import sqlalchemy as sa

from trustroom.ledger._checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from trustroom.ledger._errors import (
    CheckpointInvalid,
    CheckpointRefused,
    EntryNotFound,
    GovernanceRefused,
    LogNotFound,
    ProofInvalid,
    SubmissionRefused,
)
from trustroom.ledger._governance import Consortium, governance_record, replay
from trustroom.ledger._logkey import ledger_attester, log_key_record, new_log_key, open_log_key
from trustroom.ledger._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    verify_consistency,
)
from trustroom.ledger._note import CosignatureVerifier, Note, NoteSigner, NoteVerifier, open_note
from trustroom.ledger._receipt import Receipt
from trustroom.ledger._records import Record, digest_of
from trustroom.ledger._store import LedgerStore, State, StoredCheckpoint, TileBatch, tile_of
from trustroom.tee import Attester

__all__ = ["Ledger"]

_HASH = 32
_SUBMISSION_WINDOW = 300


class Ledger:
    """A transparency log in a database (see the module docstring).

    ``attester`` is the TEE holding the log key (default: this machine's, or the simulated
    one running trustroom's code); only signing needs it.
    """

    def __init__(
        self,
        db: str | LedgerStore | None = None,
        *,
        attester: Attester | None = None,
    ) -> None:
        self.store = db if isinstance(db, LedgerStore) else LedgerStore(db)
        meta = self.store.meta()
        if "origin" not in meta:
            raise LogNotFound("the database holds no log")
        self.origin = meta["origin"].decode()
        self.verifier = NoteVerifier.from_vkey(meta["vkey"].decode())
        self._sealed_key = meta["sealed_key"]
        self._attester = attester
        self._signer: NoteSigner | None = None

    @classmethod
    def init(
        cls, origin: str, db: str | LedgerStore | None = None, *, attester: Attester | None = None
    ) -> Ledger:
        """Create a log named ``origin``: its key, made and sealed in the TEE, and entry 0
        attesting that key."""
        store = db if isinstance(db, LedgerStore) else LedgerStore(db)
        attester = attester or ledger_attester()
        signer, sealed = new_log_key(origin, attester)
        meta = {
            "origin": origin.encode(),
            "vkey": signer.verifier().vkey.encode(),
            "sealed_key": sealed,
        }
        entry0 = log_key_record(origin, signer, attester)
        with store.creating(meta, EMPTY_ROOT) as (state, batch, connection):
            _integrate(store, state, batch, connection, [entry0])
        return cls(store, attester=attester)

    # -- appends ---------------------------------------------------------------------------

    def append(self, entries: Iterable[bytes | Record]) -> range:
        """Append entries in one durable batch; their indices, once the batch is committed."""
        records = [e if isinstance(e, Record) else Record.parse(e) for e in entries]
        if not records:
            return range(0)
        with self.store.appending() as (state, batch, db):
            return _integrate(self.store, state, batch, db, records)

    # -- governance --------------------------------------------------------------------------

    def govern(self, message: Mapping[str, Any]) -> range:
        """Log a signed governance message (genesis, proposal or ballot) if the consortium's
        rules, replayed from the log, accept it; a deciding ballot is followed by its
        outcome. Their indices."""
        with self.store.appending() as (state, batch, db):
            history = _governance_history(self.store, db)
            kind = message.get("document", {}).get("type") if isinstance(message, Mapping) else None
            records = [governance_record(message)]
            if kind == "genesis":
                if history:
                    raise GovernanceRefused("the consortium has its genesis already")
                Consortium.genesis(message)
            else:
                consortium = replay(history)
                if kind == "proposal":
                    consortium.propose(message)
                elif kind == "ballot":
                    outcome = consortium.vote(message)
                    if outcome is not None:
                        records.append(governance_record(outcome))
                else:
                    raise GovernanceRefused(f"{kind!r} is not a governance message one submits")
            return _integrate(self.store, state, batch, db, records)

    def submit(self, message: Mapping[str, Any], *, now: int | None = None) -> range:
        """Append the records of a submission a member signed (``MemberKey.submission``):
        made within five minutes of ``now`` (this host's clock), never seen before, from a
        member of the consortium as the log's governance makes it. Their indices."""
        now = int(time.time()) if now is None else now
        with self.store.appending() as (state, batch, db):
            history = _governance_history(self.store, db)
            if not history:
                raise SubmissionRefused(
                    "this log has no consortium yet, so no one may submit entries",
                    hint="Found one first: trustroom ledger found --key ... --threshold K.",
                )
            try:
                document = replay(history).signed_by_member(message, "submission")
            except GovernanceRefused as exc:
                raise SubmissionRefused(exc.message) from exc
            created = document.get("created_at")
            if not isinstance(created, int) or abs(now - created) > _SUBMISSION_WINDOW:
                raise SubmissionRefused(
                    f"the submission was made at {created!r}, not within "
                    f"{_SUBMISSION_WINDOW} s of the log's clock ({now})"
                )
            raw = document.get("records")
            if not isinstance(raw, list) or not raw:
                raise SubmissionRefused("a submission carries a non-empty list of records")
            records = [Record.from_dict(r) for r in raw]
            if not self.store.claim_submission(db, digest_of(rfc8785.dumps(document)), created):
                raise SubmissionRefused("this submission was appended already (a replay)")
            return _integrate(self.store, state, batch, db, records)

    def consortium(self) -> Consortium:
        """The consortium as the log's governance history makes it, checked on the way."""
        with self.store.engine.connect() as db:
            return replay(_governance_history(self.store, db))

    # -- reads -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.store.state().size

    def entry(self, index: int) -> bytes:
        data = self.store.entry(index)
        if data is None:
            raise EntryNotFound(f"the log has no entry {index}")
        return data

    def record(self, index: int) -> Record:
        return Record.parse(self.entry(index))

    # -- proofs ------------------------------------------------------------------------------

    def _nodes(self, node_ids: Iterable[tuple[int, int]], index: int, size: int) -> _Nodes:
        """The tiles holding ``node_ids``, once ``index`` in a tree of ``size`` is known to
        exist (in the same read)."""
        current, tiles = self.store.tiles({tile_of(level, i)[:2] for level, i in node_ids})
        if not 0 <= index < size <= current:
            raise EntryNotFound(
                f"index {index} in a tree of size {size}: the log has {current} entries"
            )
        return _Nodes({key: tile.nodes for key, tile in tiles.items()})

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]) from the stored nodes."""
        if not 0 <= index < size:
            raise EntryNotFound(f"there is no index {index} in a tree of size {size}")
        return inclusion_proof(
            index, size, self._nodes(nodes_for_inclusion(index, size), index, size)
        )

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[size2]) from the stored nodes."""
        if not 0 < size1 <= size2:
            raise EntryNotFound(f"no consistency proof from size {size1} to {size2}")
        nodes = self._nodes(nodes_for_consistency(size1, size2), size1 - 1, size2)
        return consistency_proof(size1, size2, nodes)

    # -- checkpoints ------------------------------------------------------------------------

    def _log_signer(self) -> NoteSigner:
        if self._signer is None:
            self._signer = open_log_key(self._sealed_key, self._attester or ledger_attester())
        return self._signer

    def checkpoint(self) -> str:
        """Sign a checkpoint of the current tree (the last one if the tree has not grown),
        after checking that it extends the last signed one; the signed note."""
        state = self.store.state()
        last = self.store.last_checkpoint()
        if last is not None and last.size == state.size:
            if last.root != state.root:
                raise CheckpointRefused(
                    f"the tree of size {state.size} has another root than its signed checkpoint"
                )
            return last.note
        if last is not None:
            if last.size > state.size:
                raise CheckpointRefused(
                    f"the tree has {state.size} entries, fewer than the {last.size} of its last "
                    "signed checkpoint"
                )
            try:
                proof = self.consistency_proof(last.size, state.size)
                verify_consistency(last.size, state.size, proof, last.root, state.root)
            except ProofInvalid as exc:
                raise CheckpointRefused(
                    f"the tree of size {state.size} does not extend the signed checkpoint of "
                    f"size {last.size}: {exc.message}"
                ) from exc
        note = sign_checkpoint(Checkpoint(self.origin, state.size, state.root), self._log_signer())
        self.store.add_checkpoint(StoredCheckpoint(state.size, state.root, note), int(time.time()))
        return note

    def add_cosignatures(self, note: str, witnesses: Sequence[CosignatureVerifier]) -> str:
        """Keep the cosignatures of ``witnesses`` found on ``note``, a checkpoint this log
        signed, with the stored checkpoint, so that receipts carry them; the stored note.

        Every cosignature of a listed witness must verify (NoteInvalid otherwise); lines of
        other keys are dropped, not stored.
        """
        verified = verify_checkpoint(note, self.verifier, witnesses, origin=self.origin)
        stored = self.store.checkpoint_at(verified.checkpoint.size)
        if stored is None or Note.parse(stored.note).text != verified.checkpoint.body():
            raise CheckpointInvalid(
                f"the log signed no such checkpoint of size {verified.checkpoint.size}"
            )
        opened = open_note(note, witnesses, require_verified=False)
        merged = Note.parse(stored.note)
        for signature in opened.verified:
            merged = merged.with_signature(signature)
        text = merged.to_text()
        self.store.replace_checkpoint_note(stored.size, text)
        return text

    def receipt(self, index: int) -> Receipt:
        """A c2sp.org/tlog-proof receipt of entry ``index`` under the latest checkpoint."""
        last = self.store.last_checkpoint()
        if last is None or index >= last.size:
            raise EntryNotFound(
                f"no signed checkpoint covers entry {index} yet",
                hint="Sign one with trustroom ledger checkpoint, then ask again.",
            )
        proof = self.inclusion_proof(index, last.size)
        return Receipt(
            index=index, proof=tuple(proof), extra=self.entry(index), checkpoint=last.note
        )


def _governance_history(store: LedgerStore, db: sa.Connection) -> list[Record]:
    """The log's governance records, in order, read in ``db``'s transaction."""
    return [Record.parse(data) for data in store.governance_entries(db)]


def _integrate(
    store: LedgerStore, state: State, batch: TileBatch, db: sa.Connection, records: Sequence[Record]
) -> range:
    """Add ``records`` to the tree from its stored right edge and store them, in the
    appending transaction ``db``; their indices."""
    data = [r.canonical() for r in records]
    tree = CompactRange(state.size, state.edge)
    tree.extend([leaf_hash(d) for d in data], batch.store)
    new = State(tree.size, tree.root(), tuple(tree.hashes))
    governance = [state.size + i for i, r in enumerate(records) if r.kind == "governance"]
    store.commit(db, batch, state.size, data, governance, new)
    return range(state.size, new.size)


class _Nodes:
    """Perfect-subtree hashes out of the tiles read for one proof."""

    def __init__(self, tiles: dict[tuple[int, int], bytes]) -> None:
        self._tiles = tiles

    def __call__(self, level: int, index: int) -> bytes:
        tile_level, tile_index, position = tile_of(level, index)
        nodes = self._tiles.get((tile_level, tile_index))
        digest = nodes[position * _HASH : (position + 1) * _HASH] if nodes else b""
        if len(digest) != _HASH or digest == bytes(_HASH):
            raise ProofInvalid(f"the log's node {level}/{index} is missing from its storage")
        return digest

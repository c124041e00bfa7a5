"""A verifiable transparency log of what ran: records, checkpoints, receipts, governance.

:class:`Ledger` is the log over a SQL database (SQLite by default, PostgreSQL by URL): it
appends canonical :class:`Record` entries in durable batches into an RFC 9162 Merkle tree,
signs c2sp.org/tlog-checkpoint notes with a key made and sealed inside its TEE (entry 0
attests it), and hands out c2sp.org/tlog-proof :class:`Receipt` files that
:func:`verify_receipt` checks offline with the log's public key alone. Members of a
consortium govern it with signed proposals and ballots, themselves log entries.

>>> ledger = Ledger.init("example.org/ledger", "sqlite:///ledger.db")
>>> (index,) = ledger.append([record])
>>> ledger.checkpoint()
>>> verify_receipt(ledger.receipt(index), ledger.verifier)

See docs/ledger.md.
"""

from trustroom.ledger._checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    cosign,
    sign_checkpoint,
    verify_checkpoint,
)
from trustroom.ledger._client import LedgerClient
from trustroom.ledger._errors import (
    CheckpointInvalid,
    CheckpointRefused,
    EntryNotFound,
    GovernanceRefused,
    KeyInvalid,
    LedgerError,
    LogExists,
    LogNotFound,
    NoteInvalid,
    ProofInvalid,
    ReceiptInvalid,
    RecordInvalid,
    StoreUnavailable,
    SubmissionRefused,
    TreeStateInvalid,
    WitnessPolicyUnmet,
)
from trustroom.ledger._governance import (
    ACTIONS,
    Consortium,
    MemberKey,
    genesis,
    proposal_id,
    replay,
)
from trustroom.ledger._ledger import Ledger
from trustroom.ledger._logkey import check_log_key
from trustroom.ledger._merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from trustroom.ledger._note import (
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    open_note,
    sign_note,
)
from trustroom.ledger._receipt import Receipt, VerifiedReceipt, verify_receipt
from trustroom.ledger._records import KINDS, MAX_RECORD_SIZE, Record, digest_of
from trustroom.ledger._store import LedgerStore

__all__ = [
    "ACTIONS",
    "EMPTY_ROOT",
    "KINDS",
    "MAX_RECORD_SIZE",
    "Checkpoint",
    "CheckpointInvalid",
    "CheckpointRefused",
    "CompactRange",
    "Consortium",
    "CosignatureSigner",
    "CosignatureVerifier",
    "EntryNotFound",
    "GovernanceRefused",
    "KeyInvalid",
    "Ledger",
    "LedgerClient",
    "LedgerError",
    "LedgerStore",
    "LogExists",
    "LogNotFound",
    "MemberKey",
    "NoteInvalid",
    "NoteSigner",
    "NoteVerifier",
    "ProofInvalid",
    "Receipt",
    "ReceiptInvalid",
    "Record",
    "RecordInvalid",
    "StoreUnavailable",
    "SubmissionRefused",
    "TreeStateInvalid",
    "VerifiedCheckpoint",
    "VerifiedReceipt",
    "WitnessPolicyUnmet",
    "check_log_key",
    "cosign",
    "digest_of",
    "genesis",
    "leaf_hash",
    "node_hash",
    "open_note",
    "proposal_id",
    "replay",
    "root_of",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_receipt",
]

"""Typed errors of the ledger, each with a stable code and a hint.

A verifier's refusals (a proof, a note, a receipt that does not check) are distinct from the
log's own refusals (an unknown entry, a checkpoint it will not sign), so that a program can
tell "this evidence is bad" from "this log cannot do that".
"""

from __future__ import annotations

from trustroom._core.errors import TrustroomError

__all__ = [
    "CheckpointInvalid",
    "CheckpointRefused",
    "EntryNotFound",
    "GovernanceRefused",
    "KeyInvalid",
    "LedgerError",
    "LogExists",
    "LogNotFound",
    "NoteInvalid",
    "ProofInvalid",
    "ReceiptInvalid",
    "RecordInvalid",
    "StoreUnavailable",
    "SubmissionRefused",
    "TreeStateInvalid",
    "WitnessPolicyUnmet",
]


class LedgerError(TrustroomError):
    """The ledger refused or could not do something."""

    code = "ledger_error"


class ProofInvalid(LedgerError):
    code = "ledger_proof_invalid"
    default_hint = (
        "The inclusion or consistency proof does not lead to the given root: the entry is not "
        "in that tree, or the proof, sizes or roots were altered. Fetch a fresh proof."
    )


class NoteInvalid(LedgerError):
    code = "ledger_note_invalid"
    default_hint = (
        "The signed note is malformed or a known key's signature does not verify "
        "(c2sp.org/signed-note); check that the note was not altered and the key is the log's."
    )


class KeyInvalid(LedgerError):
    code = "ledger_key_invalid"
    default_hint = (
        "A verifier key is <name>+<8 hex key ID>+<base64 of type byte and key>, a signer key "
        "PRIVATE+KEY+ and the same with the private seed (c2sp.org/signed-note); check that the "
        "whole key was copied and is of the right type (0x01 for a log, 0x04 for a witness)."
    )


class CheckpointInvalid(LedgerError):
    code = "ledger_checkpoint_invalid"
    default_hint = (
        "The checkpoint body is not origin, tree size and base64 root on three lines "
        "(c2sp.org/tlog-checkpoint), or it names another log."
    )


class WitnessPolicyUnmet(LedgerError):
    code = "ledger_witness_policy_unmet"
    default_hint = (
        "Fewer witnesses than the policy requires cosigned the checkpoint; ask the log for a "
        "checkpoint its witnesses have cosigned, or check the witness keys you trust."
    )


class ReceiptInvalid(LedgerError):
    code = "ledger_receipt_invalid"
    default_hint = (
        "The receipt is not a c2sp.org/tlog-proof@v1 file for this log, or its record does "
        "not match its proof; ask the log for a new receipt."
    )


class RecordInvalid(LedgerError):
    code = "ledger_record_invalid"
    default_hint = (
        "A record is a JSON object with v = 1, a known kind and that kind's fields, digests "
        "written 'sha256:<hex>'; see docs/ledger.md."
    )


class LogNotFound(LedgerError):
    code = "ledger_log_not_found"
    default_hint = "Create the log first: trustroom ledger init --db URL --origin NAME."


class LogExists(LedgerError):
    code = "ledger_log_exists"
    default_hint = "This database holds a log already; use it, or give another --db."


class EntryNotFound(LedgerError):
    code = "ledger_entry_not_found"
    default_hint = (
        "No entry has that index yet, or no checkpoint covers it: sign one with "
        "trustroom ledger checkpoint."
    )


class CheckpointRefused(LedgerError):
    code = "ledger_checkpoint_refused"
    default_hint = (
        "The tree in the database is not an extension of the last signed checkpoint (an "
        "altered or restored database). The log signs nothing until that is investigated."
    )


class StoreUnavailable(LedgerError):
    code = "ledger_store_unavailable"
    default_hint = "The ledger's database did not answer or stayed locked; check --db, retry."


class GovernanceRefused(LedgerError):
    code = "ledger_governance_refused"
    default_hint = (
        "The governance message breaks a rule: signed by a non-member, a bad signature, a "
        "replayed proposal or ballot, a closed proposal, or an action the constitution does "
        "not know; see docs/ledger.md."
    )


class TreeStateInvalid(LedgerError):
    code = "ledger_tree_state_invalid"
    default_hint = (
        "The stored tree state (size, root, right edge) does not hang together: the database "
        "was altered or damaged. The log appends and signs nothing until it is restored."
    )


class SubmissionRefused(LedgerError):
    code = "ledger_submission_refused"
    default_hint = (
        "Entries sent to the log must be signed by a member of its consortium, made within "
        "five minutes of the log's clock, and sent once; sign a fresh submission."
    )

"""Checkpoints (c2sp.org/tlog-checkpoint v1.0.0): the log's signed tree heads, and witnesses.

A checkpoint is a signed note whose text is the log's origin, its tree size and its root
hash (base64), one per line, then optional extension lines. The log signs it with its
Ed25519 note key; witnesses that checked it extends what they saw before add cosignature
lines (c2sp.org/tlog-cosignature v1); a client requires the log's signature and k of the n
witnesses it trusts::

    note = sign_checkpoint(Checkpoint("example.org/log", size, root), log_signer)
    note = cosign(note, witness_signer, at=int(time.time()))
    verified = verify_checkpoint(note, log_verifier, [witness_verifier], threshold=1)

A witness is known by its key name: two trusted keys under one name (a witness that rotated
its key) count as one witness, so that rotating never doubles a vote.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trustroom.ledger._errors import CheckpointInvalid, NoteInvalid, WitnessPolicyUnmet
from trustroom.ledger._note import (
    CosignatureSigner,
    CosignatureVerifier,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    b64decode_strict,
    has_forbidden_characters,
    open_note,
    sign_note,
)

__all__ = [
    "Checkpoint",
    "VerifiedCheckpoint",
    "cosign",
    "sign_checkpoint",
    "verify_checkpoint",
]

HASH_SIZE = 32
MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: its origin, the number of leaves and the RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The origin is line 1, extensions lines 4 and on.
        for n, line in ((1, self.origin), *enumerate(self.extensions, 4)):
            if not line:
                raise CheckpointInvalid(f"line {n} of the checkpoint is empty")
            if "\n" in line or has_forbidden_characters(line):
                raise CheckpointInvalid(f"line {n} of the checkpoint holds a control character")
        if not 0 <= self.size <= MAX_SIZE:
            raise CheckpointInvalid(f"a tree size is in [0, 2**64 - 1], not {self.size}")
        if len(self.root) != HASH_SIZE:
            raise CheckpointInvalid(f"the root hash has {len(self.root)} bytes, not 32")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extensions, each ending in newline."""
        root = base64.b64encode(self.root).decode()
        return "\n".join((self.origin, str(self.size), root, *self.extensions)) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint of a note text; CheckpointInvalid unless it is exactly one."""
        if not text.endswith("\n"):
            raise CheckpointInvalid("the checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointInvalid(
                "a checkpoint has at least three lines: origin, tree size and root hash"
            )
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise CheckpointInvalid(
                "line 2 of the checkpoint (the tree size) is not a decimal number without "
                "leading zeroes"
            )
        raw = b64decode_strict(root)
        if raw is None or len(raw) != HASH_SIZE:
            raise CheckpointInvalid(
                "line 3 of the checkpoint (the root hash) is not the base64 of 32 bytes"
            )
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, log_signer: NoteSigner) -> str:
    """The checkpoint as a note signed by the log's key."""
    return sign_note(checkpoint.body(), log_signer)


def cosign(note_text: str, witness_signer: CosignatureSigner, at: int) -> str:
    """``note_text`` (a signed checkpoint) with the witness's cosignature made at time ``at``
    added, instead of any earlier one by the same key.

    This only signs: a witness checks the log's signature and a consistency proof from the
    last checkpoint it cosigned before calling it.
    """
    note = Note.parse(note_text)
    Checkpoint.parse(note.text)  # a cosignature states something about a checkpoint only
    signature = witness_signer.sign(note.text.encode(), at=at)
    line = NoteSignature(witness_signer.name, witness_signer.key_id, signature)
    return note.with_signature(line).to_text()


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint the log signed, and the trusted witnesses that cosigned it: each
    witness's name and the time (POSIX seconds) of its cosignature."""

    checkpoint: Checkpoint
    witnesses: Mapping[str, int]


def verify_checkpoint(
    note: str,
    log_key: NoteVerifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    threshold: int = 0,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Check a signed checkpoint: the log's signature (NoteInvalid), its text and, if given,
    its origin (CheckpointInvalid), and that at least ``threshold`` of the ``witnesses``
    cosigned it (WitnessPolicyUnmet). A cosignature line of a trusted witness that does not
    verify rejects the whole note, as any known key's does."""
    if threshold < 0:
        raise ValueError(f"a witness threshold is 0 or more, not {threshold}")
    opened = open_note(note, [log_key, *witnesses], require_verified=False)
    if opened.signature_of(log_key) is None:
        raise NoteInvalid(
            f"the checkpoint is not signed by the log key {log_key.name}+{log_key.key_id:08x}"
        )
    checkpoint = Checkpoint.parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointInvalid(
            f"the checkpoint is of the log {checkpoint.origin!r}, not {origin!r}",
        )
    cosigned: dict[str, int] = {}
    for witness in witnesses:
        signature = opened.signature_of(witness)
        if signature is not None:
            at = witness.timestamp(signature.signature)
            cosigned[witness.name] = max(at, cosigned.get(witness.name, at))
    if len(cosigned) < threshold:
        trusted = len({w.name for w in witnesses})
        raise WitnessPolicyUnmet(
            f"{len(cosigned)} of the {trusted} trusted witnesses cosigned the checkpoint; "
            f"the policy requires {threshold}"
        )
    return VerifiedCheckpoint(checkpoint, cosigned)

"""Receipts: c2sp.org/tlog-proof@v1 files, checked offline with the log's key alone.

A receipt proves that an entry is in the log: the entry's index, its RFC 9162 inclusion
proof and the checkpoint (cosigned or not) the proof leads to, as text::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry>
    index 17
    <base64 sibling hash, from the leaf up>
    ...
    <blank line>
    <the signed checkpoint, verbatim>

tlog-proof leaves what ``extra`` means to the application. In trustroom's log the leaf is the
entry's bytes (its canonical record), and a receipt carries them in ``extra``, so that it is
self-contained: :func:`verify_receipt` checks the inclusion of ``receipt.extra`` unless
given the leaf, and then ``extra`` must be empty or that leaf. Either way ``extra`` is
trusted only once its inclusion under the log's signature is checked; an empty ``extra``
is written as no ``extra`` line.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trustroom.ledger._checkpoint import MAX_SIZE, Checkpoint, verify_checkpoint
from trustroom.ledger._errors import CheckpointInvalid, NoteInvalid, ReceiptInvalid
from trustroom.ledger._merkle import leaf_hash, verify_inclusion
from trustroom.ledger._note import CosignatureVerifier, Note, NoteVerifier, b64decode_strict

__all__ = ["HEADER", "Receipt", "VerifiedReceipt", "verify_receipt"]

HEADER = "c2sp.org/tlog-proof@v1"
# A tree of fewer than 2**64 leaves has inclusion proofs of at most 64 hashes.
MAX_PROOF = 64
_HASH_SIZE = 32
_EXTRA = "extra "
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Receipt:
    """A tlog-proof: entry ``index``'s inclusion ``proof`` under the signed ``checkpoint``
    note, with ``extra`` data (in trustroom's log, the entry itself)."""

    index: int
    proof: tuple[bytes, ...]
    extra: bytes
    checkpoint: str

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_SIZE:
            raise ReceiptInvalid(f"an index is in [0, 2**64 - 1], not {self.index}")
        if len(self.proof) > MAX_PROOF:
            raise ReceiptInvalid(f"an inclusion proof has at most {MAX_PROOF} hashes")
        for n, digest in enumerate(self.proof, 1):
            if len(digest) != _HASH_SIZE:
                raise ReceiptInvalid(f"hash {n} of the inclusion proof is not 32 bytes")
        try:
            size = Checkpoint.parse(Note.parse(self.checkpoint).text).size
        except (NoteInvalid, CheckpointInvalid) as exc:
            raise ReceiptInvalid(f"the receipt's checkpoint is malformed: {exc.message}") from exc
        if self.index >= size:
            raise ReceiptInvalid(f"entry {self.index} is not in the checkpoint's {size} entries")

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra:
            lines.append(_EXTRA + _b64(self.extra))
        lines.append(f"index {self.index}")
        lines += [_b64(digest) for digest in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """The receipt of a tlog-proof text; ReceiptInvalid unless it is exactly one."""
        head, blank, checkpoint = text.partition("\n\n")
        if not blank:
            raise ReceiptInvalid("no blank line separates the proof from the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise ReceiptInvalid(f"the first line is not {HEADER}")
        number, extra = 2, b""
        if len(lines) > 1 and lines[1].startswith(_EXTRA):
            decoded = b64decode_strict(lines[1][len(_EXTRA) :])
            if not decoded:
                raise ReceiptInvalid("line 2 is not 'extra' and non-empty canonical base64")
            number, extra = 3, decoded
        if len(lines) < number or not _INDEX.fullmatch(lines[number - 1]):
            raise ReceiptInvalid(
                f"line {number} is not 'index' and a decimal number without leading zeroes"
            )
        index = int(lines[number - 1].removeprefix("index "))
        hash_lines = lines[number:]
        if len(hash_lines) > MAX_PROOF:
            raise ReceiptInvalid(f"an inclusion proof has at most {MAX_PROOF} hashes")
        proof = []
        for n, line in enumerate(hash_lines, number + 1):
            digest = b64decode_strict(line)
            if digest is None or len(digest) != _HASH_SIZE:
                raise ReceiptInvalid(f"line {n} is not the base64 of a 32-byte hash")
            proof.append(digest)
        return cls(index, tuple(proof), extra, checkpoint)


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a valid receipt proves: ``leaf`` is entry ``index`` of the log in ``checkpoint``,
    which the log signed and ``witnesses`` (name to cosignature time) cosigned."""

    checkpoint: Checkpoint
    witnesses: Mapping[str, int]
    index: int
    leaf: bytes


def verify_receipt(
    receipt: Receipt,
    log_key: NoteVerifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    threshold: int = 0,
    *,
    leaf: bytes | None = None,
    origin: str | None = None,
) -> VerifiedReceipt:
    """Check a receipt as tlog-proof says: the leaf (``leaf``, else ``receipt.extra``), the
    checkpoint's log signature and origin, ``threshold`` of the ``witnesses``' cosignatures
    (:func:`verify_checkpoint`), then the leaf's inclusion (ProofInvalid)."""
    if leaf is None:
        if not receipt.extra:
            raise ReceiptInvalid("the receipt carries no entry in extra, and none was given")
        leaf = receipt.extra
    elif receipt.extra and receipt.extra != leaf:
        raise ReceiptInvalid("the receipt's extra data is not the given entry")
    verified = verify_checkpoint(receipt.checkpoint, log_key, witnesses, threshold, origin)
    tree = verified.checkpoint
    verify_inclusion(leaf_hash(leaf), receipt.index, tree.size, receipt.proof, tree.root)
    return VerifiedReceipt(tree, verified.witnesses, receipt.index, leaf)

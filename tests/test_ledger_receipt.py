"""Receipts (c2sp.org/tlog-proof@v1): a real Sigsum proof, the specification's example, the
format's strictness and every way a receipt must fail to verify."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustroom.ledger._checkpoint import Checkpoint, cosign, sign_checkpoint
from trustroom.ledger._errors import (
    CheckpointInvalid,
    NoteInvalid,
    ProofInvalid,
    ReceiptInvalid,
    WitnessPolicyUnmet,
)
from trustroom.ledger._note import (
    COSIGNATURE_V1,
    ED25519,
    CosignatureSigner,
    CosignatureVerifier,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    key_id,
)
from trustroom.ledger._receipt import HEADER, Receipt, verify_receipt

DATA = Path(__file__).parent / "data" / "ledger"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORIGIN = "example.org/log"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# RFC 9162 §2.1 written out here, independently of trustroom.ledger._merkle.
def mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


# -- a real proof: Sigsum's log signature, witness cosignature and inclusion proof -------

SIGSUM: dict[str, Any] = json.loads((DATA / "sigsum-proof.json").read_text())
SIGSUM_WITNESS = "witness.example/sigsum-test"


def ssh_ed25519(text: str) -> bytes:
    return base64.b64decode(text.split()[1])[-32:]


def sigsum_receipt() -> tuple[Receipt, NoteVerifier, CosignatureVerifier]:
    """The Sigsum proof as a tlog-proof (tests/data/ledger/README.md says how)."""
    log_key, witness_key = ssh_ed25519(SIGSUM["log_key"]), ssh_ed25519(SIGSUM["witness_key"])
    assert sha256(witness_key).hex() == SIGSUM["witness_key_hash"]
    origin = "sigsum.org/v1/tree/" + sha256(log_key).hex()
    body = Checkpoint(origin, SIGSUM["size"], bytes.fromhex(SIGSUM["root_hash"])).body()
    at = SIGSUM["cosignature_timestamp"].to_bytes(8, "big")
    note = Note(
        body,
        (
            NoteSignature(
                origin,
                key_id(origin, ED25519, log_key),
                bytes.fromhex(SIGSUM["log_signature"]),
            ),
            NoteSignature(
                SIGSUM_WITNESS,
                key_id(SIGSUM_WITNESS, COSIGNATURE_V1, witness_key),
                at + bytes.fromhex(SIGSUM["cosignature"]),
            ),
        ),
    )
    leaf = (
        sha256(SIGSUM["message"].encode())
        + bytes.fromhex(SIGSUM["leaf_signature"])
        + bytes.fromhex(SIGSUM["leaf_key_hash"])
    )
    receipt = Receipt(
        index=SIGSUM["leaf_index"],
        proof=tuple(bytes.fromhex(h) for h in SIGSUM["node_hashes"]),
        extra=leaf,
        checkpoint=note.to_text(),
    )
    return (
        receipt,
        NoteVerifier(origin, Ed25519PublicKey.from_public_bytes(log_key)),
        CosignatureVerifier(SIGSUM_WITNESS, Ed25519PublicKey.from_public_bytes(witness_key)),
    )


def test_a_real_sigsum_proof_verifies_as_a_tlog_proof() -> None:
    receipt, log_key, witness = sigsum_receipt()
    again = Receipt.parse(receipt.to_text())
    assert again == receipt
    verified = verify_receipt(again, log_key, [witness], threshold=1, origin=log_key.name)
    assert (verified.index, verified.checkpoint.size) == (3, 4)
    assert verified.witnesses == {SIGSUM_WITNESS: SIGSUM["cosignature_timestamp"]}
    assert verified.leaf == receipt.extra and len(verified.leaf) == 128


def test_the_real_sigsum_proof_fails_when_anything_changes() -> None:
    receipt, log_key, witness = sigsum_receipt()
    extra = bytes([receipt.extra[0] ^ 1]) + receipt.extra[1:]
    with pytest.raises(ProofInvalid):
        verify_receipt(Receipt(3, receipt.proof, extra, receipt.checkpoint), log_key)
    with pytest.raises(ProofInvalid):
        verify_receipt(Receipt(2, receipt.proof, receipt.extra, receipt.checkpoint), log_key)
    swapped = receipt.proof[::-1]
    with pytest.raises(ProofInvalid):
        verify_receipt(Receipt(3, swapped, receipt.extra, receipt.checkpoint), log_key)
    later = receipt.checkpoint.replace("\n4\n", "\n5\n")
    with pytest.raises(NoteInvalid, match="does not verify"):
        verify_receipt(Receipt(3, receipt.proof, receipt.extra, later), log_key)
    stranger = CosignatureSigner.generate("w2.example").verifier()
    with pytest.raises(WitnessPolicyUnmet, match="1 of the 2"):
        verify_receipt(receipt, log_key, [witness, stranger], threshold=2)


# -- the specification's example ---------------------------------------------------------

EXAMPLE = (DATA / "c2sp-tlog-proof-example.tlog-proof").read_text()


def test_the_spec_example_is_refused_for_its_elided_signatures_only() -> None:
    with pytest.raises(ReceiptInvalid, match="checkpoint is malformed: signature line 1"):
        Receipt.parse(EXAMPLE)
    proof_lines, _, checkpoint = EXAMPLE.partition("\n\n")
    body = checkpoint.partition("\n\n")[0] + "\n"
    ours = sign_checkpoint(Checkpoint.parse(body), NoteSigner.generate("example.com/fancylog"))
    text = proof_lines + "\n\n" + ours
    receipt = Receipt.parse(text)
    lines = proof_lines.split("\n")
    assert receipt.index == 73894
    assert receipt.extra == base64.b64decode(lines[1].removeprefix("extra "))
    assert receipt.proof == tuple(base64.b64decode(line) for line in lines[3:])
    assert len(receipt.proof) == 5
    assert receipt.checkpoint == ours
    assert receipt.to_text() == text


# -- receipts of a tree built here -------------------------------------------------------

LEAVES = [b"entry %d" % i for i in range(7)]


@pytest.fixture
def log() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def witnesses() -> list[CosignatureSigner]:
    return [CosignatureSigner.generate(f"w{i}.example") for i in range(3)]


def receipt_of(index: int, log: NoteSigner, *cosigners: CosignatureSigner) -> Receipt:
    note = sign_checkpoint(Checkpoint(ORIGIN, len(LEAVES), mth(LEAVES)), log)
    for n, witness in enumerate(cosigners):
        note = cosign(note, witness, at=1_700_000_000 + n)
    return Receipt(index, tuple(path(index, LEAVES)), LEAVES[index], note)


def test_every_entry_has_a_receipt_that_round_trips_and_verifies(log: NoteSigner) -> None:
    for index, leaf in enumerate(LEAVES):
        receipt = receipt_of(index, log)
        text = receipt.to_text()
        assert text.startswith(f"{HEADER}\nextra {base64.b64encode(leaf).decode()}\n")
        assert f"\nindex {index}\n" in text
        assert Receipt.parse(text) == receipt
        assert verify_receipt(receipt, log.verifier()).leaf == leaf


def test_the_leaf_is_extra_unless_given(log: NoteSigner) -> None:
    receipt = receipt_of(4, log)
    assert verify_receipt(receipt, log.verifier(), leaf=LEAVES[4]).index == 4
    with pytest.raises(ReceiptInvalid, match="not the given entry"):
        verify_receipt(receipt, log.verifier(), leaf=LEAVES[5])
    bare = Receipt(4, receipt.proof, b"", receipt.checkpoint)
    assert "extra" not in bare.to_text() and Receipt.parse(bare.to_text()) == bare
    assert verify_receipt(bare, log.verifier(), leaf=LEAVES[4]).leaf == LEAVES[4]
    with pytest.raises(ProofInvalid):
        verify_receipt(bare, log.verifier(), leaf=LEAVES[5])
    with pytest.raises(ReceiptInvalid, match="no entry"):
        verify_receipt(bare, log.verifier())


def test_a_receipt_needs_the_log_signature_and_origin(log: NoteSigner) -> None:
    receipt = receipt_of(1, log)
    with pytest.raises(NoteInvalid, match="not signed by the log key"):
        verify_receipt(receipt, NoteSigner.generate(ORIGIN).verifier())
    with pytest.raises(CheckpointInvalid, match=r"example\.org/other"):
        verify_receipt(receipt, log.verifier(), origin="example.org/other")
    assert verify_receipt(receipt, log.verifier(), origin=ORIGIN).checkpoint.origin == ORIGIN


def test_a_receipt_meets_the_witness_policy_or_fails(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    receipt = receipt_of(6, log, witnesses[0], witnesses[1])
    trusted = [w.verifier() for w in witnesses]
    verified = verify_receipt(receipt, log.verifier(), trusted, 2)
    assert verified.witnesses == {"w0.example": 1_700_000_000, "w1.example": 1_700_000_001}
    with pytest.raises(WitnessPolicyUnmet, match="2 of the 3"):
        verify_receipt(receipt, log.verifier(), trusted, 3)


def test_a_receipt_is_made_of_valid_parts(log: NoteSigner) -> None:
    good = receipt_of(0, log)
    with pytest.raises(ReceiptInvalid, match="hash 2"):
        Receipt(0, (good.proof[0], b"short", good.proof[2]), good.extra, good.checkpoint)
    with pytest.raises(ReceiptInvalid, match="at most 64"):
        Receipt(0, (good.proof[0],) * 65, good.extra, good.checkpoint)
    with pytest.raises(ReceiptInvalid, match="entry 7 is not in the checkpoint's 7"):
        Receipt(7, good.proof, good.extra, good.checkpoint)
    with pytest.raises(ReceiptInvalid, match="index"):
        Receipt(-1, good.proof, good.extra, good.checkpoint)
    with pytest.raises(ReceiptInvalid, match="checkpoint is malformed"):
        Receipt(0, good.proof, good.extra, Note.parse(good.checkpoint).text)


def _mangle(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


GOOD = receipt_of(5, NoteSigner.generate(ORIGIN)).to_text()
HASH = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_mangle(GOOD, HEADER, "c2sp.org/tlog-proof@v2"), "first line"),
        ("\n" + GOOD, "first line"),
        (_mangle(GOOD, "\n", "\r\n"), "first line"),
        (_mangle(GOOD, "\nindex 5\n", "\nindex 05\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nindex 5\n", "\nindex +5\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nindex 5\n", "\nindex  5\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nindex 5\n", "\nIndex 5\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nindex 5\n", f"\nindex {'9' * 25}\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nindex 5\n", f"\nindex {2**64}\n"), "2\\*\\*64"),
        (_mangle(GOOD, "\nindex 5\n", "\n"), "line 3 is not 'index'"),
        (_mangle(GOOD, "\nextra ", "\nextra  "), "line 2 is not 'extra'"),
        (_mangle(GOOD, "\nextra ", "\nextra \nindex 1\nextra "), "line 2 is not 'extra'"),
        (_mangle(GOOD, "\nindex 5\n", "\nindex 5\nextra AAAA\n"), "line 4 is not the base64"),
        (_mangle(GOOD, "\nindex 5\n", f"\nindex 5\n{HASH[:-2]}\n"), "line 4 is not the base64"),
        (_mangle(GOOD, "\nindex 5\n", f"\nindex 5\n{HASH[:-2]}B=\n"), "line 4 is not the base64"),
        (_mangle(GOOD, "\nindex 5\n", "\nindex 5\n" + f"{HASH}\n" * 65), "at most 64"),
        (_mangle(GOOD, "\n\n", "\n \n"), "is not the base64"),
        (GOOD[: GOOD.index("\n\n")], "no blank line"),
        (_mangle(GOOD, "\n\n", "\n\n\n"), "checkpoint is malformed"),
        (_mangle(GOOD, "\n\u2014 ", "\n- "), "checkpoint is malformed"),
        (_mangle(GOOD, "\n7\n", "\n07\n"), "checkpoint is malformed: line 2"),
        (GOOD[:-1], "checkpoint is malformed"),
    ],
)
def test_receipt_parsing_is_strict(text: str, message: str) -> None:
    assert Receipt.parse(GOOD).to_text() == GOOD
    with pytest.raises(ReceiptInvalid, match=message):
        Receipt.parse(text)


# -- fuzzing: Receipt.parse raises ReceiptInvalid and nothing else -----------------------


def _mutations(base: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(base)), st.integers(0, 8), st.text(max_size=12)).map(
        lambda m: base[: m[0]] + m[2] + base[m[0] + m[1] :]
    )


@FUZZ
@given(st.one_of(st.text(max_size=400), _mutations(GOOD), _mutations(EXAMPLE)))
def test_receipt_parse_raises_only_receipt_invalid(text: str) -> None:
    try:
        receipt = Receipt.parse(text)
    except ReceiptInvalid:
        return
    assert receipt.to_text() == text  # what parses is written back unchanged

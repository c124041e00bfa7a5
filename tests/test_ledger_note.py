"""Signed notes, witness cosignatures and checkpoints: published vectors, then our rules."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustroom.ledger._checkpoint import Checkpoint, cosign, sign_checkpoint, verify_checkpoint
from trustroom.ledger._errors import (
    CheckpointInvalid,
    KeyInvalid,
    NoteInvalid,
    WitnessPolicyUnmet,
)
from trustroom.ledger._note import (
    COSIGNATURE_V1,
    MAX_SIGNATURES,
    CosignatureSigner,
    CosignatureVerifier,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    cosignature_message,
    key_id,
    open_note,
    sign_note,
)

DATA = Path(__file__).parent / "data" / "ledger"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORIGIN = "example.org/log"
ROOT = hashlib.sha256(b"root").digest()


def vector(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


GO = vector("golang-signed-note.json")


# -- published vectors -------------------------------------------------------------------


def test_go_signer_key_gives_go_verifier_key_and_signature_byte_for_byte() -> None:
    signer = NoteSigner.from_text(GO["signer_key"])
    assert signer.verifier().vkey == GO["verifier_key"]
    assert signer.to_text() == GO["signer_key"]
    assert sign_note(GO["text"], signer) == GO["signed"]


def test_go_note_opens_with_known_keys_verified_and_others_kept_unverified() -> None:
    peter = NoteVerifier.from_vkey(GO["verifier_key"])
    enoch = NoteVerifier.from_vkey(GO["other_verifier_key"])
    note = GO["text"] + "\n" + GO["signature_line"] + GO["other_signature_line"]
    opened = open_note(note, [peter])
    assert opened.text == GO["text"]
    assert [(s.name, s.key_id) for s in opened.verified] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_id) for s in opened.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_note(note, [peter, enoch])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"] and not both.unverified
    with pytest.raises(NoteInvalid, match="no key"):
        open_note(note, [])
    assert len(open_note(note, [], require_verified=False).unverified) == 2


def test_go_repeated_lines_are_kept_once() -> None:
    peter, enoch = GO["signature_line"], GO["other_signature_line"]
    enoch_abcd = enoch[:60] + "ABCD" + enoch[60:]  # Go's TestOpen: another unknown signature
    note = GO["text"] + "\n" + peter + peter + enoch + enoch + enoch_abcd
    opened = open_note(note, [NoteVerifier.from_vkey(GO["verifier_key"])])
    assert [s.line() for s in opened.verified] == [peter]
    assert [s.line() for s in opened.unverified] == [enoch, enoch_abcd]


def test_go_verifier_key_manglings_are_refused() -> None:
    vkey = GO["verifier_key"]
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(KeyInvalid):
                    NoteVerifier.from_vkey(vkey[i:j])
    for i in range(len(vkey)):
        with pytest.raises(KeyInvalid):
            NoteVerifier.from_vkey(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :])
    for bad in GO["bad_verifier_keys"]:  # wrong key length; unknown type (key IDs adjusted)
        with pytest.raises(KeyInvalid):
            NoteVerifier.from_vkey(bad)


def test_go_signer_key_manglings_are_refused() -> None:
    skey = GO["signer_key"]
    for i in range(0, len(skey), 3):
        for j in range(i + 1, len(skey) + 1, 2):
            if (i, j) != (0, len(skey)):
                with pytest.raises(KeyInvalid):
                    NoteSigner.from_text(skey[i:j])
    for i in range(len(skey)):
        with pytest.raises(KeyInvalid):
            NoteSigner.from_text(skey[:i] + chr(ord(skey[i]) + 1) + skey[i + 1 :])


def test_c2sp_signed_note_example_verifies() -> None:
    example = vector("c2sp-signed-note.json")
    verifier = NoteVerifier.from_vkey(example["verifier_key"])
    opened = open_note(example["signed"], [verifier])
    assert opened.text == "This is an example message.\n"
    assert opened.signature_of(verifier) is not None


def test_c2sp_cosignature_example_line_time_and_signed_message() -> None:
    example = vector("c2sp-cosignature.json")
    note = Note.parse(example["cosigned"])
    log_line, witness_line = note.signatures
    assert witness_line.name == example["witness_name"]
    assert witness_line.key_id == int(example["witness_key_id"], 16)
    assert CosignatureVerifier.timestamp(witness_line.signature) == example["timestamp"]
    message = cosignature_message(example["timestamp"], note.text.encode())
    assert message == example["signed_message"].encode()
    checkpoint = Checkpoint.parse(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert note.to_text() == example["cosigned"]
    assert len(log_line.signature) == 64


def test_formats_cosignature_keys_and_time() -> None:
    formats = vector("formats-cosignature.json")
    native = CosignatureVerifier.from_vkey(formats["cosignature_vkey"])
    assert native.vkey == formats["cosignature_vkey"] and native.key_id == 0xDA77ADE7
    with pytest.raises(KeyInvalid, match="type 0x04"):
        NoteVerifier.from_vkey(formats["cosignature_vkey"])
    # A plain Ed25519 key used for cosignatures gets the type 0x04 key ID.
    plain = formats["ed25519_vkey_accepted_for_cosignatures"]
    converted = CosignatureVerifier.from_vkey(plain)
    raw = base64.b64decode(plain.split("+", 2)[2])[1:]
    assert converted.key_id == key_id("TEST", COSIGNATURE_V1, raw) != 0x7997405C
    for bad in formats["bad_vkeys"]:
        with pytest.raises(KeyInvalid):
            CosignatureVerifier.from_vkey(bad)
    signature = base64.b64decode(formats["signature_base64"])[4:]
    assert CosignatureVerifier.timestamp(signature) == formats["signature_timestamp"]


def test_go_checkpoint_body_formats_and_parses() -> None:
    golden = vector("golang-checkpoint.json")
    root = hashlib.sha256(b"\x00" + golden["root_is_record_hash_of"].encode()).digest()
    checkpoint = Checkpoint(golden["origin"], golden["size"], root)
    assert checkpoint.body() == golden["body"]
    assert Checkpoint.parse(golden["body"]) == checkpoint
    # Go's own refusals (its others are of another origin, or trailing text it ignores).
    for line, body in golden["bad_bodies"].items():
        with pytest.raises(CheckpointInvalid, match=line):
            Checkpoint.parse(body)


# -- keys and notes ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [NoteSigner, CosignatureSigner])
def test_signer_keys_round_trip_through_text(kind: type[NoteSigner | CosignatureSigner]) -> None:
    signer = kind.generate("example.org/key")
    again = kind.from_text(signer.to_text())
    assert again.verifier().vkey == signer.verifier().vkey
    assert type(again.verifier()).from_vkey(signer.verifier().vkey) == signer.verifier()
    assert "PRIVATE" not in repr(signer)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\tb", "tab\x01"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(KeyInvalid):
        NoteSigner.generate(name)


def test_a_signer_key_of_the_other_type_is_refused() -> None:
    with pytest.raises(KeyInvalid, match="type 0x04"):
        NoteSigner.from_text(CosignatureSigner.generate("w").to_text())


def test_notes_round_trip_and_unknown_keys_are_ignored() -> None:
    a, b, stranger = (NoteSigner.generate(n) for n in ("a.example", "b.example", "c.example"))
    text = "line one\n\nline three after a blank line\n"
    note = sign_note(text, a, stranger, b)
    opened = open_note(note, [a.verifier(), b.verifier()])
    assert opened.text == text
    assert [s.name for s in opened.verified] == ["a.example", "b.example"]
    assert [s.name for s in opened.unverified] == ["c.example"]
    assert Note.parse(note).to_text() == note


def test_a_known_key_with_a_bad_signature_rejects_the_note() -> None:
    signer, other = NoteSigner.generate("a.example"), NoteSigner.generate("b.example")
    note = Note.parse(sign_note("text\n", signer, other))
    first = note.signatures[0]
    flipped = bytes([first.signature[0] ^ 1]) + first.signature[1:]
    forged = NoteSignature(first.name, first.key_id, flipped)
    bad = Note(note.text, (forged, note.signatures[1])).to_text()
    with pytest.raises(NoteInvalid, match=r"a\.example\+[0-9a-f]{8} does not verify"):
        open_note(bad, [signer.verifier(), other.verifier()])
    # The same note is fine for a reader who does not know that key.
    assert open_note(bad, [other.verifier()]).verified[0].name == "b.example"


def test_altered_text_fails() -> None:
    signer = NoteSigner.generate("a.example")
    note = sign_note("size 10\n", signer)
    with pytest.raises(NoteInvalid, match="does not verify"):
        open_note(note.replace("10", "11"), [signer.verifier()])


def test_every_line_of_a_known_key_is_checked_and_repeats_count_once() -> None:
    signer = NoteSigner.generate("a.example")
    note = sign_note("text\n", signer)
    line = note.split("\n\n")[1]
    opened = open_note(note + line, [signer.verifier()])
    assert len(opened.verified) == 1
    broken = line[:20] + ("A" if line[20] != "A" else "B") + line[21:]
    with pytest.raises(NoteInvalid):
        open_note(note + broken, [signer.verifier()])


def test_a_cosignature_is_not_a_plain_signature_of_the_same_key() -> None:
    key = Ed25519PrivateKey.generate()
    cosigned = sign_note("text\n", CosignatureSigner("k.example", key))
    with pytest.raises(NoteInvalid, match="no key"):
        open_note(cosigned, [NoteSigner("k.example", key).verifier()])
    assert open_note(cosigned, [CosignatureSigner("k.example", key).verifier()]).verified


@pytest.mark.parametrize(
    "note",
    [
        GO["text"],
        GO["text"] + "\n",
        GO["text"] + "\n" + GO["signature_line"][:-1],
        "\x01" + GO["text"] + "\n" + GO["signature_line"],
        GO["text"] + "\n" + GO["signature_line"].replace("PeterNeumann", "Bad Name"),
        GO["text"] + "\n" + GO["signature_line"] + "Unexpected line.\n",
        GO["text"] + "\n" + GO["signature_line"].replace("\u2014", "-"),
        GO["text"] + "\n" + GO["signature_line"].replace("=\n", "\n"),  # not canonical
        GO["text"] + "\n" + "\u2014 PeterNeumann AAAA\n",  # a key ID and no signature
        GO["text"] + "\n" + GO["signature_line"] + "\n",
        GO["text"].replace("\n", "\r\n", 1) + "\n" + GO["signature_line"],
        "\ud800" + GO["text"] + "\n" + GO["signature_line"],
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    verifier = NoteVerifier.from_vkey(GO["verifier_key"])
    assert open_note(GO["signed"], [verifier])  # the unmangled note opens
    with pytest.raises(NoteInvalid):
        open_note(note, [verifier])


def test_a_note_that_is_not_utf8_is_refused() -> None:
    verifier = NoteVerifier.from_vkey(GO["verifier_key"])
    assert open_note(GO["signed"].encode(), [verifier]).text == GO["text"]
    with pytest.raises(NoteInvalid, match="UTF-8"):
        open_note(b"\xff" + GO["signed"].encode(), [verifier])


def test_at_most_a_hundred_signatures_are_read() -> None:
    verifier = NoteVerifier.from_vkey(GO["verifier_key"])
    head = GO["text"] + "\n"
    assert open_note(head + GO["signature_line"] * MAX_SIGNATURES, [verifier]).verified
    with pytest.raises(NoteInvalid, match="more than 100"):
        open_note(head + GO["signature_line"] * (MAX_SIGNATURES + 1), [verifier])


def test_two_different_keys_with_one_name_and_key_id_are_ambiguous() -> None:
    real = NoteVerifier.from_vkey(GO["verifier_key"])

    class Impostor:
        name, key_id, vkey = real.name, real.key_id, "PeterNeumann+c74f20a3+other"

        def verify(self, message: bytes, signature: bytes) -> bool:
            return True

    assert open_note(GO["signed"], [real, real]).verified  # the same key twice is one key
    with pytest.raises(KeyInvalid, match="two verifier keys"):
        open_note(GO["signed"], [real, Impostor()])


def test_a_cosignature_time_beyond_int63_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    witness = CosignatureSigner("w.example", key)
    at = 2**63
    signature = at.to_bytes(8, "big") + key.sign(cosignature_message(at, b"text\n"))
    assert not witness.verifier().verify(b"text\n", signature)
    good = witness.sign(b"text\n", at=at - 1)
    assert witness.verifier().verify(b"text\n", good)
    with pytest.raises(ValueError):
        witness.sign(b"text\n", at=at)


# -- checkpoints -------------------------------------------------------------------------


@pytest.fixture
def log() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def witnesses() -> list[CosignatureSigner]:
    return [CosignatureSigner.generate(f"w{i}.example") for i in range(3)]


def test_checkpoints_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    assert checkpoint.body().endswith("\next one\next two\n")


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{ORIGIN}\n012\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n+12\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n-1\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n 12\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n\u0661\u0662\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n{2**64}\n{ROOT64}\n", "2\\*\\*64"),
        (f"{ORIGIN}\n{'9' * 5000}\n{ROOT64}\n", "line 2"),
        (f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n", "line 3"),
        (f"{ORIGIN}\n12\n{ROOT64[:-2]}9=\n", "line 3"),  # not canonical
        (f"{ORIGIN}\n12\n{ROOT64.rstrip('=')}\n", "line 3"),
        (f"\n12\n{ROOT64}\n", "line 1"),
        (f"{ORIGIN}\n12\n{ROOT64}\n\n", "line 4"),
        (f"{ORIGIN}\n12\n{ROOT64}\next\n\nmore\n", "line 5"),
        (f"{ORIGIN}\n12\n{ROOT64}", "newline"),
        (f"{ORIGIN}\n12\n", "three lines"),
        (f"{ORIGIN}\r\n12\n{ROOT64}\n", "control"),
    ],
)
def test_checkpoint_parsing_is_strict(text: str, line: str) -> None:
    assert Checkpoint.parse(f"{ORIGIN}\n12\n{ROOT64}\n").size == 12
    with pytest.raises(CheckpointInvalid, match=line):
        Checkpoint.parse(text)


def test_a_checkpoint_is_made_of_valid_parts() -> None:
    with pytest.raises(CheckpointInvalid, match="31 bytes"):
        Checkpoint(ORIGIN, 1, ROOT[:31])
    with pytest.raises(CheckpointInvalid):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointInvalid):
        Checkpoint("two\nlines", 1, ROOT)


def test_signed_checkpoints_verify_with_the_log_key_and_origin(log: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 12, ROOT)
    note = sign_checkpoint(checkpoint, log)
    verified = verify_checkpoint(note, log.verifier(), origin=ORIGIN)
    assert verified.checkpoint == checkpoint and verified.witnesses == {}
    with pytest.raises(CheckpointInvalid, match=r"not 'example\.org/other'"):
        verify_checkpoint(note, log.verifier(), origin="example.org/other")


def test_a_checkpoint_without_the_log_signature_is_refused(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    other = NoteSigner.generate(ORIGIN)  # same name, another key: another key ID
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), other)
    note = cosign(note, witnesses[0], at=1000)
    verifiers = [w.verifier() for w in witnesses]
    with pytest.raises(NoteInvalid, match="not signed by the log key"):
        verify_checkpoint(note, log.verifier(), verifiers)
    assert verify_checkpoint(note, other.verifier(), verifiers).witnesses == {"w0.example": 1000}


def test_k_of_n_witnesses(log: NoteSigner, witnesses: list[CosignatureSigner]) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), log)
    note = cosign(note, witnesses[0], at=1000)
    note = cosign(note, witnesses[2], at=1002)
    verifiers = [w.verifier() for w in witnesses]
    verified = verify_checkpoint(note, log.verifier(), verifiers, threshold=2)
    assert verified.witnesses == {"w0.example": 1000, "w2.example": 1002}
    with pytest.raises(WitnessPolicyUnmet, match="2 of the 3 trusted witnesses"):
        verify_checkpoint(note, log.verifier(), verifiers, threshold=3)
    with pytest.raises(WitnessPolicyUnmet, match="1 of the 2"):
        verify_checkpoint(note, log.verifier(), verifiers[1:], threshold=2)
    with pytest.raises(ValueError):
        verify_checkpoint(note, log.verifier(), verifiers, threshold=-1)


def test_one_witness_counts_once(log: NoteSigner, witnesses: list[CosignatureSigner]) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), log)
    first = cosign(note, witnesses[0], at=1000)
    again = cosign(note, witnesses[0], at=2000)
    doubled = first + again.split("\n")[-2] + "\n"  # two lines from the same witness
    assert doubled.count("\u2014 w0.example ") == 2
    w0 = witnesses[0].verifier()
    assert verify_checkpoint(doubled, log.verifier(), [w0], threshold=1).witnesses == {
        "w0.example": 1000
    }
    with pytest.raises(WitnessPolicyUnmet):
        verify_checkpoint(doubled, log.verifier(), [w0, w0], threshold=2)
    # A witness that rotated its key: both keys trusted, both cosign, still one witness.
    rotated = CosignatureSigner.generate("w0.example")
    both = cosign(first, rotated, at=1500)
    with pytest.raises(WitnessPolicyUnmet, match="1 of the 1"):
        verify_checkpoint(both, log.verifier(), [w0, rotated.verifier()], threshold=2)


def test_cosigning_again_replaces_the_witness_line(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), log)
    twice = cosign(cosign(note, witnesses[0], at=1000), witnesses[0], at=3000)
    assert twice.count("\u2014 w0.example ") == 1
    verified = verify_checkpoint(twice, log.verifier(), [witnesses[0].verifier()], threshold=1)
    assert verified.witnesses == {"w0.example": 3000}


def test_a_bad_cosignature_rejects_the_checkpoint(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT, ("extension",)), log)
    cosigned = Note.parse(cosign(note, witnesses[0], at=1000))
    line = cosigned.signatures[-1]
    later = (1001).to_bytes(8, "big") + line.signature[8:]  # the time is signed too
    forged = Note(
        cosigned.text, (cosigned.signatures[0], NoteSignature(line.name, line.key_id, later))
    )
    with pytest.raises(NoteInvalid, match=r"w0\.example"):
        verify_checkpoint(forged.to_text(), log.verifier(), [witnesses[0].verifier()])
    # The cosignature covers the extension lines, which the log signature also covers:
    # re-signing altered text with the log key still leaves the witness line failing.
    altered = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT, ("extensioN",)), log)
    moved = Note(Note.parse(altered).text, (Note.parse(altered).signatures[0], line))
    with pytest.raises(NoteInvalid, match=r"w0\.example"):
        verify_checkpoint(moved.to_text(), log.verifier(), [witnesses[0].verifier()])
    # An unknown witness's line is ignored.
    assert verify_checkpoint(forged.to_text(), log.verifier()).witnesses == {}


def test_only_checkpoints_are_cosigned(witnesses: list[CosignatureSigner]) -> None:
    note = sign_note("not a checkpoint\n", NoteSigner.generate(ORIGIN))
    with pytest.raises(CheckpointInvalid):
        cosign(note, witnesses[0], at=1000)


# -- fuzzing: the parsers raise their typed error and nothing else ----------------------


def _mutations(base: str) -> st.SearchStrategy[str]:
    """``base`` with a slice replaced by arbitrary text, likelier to reach deep checks than
    random text."""
    return st.tuples(st.integers(0, len(base)), st.integers(0, 8), st.text(max_size=12)).map(
        lambda m: base[: m[0]] + m[2] + base[m[0] + m[1] :]
    )


COSIGNED = vector("c2sp-cosignature.json")["cosigned"]


@FUZZ
@given(st.one_of(st.text(max_size=400), _mutations(GO["signed"]), _mutations(COSIGNED)))
def test_open_note_raises_only_note_invalid(text: str) -> None:
    verifiers = [NoteVerifier.from_vkey(GO["verifier_key"])]
    try:
        opened = open_note(text, verifiers, require_verified=False)
    except NoteInvalid:
        return
    assert text.startswith(opened.text)


@FUZZ
@given(st.binary(max_size=300))
def test_open_note_bytes_raise_only_note_invalid(data: bytes) -> None:
    with contextlib.suppress(NoteInvalid):
        open_note(data, [], require_verified=False)


@FUZZ
@given(st.one_of(st.text(max_size=200), _mutations(vector("golang-checkpoint.json")["body"])))
def test_checkpoint_parse_raises_only_checkpoint_invalid(text: str) -> None:
    try:
        checkpoint = Checkpoint.parse(text)
    except CheckpointInvalid:
        return
    assert checkpoint.body() == text  # what parses is written back unchanged

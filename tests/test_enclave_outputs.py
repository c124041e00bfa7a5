"""Outputs sealed to named recipients (HPKE to Ed25519 keys): only they open them, and an
altered envelope opens for no one."""

from __future__ import annotations

import base64

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom.enclave import EnclaveError, OutputUnreadable, open_output, seal_output
from trustroom.enclave._outputs import decryption_key, encryption_key

BANK, ALGO = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


def public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def sealed(data: bytes = b"weights", recipient: str = "bank") -> bytes:
    return seal_output(
        data, context="job-1", output="model.json", recipient=recipient, recipient_key=public(BANK)
    )


def test_the_x25519_keys_match_both_ways() -> None:
    raw = Encoding.Raw, PublicFormat.Raw
    assert encryption_key(public(BANK)).public_bytes(*raw) == (
        decryption_key(BANK).public_key().public_bytes(*raw)
    )
    with pytest.raises(EnclaveError, match="not an Ed25519 public key"):
        encryption_key("AAAA")


def test_an_output_opens_only_for_its_recipient() -> None:
    header, plain = open_output(sealed(), "bank", BANK)
    assert plain == b"weights"
    assert header == {
        "v": 1,
        "suite": "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM",
        "context": "job-1",
        "output": "model.json",
        "recipient": "bank",
    }
    with pytest.raises(OutputUnreadable, match="sealed to 'bank', not to 'algo'"):
        open_output(sealed(), "algo", ALGO)
    with pytest.raises(OutputUnreadable, match="does not open"):
        open_output(sealed(), "bank", ALGO)  # the right name, another key


@pytest.mark.parametrize("field", ["context", "output", "ciphertext"])
def test_an_altered_output_opens_for_no_one(field: str) -> None:
    envelope = orjson.loads(sealed())
    if field == "ciphertext":
        raw = bytearray(base64.b64decode(envelope[field]))
        raw[-1] ^= 1
        envelope[field] = base64.b64encode(raw).decode()
    else:
        envelope[field] = "other"
    with pytest.raises(OutputUnreadable, match="does not open"):
        open_output(orjson.dumps(envelope), "bank", BANK)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_are_an_output_or_an_output_error(data: bytes) -> None:
    with pytest.raises(OutputUnreadable):
        open_output(data, "bank", BANK)

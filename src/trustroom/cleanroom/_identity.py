"""Parties' keys: one Ed25519 key per party, the ledger's member key, for signing and
(converted to X25519) for receiving outputs.

A party is a member of the consortium the ledger's governance keeps, so one identity signs
approvals and ballots and is what outputs are encrypted to: the X25519 key is the standard
birational map of the Ed25519 one (libsodium's ``crypto_sign_ed25519_pk_to_curve25519``, as
age does for ssh-ed25519 recipients; using one key pair for both is analysed in Thormarker,
"On using the same key pair for Ed25519 and an X25519 based KEM", 2021).
"""

from __future__ import annotations

import base64
import binascii

import pysodium
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from trustroom.cleanroom._errors import CleanroomError
from trustroom.ledger import MemberKey

__all__ = ["decryption_key", "encryption_key"]


def encryption_key(member_public: str) -> X25519PublicKey:
    """The X25519 key outputs for the member whose Ed25519 public key is ``member_public``
    (base64, as the consortium lists it) are encrypted to."""
    try:
        raw = base64.b64decode(member_public, validate=True)
        converted = pysodium.crypto_sign_pk_to_box_pk(raw)
    except (binascii.Error, ValueError) as exc:
        raise CleanroomError(f"not an Ed25519 public key: {member_public!r}") from exc
    return X25519PublicKey.from_public_bytes(converted)


def decryption_key(member: MemberKey) -> X25519PrivateKey:
    """The X25519 private key matching :func:`encryption_key` of ``member``'s public key."""
    seed = member.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = member.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    converted = pysodium.crypto_sign_sk_to_box_sk(seed + public)
    return X25519PrivateKey.from_private_bytes(converted)

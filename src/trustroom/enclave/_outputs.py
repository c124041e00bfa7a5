"""Outputs sealed to named recipients: HPKE (RFC 9180) to each recipient's Ed25519 key.

An enclave's results leave it only sealed, one envelope per recipient, so that the host and
the operator never see them. Recipients are named by Ed25519 public keys (a consortium's
member keys, say), converted to X25519 by the standard birational map (libsodium's
``crypto_sign_ed25519_pk_to_curve25519``, as age does for ssh-ed25519 recipients; using one
key pair for both is analysed in Thormarker, "On using the same key pair for Ed25519 and an
X25519 based KEM", 2021), so one key per party signs and receives.

The HPKE context binds the ``context`` (a job's digest, say), the output's name and the
recipient, so an envelope cannot be passed off as another output, context or recipient's.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
import pysodium
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from trustroom.enclave._errors import EnclaveError, OutputUnreadable

__all__ = ["SUITE_NAME", "decryption_key", "encryption_key", "open_output", "seal_output"]

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM"
_VERSION = 1


def encryption_key(recipient_key: str) -> X25519PublicKey:
    """The X25519 key outputs for the Ed25519 public key ``recipient_key`` (base64) are
    sealed to."""
    try:
        raw = base64.b64decode(recipient_key, validate=True)
        converted = pysodium.crypto_sign_pk_to_box_pk(raw)
    except (binascii.Error, ValueError) as exc:
        raise EnclaveError(f"not an Ed25519 public key: {recipient_key!r}") from exc
    return X25519PublicKey.from_public_bytes(converted)


def decryption_key(key: Ed25519PrivateKey) -> X25519PrivateKey:
    """The X25519 private key matching :func:`encryption_key` of ``key``'s public key."""
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return X25519PrivateKey.from_private_bytes(pysodium.crypto_sign_sk_to_box_sk(seed + public))


def _info(context: str, output: str, recipient: str) -> bytes:
    return orjson.dumps(["trustroom sealed output", _VERSION, context, output, recipient])


def seal_output(
    data: bytes, *, context: str, output: str, recipient: str, recipient_key: str
) -> bytes:
    """The envelope of ``data``, output ``output`` in ``context``, for ``recipient``, whose
    Ed25519 public key (base64) is ``recipient_key``."""
    sealed = _SUITE.encrypt(data, encryption_key(recipient_key), _info(context, output, recipient))
    envelope = {
        "v": _VERSION,
        "suite": SUITE_NAME,
        "context": context,
        "output": output,
        "recipient": recipient,
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)


def open_output(envelope: bytes, name: str, key: Ed25519PrivateKey) -> tuple[dict[str, Any], bytes]:
    """The envelope's header (context, output, recipient) and the plaintext, for the
    recipient ``name`` holding ``key``; OutputUnreadable if it is not for them, or was
    altered."""
    try:
        header = orjson.loads(envelope)
        if not isinstance(header, dict) or header.get("v") != _VERSION:
            raise ValueError("not a version 1 envelope")
        context, output, recipient = header["context"], header["output"], header["recipient"]
        sealed = base64.b64decode(header["ciphertext"], validate=True)
        info = _info(context, output, recipient)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise OutputUnreadable(f"not a sealed output: {exc}") from exc
    if recipient != name:
        raise OutputUnreadable(f"this output is sealed to {recipient!r}, not to {name!r}")
    try:
        plain = _SUITE.decrypt(sealed, decryption_key(key), info)
    except (InvalidTag, ValueError) as exc:
        raise OutputUnreadable(
            f"output {output!r} ({context}) does not open with {name}'s key: it was altered, "
            "or sealed to another key of that name"
        ) from exc
    del header["ciphertext"]
    return header, plain

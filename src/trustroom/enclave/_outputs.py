"""Outputs sealed to named recipients: HPKE (RFC 9180) to each recipient's Ed25519 key.

An enclave's results leave it only sealed, one envelope per recipient, so that the host and
the operator never see them. Recipients are named by Ed25519 public keys (a consortium's
member keys, say), converted to X25519 by the standard birational map (libsodium's
``crypto_sign_ed25519_pk_to_curve25519``, as age does for ssh-ed25519 recipients; using one
key pair for both is analysed in Thormarker, "On using the same key pair for Ed25519 and an
X25519 based KEM", 2021), so one key per party signs and receives.

The HPKE context binds the ``context`` (a job's digest, say), the output's name and the
recipient, so an envelope cannot be passed off as another output, context or recipient's.

An image says who receives what in a recipients file (JSON, a trusted file, so measured)::

    {"context": "sha256:...",
     "outputs": {"model.json": {"bank": "<base64 Ed25519 public key>", "algo": "..."}}}

and its runner writes one envelope per output and recipient, ``model.json.bank.sealed``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

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

__all__ = [
    "SUITE_NAME",
    "Recipients",
    "decryption_key",
    "encryption_key",
    "envelope_name",
    "open_output",
    "read_recipients",
    "seal_output",
]

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM"
_VERSION = 1
# As a clean room's member and output names: plain file names, never "." or "..".
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_ENVELOPE_SUFFIX = ".sealed"
_LONGEST_FILE_NAME = 255  # bytes, on Linux file systems


class Recipients(NamedTuple):
    """Who receives which output: ``outputs`` maps each output's file name to its recipients'
    names and Ed25519 public keys (base64); ``context`` is bound into every envelope."""

    context: str
    outputs: Mapping[str, Mapping[str, str]]


def envelope_name(output: str, recipient: str) -> str:
    """The file name of ``output``'s envelope for ``recipient``."""
    return f"{output}.{recipient}{_ENVELOPE_SUFFIX}"


def read_recipients(data: bytes) -> Recipients:
    """A recipients file's content, checked; ValueError saying what is wrong with it."""
    try:
        document = json.loads(data, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError('must be a JSON object: {"context": ..., "outputs": {...}}')
    for key in document:
        if key not in ("context", "outputs"):
            raise ValueError(f"unknown key {key!r}; known: context, outputs")
    context = document.get("context")
    if not isinstance(context, str) or not context:
        raise ValueError("context must be a non-empty string (bound into every envelope)")
    outputs = document.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise ValueError("outputs must be an object naming at least one output")
    files: dict[str, tuple[str, str]] = {}
    for output, recipients in outputs.items():
        if not re.fullmatch(_NAME, output):
            raise ValueError(
                f"output {output!r} is not a plain file name (letters, digits, '.', '_', '-')"
            )
        if not isinstance(recipients, dict) or not recipients:
            raise ValueError(f"output {output!r} must name its recipients and their keys")
        for recipient, key in recipients.items():
            if not re.fullmatch(_NAME, recipient):
                raise ValueError(
                    f"output {output!r}: recipient {recipient!r} is not a name (letters, "
                    "digits, '.', '_', '-')"
                )
            if not _is_public_key(key):
                raise ValueError(
                    f"output {output!r}: recipient {recipient!r}: {key!r} is not an Ed25519 "
                    "public key (32 bytes in base64)"
                )
            # Names may hold dots: "a.b" to "c" and "a" to "b.c" would share a file.
            file = envelope_name(output, recipient)
            if file in files:
                raise ValueError(
                    f"output {output!r} to {recipient!r} and output {files[file][0]!r} to "
                    f"{files[file][1]!r} would both be written to {file}"
                )
            if len(file.encode()) > _LONGEST_FILE_NAME:
                raise ValueError(f"output {output!r} to {recipient!r}: {file} is too long a name")
            files[file] = (output, recipient)
    return Recipients(context, outputs)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A reader of the file would see one key and json.loads keep the other.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"{key!r} appears twice in one object")
        document[key] = value
    return document


def _is_public_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    try:
        if len(base64.b64decode(key, validate=True)) != 32:
            return False
        encryption_key(key)  # refuses what is not a point of the curve, or of small order
    except (binascii.Error, ValueError, EnclaveError):
        return False
    return True


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

"""Outputs sealed to their recipients: HPKE (RFC 9180) to each recipient's member key.

Each output is sealed once per recipient in a small JSON envelope; the HPKE context binds the
job, the output's name and the recipient, so an envelope cannot be passed off as another
output, job or recipient's. Receipts hold the envelopes' digests, never the plaintext's: a
low-entropy result (an accuracy, a yes or no) must not be guessable from a public log.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from trustroom.cleanroom._errors import OutputUnreadable
from trustroom.cleanroom._identity import decryption_key, encryption_key
from trustroom.ledger import MemberKey

__all__ = ["SUITE_NAME", "open_output", "seal_output"]

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM"
_VERSION = 1


def _info(job: str, output: str, recipient: str) -> bytes:
    return orjson.dumps(["trustroom cleanroom output", _VERSION, job, output, recipient])


def seal_output(data: bytes, *, job: str, output: str, recipient: str, recipient_key: str) -> bytes:
    """The envelope of ``data``, output ``output`` of job ``job`` (its spec digest), for
    ``recipient``, whose member public key (base64 Ed25519) is ``recipient_key``."""
    sealed = _SUITE.encrypt(data, encryption_key(recipient_key), _info(job, output, recipient))
    envelope = {
        "v": _VERSION,
        "suite": SUITE_NAME,
        "job": job,
        "output": output,
        "recipient": recipient,
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)


def open_output(envelope: bytes, member: MemberKey) -> tuple[dict[str, Any], bytes]:
    """The envelope's header (job, output, recipient) and the plaintext; OutputUnreadable if
    it is not for ``member``, or was altered."""
    try:
        header = orjson.loads(envelope)
        if not isinstance(header, dict) or header.get("v") != _VERSION:
            raise ValueError("not a version 1 envelope")
        job, output, recipient = header["job"], header["output"], header["recipient"]
        sealed = base64.b64decode(header["ciphertext"], validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise OutputUnreadable(f"not a sealed clean-room output: {exc}") from exc
    if recipient != member.name:
        raise OutputUnreadable(f"this output is sealed to {recipient!r}, not to {member.name!r}")
    try:
        plain = _SUITE.decrypt(sealed, decryption_key(member), _info(job, output, recipient))
    except (InvalidTag, ValueError) as exc:
        raise OutputUnreadable(
            f"output {output!r} of job {job} does not open with {member.name}'s key: it was "
            "altered, or sealed to another key of that name"
        ) from exc
    del header["ciphertext"]
    return header, plain

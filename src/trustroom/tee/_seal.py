"""Sealed blobs: data only the same code (or signer) on the same platform can read back.

Format (version 1), all integers little-endian::

    magic "TRSEAL" | version u8 = 1 | policy u8 (0 measurement, 1 signer) | svn u16
    | label length u16 | label | nonce (12) | AES-256-GCM ciphertext and tag

Everything before the ciphertext is authenticated as associated data, so a blob cannot be
re-labelled or moved to another policy. The key comes from the TEE's sealing key derivation
(``Attester.seal_key``) with the label as context. Unsealing fails with one opaque error for
every cause (other code, other platform, altered or truncated bytes), as a recipe should.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustroom.tee._attester import Attester, SealPolicy
from trustroom.tee._errors import SealedDataInvalid, SealPolicyDenied

__all__ = ["seal", "unseal"]

_MAGIC = b"TRSEAL"
_VERSION = 1
_POLICIES = (SealPolicy.MEASUREMENT, SealPolicy.SIGNER)
_HEADER = struct.Struct("<6sBBHH")


def seal(
    attester: Attester,
    data: bytes,
    *,
    policy: SealPolicy = SealPolicy.MEASUREMENT,
    label: bytes = b"",
    svn: int | None = None,
) -> bytes:
    """Encrypt ``data`` to this workload (``MEASUREMENT``) or its signer (``SIGNER``)."""
    if len(label) > 0xFFFF:
        raise ValueError("a seal label is at most 65535 bytes")
    policy = SealPolicy(policy)
    # The SVN travels in the blob so that a later version of the code (same signer) derives
    # the key of the version that sealed it.
    sealed_svn = svn if svn is not None else attester.security_version
    header = _HEADER.pack(_MAGIC, _VERSION, _POLICIES.index(policy), sealed_svn, len(label))
    header += label
    nonce = os.urandom(12)
    key = attester.seal_key(policy, label, svn=sealed_svn if policy is SealPolicy.SIGNER else None)
    return header + nonce + AESGCM(key).encrypt(nonce, data, header)


def unseal(attester: Attester, blob: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal`; SealedDataInvalid for anything else."""
    try:
        magic, version, policy_index, svn, label_size = _HEADER.unpack_from(blob)
        end = _HEADER.size + label_size
        header, nonce, ciphertext = blob[:end], blob[end : end + 12], blob[end + 12 :]
        if magic != _MAGIC or version != _VERSION or len(nonce) != 12:
            raise ValueError("not a sealed blob")
        policy = _POLICIES[policy_index]
        key = attester.seal_key(
            policy, header[_HEADER.size :], svn=svn if policy is SealPolicy.SIGNER else None
        )
        return AESGCM(key).decrypt(nonce, ciphertext, header)
    except SealPolicyDenied:
        raise
    except (struct.error, ValueError, IndexError, InvalidTag) as exc:
        raise SealedDataInvalid("the sealed data cannot be unsealed here") from exc

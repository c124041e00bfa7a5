"""Resources at rest: AES-256-GCM under an operator-held key, the resource path as AAD.

The database alone (a backup, a replica, a leaked dump) then reveals no secret, and binding the
path as associated data stops anyone with write access to the table from moving a ciphertext
under another name (``default/key/prod`` served as ``default/key/dev``).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustroom.kbs._errors import ResourceKeyInvalid

__all__ = ["ResourceCipher", "generate_resource_key"]

_AAD_PREFIX = b"trustroom kbs resource v1\0"


class ResourceCipher:
    """Encrypts and decrypts stored resources with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ResourceKeyInvalid(f"the resource key is {len(key)} bytes, not 32")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> ResourceCipher:
        """Read a key file: 32 raw bytes, or 64 hex digits, or base64 of 32 bytes."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ResourceKeyInvalid(f"cannot read the resource key file {path}: {exc}") from exc
        if len(data) == 32:
            return cls(data)
        text = data.strip()
        for decode in (bytes.fromhex, base64.b64decode):
            try:
                key = decode(text.decode("ascii"))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                continue
            if len(key) == 32:
                return cls(key)
        raise ResourceKeyInvalid(f"{path} does not hold a 32-byte key (raw, hex or base64)")

    def seal(self, path: str, plaintext: bytes) -> bytes:
        """``nonce || ciphertext || tag`` for ``plaintext`` stored at ``path``."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, _AAD_PREFIX + path.encode())

    def unseal(self, path: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], _AAD_PREFIX + path.encode())
        except InvalidTag as exc:
            raise ResourceKeyInvalid(
                f"the stored resource {path} does not decrypt: another resource key, or the "
                "row was altered or moved"
            ) from exc


def generate_resource_key(path: Path) -> None:
    """Write a new random resource key (hex) to ``path``, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(32).hex() + "\n")

"""Where a volume's key comes from, and the keys derived from it.

A volume key is either 32 raw bytes (a sealing key, a KBS resource, a key file) or a
passphrase stretched by Argon2id (RFC 9106's second recommended setting: 3 passes over 64 MiB,
4 lanes). Subkeys are separated with HKDF-SHA256, salted with the volume id, so the same key
never serves two purposes or two volumes.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trustroom.sealfs._errors import VolumeInvalid, WrongKey

__all__ = ["KEY_SIZE", "VolumeKey", "VolumeSecrets"]

KEY_SIZE = 32
_ARGON2 = {"iterations": 3, "memory_kib": 65536, "lanes": 4}


@dataclass(frozen=True, repr=False)
class VolumeKey:
    """The secret that opens a volume: raw key bytes, or a passphrase for Argon2id."""

    secret: bytes
    is_passphrase: bool

    @classmethod
    def raw(cls, key: bytes) -> VolumeKey:
        if len(key) != KEY_SIZE:
            raise WrongKey(f"a raw volume key is {KEY_SIZE} bytes, not {len(key)}")
        return cls(bytes(key), False)

    @classmethod
    def passphrase(cls, text: str | bytes) -> VolumeKey:
        data = text.encode() if isinstance(text, str) else bytes(text)
        if not data:
            raise WrongKey("the passphrase is empty")
        return cls(data, True)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> VolumeKey:
        """A key file: 32 raw bytes or 64 hex digits are a raw key, anything else a passphrase
        (one trailing newline is not part of it)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise WrongKey(
                f"cannot read the key file {os.fspath(path)}: {exc.strerror}",
                hint="Pass a readable file holding a passphrase or a 32-byte key.",
            ) from exc
        if len(data) == KEY_SIZE:
            return cls.raw(data)
        text = data[:-1] if data.endswith(b"\n") else data
        try:
            return cls.raw(bytes.fromhex(text.decode("ascii")))
        except (ValueError, WrongKey):
            return cls.passphrase(text)

    def __repr__(self) -> str:
        return f"VolumeKey({'passphrase' if self.is_passphrase else 'raw'})"

    def kdf_parameters(self) -> dict[str, Any]:
        """What volume.json records for this kind of key, with a fresh salt for a passphrase."""
        if not self.is_passphrase:
            return {"name": "none"}
        return {"name": "argon2id", "salt": os.urandom(16).hex(), **_ARGON2}

    def derive(self, kdf: dict[str, Any], volume_id: bytes) -> VolumeSecrets:
        """The volume's subkeys, given the KDF parameters stored in volume.json."""
        name = kdf.get("name")
        if name == "none":
            if self.is_passphrase:
                raise WrongKey("this volume was created with a raw key, not a passphrase")
            master = self.secret
        elif name == "argon2id":
            # Bounded: a volume.json edited to ask for terabytes must not hang or kill opening.
            limits = {"iterations": 64, "lanes": 64, "memory_kib": 4 << 20}
            if any(type(kdf.get(k)) is not int or not 1 <= kdf[k] <= v for k, v in limits.items()):
                raise VolumeInvalid("volume.json has Argon2id parameters out of bounds")
            try:
                master = Argon2id(
                    salt=bytes.fromhex(kdf["salt"]),
                    length=KEY_SIZE,
                    iterations=int(kdf["iterations"]),
                    lanes=int(kdf["lanes"]),
                    memory_cost=int(kdf["memory_kib"]),
                ).derive(self.secret)
            except (KeyError, TypeError, ValueError) as exc:
                raise VolumeInvalid(f"volume.json has unusable Argon2id parameters: {exc}") from exc
        else:
            raise VolumeInvalid(f"volume.json names an unknown key derivation {name!r}")
        return VolumeSecrets(master, volume_id)


class VolumeSecrets:
    """The subkeys of one volume, derived once when it is opened."""

    def __init__(self, master: bytes, volume_id: bytes) -> None:
        self._master = master
        self._volume_id = volume_id
        self.key_check = self.subkey(b"key check")[:16]
        self.journal_key = self.subkey(b"journal")

    def subkey(self, label: bytes, salt: bytes = b"") -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_SIZE,
            salt=self._volume_id + salt,
            info=b"trustroom-sealfs v1 " + label,
        ).derive(self._master)

    def matches(self, key_check: bytes) -> bool:
        return hmac.compare_digest(self.key_check, key_check)

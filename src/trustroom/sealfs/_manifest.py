"""The volume manifest: every path, its metadata and its file's root key and tag, sealed.

It is the root of trust of the whole volume. Each commit writes a new one with a version one
higher, under a key used once (HKDF of the volume key with a fresh salt), with its plaintext
header (volume id and version) authenticated as associated data. A file's root key and tag
here fix its whole node tree, so an older copy of one file no longer matches; an older copy of
the whole volume is caught by comparing the version with the last one the owner trusted.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustroom.sealfs._errors import ManifestInvalid
from trustroom.sealfs._keys import VolumeSecrets

__all__ = ["Entry", "Manifest"]

_HEADER = struct.Struct("<8s16sQ16sI")
_MAGIC = b"TRSFMAN1"
_NONCE = bytes(12)
_ROOTLESS = (b"", b"")


@dataclass
class Entry:
    """One path: a directory, or a file with its object, size and root node key and tag."""

    kind: str  # "file" or "dir"
    mode: int
    mtime_ns: int
    object_id: bytes = b""
    size: int = 0
    root: tuple[bytes, bytes] = _ROOTLESS  # (key, tag); empty while the file is all zeros
    version: int = 0  # the manifest version that last changed the file's content

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    def to_cbor(self) -> dict[str, Any]:
        if self.is_dir:
            return {"t": "d", "m": self.mode, "mt": self.mtime_ns}
        return {
            "t": "f",
            "m": self.mode,
            "mt": self.mtime_ns,
            "o": self.object_id,
            "s": self.size,
            "k": self.root[0],
            "g": self.root[1],
            "v": self.version,
        }

    @classmethod
    def from_cbor(cls, data: dict[str, Any]) -> Entry:
        if data["t"] == "d":
            return cls("dir", int(data["m"]), int(data["mt"]))
        if data["t"] != "f":
            raise ValueError(f"unknown entry type {data['t']!r}")
        return cls(
            "file",
            int(data["m"]),
            int(data["mt"]),
            bytes(data["o"]),
            int(data["s"]),
            (bytes(data["k"]), bytes(data["g"])),
            int(data["v"]),
        )


@dataclass
class Manifest:
    volume_id: bytes
    node_size: int  # sealed here too: volume.json, in plaintext, could otherwise lie about it
    version: int
    entries: dict[str, Entry] = field(default_factory=dict)

    def seal(self, secrets: VolumeSecrets) -> bytes:
        salt = os.urandom(16)
        header = _HEADER.pack(_MAGIC, self.volume_id, self.version, salt, self.node_size)
        body = cbor2.dumps(
            {path: entry.to_cbor() for path, entry in sorted(self.entries.items())},
            canonical=True,
        )
        key = AESGCM(secrets.subkey(b"manifest", salt))
        return header + key.encrypt(_NONCE, body, header)

    @classmethod
    def unseal(
        cls, data: bytes, secrets: VolumeSecrets, volume_id: bytes, node_size: int
    ) -> Manifest:
        if len(data) < _HEADER.size + 16:
            raise ManifestInvalid("the volume's manifest is truncated")
        magic, found_volume, version, salt, found_size = _HEADER.unpack_from(data)
        if magic != _MAGIC or found_volume != volume_id or found_size != node_size:
            raise ManifestInvalid(
                "the volume's manifest does not match its volume.json (another volume's, "
                "or one of them was altered)"
            )
        header = data[: _HEADER.size]
        try:
            body = AESGCM(secrets.subkey(b"manifest", salt)).decrypt(
                _NONCE, data[_HEADER.size :], header
            )
        except InvalidTag:
            raise ManifestInvalid(
                "the volume's manifest failed authentication: it was altered on the host"
            ) from None
        try:
            raw = cbor2.loads(body)
            entries = {str(path): Entry.from_cbor(entry) for path, entry in raw.items()}
        except (cbor2.CBORDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            # Authentic but unreadable: written by a newer or broken trustroom, not an attack.
            raise ManifestInvalid(f"the volume's manifest cannot be read: {exc}") from exc
        return cls(volume_id, node_size, version, entries)

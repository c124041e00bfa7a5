"""Shared by the sealfs tests: small volumes with a raw key (Argon2id is tested once)."""

from __future__ import annotations

from pathlib import Path

from trustroom.sealfs import Volume, VolumeKey

KEY = VolumeKey.raw(bytes(range(32)))
SMALL_NODES = 4096  # many node and tree boundaries in little data


def object_of(volume_dir: Path, path: str) -> Path:
    """The host file holding ``path``'s ciphertext (read through a short-lived volume)."""
    with Volume(volume_dir, KEY) as volume:
        entry = volume._entries[path]
        return volume._object_path(entry.object_id)

"""Folders shipped between a party and the coordinator: gzip-compressed tar archives.

A program's image folder and a dataset's sealed volume travel this way (the volume is
ciphertext). Unpacking uses tarfile's ``data`` filter: no absolute paths, no escaping the
target, no links out of it, no device files.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from trustroom.cleanroom._errors import CleanroomError

__all__ = ["pack", "unpack"]


def pack(folder: Path) -> bytes:
    """``folder``'s content as a tar.gz archive (paths relative to it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> Path:
    """Unpack an archive made by :func:`pack` into ``folder`` (created); CleanroomError if
    it is not one, or holds anything the data filter refuses."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CleanroomError(f"not a usable folder archive: {exc}") from exc
    return folder

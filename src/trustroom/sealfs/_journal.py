"""The redo journal that makes each commit atomic across files, nodes and the manifest.

A commit never overwrites a byte that the committed state still needs before that commit is
durable. Nodes at new positions (a new file, or a file growing) go straight to their objects;
nodes that replace committed ones go to ``journal.tmp``, followed by the new manifest and an
HMAC over everything. Renaming ``journal.tmp`` to ``journal`` is the commit point. The journal
is then applied and removed; if the process dies before that, the next open applies it again
(writes at fixed offsets are idempotent). A ``journal.tmp`` found at open was never committed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from trustroom.sealfs._errors import ManifestInvalid

__all__ = ["Journal", "replay"]

_HEADER = struct.Struct("<8s16sQ")
_RECORD = struct.Struct("<B16sQI")
_MAGIC = b"TRSFJNL1"
_WRITE, _MANIFEST = 1, 2
_MAC = 32

JOURNAL = "journal"
PENDING = "journal.tmp"


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder for the names in it) by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The journal of one transaction, written as the transaction evicts nodes."""

    def __init__(self, directory: Path, key: bytes, volume_id: bytes) -> None:
        self._directory = directory
        self._key = key
        self._volume_id = volume_id
        self._fd: int | None = None
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._end = 0
        # (object id, offset) -> (offset in the journal, length): nodes evicted in this
        # transaction are read back from here until the commit applies them.
        self._index: dict[tuple[bytes, int], tuple[int, int]] = {}
        self._objects: set[bytes] = set()  # those with records in the index

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(
                self._directory / PENDING, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600
            )
            self._end = 0
            self._append(_HEADER.pack(_MAGIC, self._volume_id, 0))
        os.pwrite(self._fd, data, self._end)
        self._mac.update(data)
        self._end += len(data)

    def write(self, object_id: bytes, offset: int, data: bytes) -> None:
        self._append(_RECORD.pack(_WRITE, object_id, offset, len(data)))
        self._index[(object_id, offset)] = (self._end, len(data))
        self._objects.add(object_id)
        self._append(data)

    def read(self, object_id: bytes, offset: int) -> bytes | None:
        found = self._index.get((object_id, offset))
        if found is None or self._fd is None:
            return None
        return os.pread(self._fd, found[1], found[0])

    def holds(self, object_id: bytes) -> bool:
        """Whether any node of this object is to be read back from here."""
        return object_id in self._objects

    def forget_object(self, object_id: bytes) -> None:
        """Records of a removed object stay in the journal (harmless) but are not read back."""
        self._index = {k: v for k, v in self._index.items() if k[0] != object_id}
        self._objects.discard(object_id)

    def commit(self, manifest: bytes, *, durable: bool = True) -> None:
        """The commit point of the volume: durable unless ``durable`` is false."""
        self._append(_RECORD.pack(_MANIFEST, bytes(16), 0, len(manifest)))
        self._append(manifest)
        assert self._fd is not None
        os.pwrite(self._fd, self._mac.digest(), self._end)
        if durable:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.replace(self._directory / PENDING, self._directory / JOURNAL)
        if durable:
            fsync_path(self._directory)

    def abandon(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            (self._directory / PENDING).unlink(missing_ok=True)
        self._index.clear()


def _records(data: memoryview) -> Iterator[tuple[int, bytes, int, memoryview]]:
    at = _HEADER.size
    while at < len(data):
        kind, object_id, offset, length = _RECORD.unpack_from(data, at)
        at += _RECORD.size
        yield kind, object_id, offset, data[at : at + length]
        at += length


def replay(
    directory: Path,
    key: bytes,
    volume_id: bytes,
    write: Callable[[bytes, int, memoryview], None],
) -> bytes | None:
    """Apply a committed journal left by a process that died; returns its manifest, if any.

    ``write(object_id, offset, data)`` puts a node back in place. An uncommitted
    ``journal.tmp`` is removed: its transaction never happened.
    """
    (directory / PENDING).unlink(missing_ok=True)
    path = directory / JOURNAL
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    body, mac = raw[:-_MAC], raw[-_MAC:]
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if len(raw) < _HEADER.size + _MAC or not hmac.compare_digest(mac, expected):
        raise ManifestInvalid(
            "the volume's journal failed authentication: a committed change cannot be finished"
        )
    magic, found_volume, _ = _HEADER.unpack_from(body)
    if magic != _MAGIC or found_volume != volume_id:
        raise ManifestInvalid("the volume's journal belongs to another volume")
    manifest = None
    for kind, object_id, offset, data in _records(memoryview(body)):
        if kind == _WRITE:
            write(object_id, offset, data)
        elif kind == _MANIFEST:
            manifest = bytes(data)
    return manifest


def remove(directory: Path) -> None:
    (directory / JOURNAL).unlink(missing_ok=True)

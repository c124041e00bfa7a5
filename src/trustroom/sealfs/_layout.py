"""Where every node of a sealed file lies, and the fixed-size structures around them.

A file's object is a 4 KiB header block followed by fixed-size nodes. As in Gramine's protected
files, tree (MHT) node ``n`` is followed by the data nodes it covers, so that a file grows at its
end and the last physical node is always its last data node::

    header | MHT 0 | data 0 .. D-1 | MHT 1 | data D .. 2D-1 | MHT 2 | ...

An MHT node holds D entries for its data nodes, then C entries for child MHT nodes
(the children of ``n`` are ``n*C+1 .. n*C+C``). Each entry is a node's key and GCM tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from trustroom.sealfs._errors import FileMisplaced, NodeInvalid

__all__ = ["ENTRY_SIZE", "HEADER_SIZE", "Geometry", "ObjectHeader"]

HEADER_SIZE = 4096
ENTRY_SIZE = 48  # a 32-byte AES-256 key and a 16-byte GCM tag
_HEADER = struct.Struct("<8s16s16sQI")
_OBJECT_MAGIC = b"TRSFOBJ1"


@dataclass(frozen=True)
class Geometry:
    """Node arithmetic for one node size (a power of two, 4 KiB to 1 MiB)."""

    node_size: int

    @property
    def data_slots(self) -> int:
        return self.node_size // 64

    @property
    def child_slots(self) -> int:
        return self.node_size // 256

    def data_nodes(self, size: int) -> int:
        return -(-size // self.node_size)

    def mht_nodes(self, size: int) -> int:
        return -(-self.data_nodes(size) // self.data_slots)

    def data_physical(self, index: int) -> int:
        group, slot = divmod(index, self.data_slots)
        return group * (self.data_slots + 1) + 1 + slot

    def mht_physical(self, index: int) -> int:
        return index * (self.data_slots + 1)

    def offset(self, physical: int) -> int:
        return HEADER_SIZE + physical * self.node_size

    def data_length(self, index: int, size: int) -> int:
        """Plaintext bytes of data node ``index`` in a file of ``size`` bytes."""
        return max(0, min(self.node_size, size - index * self.node_size))

    def parent(self, mht: int) -> tuple[int, int]:
        """The parent of MHT node ``mht`` (> 0) and the byte offset of its entry there."""
        parent, slot = divmod(mht - 1, self.child_slots)
        return parent, (self.data_slots + slot) * ENTRY_SIZE

    def mht_length(self, index: int, size: int) -> int:
        """Bytes of MHT node ``index`` that are stored: entries up to the last one in use."""
        total = self.mht_nodes(size)
        children = max(0, min(self.child_slots, total - 1 - index * self.child_slots))
        if children:
            return (self.data_slots + children) * ENTRY_SIZE
        used = min(self.data_slots, self.data_nodes(size) - index * self.data_slots)
        return max(0, used) * ENTRY_SIZE

    @property
    def mht_capacity(self) -> int:
        return (self.data_slots + self.child_slots) * ENTRY_SIZE


@dataclass(frozen=True)
class ObjectHeader:
    """The plaintext start of every object: whose content it is, and from which commit.

    It is authenticated as part of the root node's associated data, so it cannot be edited
    without the root failing; in plaintext it lets a misplaced or outdated object be named.
    """

    volume_id: bytes
    object_id: bytes
    version: int
    node_size: int

    def pack(self) -> bytes:
        return _HEADER.pack(
            _OBJECT_MAGIC, self.volume_id, self.object_id, self.version, self.node_size
        )

    @classmethod
    def unpack(cls, data: bytes, path: str) -> ObjectHeader:
        if len(data) < _HEADER.size:
            raise NodeInvalid(f"{path}: the object's header is missing", path=path)
        magic, volume_id, object_id, version, node_size = _HEADER.unpack_from(data)
        if magic != _OBJECT_MAGIC:
            raise NodeInvalid(f"{path}: the object's header is not a sealfs header", path=path)
        return cls(volume_id, object_id, version, node_size)

    def expect(self, volume_id: bytes, object_id: bytes, path: str) -> None:
        if self.volume_id != volume_id or self.object_id != object_id:
            raise FileMisplaced(
                f"{path}: its object holds the content of another file "
                f"(object {self.object_id.hex()} of volume {self.volume_id.hex()})",
                path=path,
                found=self.object_id.hex(),
            )


HEADER_STRUCT_SIZE = _HEADER.size

"""One sealed file's nodes: reading, writing and re-sealing its Merkle tree of keys and tags.

Every node is encrypted with AES-256-GCM under a fresh random key each time it is written (so
a key is used once and the nonce can be fixed), and its key and tag are kept in its parent MHT
node; the root's key and tag live in the manifest. A node whose entry is all zeros holds zeros
and is not stored, so holes and zero-filled regions cost nothing.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustroom.sealfs._errors import FileRolledBack, FileTruncated, NodeInvalid, VolumeRolledBack
from trustroom.sealfs._journal import Journal
from trustroom.sealfs._layout import ENTRY_SIZE, HEADER_STRUCT_SIZE, Geometry, ObjectHeader
from trustroom.sealfs._manifest import Entry

__all__ = ["FileTree"]

_NONCE = bytes(12)
_ZERO_ENTRY = bytes(ENTRY_SIZE)
_INDEX = struct.Struct("<Q")
_CACHED_NODES = 64  # clean or dirty data nodes held per open file; dirty ones beyond are sealed


_RUN_BYTES = 1 << 20  # at most this much is read or written with one system call
_scratch = threading.local()  # per thread: a buffer for one run of sealed nodes


def _run_buffer(size: int) -> memoryview:
    """This thread's buffer for a run of sealed nodes: reused, so not zeroed again per run."""
    buffer: bytearray | None = getattr(_scratch, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _scratch.buffer = bytearray(size)
    return memoryview(buffer)[:size]


class FileTree:
    """The node tree of one file's object, with the changes not yet committed."""

    def __init__(
        self,
        path: str,
        entry: Entry,
        fd: int,
        geometry: Geometry,
        volume_id: bytes,
        journal: Callable[[], Journal],
        *,
        new: bool,
    ) -> None:
        self.path = path
        self.fd = fd
        self.object_id = entry.object_id
        self.size = entry.size
        self.open_handles = 0
        self._geo = geometry
        self._run = max(1, _RUN_BYTES // geometry.node_size)  # nodes per system call
        self._volume_id = volume_id
        self._journal = journal
        self._aad_prefix = volume_id + entry.object_id
        self._root = entry.root
        self._version = entry.version
        self._new = new
        self._committed_size = entry.size
        self._committed_end = self._physical_end(entry.size)
        self._mhts: dict[int, bytearray] = {}
        self._dirty_mhts: set[int] = set()
        self._data: OrderedDict[int, bytearray] = OrderedDict()
        self._dirty_data: set[int] = set()
        self._sealed_lengths: dict[int, int] = {}  # data nodes sealed in this transaction
        self._wrote_directly = False
        # Resized since the commit: the size may be back where it was and the content not.
        self._resized = False
        if not new:
            self._check_header(entry)

    # -- state --------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self._new or self._resized or bool(self._dirty_data or self._dirty_mhts)

    def _physical_end(self, size: int) -> int:
        count = self._geo.data_nodes(size)
        return self._geo.data_physical(count - 1) + 1 if count else 0

    def _header(self, version: int) -> bytes:
        return ObjectHeader(self._volume_id, self.object_id, version, self._geo.node_size).pack()

    def _check_header(self, entry: Entry) -> None:
        raw = os.pread(self.fd, HEADER_STRUCT_SIZE, 0)
        if len(raw) < HEADER_STRUCT_SIZE:
            raise FileTruncated(f"{self.path}: its object has been truncated", path=self.path)
        header = ObjectHeader.unpack(raw, self.path)
        header.expect(self._volume_id, self.object_id, self.path)
        if header.version < entry.version:
            raise FileRolledBack(
                f"{self.path}: the host serves an older version of this file (from volume "
                f"version {header.version}; the manifest expects {entry.version})",
                path=self.path,
                found=header.version,
                expected=entry.version,
            )
        if header.version > entry.version:
            raise VolumeRolledBack(
                f"{self.path}: the file is newer (volume version {header.version}) than the "
                f"manifest says ({entry.version}): the manifest was replaced by an older one",
                path=self.path,
                found=header.version,
                expected=entry.version,
            )

    # -- reading nodes ------------------------------------------------------------------------

    def _aad(self, physical: int) -> bytes:
        if physical == 0:
            return self._header(self._version) + _INDEX.pack(0)
        return self._aad_prefix + _INDEX.pack(physical)

    def _open_node(self, entry: bytes, physical: int, length: int, what: str) -> bytes:
        pending = self._journal().read(self.object_id, self._geo.offset(physical))
        return self._decrypt(entry, physical, length, pending, what)

    def _decrypt(
        self, entry: bytes, physical: int, length: int, pending: bytes | None, what: str
    ) -> bytes:
        """Read (unless the journal holds it) and authenticate one node."""
        stored = pending
        if stored is None:
            stored = os.pread(self.fd, length, self._geo.offset(physical))
        if len(stored) < length:
            raise FileTruncated(
                f"{self.path}: {what} is cut short: the object has been truncated",
                path=self.path,
            )
        try:
            return AESGCM(entry[:32]).decrypt(_NONCE, stored + entry[32:], self._aad(physical))
        except InvalidTag:
            raise self._invalid(what, physical) from None

    def _invalid(self, what: str, physical: int) -> NodeInvalid:
        return NodeInvalid(
            f"{self.path}: {what} failed authentication: it was altered, moved or replaced "
            "by an older copy",
            path=self.path,
            node=physical,
        )

    def _mht(self, index: int) -> bytearray:
        found = self._mhts.get(index)
        if found is not None:
            return found
        if index == 0:
            entry = self._root[0] + self._root[1] if self._root[0] else _ZERO_ENTRY
        else:
            parent, at = self._geo.parent(index)
            entry = bytes(self._mht(parent)[at : at + ENTRY_SIZE])
        node = bytearray(self._geo.mht_capacity)
        if entry != _ZERO_ENTRY:
            length = self._geo.mht_length(index, self._committed_size)
            plain = self._open_node(
                entry, self._geo.mht_physical(index), length, f"tree node {index}"
            )
            node[: len(plain)] = plain
        self._mhts[index] = node
        return node

    def _entry_at(self, index: int) -> tuple[bytearray, int]:
        slots = self._geo.data_slots
        return self._mht(index // slots), (index % slots) * ENTRY_SIZE

    def _data_entry(self, index: int) -> bytes:
        """Data node ``index``'s key and tag, from its MHT node."""
        mht, at = self._entry_at(index)
        return bytes(mht[at : at + ENTRY_SIZE])

    def _set_data_entry(self, index: int, entry: bytes) -> None:
        mht, at = self._entry_at(index)
        mht[at : at + ENTRY_SIZE] = entry
        self._dirty_mhts.add(index // self._geo.data_slots)

    def _stored_length(self, index: int) -> int:
        """Bytes of data node ``index`` on disk: as sealed in this transaction, or committed."""
        found = self._sealed_lengths.get(index)
        return self._geo.data_length(index, self._committed_size) if found is None else found

    def _node(self, index: int) -> bytearray:
        """Data node ``index`` in plaintext, padded with zeros to the node size."""
        node = self._data.get(index)
        if node is not None:
            self._data.move_to_end(index)
            return node
        node = bytearray(self._geo.node_size)
        self._open_one(index, memoryview(node))
        self._remember(index, node)
        return node

    def _remember(self, index: int, node: bytearray) -> None:
        self._data[index] = node
        while len(self._data) > _CACHED_NODES:
            oldest, buffer = self._data.popitem(last=False)
            if oldest in self._dirty_data:
                self._seal_data(oldest, buffer)

    # -- writing nodes ------------------------------------------------------------------------

    def _store(self, physical: int, data: bytes) -> None:
        """Put a sealed node where it goes (see :meth:`_put`)."""
        self._put(self._geo.offset(physical), data, direct=self._direct(physical))

    def _put(self, offset: int, data: bytes, *, direct: bool) -> None:
        """In place if the committed state does not use those bytes, otherwise in the journal
        until the commit."""
        if direct:
            os.pwrite(self.fd, data, offset)
            self._wrote_directly = True
        else:
            self._journal().write(self.object_id, offset, data)

    def _seal(self, plain: memoryview | bytes, physical: int) -> bytes:
        """Encrypt and store one node; its entry (key and tag) for the parent."""
        if not plain or plain == bytes(len(plain)):
            return _ZERO_ENTRY
        key = os.urandom(32)
        sealed = AESGCM(key).encrypt(_NONCE, plain, self._aad(physical))
        self._store(physical, sealed[:-16])
        return key + sealed[-16:]

    def _seal_data(self, index: int, node: bytearray) -> None:
        length = self._geo.data_length(index, self.size)
        self._set_data_entry(
            index, self._seal(memoryview(node)[:length], self._geo.data_physical(index))
        )
        self._dirty_data.discard(index)
        self._sealed_lengths[index] = length

    # -- whole nodes in bulk -----------------------------------------------------------------

    def _direct(self, physical: int) -> bool:
        """Whether the committed state leaves this position unused (so no journal is needed)."""
        return self._new or physical >= self._committed_end

    def _seal_run(self, first: int, plain: memoryview) -> None:
        """Seal adjacent whole data nodes at unused positions: encrypted into one buffer, each
        tag saved before the next node overwrites it, and written with one call."""
        size = self._geo.node_size
        count = len(plain) // size
        physical = self._geo.data_physical(first)
        keys = os.urandom(32 * count)
        entries = bytearray(count * ENTRY_SIZE)
        buffer = _run_buffer(count * size + 16)
        prefix, pack = self._aad_prefix, _INDEX.pack
        for j in range(count):
            key = keys[32 * j : 32 * j + 32]
            sealed = buffer[j * size : (j + 1) * size + 16]
            AESGCM(key).encrypt_into(
                _NONCE, plain[j * size : (j + 1) * size], prefix + pack(physical + j), sealed
            )
            entries[j * ENTRY_SIZE : (j + 1) * ENTRY_SIZE] = key + sealed[size:]
        os.pwrite(self.fd, buffer[: count * size], self._geo.offset(physical))
        mht, where = self._entry_at(first)
        mht[where : where + len(entries)] = entries
        self._dirty_mhts.add(first // self._geo.data_slots)
        self._sealed_lengths.update(dict.fromkeys(range(first, first + count), size))
        self._wrote_directly = True

    def _open_into(self, spans: list[list[int]], out: memoryview) -> None:
        """Open spans of whole data nodes (first index, count, offset in ``out``) straight
        into ``out``. Spans stored at full length with no journal record, the usual case, are
        read with one call and decrypted in place; other nodes one by one."""
        size = self._geo.node_size
        journaled = self._journal().holds(self.object_id)
        for first, count, at in spans:
            destination = out[at : at + count * size]
            mht, where = self._entry_at(first)
            entries = bytes(mht[where : where + count * ENTRY_SIZE])
            if journaled or _ZERO_ENTRY in entries or not self._full_on_disk(first, count):
                for j in range(count):
                    self._open_one(first + j, destination[j * size : (j + 1) * size])
            else:
                self._open_run(first, destination, entries)

    def _full_on_disk(self, first: int, count: int) -> bool:
        """Whether data nodes ``first`` to ``first + count - 1`` are all stored whole."""
        size = self._geo.node_size
        committed = size if (first + count) * size <= self._committed_size else 0
        sealed = self._sealed_lengths
        if not sealed:
            return committed == size
        return all(sealed.get(i, committed) == size for i in range(first, first + count))

    def _open_run(self, first: int, destination: memoryview, entries: bytes) -> None:
        """Read adjacent whole data nodes with one call and decrypt them in place, last node
        first, each tag put just after its node (over the start of the next, already
        decrypted)."""
        size = self._geo.node_size
        count = len(entries) // ENTRY_SIZE
        physical = self._geo.data_physical(first)
        buffer = _run_buffer(count * size + 16)
        got = os.preadv(self.fd, [buffer[: count * size]], self._geo.offset(physical))
        if got < count * size:
            raise FileTruncated(
                f"{self.path}: data node {first + got // size} is cut short: the object has "
                "been truncated",
                path=self.path,
            )
        prefix, pack = self._aad_prefix, _INDEX.pack
        for j in range(count - 1, -1, -1):
            entry = entries[j * ENTRY_SIZE : (j + 1) * ENTRY_SIZE]
            buffer[(j + 1) * size : (j + 1) * size + 16] = entry[32:]
            plain = destination[j * size : (j + 1) * size]
            try:
                AESGCM(entry[:32]).decrypt_into(
                    _NONCE,
                    buffer[j * size : (j + 1) * size + 16],
                    prefix + pack(physical + j),
                    plain,
                )
            except InvalidTag:
                plain[:] = bytes(size)  # no unauthenticated plaintext escapes
                raise self._invalid(f"data node {first + j}", physical + j) from None

    def _open_one(self, index: int, destination: memoryview) -> None:
        """Open one whole data node into ``destination``, zeros after its stored end."""
        entry = self._data_entry(index)
        if entry == _ZERO_ENTRY:
            destination[:] = bytes(len(destination))
            return
        plain = self._open_node(
            entry, self._geo.data_physical(index), self._stored_length(index),
            f"data node {index}",
        )  # fmt: skip
        destination[: len(plain)] = plain
        destination[len(plain) :] = bytes(len(destination) - len(plain))

    # -- file operations ----------------------------------------------------------------------

    def read_into(self, offset: int, out: memoryview) -> int:
        """Read from ``offset`` into ``out``; the number of bytes read (0 at the end)."""
        end = min(self.size, offset + len(out))
        size = self._geo.node_size
        spans: list[list[int]] = []  # whole nodes not held: first index, count, offset in out
        position = offset
        while position < end:
            index, at = divmod(position, size)
            take = min(size - at, end - position)
            if take == size and index not in self._data:
                self._extend(spans, index, position - offset)
            else:
                destination = out[position - offset : position - offset + take]
                destination[:] = self._node(index)[at : at + take]
            position += take
        if spans:
            self._open_into(spans, out)
        return max(0, end - offset)

    def write(self, offset: int, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        end = offset + len(view)
        if end > self.size:
            self.resize(end)
        node_size = self._geo.node_size
        spans: list[list[int]] = []  # whole nodes sealed at once: first index, count, offset
        done = 0
        while done < len(view):
            index, at = divmod(offset + done, node_size)
            take = min(node_size - at, len(view) - done)
            if take == node_size and index not in self._data:
                if self._direct(self._geo.data_physical(index)):
                    self._extend(spans, index, done)
                else:
                    self._remember(index, bytearray(view[done : done + take]))
                    self._dirty_data.add(index)
            else:
                node = self._node(index)
                node[at : at + take] = view[done : done + take]
                self._dirty_data.add(index)
            done += take
        for first, count, at in spans:
            self._seal_run(first, view[at : at + count * node_size])
        return done

    def _extend(self, spans: list[list[int]], index: int, at: int) -> None:
        """Add whole node ``index`` (at ``at`` in the caller's buffer) to the last span if it
        lies right after it, in the same MHT group, and the span is not full."""
        if spans:
            last = spans[-1]
            if last[0] + last[1] == index and index % self._geo.data_slots and last[1] < self._run:
                last[1] += 1
                return
        spans.append([index, 1, at])

    def resize(self, size: int) -> None:
        """Truncate or extend (with zeros) to ``size`` bytes."""
        old = self.size
        if size == old:
            return
        geo = self._geo
        # The old and the new last node change length: they are sealed again at commit.
        for index in {geo.data_nodes(old) - 1, geo.data_nodes(size) - 1}:
            if 0 <= index < min(geo.data_nodes(old), geo.data_nodes(size)) and (
                geo.data_length(index, old) != geo.data_length(index, size)
            ):
                node = self._node(index)
                keep = geo.data_length(index, min(old, size))
                node[keep:] = bytes(geo.node_size - keep)
                self._dirty_data.add(index)
        if size < old:
            self._drop_beyond(size)
        self.size = size
        self._resized = True

    def _drop_beyond(self, size: int) -> None:
        geo = self._geo
        count, mhts = geo.data_nodes(size), geo.mht_nodes(size)
        for index in [i for i in self._data if i >= count]:
            del self._data[index]
            self._dirty_data.discard(index)
        for index in [i for i in self._sealed_lengths if i >= count]:
            del self._sealed_lengths[index]
        # Entries of the data nodes cut off, in the last remaining group.
        if count % geo.data_slots and mhts:
            last = self._mht(mhts - 1)
            last[(count % geo.data_slots) * ENTRY_SIZE : geo.data_slots * ENTRY_SIZE] = bytes(
                (geo.data_slots - count % geo.data_slots) * ENTRY_SIZE
            )
            self._dirty_mhts.add(mhts - 1)
        # Entries of the tree nodes cut off, in their remaining parents.
        for index in range(max(mhts, 1), geo.mht_nodes(self.size)):
            parent, at = geo.parent(index)
            if parent < mhts:
                self._mht(parent)[at : at + ENTRY_SIZE] = _ZERO_ENTRY
                self._dirty_mhts.add(parent)
        for index in [i for i in self._mhts if i >= mhts]:
            del self._mhts[index]
            self._dirty_mhts.discard(index)
        if not mhts:
            self._root = (b"", b"")

    # -- commit -------------------------------------------------------------------------------

    @property
    def root(self) -> tuple[bytes, bytes]:
        return self._root

    def seal(self, version: int) -> None:
        """Seal every change into nodes (journal or object), ending with a new root."""
        for index in sorted(self._dirty_data):
            self._seal_data(index, self._data[index])
        self._version = version
        self._put(0, self._header(version), direct=self._new)
        mhts = self._geo.mht_nodes(self.size)
        # The root is sealed again in any case: the new version is part of its associated data.
        pending = {0} if mhts else set()
        # A tree node is stored up to its last entry in use, so one whose length changes with
        # the file's size is sealed again even if no entry of it changed.
        if self.size != self._committed_size:
            for index in range(min(mhts, self._geo.mht_nodes(self._committed_size))):
                if self._geo.mht_length(index, self.size) != self._geo.mht_length(
                    index, self._committed_size
                ):
                    self._dirty_mhts.add(index)
        for index in self._dirty_mhts:
            while index and index not in pending:
                pending.add(index)
                index = self._geo.parent(index)[0]
        for index in sorted(pending, reverse=True):
            length = self._geo.mht_length(index, self.size)
            entry = self._seal(memoryview(self._mht(index))[:length], self._geo.mht_physical(index))
            if index:
                parent, at = self._geo.parent(index)
                self._mht(parent)[at : at + ENTRY_SIZE] = entry
            else:
                self._root = (entry[:32], entry[32:]) if entry != _ZERO_ENTRY else (b"", b"")
        self._dirty_mhts.clear()

    def sync(self) -> None:
        if self._wrote_directly:
            os.fsync(self.fd)
            self._wrote_directly = False

    def committed(self) -> None:
        """The commit point has passed: what was sealed is now the committed state."""
        shrank = self.size < self._committed_size
        self._new = False
        self._resized = False
        self._committed_size = self.size
        self._committed_end = self._physical_end(self.size)
        self._sealed_lengths.clear()
        if shrank:
            os.ftruncate(self.fd, self._geo.offset(self._committed_end))

    # -- verification -------------------------------------------------------------------------

    def verify(self) -> None:
        """Authenticate every node of the committed file (raises the first failure)."""
        for index in range(self._geo.mht_nodes(self._committed_size)):
            self._mht(index)
        for index in range(self._geo.data_nodes(self._committed_size)):
            entry = self._data_entry(index)
            if index not in self._data and entry != _ZERO_ENTRY:
                self._open_node(
                    entry, self._geo.data_physical(index), self._stored_length(index),
                    f"data node {index}",
                )  # fmt: skip

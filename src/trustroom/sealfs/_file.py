"""File objects of a sealed volume, as :func:`open` returns for binary files."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from trustroom.sealfs._tree import FileTree
    from trustroom.sealfs._volume import Volume

__all__ = ["SealedFile"]


class SealedFile(io.RawIOBase):
    """A file in a volume: read, write, seek, truncate; ``flush()`` and ``close()`` commit.

    Unbuffered on purpose: the volume keeps decrypted nodes, so a buffer on top would only
    copy them again.
    """

    def __init__(
        self, volume: Volume, tree: FileTree, *, readable: bool, writable: bool, append: bool
    ) -> None:
        super().__init__()
        self._volume = volume
        self._tree = tree
        self._readable = readable
        self._writable = writable
        self._append = append
        self._position = 0
        self.name = tree.path

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def _check(self, allowed: bool, what: str) -> None:
        self._checkClosed()
        if not allowed:
            raise io.UnsupportedOperation(f"the file was not opened for {what}")

    def readinto(self, buffer: Buffer) -> int:
        count = self.pread(buffer, self._position)
        self._position += count
        return count

    def pread(self, buffer: Buffer, offset: int) -> int:
        """Read into ``buffer`` from ``offset`` without moving the file position (as
        ``os.preadv``), so that several readers may share one file object."""
        self._check(self._readable, "reading")
        with self._volume._mutex:
            return self._tree.read_into(offset, memoryview(buffer).cast("B"))

    def read(self, size: int | None = -1) -> bytes:
        self._check(self._readable, "reading")
        with self._volume._mutex:
            if size is None or size < 0:
                size = max(0, self._tree.size - self._position)
            buffer = bytearray(size)
            count = self._tree.read_into(self._position, memoryview(buffer))
        self._position += count
        del buffer[count:]
        return bytes(buffer)

    def readall(self) -> bytes:
        return self.read()

    def write(self, data: Buffer) -> int:
        self._check(self._writable, "writing")
        with self._volume._mutex:
            if self._append:
                self._position = self._tree.size
            written = self._tree.write(self._position, memoryview(data))
        self._position += written
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._checkClosed()
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self._tree.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError(22, "negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def truncate(self, size: int | None = None) -> int:
        self._check(self._writable, "writing")
        size = self._position if size is None else size
        if size < 0:
            raise OSError(22, "negative size")
        with self._volume._mutex:
            self._tree.resize(size)
        return size

    def flush(self) -> None:
        if not self.closed and self._writable:
            self._volume.commit()

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flushes
        finally:
            self._volume._release(self._tree)

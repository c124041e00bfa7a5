"""A volume mounted with FUSE: unmodified programs read and write plaintext files while only
ciphertext reaches the disk.

One process serves the mount (pyfuse3, on trio) and holds the volume. A file's ``close()``
commits atomically; ``fsync()`` commits durably. SIGTERM or SIGINT, or ``fusermount3 -u``,
ends the mount after a last durable commit.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import logging
import os
import re
import signal
import stat as stat_module
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar, cast

import pyfuse3
import trio

from trustroom.sealfs._errors import SealfsError
from trustroom.sealfs._file import SealedFile
from trustroom.sealfs._volume import FileInfo, Volume

__all__ = ["mount_in_background", "mounted_volume_of", "serve", "unmount"]

_log = logging.getLogger("trustroom.sealfs.mount")
P = ParamSpec("P")
R = TypeVar("R")
_TIMEOUT = 1.0  # seconds the kernel may cache names and attributes: nobody else writes


def _fuse_errors(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Library errors become the errno their class names; anything else is logged, EIO."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except SealfsError as exc:
            if exc.errno == errno.EIO:
                _log.error("%s: %s", exc.code, exc.message)
            raise pyfuse3.FUSEError(exc.errno) from None
        except Exception:
            _log.exception("unexpected error in %s", method.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def _name(name: bytes) -> str:
    try:
        text = name.decode()
    except UnicodeDecodeError:
        raise pyfuse3.FUSEError(errno.EINVAL) from None
    return text


class VolumeOperations(pyfuse3.Operations):
    """FUSE requests served from an open :class:`Volume`."""

    def __init__(self, volume: Volume) -> None:
        super().__init__()
        self.volume = volume
        self._paths: dict[int, str] = {pyfuse3.ROOT_INODE: "/"}
        self._inodes: dict[str, int] = {"/": pyfuse3.ROOT_INODE}
        self._next_inode = pyfuse3.ROOT_INODE + 1
        self._files: dict[int, SealedFile] = {}
        self._next_handle = 1
        self._uid, self._gid = os.getuid(), os.getgid()
        self.initialized = trio.Event()

    def init(self) -> None:
        # Called while the kernel's INIT request is answered: once the loop runs anything
        # else, the mount serves requests.
        self.initialized.set()

    # -- inodes -------------------------------------------------------------------------------

    def _inode(self, path: str) -> int:
        inode = self._inodes.get(path)
        if inode is None:
            inode = self._next_inode
            self._next_inode += 1
            self._inodes[path] = inode
            self._paths[inode] = path
        return inode

    def _path(self, inode: int) -> str:
        try:
            return self._paths[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    def _child(self, parent: int, name: bytes) -> str:
        base = self._path(parent)
        return (base.rstrip("/") + "/" + _name(name)) if name else base

    def _forget_path(self, path: str) -> None:
        inode = self._inodes.pop(path, None)
        if inode is not None:
            del self._paths[inode]

    def _moved(self, source: str, target: str) -> None:
        self._forget_path(target)
        for path in [p for p in self._inodes if p == source or p.startswith(source + "/")]:
            inode = self._inodes.pop(path)
            new = target + path[len(source) :]
            self._inodes[new] = inode
            self._paths[inode] = new

    def _attributes(self, info: FileInfo) -> pyfuse3.EntryAttributes:
        attributes = pyfuse3.EntryAttributes()
        attributes.st_ino = self._inode(info.path)
        kind = stat_module.S_IFDIR if info.is_dir else stat_module.S_IFREG
        attributes.st_mode = kind | info.mode
        attributes.st_nlink = 2 if info.is_dir else 1
        attributes.st_uid, attributes.st_gid = self._uid, self._gid
        attributes.st_size = info.size
        attributes.st_blksize = 1 << 16
        attributes.st_blocks = -(-info.size // 512)
        attributes.st_atime_ns = attributes.st_mtime_ns = attributes.st_ctime_ns = info.mtime_ns
        attributes.attr_timeout = attributes.entry_timeout = _TIMEOUT
        return attributes

    # -- names --------------------------------------------------------------------------------

    @_fuse_errors
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext | None = None
    ) -> pyfuse3.EntryAttributes:
        return self._attributes(self.volume.stat(self._child(parent_inode, name)))

    @_fuse_errors
    async def getattr(
        self, inode: int, ctx: pyfuse3.RequestContext | None = None
    ) -> pyfuse3.EntryAttributes:
        return self._attributes(self.volume.stat(self._path(inode)))

    @_fuse_errors
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        path = self._path(inode)
        if fields.update_size:
            if fh is not None and fh in self._files:
                self._files[fh].truncate(attr.st_size)
                self.volume.commit(durable=False)
            else:
                self.volume.truncate(path, attr.st_size)
        if fields.update_mode or fields.update_mtime:
            self.volume.set_attributes(
                path,
                mode=attr.st_mode if fields.update_mode else None,
                mtime_ns=attr.st_mtime_ns if fields.update_mtime else None,
            )
        return self._attributes(self.volume.stat(path))

    @_fuse_errors
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        path = self._child(parent_inode, name)
        self.volume.mkdir(path, mode & ~ctx.umask)
        return self._attributes(self.volume.stat(path))

    @_fuse_errors
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        path = self._child(parent_inode, name)
        self.volume.rmdir(path)
        self._forget_path(path)

    @_fuse_errors
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        path = self._child(parent_inode, name)
        self.volume.remove(path)
        self._forget_path(path)

    @_fuse_errors
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        source = self._child(parent_inode_old, name_old)
        target = self._child(parent_inode_new, name_new)
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        if flags & pyfuse3.RENAME_NOREPLACE and self.volume.exists(target):
            raise pyfuse3.FUSEError(errno.EEXIST)
        self.volume.rename(source, target)
        self._moved(source, target)

    # -- directories --------------------------------------------------------------------------

    @_fuse_errors
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        self.volume.listdir(self._path(inode))  # ENOENT, ENOTDIR
        return inode

    @_fuse_errors
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        path = self._path(fh)
        names = self.volume.listdir(path)
        for offset, name in enumerate(names[start_id:], start=start_id + 1):
            info = self.volume.stat(path.rstrip("/") + "/" + name)
            if not pyfuse3.readdir_reply(token, name.encode(), self._attributes(info), offset):
                break

    # -- files --------------------------------------------------------------------------------

    def _handle(self, file: SealedFile) -> pyfuse3.FileInfo:
        handle = self._next_handle
        self._next_handle += 1
        self._files[handle] = file
        return pyfuse3.FileInfo(fh=handle, keep_cache=True)

    @staticmethod
    def _mode(flags: int) -> str:
        access = flags & os.O_ACCMODE
        if flags & os.O_APPEND:
            return "a+b"
        return "rb" if access == os.O_RDONLY else "r+b"

    @_fuse_errors
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        path = self._child(parent_inode, name)
        kind = "x+b" if flags & os.O_EXCL else "w+b"
        file = self.volume.open(path, kind, permissions=mode & ~ctx.umask)
        self.volume.commit(durable=False)  # the new name exists for others at once
        return self._handle(file), self._attributes(self.volume.stat(path))

    @_fuse_errors
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        file = self.volume.open(self._path(inode), self._mode(flags))
        if flags & os.O_TRUNC and flags & os.O_ACCMODE != os.O_RDONLY:
            file.truncate(0)
        return self._handle(file)

    @_fuse_errors
    async def read(self, fh: int, off: int, size: int) -> bytes:
        buffer = bytearray(size)
        count = self._files[fh].pread(buffer, off)
        # pyfuse3 replies from any buffer: the plaintext is not copied once more into bytes.
        return cast(bytes, memoryview(buffer)[:count])

    @_fuse_errors
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        file = self._files[fh]
        file.seek(off)
        return file.write(buf)

    @_fuse_errors
    async def flush(self, fh: int) -> None:
        self.volume.commit(durable=False)

    @_fuse_errors
    async def fsync(self, fh: int, datasync: bool) -> None:
        self.volume.commit(durable=True)

    @_fuse_errors
    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        self.volume.commit(durable=True)

    @_fuse_errors
    async def release(self, fh: int) -> None:
        file = self._files.pop(fh)
        self.volume.commit(durable=False)
        file.close()

    @_fuse_errors
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        host = os.statvfs(self.volume.directory)
        data = pyfuse3.StatvfsData()
        for field in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files"):
            setattr(data, field, getattr(host, field))
        data.f_ffree = data.f_favail = host.f_favail
        data.f_namemax = 255
        return data


def serve(
    volume: Volume,
    mountpoint: str | os.PathLike[str],
    *,
    ready: Callable[[], Any] | None = None,
) -> None:
    """Mount ``volume`` on ``mountpoint`` and serve it until it is unmounted or this process
    gets SIGTERM or SIGINT; then commit durably and unmount. ``ready`` is called once the
    mount serves requests."""
    operations = VolumeOperations(volume)
    options = set(pyfuse3.default_options)
    options.add(f"fsname={volume.directory.resolve()}")
    options.add("subtype=trustroom-sealfs")
    pyfuse3.init(operations, os.fspath(mountpoint), options)
    try:
        trio.run(_serve_until_signal, operations, os.fspath(mountpoint), ready)
    finally:
        volume.commit(durable=True)
        pyfuse3.close(unmount=True)


def mount_in_background(
    open_volume: Callable[[], Volume], mountpoint: str | os.PathLike[str]
) -> None:
    """Serve a volume from a new process, in its own session without a terminal, and return
    once it is mounted; raise the typed error with which it failed otherwise. ``open_volume``
    runs in that process. :func:`unmount` ends it."""
    reader, writer = os.pipe()
    if os.fork() == 0:
        os.close(reader)
        _serve_detached(writer, open_volume, mountpoint)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        outcome = json.loads(answer.readline() or b"{}")
    if not outcome.get("ok"):
        raise _error_of(outcome)


def _serve_detached(
    writer: int, open_volume: Callable[[], Volume], mountpoint: str | os.PathLike[str]
) -> NoReturn:
    """The background mount's process: it reports on ``writer`` whether the mount is in
    place, then serves until unmounted."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    report = os.fdopen(writer, "wb")

    def tell(outcome: dict[str, Any]) -> None:
        report.write(json.dumps(outcome).encode() + b"\n")
        report.flush()

    try:
        serve(open_volume(), mountpoint, ready=lambda: tell({"ok": True}))
    except SealfsError as exc:
        tell({"code": exc.code, "message": exc.message})
    except BaseException as exc:
        tell({"message": f"the mount failed: {type(exc).__name__}: {exc}"})
    finally:
        os._exit(0)


def _error_of(outcome: dict[str, Any]) -> SealfsError:
    """The typed error the background mount reported, with its class's hint."""
    kinds = [SealfsError]
    for kind in kinds:
        kinds.extend(kind.__subclasses__())
    chosen = next((k for k in kinds if k.code == outcome.get("code")), SealfsError)
    return chosen(outcome.get("message", "the mount process ended before mounting"))


def _read_ahead_more(mountpoint: str | os.PathLike[str]) -> None:
    """Let the kernel read ahead 1 MiB instead of 128 KiB: it then asks for whole MiBs, an
    eighth of the requests, and keeps the next one queued. Only root may; otherwise the
    default stays."""
    # From the mount table, not stat(): the kernel would ask this very process, which cannot
    # answer while it is here.
    absolute = os.path.abspath(mountpoint)
    target = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
    with open("/proc/self/mountinfo") as table:
        devices = [f.split()[2] for f in table if _unescape(f.split()[4]) == target]
    if not devices:
        return
    setting = Path(f"/sys/class/bdi/{devices[-1]}/read_ahead_kb")
    try:
        setting.write_text("1024\n")
    except OSError:
        _log.debug("cannot raise the read-ahead of %s", mountpoint)


async def _serve_until_signal(
    operations: VolumeOperations, mountpoint: str, ready: Callable[[], Any] | None
) -> None:
    """Run the FUSE loop until the kernel ends it (an unmount) or a signal asks to stop."""
    async with trio.open_nursery() as nursery:

        async def started() -> None:
            await operations.initialized.wait()
            # Before anyone opens a file: an open file keeps the read-ahead it started with.
            _read_ahead_more(mountpoint)
            if ready is not None:
                ready()

        nursery.start_soon(started)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    pyfuse3.terminate()
                    return

            nursery.start_soon(stop_on_signal)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()


def mounted_volume_of(mountpoint: str | os.PathLike[str]) -> Path | None:
    """The volume mounted on ``mountpoint``, from the kernel's mount table."""
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mounts") as table:
        for line in table:
            source, point, kind = line.split()[:3]
            if _unescape(point) == target and kind == "fuse.trustroom-sealfs":
                return Path(_unescape(source))
    return None


def unmount(mountpoint: str | os.PathLike[str], volume: Path, *, timeout: float = 30.0) -> None:
    """Unmount with ``fusermount3 -u`` and wait until the serving process has made its last
    commit and let go of the volume."""
    done = subprocess.run(
        ["fusermount3", "-u", os.fspath(mountpoint)], capture_output=True, text=True
    )
    if done.returncode:
        raise SealfsError(
            f"fusermount3 could not unmount {os.fspath(mountpoint)}: {done.stderr.strip()}",
            hint="A program may still use files in the mount (see `fuser -m MOUNTPOINT`).",
        )
    deadline = time.monotonic() + timeout
    with open(volume / "lock", "rb") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SealfsError(
                        f"the process serving {volume} has not finished within {timeout} s",
                        hint="It is still committing; wait, then check the volume.",
                    ) from None
                time.sleep(0.05)


def _unescape(field: str) -> str:
    """A path as the mount table writes it: space, tab, newline, backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)

"""A sealed volume: a folder of ciphertext that only the volume key turns back into files.

::

    VOLUME/volume.json    format, node size, KDF parameters, key check (plaintext)
    VOLUME/manifest       every path and its file's root key and tag, versioned (sealed)
    VOLUME/objects/ab/…   one object per file, named by a random id, not by its path
    VOLUME/journal        only while a commit is being applied (see _journal.py)
    VOLUME/lock           held while the volume is open: one process at a time

Changes stay in memory and in the journal until :meth:`Volume.commit` (a file's ``flush()`` or
``close()`` commits), which makes all of them durable at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat as stat_module
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from trustroom.sealfs._errors import (
    DirectoryNotEmpty,
    FileExists,
    FileNotFound,
    FileTruncated,
    InvalidPath,
    IsADirectory,
    ManifestInvalid,
    NotADirectory,
    SealfsError,
    VolumeInvalid,
    VolumeLocked,
    VolumeRolledBack,
    WrongKey,
)
from trustroom.sealfs._file import SealedFile
from trustroom.sealfs._journal import JOURNAL, Journal, fsync_path, replay
from trustroom.sealfs._keys import VolumeKey
from trustroom.sealfs._layout import HEADER_STRUCT_SIZE, Geometry, ObjectHeader
from trustroom.sealfs._manifest import Entry, Manifest
from trustroom.sealfs._tree import FileTree

__all__ = ["DEFAULT_NODE_SIZE", "CheckProblem", "CheckReport", "FileInfo", "Volume"]

FORMAT = "trustroom-sealfs"
FORMAT_VERSION = 1
DEFAULT_NODE_SIZE = 32768
_CONFIG = "volume.json"
_MANIFEST = "manifest"
_OBJECTS = "objects"
_LOCK = "lock"
_FILE_MODE = 0o644
_DIR_MODE = 0o755


@dataclass(frozen=True)
class FileInfo:
    """What :meth:`Volume.stat` tells about a path."""

    path: str
    is_dir: bool
    size: int
    mode: int
    mtime_ns: int
    version: int


@dataclass(frozen=True)
class CheckProblem:
    code: str
    path: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :meth:`Volume.check`: ``ok`` only if every file authenticated."""

    version: int | None
    files: int
    errors: tuple[CheckProblem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "files": self.files,
            "errors": [vars(e) for e in self.errors],
        }


def normalize(path: str) -> str:
    """The canonical form of a path inside the volume: ``/a/b``, the root being ``/``."""
    if "\0" in path:
        raise InvalidPath(f"{path!r}: a path cannot hold a NUL byte")
    parts = [part for part in path.split("/") if part]
    for part in parts:
        if part in (".", ".."):
            raise InvalidPath(f"{path!r}: '.' and '..' are not allowed in volume paths")
        if len(part.encode()) > 255:
            raise InvalidPath(f"{path!r}: a name is longer than 255 bytes")
    return "/" + "/".join(parts)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if durable:
        fsync_path(path.parent)


class Volume:
    """An open sealed volume: ``Volume(folder, key)``, or :meth:`create` for a new one; close
    it (or use ``with``) to commit and release it."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        key: VolumeKey,
        *,
        trusted_version: int | None = None,
    ) -> None:
        """Open the volume in ``directory``, finishing a commit a crash interrupted.

        ``trusted_version`` is the newest version its owner has seen (kept outside the volume):
        an older manifest means the host served an old snapshot, and opening fails.
        """
        root = Path(directory)
        config = _read_config(root)
        self.directory = root
        self.volume_id = bytes.fromhex(config["volume_id"])
        self._geometry = Geometry(int(config["node_size"]))
        self._secrets = key.derive(config["kdf"], self.volume_id)
        if not self._secrets.matches(bytes.fromhex(config["key_check"])):
            raise WrongKey(f"the key does not open the volume in {root}")
        self._mutex = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._children: dict[str, set[str]] = {"/": set()}
        self._trees: dict[bytes, FileTree] = {}
        self._detached: dict[bytes, FileTree] = {}  # removed while open: deleted when closed
        self._doomed: set[bytes] = set()
        self._changed = False
        self._journal = self._new_journal()
        # Left by commits that were atomic but not durable (a mount's close): synced by the
        # next durable commit (fsync).
        self._unsynced_objects: set[bytes] = set()
        self._unsynced_dirs: set[Path] = set()
        self._synced = True
        self.version = 0
        self._lock_fd = os.open(root / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise VolumeLocked(f"the volume in {root} is open in another process") from None
        try:
            self._load(trusted_version)
        except BaseException:
            self.close()
            raise

    # -- creating and opening -----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        key: VolumeKey,
        *,
        node_size: int = DEFAULT_NODE_SIZE,
    ) -> Volume:
        """Make a new, empty volume in ``directory`` (which must be absent or empty)."""
        if node_size & (node_size - 1) or not 4096 <= node_size <= 1 << 20:
            raise VolumeInvalid(f"node size {node_size} is not a power of two from 4 KiB to 1 MiB")
        root = Path(directory)
        if root.exists() and any(root.iterdir()):
            raise FileExists(
                f"{root} is not empty", hint="Create a volume in a new or empty folder."
            )
        root.mkdir(parents=True, exist_ok=True)
        (root / _OBJECTS).mkdir()
        volume_id = os.urandom(16)
        kdf = key.kdf_parameters()
        secrets = key.derive(kdf, volume_id)
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "volume_id": volume_id.hex(),
            "node_size": node_size,
            "kdf": kdf,
            "key_check": secrets.key_check.hex(),
        }
        _write_atomically(root / _CONFIG, json.dumps(config, indent=2).encode() + b"\n")
        _write_atomically(root / _MANIFEST, Manifest(volume_id, node_size, 1).seal(secrets))
        return cls(root, key)

    def _load(self, trusted_version: int | None) -> None:
        self._apply_journal()
        try:
            sealed = (self.directory / _MANIFEST).read_bytes()
        except FileNotFoundError:
            raise ManifestInvalid(f"the volume in {self.directory} has no manifest") from None
        manifest = Manifest.unseal(sealed, self._secrets, self.volume_id, self._geometry.node_size)
        self.version = manifest.version
        if trusted_version is not None and manifest.version < trusted_version:
            raise VolumeRolledBack(
                f"the volume is at version {manifest.version}, older than the trusted "
                f"version {trusted_version}",
                path="/",
                found=manifest.version,
                expected=trusted_version,
            )
        self._entries = manifest.entries
        for path in sorted(self._entries):
            self._children.setdefault(_parent(path), set()).add(path.rsplit("/", 1)[1])
            if self._entries[path].is_dir:
                self._children.setdefault(path, set())
        self._sweep()

    def _apply_journal(self, *, durable: bool = True) -> None:
        fds: dict[bytes, int] = {}

        def write(object_id: bytes, offset: int, data: memoryview) -> None:
            if object_id not in fds:
                try:
                    fds[object_id] = os.open(self._object_path(object_id), os.O_WRONLY)
                except FileNotFoundError:
                    return  # removed in the same commit: nothing refers to it any more
            os.pwrite(fds[object_id], data, offset)

        try:
            manifest = replay(self.directory, self._secrets.journal_key, self.volume_id, write)
            if durable:
                for fd in fds.values():
                    os.fsync(fd)
            else:
                self._unsynced_objects.update(fds)
        finally:
            for fd in fds.values():
                os.close(fd)
        if manifest is not None:
            _write_atomically(self.directory / _MANIFEST, manifest, durable=durable)
            (self.directory / JOURNAL).unlink()

    def _sweep(self) -> None:
        """Remove objects no committed path refers to: files of a commit that never happened,
        or removed ones a crash left behind. Objects newer than that are kept: they show the
        manifest itself was rolled back, which :meth:`check` reports."""
        used = {e.object_id for e in self._entries.values() if not e.is_dir}
        for object_id, path in self._objects():
            if object_id in used:
                continue
            header = self._read_header(path)
            if header is None or header.version <= self.version + 1:
                path.unlink()

    def _objects(self) -> Iterator[tuple[bytes, Path]]:
        for shard in sorted((self.directory / _OBJECTS).iterdir()):
            for path in sorted(shard.iterdir()):
                try:
                    yield bytes.fromhex(shard.name + path.name), path
                except ValueError:
                    continue

    @staticmethod
    def _read_header(path: Path) -> ObjectHeader | None:
        with path.open("rb") as f:
            raw = f.read(HEADER_STRUCT_SIZE)
        try:
            return ObjectHeader.unpack(raw, str(path))
        except SealfsError:
            return None

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is pending and release the volume."""
        with self._mutex:
            if self._lock_fd < 0:
                return
            try:
                if self.version:
                    self.commit()
            finally:
                for tree in [*self._trees.values(), *self._detached.values()]:
                    os.close(tree.fd)
                self._trees.clear()
                self._detached.clear()
                self._journal.abandon()
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __enter__(self) -> Volume:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- paths --------------------------------------------------------------------------------

    def _entry(self, path: str) -> Entry:
        entry = self._entries.get(path)
        if entry is None:
            parent = _parent(path)
            if parent != "/" and parent in self._entries and not self._entries[parent].is_dir:
                raise NotADirectory(f"{parent} is a file", path=path)
            raise FileNotFound(f"{path} does not exist in the volume", path=path)
        return entry

    def _check_parent(self, path: str) -> str:
        if path == "/":
            raise FileExists("/ is the volume's root", path=path)
        parent = _parent(path)
        if parent != "/" and self._entry(parent).kind != "dir":
            raise NotADirectory(f"{parent} is a file", path=path)
        return parent

    def _add(self, path: str, entry: Entry) -> None:
        self._entries[path] = entry
        self._children[self._check_parent(path)].add(path.rsplit("/", 1)[1])
        if entry.is_dir:
            self._children[path] = set()
        self._changed = True

    def _drop(self, path: str) -> Entry:
        entry = self._entries.pop(path)
        self._children[_parent(path)].discard(path.rsplit("/", 1)[1])
        if entry.is_dir:
            del self._children[path]
        self._changed = True
        return entry

    def stat(self, path: str) -> FileInfo:
        path = normalize(path)
        with self._mutex:
            if path == "/":
                return FileInfo("/", True, 0, _DIR_MODE, 0, self.version)
            entry = self._entry(path)
            tree = self._trees.get(entry.object_id)
            size = tree.size if tree is not None else entry.size
            return FileInfo(path, entry.is_dir, size, entry.mode, entry.mtime_ns, entry.version)

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except (FileNotFound, NotADirectory):
            return False
        return True

    def listdir(self, path: str = "/") -> list[str]:
        path = normalize(path)
        with self._mutex:
            if path != "/" and not self._entry(path).is_dir:
                raise NotADirectory(f"{path} is a file", path=path)
            return sorted(self._children[path])

    def walk(self) -> Iterator[FileInfo]:
        """Every path in the volume, parents before children."""
        for path in sorted(self._entries):
            yield self.stat(path)

    def mkdir(self, path: str, mode: int = _DIR_MODE, *, parents: bool = False) -> None:
        path = normalize(path)
        with self._mutex:
            if path == "/" or path in self._entries:
                if parents and (path == "/" or self._entries[path].is_dir):
                    return
                raise FileExists(f"{path} already exists", path=path)
            if parents and _parent(path) not in self._children:
                self.mkdir(_parent(path), mode, parents=True)
            self._add(path, Entry("dir", stat_module.S_IMODE(mode), time.time_ns()))
            self.commit()

    def rmdir(self, path: str) -> None:
        path = normalize(path)
        with self._mutex:
            if not self._entry(path).is_dir:
                raise NotADirectory(f"{path} is a file", path=path)
            if self._children[path]:
                raise DirectoryNotEmpty(f"{path} is not empty", path=path)
            self._drop(path)
            self.commit()

    def remove(self, path: str) -> None:
        path = normalize(path)
        with self._mutex:
            if self._entry(path).is_dir:
                raise IsADirectory(f"{path} is a directory", path=path)
            self._forget_object(self._drop(path).object_id)
            self.commit()

    def _forget_object(self, object_id: bytes) -> None:
        tree = self._trees.pop(object_id, None)
        self._journal.forget_object(object_id)
        if tree is not None and tree.open_handles:
            self._detached[object_id] = tree
        else:
            if tree is not None:
                os.close(tree.fd)
            self._doomed.add(object_id)

    def rename(self, source: str, target: str) -> None:
        """Move a file or directory, replacing a file (or empty directory) at ``target``."""
        source, target = normalize(source), normalize(target)
        with self._mutex:
            entry = self._entry(source)
            if source == target:
                return
            if entry.is_dir and (target + "/").startswith(source + "/"):
                raise InvalidPath(f"cannot move {source} into itself", path=target)
            self._check_parent(target)
            existing = self._entries.get(target)
            if existing is not None:
                if existing.is_dir != entry.is_dir:
                    kind = IsADirectory if existing.is_dir else NotADirectory
                    raise kind(f"{target} exists and is of another kind", path=target)
                if existing.is_dir and self._children[target]:
                    raise DirectoryNotEmpty(f"{target} is not empty", path=target)
                self._drop(target)
                if not existing.is_dir:
                    self._forget_object(existing.object_id)
            moved = [source] + [p for p in sorted(self._entries) if p.startswith(source + "/")]
            dropped = [(p, self._drop(p)) for p in reversed(moved)]
            for old, moved_entry in reversed(dropped):
                new = target + old[len(source) :]
                self._add(new, moved_entry)
                tree = self._trees.get(moved_entry.object_id)
                if tree is not None:
                    tree.path = new
            self.commit()

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime_ns: int | None = None
    ) -> None:
        """Change a path's permission bits or modification time."""
        path = normalize(path)
        with self._mutex:
            entry = self._entry(path)
            if mode is not None:
                entry.mode = stat_module.S_IMODE(mode)
            if mtime_ns is not None:
                entry.mtime_ns = mtime_ns
            self._changed = True
            self.commit()

    # -- files --------------------------------------------------------------------------------

    def open(self, path: str, mode: str = "rb", *, permissions: int = _FILE_MODE) -> SealedFile:
        """A binary file object: modes ``rb``, ``r+b``, ``wb``, ``w+b``, ``ab``, ``a+b``,
        ``xb``, ``x+b`` as for :func:`open`; a file it creates gets ``permissions``.
        ``flush()`` and ``close()`` commit."""
        kind = mode.replace("b", "")
        if kind not in ("r", "r+", "w", "w+", "a", "a+", "x", "x+") or "b" not in mode:
            raise ValueError(f"sealfs files are binary: use a mode like 'rb' or 'wb', not {mode!r}")
        path = normalize(path)
        with self._mutex:
            entry = self._entries.get(path)
            if entry is not None and kind.startswith("x"):
                raise FileExists(f"{path} already exists", path=path)
            if entry is None:
                if kind.startswith("r"):
                    self._entry(path)  # raises the right error
                entry = self._create_file(path, permissions)
            elif entry.is_dir:
                raise IsADirectory(f"{path} is a directory", path=path)
            tree = self._tree(path, entry)
            if kind.startswith("w"):
                tree.resize(0)
            tree.open_handles += 1
            return SealedFile(
                self, tree, readable=kind.startswith("r") or "+" in kind,
                writable=kind != "r", append=kind.startswith("a"),
            )  # fmt: skip

    def _create_file(self, path: str, permissions: int) -> Entry:
        object_id = os.urandom(16)
        mode = stat_module.S_IMODE(permissions)
        entry = Entry("file", mode, time.time_ns(), object_id, version=self.version + 1)
        self._add(path, entry)
        object_path = self._object_path(object_id)
        if not object_path.parent.exists():
            object_path.parent.mkdir()
            self._unsynced_dirs.add(object_path.parent.parent)
        self._unsynced_dirs.add(object_path.parent)
        fd = os.open(object_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        header = ObjectHeader(self.volume_id, object_id, self.version + 1, self._geometry.node_size)
        os.pwrite(fd, header.pack(), 0)
        self._trees[object_id] = FileTree(
            path, entry, fd, self._geometry, self.volume_id, lambda: self._journal, new=True
        )
        return entry

    def _tree(self, path: str, entry: Entry) -> FileTree:
        tree = self._trees.get(entry.object_id)
        if tree is None:
            tree = self._load_tree(path, entry)
            self._trees[entry.object_id] = tree
        return tree

    def _load_tree(self, path: str, entry: Entry) -> FileTree:
        try:
            fd = os.open(self._object_path(entry.object_id), os.O_RDWR)
        except FileNotFoundError:
            raise FileTruncated(f"{path}: its object is missing", path=path) from None
        try:
            return FileTree(
                path, entry, fd, self._geometry, self.volume_id, lambda: self._journal, new=False
            )
        except BaseException:
            os.close(fd)
            raise

    def _object_path(self, object_id: bytes) -> Path:
        name = object_id.hex()
        return self.directory / _OBJECTS / name[:2] / name[2:]

    def _release(self, tree: FileTree) -> None:
        """A file object closed."""
        with self._mutex:
            tree.open_handles -= 1
            if tree.open_handles == 0 and self._detached.pop(tree.object_id, None) is not None:
                # Its removal is committed already (removing commits).
                os.close(tree.fd)
                self._object_path(tree.object_id).unlink(missing_ok=True)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path, "rb") as f:
            return f.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open(path, "wb") as f:
            f.write(data)

    def truncate(self, path: str, size: int) -> None:
        with self.open(path, "r+b") as f:
            f.truncate(size)

    # -- committing ---------------------------------------------------------------------------

    def _new_journal(self) -> Journal:
        return Journal(self.directory, self._secrets.journal_key, self.volume_id)

    def commit(self, *, durable: bool = True) -> None:
        """Commit every change so far as one step: after a crash the volume shows all of them
        or none, and the version grows by one. ``durable=False`` skips the fsyncs: the commit
        survives the process dying but perhaps not the machine losing power (what ``close()``
        promises on a local file system); the next durable commit makes it durable too."""
        with self._mutex:
            dirty = [tree for tree in self._trees.values() if tree.dirty]
            if not dirty and not self._changed and not self._doomed:
                if durable and not self._synced:
                    self._sync()
                return
            version = self.version + 1
            now = time.time_ns()
            for tree in dirty:
                tree.seal(version)
                entry = self._entries[tree.path]
                entry.size, entry.root, entry.version, entry.mtime_ns = (
                    tree.size, tree.root, version, now
                )  # fmt: skip
            if durable:
                self._sync()  # what the journal's commit point will rely on
            manifest = Manifest(self.volume_id, self._geometry.node_size, version, self._entries)
            self._journal.commit(manifest.seal(self._secrets), durable=durable)
            self._journal = self._new_journal()
            # Applied from the file just written (still in the page cache), by the very code
            # that finishes a commit after a crash: one path, exercised on every commit.
            self._apply_journal(durable=durable)
            self._synced = durable
            self.version = version
            self._changed = False
            for tree in dirty:
                tree.committed()
            for object_id in self._doomed:
                self._object_path(object_id).unlink(missing_ok=True)
            self._doomed.clear()

    def _sync(self) -> None:
        """fsync what earlier non-durable commits and this one's direct writes left."""
        for tree in [*self._trees.values(), *self._detached.values()]:
            tree.sync()
        for object_id in self._unsynced_objects:
            with contextlib.suppress(FileNotFoundError):  # removed since
                fsync_path(self._object_path(object_id))
        for directory in sorted(self._unsynced_dirs, reverse=True):
            fsync_path(directory)
        if not self._synced:
            fsync_path(self.directory / _MANIFEST)
            fsync_path(self.directory)
        self._unsynced_objects.clear()
        self._unsynced_dirs.clear()
        self._synced = True

    # -- checking -----------------------------------------------------------------------------

    def check(self, *, trusted_version: int | None = None) -> CheckReport:
        """Authenticate every node of every committed file; report each failure by path."""
        with self._mutex:
            self.commit()
            problems: list[CheckProblem] = []
            if trusted_version is not None and self.version < trusted_version:
                problems.append(
                    CheckProblem(
                        VolumeRolledBack.code,
                        "/",
                        f"the volume is at version {self.version}, older than the trusted "
                        f"version {trusted_version}",
                    )
                )
            files = 0
            for path, entry in sorted(self._entries.items()):
                if entry.is_dir:
                    continue
                files += 1
                try:
                    tree = self._load_tree(path, entry)
                except SealfsError as exc:
                    problems.append(CheckProblem(exc.code, path, exc.message))
                    continue
                try:
                    tree.verify()
                except SealfsError as exc:
                    problems.append(CheckProblem(exc.code, path, exc.message))
                finally:
                    os.close(tree.fd)
            for object_id, object_path in self._objects():
                header = self._read_header(object_path)
                if header is not None and header.version > self.version + 1:
                    problems.append(
                        CheckProblem(
                            VolumeRolledBack.code,
                            "/",
                            f"object {object_id.hex()} is from version {header.version}, newer "
                            f"than the manifest ({self.version}): the manifest was rolled back",
                        )
                    )
            return CheckReport(self.version, files, tuple(problems))


def _read_config(root: Path) -> dict[str, Any]:
    try:
        config = json.loads((root / _CONFIG).read_bytes())
    except FileNotFoundError:
        raise VolumeInvalid(f"{root} is not a sealfs volume (no {_CONFIG})") from None
    except (OSError, ValueError) as exc:
        raise VolumeInvalid(f"{root / _CONFIG} cannot be read: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise VolumeInvalid(f"{root / _CONFIG} does not describe a sealfs volume")
    if config.get("format_version") != FORMAT_VERSION:
        raise VolumeInvalid(
            f"{root} uses sealfs format {config.get('format_version')!r}; this trustroom reads "
            f"format {FORMAT_VERSION}",
            hint="Open it with the trustroom version that created it.",
        )
    try:
        valid = (
            len(bytes.fromhex(config["volume_id"])) == 16
            and len(bytes.fromhex(config["key_check"])) == 16
            and type(config["node_size"]) is int
            and config["node_size"] in {1 << n for n in range(12, 21)}
            and isinstance(config["kdf"], dict)
        )
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        raise VolumeInvalid(f"{root / _CONFIG} is incomplete or has values of the wrong kind")
    return config

"""Typed errors of sealed volumes, each with a stable code, a hint and the errno a mount returns.

Every integrity failure names the file (its path inside the volume) so that an operator knows
what to restore; ``check()`` reports the same codes per file instead of raising.
"""

from __future__ import annotations

import errno
from typing import Any, ClassVar

from trustroom._core.errors import TrustroomError

__all__ = [
    "DirectoryNotEmpty",
    "FileExists",
    "FileMisplaced",
    "FileNotFound",
    "FileRolledBack",
    "FileTruncated",
    "InvalidPath",
    "IsADirectory",
    "ManifestInvalid",
    "NodeInvalid",
    "NotADirectory",
    "SealfsError",
    "VolumeInvalid",
    "VolumeLocked",
    "VolumeRolledBack",
    "WrongKey",
]

_RESTORE = (
    "The host changed the volume's ciphertext. Restore the volume from a trusted backup; "
    "`trustroom sealfs check` lists every file affected."
)


class SealfsError(TrustroomError):
    """A sealed volume refused an operation or found its ciphertext altered."""

    code = "sealfs_error"
    errno: ClassVar[int] = errno.EIO

    def __init__(self, message: str, *, path: str | None = None, **details: Any) -> None:
        super().__init__(message, path=path, **details)
        self.path = path


class VolumeInvalid(SealfsError):
    code = "sealfs_volume_invalid"
    default_hint = (
        "The folder is not a sealfs volume, or its volume.json is damaged: "
        "create one with `trustroom sealfs init`."
    )


class WrongKey(SealfsError):
    code = "sealfs_wrong_key"
    errno = errno.EACCES
    default_hint = "Use the key file the volume was created with (`trustroom sealfs init`)."


class VolumeLocked(SealfsError):
    code = "sealfs_volume_locked"
    errno = errno.EBUSY
    default_hint = (
        "Another process has the volume open (a mount, or a command still running); "
        "a volume has one writer at a time. Unmount it or wait for that process."
    )


class ManifestInvalid(SealfsError):
    code = "sealfs_manifest_invalid"
    default_hint = _RESTORE


class VolumeRolledBack(SealfsError):
    code = "sealfs_volume_rolled_back"
    default_hint = (
        "The volume is older than the version you last trusted: the host served an old "
        "snapshot. Restore the newest copy, or pass the version you really trust."
    )


class NodeInvalid(SealfsError):
    code = "sealfs_node_invalid"
    default_hint = _RESTORE


class FileTruncated(SealfsError):
    code = "sealfs_file_truncated"
    default_hint = _RESTORE


class FileMisplaced(SealfsError):
    code = "sealfs_file_misplaced"
    default_hint = _RESTORE


class FileRolledBack(SealfsError):
    code = "sealfs_file_rolled_back"
    default_hint = (
        "The host replaced this file with an older version of it. Restore the file (or the "
        "volume) from a trusted backup."
    )


class InvalidPath(SealfsError):
    code = "sealfs_invalid_path"
    errno = errno.EINVAL
    default_hint = "Paths inside a volume are '/'-separated, without '..', '.' or NUL bytes."


class FileNotFound(SealfsError):
    code = "sealfs_not_found"
    errno = errno.ENOENT
    default_hint = "List the volume with `trustroom sealfs ls`."


class FileExists(SealfsError):
    code = "sealfs_exists"
    errno = errno.EEXIST
    default_hint = "Choose another path, or remove the existing one first."


class NotADirectory(SealfsError):
    code = "sealfs_not_a_directory"
    errno = errno.ENOTDIR
    default_hint = "A file is in the way of this path."


class IsADirectory(SealfsError):
    code = "sealfs_is_a_directory"
    errno = errno.EISDIR
    default_hint = "Name a file, not a directory."


class DirectoryNotEmpty(SealfsError):
    code = "sealfs_directory_not_empty"
    errno = errno.ENOTEMPTY
    default_hint = "Remove what the directory holds first."

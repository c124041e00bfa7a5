"""Sealed volumes: files encrypted, integrity- and rollback-protected on an untrusted disk.

A volume is a folder of ciphertext: one object per file (a Merkle tree of AES-256-GCM nodes,
each under a fresh key) and a manifest that seals every path with its file's root and a version
that grows with each commit. Flipped bits, swapped nodes or files, truncation and older copies
of a file are all detected and named; an older copy of the whole volume is detected against
the last version its owner trusted. The format: docs/sealfs-format.md.

>>> with Volume.create("vol", VolumeKey.passphrase("correct horse")) as volume:
...     volume.write_bytes("/data/report.csv", b"id,value\\n")
"""

from trustroom.sealfs._errors import (
    DirectoryNotEmpty,
    FileExists,
    FileMisplaced,
    FileNotFound,
    FileRolledBack,
    FileTruncated,
    InvalidPath,
    IsADirectory,
    ManifestInvalid,
    NodeInvalid,
    NotADirectory,
    SealfsError,
    VolumeInvalid,
    VolumeLocked,
    VolumeRolledBack,
    WrongKey,
)
from trustroom.sealfs._file import SealedFile
from trustroom.sealfs._keys import VolumeKey
from trustroom.sealfs._volume import DEFAULT_NODE_SIZE, CheckProblem, CheckReport, FileInfo, Volume

__all__ = [
    "DEFAULT_NODE_SIZE",
    "CheckProblem",
    "CheckReport",
    "DirectoryNotEmpty",
    "FileExists",
    "FileInfo",
    "FileMisplaced",
    "FileNotFound",
    "FileRolledBack",
    "FileTruncated",
    "InvalidPath",
    "IsADirectory",
    "ManifestInvalid",
    "NodeInvalid",
    "NotADirectory",
    "SealedFile",
    "SealfsError",
    "Volume",
    "VolumeInvalid",
    "VolumeKey",
    "VolumeLocked",
    "VolumeRolledBack",
    "WrongKey",
]

"""Writing state files whole: readers see the old content or the new, never half of either."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["create_exclusively", "write_atomically"]


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write beside the target and rename: readers see the old file or the new one."""
    os.replace(_temporary(path, data, mode), path)


def create_exclusively(path: Path, data: bytes, *, mode: int) -> bool:
    """Create ``path`` whole, unless another process did first (then theirs stays); whether
    this call created it."""
    temporary = _temporary(path, data, mode)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def _temporary(path: Path, data: bytes, mode: int) -> Path:
    import tempfile  # here: an enclave's start imports this module and writes nothing

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(name, mode)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)

"""What a program needs besides itself, for a starting manifest: the shared libraries its
loader maps (from ``ldd``), and a Python interpreter's standard library."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

__all__ = ["needed_files"]

_LIBRARY = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def needed_files(program: str) -> list[str]:
    """Paths ``program`` (absolute) loads at start: nothing for a script or a static binary."""
    needed: list[str] = []
    try:
        listing = subprocess.run(
            ["ldd", program], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    for line in listing.splitlines():
        match = _LIBRARY.search(line)
        if match and match.group(1) not in needed:
            needed.append(match.group(1))
    if Path(program).name.startswith("python"):
        needed += _python_library(program)
    return needed


def _python_library(program: str) -> list[str]:
    """The interpreter's standard library folders, as it reports them."""
    script = (
        "import sysconfig; p = sysconfig.get_paths(); print(p['stdlib']); print(p['platstdlib'])"
    )
    try:
        found = subprocess.run(
            [program, "-I", "-c", script], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(found))

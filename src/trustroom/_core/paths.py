"""Where trustroom keeps its state: ``$TRUSTROOM_HOME``, by default ~/.local/share/trustroom."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["trustroom_home"]


def trustroom_home() -> Path:
    home = os.environ.get("TRUSTROOM_HOME")
    return Path(home) if home else Path.home() / ".local" / "share" / "trustroom"

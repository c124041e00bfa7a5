"""`make demo`: the clean-room story, every service a real process, holds every claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "cleanroom_demo.py"


@pytest.mark.slow
@pytest.mark.fuse
def test_the_demo_holds_every_claim_in_under_two_minutes() -> None:
    done = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "13 of 13 claims hold" in done.stdout
    assert "✘" not in done.stdout

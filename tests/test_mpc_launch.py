"""Parties as processes over TLS through ``launch``: results, and a party killed mid-way
stopping the others at once with an error that names it."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import pytest

from trustroom import mpc


def _main_adds(ctx: mpc.Context) -> Any:
    x = ctx.input(0, np.array([1.5, -2.0]) if ctx.rank == 0 else None)
    y = ctx.input(2, np.array([0.25, 4.0]) if ctx.rank == 2 else None)
    return ctx.reveal(x * y + x).tolist()


def _main_one_party_dies(ctx: mpc.Context) -> Any:
    x = ctx.input(0, np.ones(4) if ctx.rank == 0 else None)
    if ctx.rank == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return ctx.reveal(x * x).tolist()


def test_launch_runs_party_processes_over_tls() -> None:
    results = mpc.launch(_main_adds, protocol="aby3", parties=3, transport="tcp", timeout=30)
    assert results == [[1.875, -10.0]] * 3


def test_launch_reports_a_party_killed_mid_computation() -> None:
    start = time.monotonic()
    with pytest.raises(mpc.PeerLost, match="party 2"):
        mpc.launch(_main_one_party_dies, protocol="aby3", parties=3, transport="tcp", timeout=60)
    assert time.monotonic() - start < 30  # the others stop at once, not at the timeout

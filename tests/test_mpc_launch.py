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

PARTIES = {"aby3": 3, "semi2k": 2}


def _main_adds(ctx: mpc.Context) -> Any:
    last = ctx.parties - 1
    x = ctx.input(0, np.array([1.5, -2.0]) if ctx.rank == 0 else None)
    y = ctx.input(last, np.array([0.25, 4.0]) if ctx.rank == last else None)
    return ctx.reveal(mpc.sqrt(x * y + x + 20) < 4.5).tolist()


def _main_one_party_dies(ctx: mpc.Context) -> Any:
    x = ctx.input(0, np.ones(4) if ctx.rank == 0 else None)
    if ctx.rank == ctx.parties - 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return ctx.reveal(x * x).tolist()


@pytest.mark.parametrize("protocol", list(PARTIES))
def test_launch_runs_party_processes_over_tls(protocol: str) -> None:
    parties = PARTIES[protocol]
    results = mpc.launch(_main_adds, protocol, parties, transport="tcp", timeout=30)
    assert results == [[0, 1]] * parties  # sqrt(21.875) = 4.68 and sqrt(10) = 3.16


@pytest.mark.parametrize("protocol", list(PARTIES))
def test_launch_reports_a_party_killed_mid_computation(protocol: str) -> None:
    parties = PARTIES[protocol]
    start = time.monotonic()
    with pytest.raises(mpc.PeerLost, match=f"party {parties - 1}"):
        mpc.launch(_main_one_party_dies, protocol, parties, transport="tcp", timeout=60)
    assert time.monotonic() - start < 30  # the others stop at once, not at the timeout

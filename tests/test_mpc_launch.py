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


def _main_every_operation(ctx: mpc.Context) -> Any:
    rng = np.random.default_rng(11)
    x = rng.uniform(-50, 50, 64)
    y = rng.uniform(0.5, 40, 64)
    a = ctx.input(0, x if ctx.rank == 0 else None)
    b = ctx.input(1, y if ctx.rank == 1 else None)
    m = a.reshape(8, 8)
    return [
        ctx.reveal(v)
        for v in (
            a + b, a - b, a * b, m @ b.reshape(8, 8), a < b, a == a, abs(a), a / b,
            mpc.exp(a * 0.1), mpc.log(b), mpc.sqrt(b), mpc.rsqrt(b), mpc.sigmoid(a),
            mpc.tanh(a * 0.1), mpc.max(m, 1), mpc.argmax(m, 0), mpc.sort(a),
            mpc.softmax(m * 0.1), a.mean(),
        )
    ]  # fmt: skip


@pytest.mark.parametrize("protocol", list(PARTIES))
def test_every_operation_over_tls_agrees_with_numpy(protocol: str) -> None:
    results = mpc.launch(_main_every_operation, protocol, transport="tcp", timeout=60)
    rng = np.random.default_rng(11)
    x = np.round(rng.uniform(-50, 50, 64) * 2**18) / 2**18
    y = np.round(rng.uniform(0.5, 40, 64) * 2**18) / 2**18
    m = x.reshape(8, 8)
    shifted = np.exp(m * 0.1 - (m * 0.1).max(axis=1, keepdims=True))
    expected = [
        (x + y, 0), (x - y, 0), (x * y, 4e-6), (m @ y.reshape(8, 8), 4e-6), (x < y, 0),
        (np.ones(64), 0), (np.abs(x), 0), (x / y, 1e-3), (np.exp(x * 0.1), 0.3),
        (np.log(y), 1e-4), (np.sqrt(y), 1e-3), (1 / np.sqrt(y), 1e-4),
        (1 / (1 + np.exp(-x)), 3e-4), (np.tanh(x * 0.1), 6e-4), (m.max(axis=1), 0),
        (m.argmax(axis=0), 0), (np.sort(x), 0),
        (shifted / shifted.sum(axis=1, keepdims=True), 1e-3), (x.mean(), 1e-5),
    ]  # fmt: skip
    assert all(len(r) == len(expected) for r in results)
    for got, (reference, tolerance) in zip(results[0], expected, strict=True):
        assert np.max(np.abs(got - reference)) <= tolerance
    for other in results[1:]:  # every party opened the same values
        assert all(np.array_equal(p, q) for p, q in zip(results[0], other, strict=True))

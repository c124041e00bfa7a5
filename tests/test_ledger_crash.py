"""A log killed while appending (a writer, or the server) loses no acknowledged entry and
signs nothing inconsistent."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from ledger_server import serving

from trustroom.ledger import (
    Checkpoint,
    Ledger,
    MemberKey,
    Record,
    genesis,
    leaf_hash,
    open_note,
    root_of,
    verify_consistency,
)
from trustroom.tee import SimAttester, SimWorkload

TRIALS = 15
SERVER_TRIALS = 5
WORKLOAD = SimWorkload(b"\x05" * 32, b"\x06" * 32)

# Appends batches of numbered records, acknowledging each batch once append() returned,
# and signs a checkpoint now and then, until it is killed.
WRITER = textwrap.dedent(
    """
    import random, sys
    from trustroom.ledger import Ledger, Record
    from trustroom.tee import SimAttester, SimWorkload

    ledger = Ledger(sys.argv[1], attester=SimAttester(SimWorkload(b"\\x05" * 32, b"\\x06" * 32)))
    rng = random.Random(int(sys.argv[2]))
    n = ledger.size
    while True:
        count = rng.randint(1, 60)
        batch = [
            Record("attestation-result", {"tee": "sim", "status": "none", "token": "t", "n": n + i})
            for i in range(count)
        ]
        indices = ledger.append(batch)
        n += count
        print("acked", indices[-1], flush=True)
        if rng.random() < 0.3:
            ledger.checkpoint()
    """
)


@pytest.mark.slow
def test_a_killed_writer_loses_no_acknowledged_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger.init("example.org/crash", url, attester=SimAttester(WORKLOAD))
    rng = random.Random(7)
    acknowledged = 0
    for trial in range(TRIALS):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(trial)],
            stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
        )  # fmt: skip
        assert writer.stdout is not None
        lines = [writer.stdout.readline()]  # appending now: kill it at a random point
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        # A kill can cut the last line short: only whole lines were acknowledgements.
        lines += out.splitlines(keepends=True)
        acks = [
            int(line.split()[1])
            for line in lines
            if line.endswith("\n") and line.startswith("acked")
        ]
        acknowledged = max([acknowledged, *acks])

        ledger = Ledger(url, attester=SimAttester(WORKLOAD))
        size = ledger.size
        assert size > acknowledged
        entries = ledger.store.entries(0, size)
        assert len(entries) == size
        assert [Record.parse(e).fields["n"] for e in entries[1:]] == list(range(1, size))
        assert ledger.store.state().root == root_of([leaf_hash(e) for e in entries])
        # Every checkpoint signed so far verifies and extends the one before.
        notes = _checkpoints(ledger)
        for older, newer in itertools.pairwise(notes):
            proof = ledger.consistency_proof(older.size, newer.size)
            verify_consistency(older.size, newer.size, proof, older.root, newer.root)
        ledger.checkpoint()  # and the log still signs
    assert acknowledged > 100


def _checkpoints(ledger: Ledger) -> list[Checkpoint]:
    import sqlalchemy as sa

    with ledger.store.engine.connect() as db:
        notes = db.execute(sa.text("SELECT note FROM ledger_checkpoints ORDER BY size")).scalars()
        return [Checkpoint.parse(open_note(n, [ledger.verifier]).text) for n in notes]


@pytest.mark.slow
def test_a_killed_server_loses_no_entry_it_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'served.db'}"
    ledger = Ledger.init("example.org/served", url, attester=SimAttester(WORKLOAD))
    member = MemberKey.generate("bank")
    ledger.govern(genesis([member], threshold=1))
    rng = random.Random(11)
    acknowledged: dict[int, str] = {}
    for trial in range(SERVER_TRIALS):
        with serving(url) as (server, client):
            # Killed from another thread while requests keep coming: mostly mid-append.
            killer = threading.Timer(rng.uniform(0.3, 1.0), server.send_signal, [signal.SIGKILL])
            killer.start()
            n = 0
            while True:
                tokens = [f"{trial}-{n}-{i}" for i in range(rng.randint(1, 20))]
                records = [
                    {"v": 1, "kind": "attestation-result", "tee": "sim", "status": "none",
                     "token": t} for t in tokens
                ]  # fmt: skip
                message = member.submission(records, at=int(time.time()), nonce=f"{trial}-{n}")
                try:
                    answer = client.post("/entries", json=message)
                except httpx.TransportError:
                    break
                assert answer.status_code == 200, answer.text
                acknowledged.update(zip(answer.json()["indices"], tokens, strict=True))
                n += 1
            killer.join()
        ledger = Ledger(url)
        entries = ledger.store.entries(0, ledger.size)
        tokens_stored = {i: Record.parse(e).fields.get("token") for i, e in enumerate(entries)}
        assert all(tokens_stored.get(i) == t for i, t in acknowledged.items())
        assert ledger.store.state().root == root_of([leaf_hash(e) for e in entries])
    assert len(acknowledged) > 50

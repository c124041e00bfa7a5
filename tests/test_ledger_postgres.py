"""The log on PostgreSQL: the same log, and appends from several processes serialised."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from trustroom.ledger import Ledger, Record, leaf_hash, replay, root_of, verify_receipt
from trustroom.tee import SimAttester, SimWorkload

pytestmark = pytest.mark.postgres

WORKLOAD = SimWorkload(b"\x08" * 32, b"\x09" * 32)

APPENDER = textwrap.dedent(
    """
    import sys
    from trustroom.ledger import Ledger, Record

    ledger = Ledger(sys.argv[1])
    for n in range(20):
        ledger.append([Record("attestation-result", {"tee": "sim", "status": "none",
                                                     "token": f"{sys.argv[2]}-{n}-{i}"})
                       for i in range(5)])
    """
)


def test_processes_appending_at_once_make_one_consistent_log(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    ledger = Ledger.init("example.org/pg", postgres_database, attester=SimAttester(WORKLOAD))
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, postgres_database, str(w)])
        for w in range(3)
    ]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    assert ledger.size == 1 + 3 * 20 * 5
    entries = ledger.store.entries(0, ledger.size)
    tokens = {Record.parse(e).fields.get("token") for e in entries[1:]}
    assert len(tokens) == 300  # none lost, none twice
    assert ledger.store.state().root == root_of([leaf_hash(e) for e in entries])
    ledger.checkpoint()
    verified = verify_receipt(ledger.receipt(150), ledger.verifier)
    assert verified.checkpoint.size == 301
    ledger.store.engine.dispose()


def test_governance_replays_on_postgresql(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from trustroom.ledger import MemberKey

    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    ledger = Ledger.init("example.org/pg", postgres_database, attester=SimAttester(WORKLOAD))
    keys = [MemberKey.generate(n) for n in ("a", "b")]
    document = {"type": "genesis", "threshold": 1, "rules": {},
                "members": {k.name: k.public for k in keys}}  # fmt: skip
    ledger.govern(
        {"document": document, "signatures": {k.name: k.sign(document)["signature"] for k in keys}}
    )
    assert set(replay(ledger.record(i) for i in range(ledger.size)).members) == {"a", "b"}
    assert set(ledger.consortium().members) == {"a", "b"}
    ledger.store.engine.dispose()

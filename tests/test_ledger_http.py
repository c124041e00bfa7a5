"""The log's read side over HTTP: tlog-tiles paths as tile clients expect them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ledger_server import serving

from trustroom.ledger import (
    Checkpoint,
    Ledger,
    LedgerClient,
    LedgerError,
    MemberKey,
    Record,
    genesis,
    leaf_hash,
    node_hash,
    open_note,
    proposal_id,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
)
from trustroom.ledger._app import _tile_index
from trustroom.tee import SimAttester, SimWorkload

WORKLOAD = SimWorkload(b"\x0a" * 32, b"\x0b" * 32)


def note(n: int) -> Record:
    return Record("attestation-result", {"tee": "sim", "status": "none", "token": f"t{n}"})


@pytest.fixture
def http(ledger: Ledger) -> Iterator[httpx.Client]:
    """`trustroom ledger serve` on the log, as a real server on a loopback port."""
    with serving(str(ledger.store.engine.url)) as (_, client):
        yield client


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    ledger = Ledger.init("example.org/http", f"sqlite:///{tmp_path / 'h.db'}",
                         attester=SimAttester(WORKLOAD))  # fmt: skip
    ledger.append([note(n) for n in range(299)])  # 300 entries: one full tile, one partial
    ledger.checkpoint()
    return ledger


def test_tile_indices_are_read_as_tlog_tiles_writes_them() -> None:
    assert [_tile_index(p) for p in ("000", "007", "999", "x001/000", "x001/x234/067")] == [
        0, 7, 999, 1000, 1234067,
    ]  # fmt: skip


def test_a_tile_client_recomputes_the_checkpoint_root(ledger: Ledger, http: httpx.Client) -> None:
    checkpoint = Checkpoint.parse(open_note(http.get("/checkpoint").text, [ledger.verifier]).text)
    assert checkpoint.size == 300
    full = http.get("/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert "immutable" in full.headers["cache-control"]
    partial = http.get("/tile/0/001.p/44").content
    bundle = http.get("/tile/entries/001.p/44").content
    entries, at = [], 0
    while at < len(bundle):
        size = int.from_bytes(bundle[at : at + 2], "big")
        entries.append(bundle[at + 2 : at + 2 + size])
        at += 2 + size
    assert [leaf_hash(e) for e in entries] == [partial[i : i + 32] for i in range(0, 44 * 32, 32)]
    # The root of 300 leaves from the tiles alone: the level-8 hash of the full tile, then
    # the partial tile's 44 leaf hashes folded as RFC 9162 splits them.
    level8 = http.get("/tile/1/000.p/1").content
    hashes = [partial[i : i + 32] for i in range(0, len(partial), 32)]

    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return node_hash(mth(leaves[:k]), mth(leaves[k:]))

    assert node_hash(level8, mth(hashes)) == checkpoint.root


def test_proofs_and_receipts_over_http(ledger: Ledger, http: httpx.Client) -> None:
    root = ledger.store.state().root
    proof = http.get("/proof/inclusion", params={"index": 123, "size": 300}).json()["proof"]
    leaf = leaf_hash(ledger.entry(123))
    verify_inclusion(leaf, 123, 300, [base64.b64decode(h) for h in proof], root)
    ledger.append([note(999)])
    new_root = ledger.store.state().root
    proof = http.get("/proof/consistency", params={"from": 300, "to": 301}).json()["proof"]
    verify_consistency(300, 301, [base64.b64decode(h) for h in proof], root, new_root)
    assert http.get("/receipt/5").text.startswith("c2sp.org/tlog-proof@v1\n")
    assert http.get("/receipt/300").status_code == 404  # no checkpoint covers it yet
    assert http.get("/tile/0/002").status_code == 404
    assert http.get("/tile/0/001.p/46").status_code == 404  # 301 entries: 45 in that tile
    assert http.get("/tile/0/../etc").status_code == 404
    error = http.get("/proof/inclusion", params={"index": "x", "size": 1})
    assert error.status_code == 404 and error.json()["code"] == "ledger_entry_not_found"


def test_members_append_over_http_and_nothing_else_gets_in(
    ledger: Ledger, http: httpx.Client, tmp_path: Path
) -> None:
    bank, outsider = MemberKey.generate("bank"), MemberKey.generate("mallory")
    records = [note(1000).to_dict(), note(1001).to_dict()]
    now = int(time.time())
    refused = http.post("/entries", json=bank.submission(records, at=now, nonce="0"))
    assert refused.status_code == 403 and "no consortium" in refused.json()["message"]

    ledger.govern(genesis([bank], threshold=1))
    message = bank.submission(records, at=now, nonce="1")
    accepted = http.post("/entries", json=message)
    assert accepted.status_code == 200, accepted.text
    indices = accepted.json()["indices"]
    assert [ledger.record(i) for i in indices] == [note(1000), note(1001)]
    for bad, why in [
        (message, "replay"),
        (outsider.submission(records, at=now, nonce="2"), "not a member"),
        (bank.submission(records, at=now - 3600, nonce="3"), "within 300 s"),
        ({**message, "signature": outsider.sign(message["document"])["signature"]}, "verify"),
    ]:
        answer = http.post("/entries", json=bad)
        assert answer.status_code == 403 and why in answer.json()["message"], answer.text
        assert answer.json()["code"] == "ledger_submission_refused"
    assert http.post("/entries", content=b"{not json").status_code == 403
    assert ledger.size == indices[-1] + 1  # nothing refused was appended

    key = tmp_path / "bank.key"
    key.write_text(bank.to_text())
    record = tmp_path / "record.json"
    record.write_text(json.dumps(note(1002).to_dict()))
    command = [sys.executable, "-m", "trustroom", "ledger", "append", "--url", str(http.base_url),
               "--key", str(key), "--record-file", str(record), "--json"]  # fmt: skip
    appended = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert appended.returncode == 0, appended.stderr
    assert ledger.record(json.loads(appended.stdout)["index"]) == note(1002)


def test_members_govern_over_http_but_nobody_founds_there(
    ledger: Ledger, http: httpx.Client
) -> None:
    bank, retailer = MemberKey.generate("bank"), MemberKey.generate("retailer")
    squat = http.post("/governance", json=genesis([MemberKey.generate("mallory")], threshold=1))
    assert squat.status_code == 403 and "found the consortium" in squat.json()["message"]
    ledger.govern(genesis([bank, retailer], threshold=2))
    allow = {"type": "allow_measurement", "tee": "sgx", "measurement": "cd" * 32}
    proposal = bank.propose([allow], at=int(time.time()), nonce="p")
    assert http.post("/governance", json=proposal).status_code == 200
    pid = proposal_id(proposal)
    assert len(http.post("/governance", json=bank.ballot(pid, True, at=1)).json()["indices"]) == 1
    again = http.post("/governance", json=bank.ballot(pid, True, at=1))
    assert again.status_code == 403 and again.json()["code"] == "ledger_governance_refused"
    decided = http.post("/governance", json=retailer.ballot(pid, True, at=2)).json()["indices"]
    assert len(decided) == 2 and ("sgx", "cd" * 32) in ledger.consortium().measurements


def test_a_member_client_gets_receipts_the_server_signs_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    # Made by the TEE the server runs in (trustroom's own code, simulated), so that the
    # server can unseal the log key and sign.
    ledger = Ledger.init("example.org/signs", f"sqlite:///{tmp_path / 's.db'}")
    bank, retailer = MemberKey.generate("bank"), MemberKey.generate("retailer")
    ledger.govern(genesis([bank, retailer], threshold=2, rules={"add_member": 1}))
    with (
        serving(str(ledger.store.engine.url), env={"TRUSTROOM_HOME": str(tmp_path / "home")}) as (
            _,
            http,
        ),
        LedgerClient(str(http.base_url), bank) as client,
    ):
        consortium = client.consortium()
        assert consortium.members == {"bank": bank.public, "retailer": retailer.public}
        assert (consortium.threshold, consortium.rules) == (2, {"add_member": 1})
        (index,) = client.submit([note(5000)])
        # Nobody asks for a checkpoint: the server signs one within its interval (1 s).
        receipt = client.receipt(index, wait=20)
    verified = verify_receipt(receipt, ledger.verifier)
    assert verified.index == index and Record.parse(verified.leaf) == note(5000)
    with LedgerClient(str(http.base_url)) as anonymous, pytest.raises(LedgerError, match="key"):
        anonymous.submit([note(5001)])

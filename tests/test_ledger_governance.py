"""Consortium governance: proposals pass exactly when the constitution says, and the whole
history verifies offline from the log's records."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from trustroom.ledger import (
    GovernanceRefused,
    Ledger,
    MemberKey,
    Record,
    genesis,
    proposal_id,
    replay,
)
from trustroom.tee import SimAttester, SimWorkload

WORKLOAD = SimWorkload(hashlib.sha256(b"ledger code").digest(), b"\x07" * 32)
NAMES = ("bank", "retailer", "auditor")


@pytest.fixture
def keys() -> dict[str, MemberKey]:
    return {name: MemberKey.generate(name) for name in NAMES}


def founding(keys: dict[str, MemberKey], threshold: int = 2) -> dict[str, Any]:
    return genesis(list(keys.values()), threshold, {"add_member": 3})


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated TEE's platform keys in a folder of the test's own."""
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))


@pytest.fixture
def ledger(tmp_path: Path, keys: dict[str, MemberKey]) -> Ledger:
    ledger = Ledger.init(
        "example.org/consortium", f"sqlite:///{tmp_path / 'l.db'}", attester=SimAttester(WORKLOAD)
    )
    ledger.govern(founding(keys))
    return ledger


ALLOW = {"type": "allow_measurement", "tee": "sgx", "measurement": "ab" * 32}


def test_a_proposal_passes_exactly_at_the_threshold(
    ledger: Ledger, keys: dict[str, MemberKey]
) -> None:
    proposal = keys["bank"].propose([ALLOW], at=1, nonce="1")
    ledger.govern(proposal)
    pid = proposal_id(proposal)
    ledger.govern(keys["bank"].ballot(pid, True, at=2))
    assert ("sgx", "ab" * 32) not in ledger.consortium().measurements  # 1 of 2
    indices = ledger.govern(keys["retailer"].ballot(pid, True, at=3))
    assert len(indices) == 2  # the ballot and the outcome it decided
    outcome = ledger.record(indices[-1]).fields["message"]
    assert outcome["state"] == "accepted" and outcome["yes"] == ["bank", "retailer"]
    assert ("sgx", "ab" * 32) in ledger.consortium().measurements
    with pytest.raises(GovernanceRefused, match="accepted already"):
        ledger.govern(keys["auditor"].ballot(pid, True, at=4))


def test_per_action_rules_raise_the_count(ledger: Ledger, keys: dict[str, MemberKey]) -> None:
    newcomer = MemberKey.generate("insurer")
    add = {"type": "add_member", "name": "insurer", "key": newcomer.public}
    proposal = keys["auditor"].propose([add, ALLOW], at=1, nonce="n")  # strictest: 3 votes
    ledger.govern(proposal)
    pid = proposal_id(proposal)
    for name in ("bank", "retailer"):
        ledger.govern(keys[name].ballot(pid, True, at=2))
    assert "insurer" not in ledger.consortium().members
    ledger.govern(keys["auditor"].ballot(pid, True, at=3))
    assert "insurer" in ledger.consortium().members
    # The new member now proposes and votes.
    ledger.govern(newcomer.propose([ALLOW], at=4, nonce="m"))


def test_enough_no_votes_reject(ledger: Ledger, keys: dict[str, MemberKey]) -> None:
    proposal = keys["bank"].propose([ALLOW], at=1, nonce="1")
    ledger.govern(proposal)
    pid = proposal_id(proposal)
    ledger.govern(keys["retailer"].ballot(pid, False, at=2))
    indices = ledger.govern(keys["auditor"].ballot(pid, False, at=3))  # 1 of 3 left: < 2
    assert ledger.record(indices[-1]).fields["message"]["state"] == "rejected"
    assert not ledger.consortium().measurements


def test_non_members_bad_signatures_and_replays_are_refused(
    ledger: Ledger, keys: dict[str, MemberKey]
) -> None:
    proposal = keys["bank"].propose([ALLOW], at=1, nonce="1")
    ledger.govern(proposal)
    pid = proposal_id(proposal)
    outsider = MemberKey.generate("mallory")
    with pytest.raises(GovernanceRefused, match="not a member"):
        ledger.govern(outsider.ballot(pid, True, at=2))
    with pytest.raises(GovernanceRefused, match="not a member"):
        ledger.govern(outsider.propose([ALLOW], at=2, nonce="x"))
    forged = MemberKey("retailer", outsider.private).ballot(pid, True, at=2)
    with pytest.raises(GovernanceRefused, match="does not verify"):
        ledger.govern(forged)
    ballot = keys["bank"].ballot(pid, True, at=2)
    ledger.govern(ballot)
    with pytest.raises(GovernanceRefused, match="replay"):
        ledger.govern(ballot)
    with pytest.raises(GovernanceRefused, match="replay"):
        ledger.govern(proposal)
    size = ledger.size
    with pytest.raises(GovernanceRefused):
        ledger.govern(founding(keys))
    assert ledger.size == size  # nothing refused was logged


def test_the_history_verifies_offline_and_tampering_shows(
    ledger: Ledger, keys: dict[str, MemberKey]
) -> None:
    proposal = keys["bank"].propose([ALLOW], at=1, nonce="1")
    ledger.govern(proposal)
    for name in ("bank", "retailer"):
        ledger.govern(keys[name].ballot(proposal_id(proposal), True, at=2))
    records = [ledger.record(i) for i in range(ledger.size)]
    assert ("sgx", "ab" * 32) in replay(records).measurements
    # An outcome altered in the log does not replay.
    last = records[-1]
    altered = dict(last.fields["message"], state="rejected")
    tampered = [*records[:-1], Record("governance", {"action": "outcome", "message": altered})]
    with pytest.raises(GovernanceRefused, match="outcome"):
        replay(tampered)
    # Nor does a ballot dropped from the history.
    with pytest.raises(GovernanceRefused):
        replay([*records[:-3], *records[-2:]])


def test_a_constitution_asking_more_votes_than_members_is_refused(
    keys: dict[str, MemberKey], tmp_path: Path
) -> None:
    ledger = Ledger.init("o", f"sqlite:///{tmp_path / 'g.db'}", attester=SimAttester(WORKLOAD))
    with pytest.raises(GovernanceRefused, match="asks 4 votes"):
        ledger.govern(founding(keys, threshold=4))
    with pytest.raises(GovernanceRefused, match="every founding member"):
        message = founding(keys)
        del message["signatures"]["auditor"]
        ledger.govern(message)

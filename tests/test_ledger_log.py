"""The log over its database: appends, checkpoints that never disagree, proofs, receipts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom.evidence import Verifier
from trustroom.ledger import (
    CheckpointInvalid,
    CheckpointRefused,
    CosignatureSigner,
    EntryNotFound,
    Ledger,
    LedgerStore,
    LogExists,
    LogNotFound,
    NoteInvalid,
    ProofInvalid,
    Record,
    RecordInvalid,
    StoreUnavailable,
    TreeStateInvalid,
    WitnessPolicyUnmet,
    check_log_key,
    cosign,
    digest_of,
    leaf_hash,
    root_of,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
)
from trustroom.ledger._checkpoint import Checkpoint
from trustroom.ledger._note import open_note
from trustroom.tee import SimAttester, SimWorkload, sim_collateral

ORIGIN = "example.org/test-ledger"
WORKLOAD = SimWorkload(hashlib.sha256(b"ledger code").digest(), b"\x07" * 32)


def job(n: int) -> Record:
    return Record(
        "job-result",
        {
            "job": f"job-{n}",
            "program": {"measurement": digest_of(b"program")},
            "inputs": [{"name": "in.csv", "digest": digest_of(n.to_bytes(8, "big"))}],
            "outputs": [{"name": "out.json", "digest": digest_of(b"out%d" % n)}],
            "policy": {"digest": digest_of(b"policy")},
            "attestation": {"digest": digest_of(b"token")},
        },
    )


@pytest.fixture(autouse=True)
def _home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated TEE's platform keys in a folder of the test's own."""
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.init(
        ORIGIN, f"sqlite:///{tmp_path / 'ledger.db'}", attester=SimAttester(WORKLOAD)
    )


def all_leaves(ledger: Ledger) -> list[bytes]:
    return [leaf_hash(e) for e in ledger.store.entries(0, ledger.size)]


def test_entry_zero_attests_the_log_key(ledger: Ledger) -> None:
    record = ledger.record(0)
    assert record.kind == "log-key" and record.fields["sim"] is True
    assert record.fields["vkey"] == ledger.verifier.vkey
    result = check_log_key(record, Verifier(trust_sim=True), collateral=sim_collateral())
    assert result.measurements["mrenclave"] == WORKLOAD.mrenclave.hex()
    # Simulated evidence is never trusted by default.
    with pytest.raises(Exception, match="evidence does not verify"):
        check_log_key(record, Verifier())


def test_appends_are_indexed_in_order_and_the_root_is_the_rfc9162_root(ledger: Ledger) -> None:
    first = ledger.append([job(1), job(2)])
    second = ledger.append([job(3).canonical()])
    assert list(first) == [1, 2] and list(second) == [3]
    assert ledger.record(3) == job(3)
    assert ledger.store.state().root == root_of(all_leaves(ledger))


@settings(max_examples=15, deadline=None)
@given(batches=st.lists(st.integers(1, 300), min_size=1, max_size=6))
def test_batches_integrate_incrementally_to_the_whole_tree_root(
    batches: list[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    ledger = Ledger.init(ORIGIN, f"sqlite:///{path}", attester=SimAttester(WORKLOAD))
    n = 0
    for size in batches:
        ledger.append([job(n + i) for i in range(size)])
        n += size
        leaves = all_leaves(ledger)
        assert ledger.store.state().root == root_of(leaves)
    root = root_of(leaves)
    for index in {0, len(leaves) // 2, len(leaves) - 1}:
        proof = ledger.inclusion_proof(index, len(leaves))
        verify_inclusion(leaves[index], index, len(leaves), proof, root)
    for old in {1, len(leaves) // 3 or 1, len(leaves)}:
        proof = ledger.consistency_proof(old, len(leaves))
        verify_consistency(old, len(leaves), proof, root_of(leaves[:old]), root)


def test_checkpoints_are_signed_notes_of_the_tree(ledger: Ledger) -> None:
    ledger.append([job(i) for i in range(10)])
    note = ledger.checkpoint()
    verified = verify_checkpoint(note, ledger.verifier, origin=ORIGIN)
    assert verified.checkpoint == Checkpoint(ORIGIN, 11, ledger.store.state().root)
    assert ledger.checkpoint() == note  # nothing new: the same checkpoint
    ledger.append([job(10)])
    assert Checkpoint.parse(open_note(ledger.checkpoint(), [ledger.verifier]).text).size == 12


def test_the_log_refuses_to_sign_a_tree_that_does_not_extend_its_last_checkpoint(
    ledger: Ledger,
) -> None:
    ledger.append([job(i) for i in range(20)])
    ledger.checkpoint()
    ledger.append([job(20)])
    with ledger.store.engine.begin() as db:  # someone rewrites an entry's node hash
        db.execute(
            sa.text(
                "UPDATE ledger_tiles SET nodes = randomblob(length(nodes)) "
                "WHERE level = 0 AND idx = 0"
            )
        )
    with pytest.raises(CheckpointRefused):
        ledger.checkpoint()


def test_a_smaller_tree_than_the_last_checkpoint_is_refused(ledger: Ledger) -> None:
    ledger.append([job(i) for i in range(5)])
    ledger.checkpoint()
    with ledger.store.engine.begin() as db:
        db.execute(sa.text("UPDATE ledger_state SET size = 3"))
    with pytest.raises(CheckpointRefused, match="fewer"):
        ledger.checkpoint()


def test_receipts_verify_offline_with_the_log_key_alone(ledger: Ledger) -> None:
    ledger.append([job(i) for i in range(40)])
    ledger.checkpoint()
    receipt = ledger.receipt(17)
    verified = verify_receipt(type(receipt).parse(receipt.to_text()), ledger.verifier)
    assert verified.checkpoint.size == 41
    assert json.loads(receipt.extra)["job"] == "job-16"
    with pytest.raises(EntryNotFound):
        ledger.receipt(41)  # not covered by a checkpoint yet


def test_bad_records_and_indices_are_refused(ledger: Ledger) -> None:
    with pytest.raises(RecordInvalid):
        ledger.append([b'{"v":1,"kind":"job-result"}'])
    with pytest.raises(RecordInvalid):
        ledger.append([b'{"kind":"governance","v":1,"action":"x"}'])  # not canonical
    with pytest.raises(EntryNotFound):
        ledger.entry(99)
    with pytest.raises(EntryNotFound):
        ledger.inclusion_proof(5, 3)
    assert ledger.size == 1


def test_one_database_holds_one_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with pytest.raises(LogNotFound):
        Ledger(url)
    Ledger.init(ORIGIN, url, attester=SimAttester(WORKLOAD))
    with pytest.raises(LogExists):
        Ledger.init("other", url, attester=SimAttester(WORKLOAD))


def test_a_proof_over_missing_nodes_is_an_error_not_a_wrong_proof(ledger: Ledger) -> None:
    ledger.append([job(i) for i in range(300)])
    with ledger.store.engine.begin() as db:
        db.execute(sa.text("DELETE FROM ledger_tiles WHERE level = 0 AND idx = 0"))
    with pytest.raises(ProofInvalid, match="missing"):
        ledger.inclusion_proof(3, 301)


def test_witness_cosignatures_reach_receipts_and_the_policy_counts_them(ledger: Ledger) -> None:
    witnesses = [CosignatureSigner.generate(f"witness-{n}.example") for n in range(3)]
    verifiers = [w.verifier() for w in witnesses]
    ledger.append([job(i) for i in range(8)])
    note = ledger.checkpoint()
    for witness in witnesses[:2]:  # two of three witnesses checked it and cosigned
        ledger.add_cosignatures(cosign(note, witness, at=1764201600), verifiers)
    receipt = ledger.receipt(5)
    verified = verify_receipt(receipt, ledger.verifier, verifiers, 2)
    assert set(verified.witnesses) == {"witness-0.example", "witness-1.example"}
    with pytest.raises(WitnessPolicyUnmet):
        verify_receipt(receipt, ledger.verifier, verifiers, 3)
    # A cosignature that does not verify, or on a checkpoint the log never signed, is refused.
    good = cosign(note, witnesses[2], at=1)
    head, line = good.rstrip("\n").rsplit("\n", 1)
    name, signature = line.rsplit(" ", 1)
    tampered = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    with pytest.raises(NoteInvalid):
        ledger.add_cosignatures(f"{head}\n{name} {tampered}\n", verifiers)
    stranger = cosign(note, CosignatureSigner.generate("witness-2.example"), at=1)
    stored = ledger.add_cosignatures(stranger, verifiers)  # an unknown key: not kept
    assert stored.count("witness-2.example") == 0
    other = sign_checkpoint(Checkpoint(ORIGIN, 9, bytes(32)), ledger._log_signer())
    with pytest.raises(CheckpointInvalid):
        ledger.add_cosignatures(cosign(other, witnesses[2], at=1), verifiers)


def test_a_log_is_created_with_its_entry_zero_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'half.db'}"

    def fail(*args: object) -> None:
        raise RuntimeError("crash while storing entry 0")

    with monkeypatch.context() as patched:
        patched.setattr("trustroom.ledger._store.LedgerStore.commit", fail)
        with pytest.raises(RuntimeError):
            Ledger.init(ORIGIN, url, attester=SimAttester(WORKLOAD))
    with pytest.raises(LogNotFound):
        Ledger(url)  # nothing half made is left behind
    assert Ledger.init(ORIGIN, url, attester=SimAttester(WORKLOAD)).size == 1


def test_a_damaged_tree_state_stops_appends_and_signing(ledger: Ledger) -> None:
    ledger.append([job(i) for i in range(6)])
    with ledger.store.engine.begin() as db:  # 7 entries: three edge hashes; drop one
        db.execute(sa.text("UPDATE ledger_state SET edge = substr(edge, 1, 64)"))
    with pytest.raises(TreeStateInvalid):
        ledger.append([job(7)])
    with pytest.raises(TreeStateInvalid):
        ledger.checkpoint()


def test_a_locked_database_is_store_unavailable_on_every_path(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    ledger = Ledger.init(ORIGIN, LedgerStore(engine=engine), attester=SimAttester(WORKLOAD))
    ledger.append([job(i) for i in range(3)])
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            ledger.inclusion_proof(1, 4)  # statements run on the driver's cursor
        with pytest.raises(StoreUnavailable):
            ledger.append([job(9)])  # statements run through SQLAlchemy
    finally:
        holder.close()
        engine.dispose()

"""A job's ledger entries, and a recipient's offline check that an output is a result of the
job it claims, with the log's public key alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_cleanroom_parts import SPEC, keys

from trustroom.cleanroom import JobSpec, approve
from trustroom.cleanroom._records import (
    ResultInvalid,
    approval_record,
    check_result,
    result_record,
    start_record,
)
from trustroom.enclave import seal_output
from trustroom.ledger import Ledger, digest_of
from trustroom.tee import SimAttester, SimWorkload

WORKLOAD = SimWorkload(hashlib.sha256(b"cleanroom records").digest(), b"\x02" * 32)


@pytest.fixture(autouse=True)
def _home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path_factory.mktemp("home")))


def logged_job(tmp_path: Path) -> tuple[Ledger, JobSpec, bytes, str]:
    """A job's entries in a fresh log, checkpointed: the log, the spec, the bank's sealed
    output and the receipt of the result."""
    ledger = Ledger.init("cleanroom.test/log", f"sqlite:///{tmp_path / 'l.db'}",
                         attester=SimAttester(WORKLOAD))  # fmt: skip
    spec = JobSpec.parse(SPEC)
    bank = keys()["bank"]
    envelope = seal_output(
        b"weights", context=spec.name, output="model.json", recipient="bank",
        recipient_key=bank.public,
    )  # fmt: skip
    approvals = [approval_record(spec, approve(keys()[n], spec, at=1)) for n in spec.owners]
    result = result_record(
        spec,
        outputs={
            ("model.json", "bank"): digest_of(envelope),
            ("model.json", "algo"): digest_of(b"a"),
        },
        policy=digest_of(b"policy"),
        attestation=digest_of(b"token"),
        tee="sim",
    )
    indices = ledger.append([*approvals, start_record(spec), result])
    ledger.checkpoint()
    return ledger, spec, envelope, ledger.receipt(indices[-1]).to_text()


def test_a_recipient_checks_its_output_against_the_receipt(tmp_path: Path) -> None:
    ledger, spec, envelope, receipt = logged_job(tmp_path)
    key = ledger.verifier.vkey
    record = check_result(envelope, receipt, key, job=spec.digest, recipient="bank")
    assert record["kind"] == "job-result" and record["job"] == "churn-risk"
    assert record["tee"] == "sim"  # a simulated run says so in its receipt
    assert record["program"] == {"provider": "algo", "measurement": spec.program.measurement}
    assert [i["digest"] for i in record["inputs"]] == [i.digest for i in spec.inputs]
    kinds = [ledger.record(i).kind for i in range(1, ledger.size)]
    assert kinds == ["job-approval", "job-approval", "job-start", "job-result"]


def test_an_altered_output_receipt_or_key_is_refused(tmp_path: Path) -> None:
    ledger, spec, envelope, receipt = logged_job(tmp_path)
    key = ledger.verifier.vkey
    with pytest.raises(ResultInvalid, match="does not list this envelope"):
        check_result(envelope + b" ", receipt, key, job=spec.digest, recipient="bank")
    with pytest.raises(ResultInvalid, match="does not list this envelope"):
        check_result(envelope, receipt, key, job=spec.digest, recipient="retailer")
    with pytest.raises(ResultInvalid, match="not a result of"):
        check_result(envelope, receipt, key, job=digest_of(b"other"), recipient="bank")
    index = receipt.index("index ")
    moved = receipt[:index] + receipt[index:].replace("index 4", "index 3", 1)
    with pytest.raises(ResultInvalid, match="does not verify"):
        check_result(envelope, moved, key, job=spec.digest, recipient="bank")
    other = Ledger.init("cleanroom.test/log", f"sqlite:///{tmp_path / 'o.db'}",
                        attester=SimAttester(WORKLOAD))  # fmt: skip
    with pytest.raises(ResultInvalid, match="does not verify"):
        check_result(envelope, receipt, other.verifier.vkey, job=spec.digest, recipient="bank")
    start = ledger.receipt(3).to_text()
    with pytest.raises(ResultInvalid, match="a job-start entry"):
        check_result(envelope, start, key, job=spec.digest, recipient="bank")

"""A job's ledger entries, and a recipient's offline check of its result.

A job leaves three kinds of entries: each owner's ``job-approval`` (the signed message
itself), its ``job-start`` once every owner approved, and its ``job-result``: the program's
measurement (or script digest), the inputs' digests, each sealed output's digest per
recipient, the release policy's digest and the attestation result's. A recipient holding an
output checks, with nothing but the log's public key, that its receipt is a valid tlog-proof
of a ``job-result`` of that job listing that very envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._spec import JobSpec
from trustroom.ledger import (
    LedgerError,
    NoteVerifier,
    Receipt,
    Record,
    digest_of,
    verify_receipt,
)

__all__ = ["ResultInvalid", "approval_record", "check_result", "result_record", "start_record"]


class ResultInvalid(CleanroomError):
    """An output whose receipt does not prove it is a result of the job it claims."""

    code = "cleanroom_result_invalid"
    default_hint = (
        "Ask the coordinator for the job's receipt again; if it still fails, the output or the "
        "receipt was altered, or the log signing it is not the one you hold the key of."
    )


def approval_record(spec: JobSpec, approval: Mapping[str, Any]) -> Record:
    party = approval.get("document", {}).get("party")
    return Record(
        "job-approval",
        {"job": spec.name, "spec": spec.digest, "party": party, "approval": dict(approval)},
    )


def start_record(spec: JobSpec) -> Record:
    return Record("job-start", {"job": spec.name, "spec": spec.digest, "mode": spec.mode})


def result_record(
    spec: JobSpec,
    *,
    outputs: Mapping[tuple[str, str], str],
    policy: str,
    attestation: str,
    tee: str | None = None,
) -> Record:
    """The result of ``spec``: ``outputs`` maps (output name, recipient) to the digest of its
    envelope; ``policy`` and ``attestation`` are the digests of the release policy and of
    the attestation result (for mpc jobs: of the parties' certificates); ``tee``, for a TEE
    job, is the TEE it ran in, so that a simulated run says so in its receipt."""
    program = {"provider": spec.program.provider}
    if spec.program.measurement is not None:
        program["measurement"] = spec.program.measurement
    if spec.program.script is not None:
        program["script_digest"] = spec.program.script
    return Record(
        "job-result",
        {
            "job": spec.name,
            "spec": spec.digest,
            "mode": spec.mode,
            "program": program,
            "inputs": [
                {"name": i.dataset, "owner": i.owner, "digest": i.digest} for i in spec.inputs
            ],
            "outputs": [
                {"name": name, "recipient": recipient, "digest": digest}
                for (name, recipient), digest in sorted(outputs.items())
            ],
            "policy": {"digest": policy},
            "attestation": {"digest": attestation},
            **({"tee": tee} if tee is not None else {}),
        },
    )


def check_result(
    envelope: bytes, receipt: str, log_key: str, *, job: str, recipient: str
) -> dict[str, Any]:
    """The ``job-result`` record that ``receipt`` (a tlog-proof text) proves in the log
    whose verifier key is ``log_key``, once checked that it is of job ``job`` (its spec's
    digest) and lists ``envelope`` for ``recipient``; ResultInvalid otherwise."""
    try:
        verified = verify_receipt(Receipt.parse(receipt), NoteVerifier.from_vkey(log_key))
        record = Record.parse(verified.leaf)
    except LedgerError as exc:
        raise ResultInvalid(f"the receipt does not verify: {exc.message}") from exc
    fields = record.fields
    if record.kind != "job-result" or fields.get("spec") != job:
        raise ResultInvalid(f"the receipt proves a {record.kind} entry, not a result of {job}")
    digest = digest_of(envelope)
    listed = [o for o in fields.get("outputs", []) if isinstance(o, dict)]
    if not any(o.get("digest") == digest and o.get("recipient") == recipient for o in listed):
        raise ResultInvalid(
            f"the job's result does not list this envelope ({digest}) for {recipient}"
        )
    return record.to_dict()

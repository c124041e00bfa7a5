"""Running jobs the coordinator hands out: a worker runs TEE jobs, each owner runs its own
party of an mpc job (and someone trusted by both, the dealer).

Whoever runs a job checks it again rather than trusting the coordinator: the worker checks
the approvals against the consortium the ledger keeps and the image against the approved
measurement; a party checks the script's and its table's digests against the spec.
"""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from trustroom._core.errors import TrustroomError
from trustroom.cleanroom._archive import unpack
from trustroom.cleanroom._client import CoordinatorClient
from trustroom.cleanroom._mpc import run_mpc_party
from trustroom.cleanroom._spec import JobSpec
from trustroom.cleanroom._tee import run_tee_job
from trustroom.enclave._outputs import envelope_name
from trustroom.ledger import LedgerClient, digest_of
from trustroom.mpc import Job
from trustroom.mpc._tcp import Party, new_identity

__all__ = ["run_party", "work_once"]


def work_once(
    coordinator: CoordinatorClient,
    ledger: LedgerClient,
    *,
    kbs: str,
    workdir: Path,
    name: str,
    on_step: Callable[[str], None] = lambda step: None,
) -> str | None:
    """Claim the next approved TEE job and run it; its id, or None when none is waiting. A
    job that fails is reported to the coordinator (and the error raised); ``on_step`` hears
    each step as it starts."""
    job = coordinator.claim(name)
    if job is None:
        return None
    on_step(f"unpacking job {job['spec']['name']}")
    folder = Path(tempfile.mkdtemp(prefix="job-", dir=workdir))
    try:
        spec = JobSpec.from_dict(job["spec"])
        program = unpack(base64.b64decode(job["program"]), folder / "program")
        volumes = {
            dataset: unpack(base64.b64decode(volume), folder / "volumes" / dataset)
            for dataset, volume in job["volumes"].items()
        }
        outputs = folder / "outputs"
        on_step(f"running {job['spec']['name']} in the enclave")
        ran = run_tee_job(
            spec, job["approvals"], ledger.consortium(), program=program, volumes=volumes,
            kbs=kbs, outputs=outputs,
        )  # fmt: skip
        envelopes = _envelopes(outputs, ran.outputs)
        on_step("sending the sealed outputs")
        coordinator.result(job["id"], envelopes, ran.attestation, tee=ran.tee)
    except TrustroomError as exc:
        coordinator.failure(job["id"], exc.message)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return str(job["id"])


def run_party(
    coordinator: CoordinatorClient,
    ledger: LedgerClient,
    job: str,
    rank: int,
    *,
    table: Path | None,
    host: str = "127.0.0.1",
    on_step: Callable[[str], None] = lambda step: None,
) -> None:
    """Run party ``rank`` of mpc job ``job`` (0 and 1: the spec's owners, each with its own
    ``table``; 2: the dealer), with a fresh certificate the others pin for this job;
    ``on_step`` hears each step as it starts."""
    on_step("joining the job")
    found = coordinator.job(job)
    spec = JobSpec.from_dict(found["spec"])
    certificate, key = new_identity(f"{spec.name} party {rank}", days=1)
    with socket.socket() as probe:  # a free port, bound again by the party at once
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    coordinator.join(job, rank, host, port, certificate.decode())
    on_step("waiting for the other parties")
    listed = coordinator.parties(job)
    parties = tuple(Party(p["host"], int(p["port"]), p["certificate"].encode()) for p in listed)
    if parties[rank].certificate != certificate:
        raise TrustroomError(f"the coordinator lists another certificate for party {rank}")
    with tempfile.TemporaryDirectory(prefix="party-") as scratch:
        folder = Path(scratch)
        (folder / "party.key").write_bytes(key)
        program = unpack(base64.b64decode(found["program"]), folder / "program")
        keys = tuple(folder / "party.key" if r == rank else None for r in range(len(parties)))
        mpc_job = Job("semi2k", parties, timeout=300, connect_timeout=120, keys=keys)
        members = ledger.consortium().members
        on_step("private set intersection, then the program on secret shares")
        digests = run_mpc_party(
            spec, mpc_job, rank, program=program, table=table, members=members,
            outputs=folder / "outputs",
        )  # fmt: skip
        if rank == 2:
            return
        envelopes = _envelopes(folder / "outputs", digests)
    on_step("sending the sealed shares")
    # Who took part: the certificates every party pinned for this job.
    taking_part = digest_of(b"".join(sorted(p.certificate for p in parties)))
    coordinator.result(job, envelopes, taking_part, party=rank)


def _envelopes(folder: Path, sealed: Iterable[tuple[str, str]]) -> dict[str, tuple[str, bytes]]:
    """The envelopes in ``folder`` of each (output, recipient), by file name, with their
    recipient: what the coordinator takes."""
    return {
        envelope_name(output, recipient): (
            recipient,
            (folder / envelope_name(output, recipient)).read_bytes(),
        )
        for output, recipient in sealed
    }

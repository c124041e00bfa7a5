"""The coordinator: takes datasets, job specs and approvals, hands approved jobs to workers and
parties, and logs every step.

It trusts nobody's word: registrations, submissions and approvals are messages signed by
consortium members (the ledger's governance says who they are and their keys). A job's
approvals and its start are logged when they happen; when the last owner approves a TEE job,
the key broker's release policy is rewritten to let that job's measurement have the inputs'
keys, and the grant is withdrawn once the job is done. Its result is logged with the sealed
outputs' digests, and the receipt kept for the recipients.

The coordinator never sees plaintext: volumes are ciphertext, outputs are sealed to their
recipients. What it could do wrong (hand a job to a worker that does not run it, withhold
outputs) shows in the ledger: an approved job without a result.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trustroom.cleanroom._approval import check_approval
from trustroom.cleanroom._archive import unpack
from trustroom.cleanroom._datasets import Dataset
from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._mpc import program_digest
from trustroom.cleanroom._policy import release_policy
from trustroom.cleanroom._records import approval_record, result_record, start_record
from trustroom.cleanroom._spec import JobSpec
from trustroom.cleanroom._store import CoordinatorStore, approvals, datasets, jobs, outputs, parties
from trustroom.cleanroom._tee import grants
from trustroom.enclave._outputs import envelope_name
from trustroom.kbs import KbsAdmin
from trustroom.ledger import Consortium, GovernanceRefused, LedgerClient, digest_of

__all__ = ["Coordinator", "JobNotFound"]

_PENDING, _APPROVED, _RUNNING, _DONE, _FAILED = "pending", "approved", "running", "done", "failed"
_MPC_PROCESSES = 3  # the two owners' parties and the dealer


class JobNotFound(CleanroomError):
    code = "cleanroom_job_not_found"
    default_hint = "List the jobs with `trustroom cleanroom job list`."


class Coordinator:
    """The coordinator's work on its database (``db``), the ledger it logs to (as the member
    ``ledger.member``) and, for TEE jobs, the key broker it administers."""

    def __init__(
        self,
        db: str | None,
        *,
        ledger: LedgerClient,
        kbs: KbsAdmin | None = None,
        allow_sim: bool = False,
    ) -> None:
        self.store = CoordinatorStore(db)
        self.ledger = ledger
        self.kbs = kbs
        self.allow_sim = allow_sim

    def _consortium(self) -> Consortium:
        return self.ledger.consortium()

    def _signed(self, message: Mapping[str, Any], kind: str) -> dict[str, Any]:
        try:
            return self._consortium().signed_by_member(message, kind, signer="party")
        except GovernanceRefused as exc:
            raise CleanroomError(f"the {kind} message does not count: {exc.message}") from exc

    # -- datasets -----------------------------------------------------------------------------

    def register_dataset(self, message: Mapping[str, Any], volume: bytes) -> Dataset:
        """Keep an owner's signed registration (``{"type": "dataset", "party", "dataset"}``)
        and its sealed volume (a tar.gz of ciphertext)."""
        document = self._signed(message, "dataset")
        dataset = Dataset.from_dict(document.get("dataset", {}))
        if dataset.owner != document["party"]:
            raise CleanroomError(f"{document['party']} registered a dataset of {dataset.owner}")
        self.store.insert(
            datasets,
            {"name": dataset.name, "owner": dataset.owner, "registration": dict(message),
             "volume": volume},
            f"a dataset named {dataset.name} is registered already",
        )  # fmt: skip
        return dataset

    def datasets(self) -> list[dict[str, Any]]:
        with self.store.transaction() as db:
            rows = db.execute(sa.select(datasets.c.registration)).all()
        return [row.registration["document"]["dataset"] for row in rows]

    # -- jobs -----------------------------------------------------------------------------------

    def submit_job(self, message: Mapping[str, Any], program: bytes) -> JobSpec:
        """Take a provider's signed job (``{"type": "job", "party", "spec"}``) with its program
        (its folder as tar.gz: the enclave image for tee, the MPC program for mpc), once
        its inputs are registered datasets with the digests it names."""
        document = self._signed(message, "job")
        spec = JobSpec.from_dict(document.get("spec", {}))
        if spec.program.provider != document["party"]:
            raise CleanroomError(
                f"{document['party']} submitted a program of {spec.program.provider}"
            )
        if spec.mode == "mpc":
            with tempfile.TemporaryDirectory() as scratch:
                sent = program_digest(unpack(program, Path(scratch)))
            if sent != spec.program.script:
                raise CleanroomError(
                    f"the program sent ({sent}) is not the one the spec names "
                    f"({spec.program.script})"
                )
        members = self._consortium().members
        for name in {*spec.owners, *spec.recipients, spec.program.provider}:
            if name not in members:
                raise CleanroomError(f"{name} is not a member of the consortium")
        registered = {d["name"]: d for d in self.datasets()}
        for item in spec.inputs:
            found = registered.get(item.dataset)
            if found is None or (found["owner"], found["digest"]) != (item.owner, item.digest):
                raise CleanroomError(
                    f"input {item.dataset} is not a dataset {item.owner} registered with "
                    f"digest {item.digest}"
                )
        self.store.insert(
            jobs,
            {"id": spec.digest, "name": spec.name, "mode": spec.mode,
             "submission": dict(message), "program": program, "status": _PENDING},
            f"a job named {spec.name} exists already",
        )  # fmt: skip
        return spec

    def _row(self, db: sa.Connection, job: str) -> Any:
        row = db.execute(sa.select(jobs).where(jobs.c.id == job)).first()
        if row is None:
            raise JobNotFound(f"no job {job}")
        return row

    def spec(self, job: str) -> JobSpec:
        with self.store.transaction() as db:
            row = self._row(db, job)
        return JobSpec.from_dict(row.submission["document"]["spec"])

    def approve(self, job: str, message: Mapping[str, Any]) -> str:
        """Take an owner's approval of ``job``: checked, logged; the job's state after it.
        The last owner's approval logs the start and, for a TEE job, grants its keys."""
        spec = self.spec(job)
        party = check_approval(spec, message, self._consortium())
        with self.store.transaction() as db:
            seen = db.execute(
                sa.select(approvals.c.party).where(
                    approvals.c.job == job, approvals.c.party == party
                )
            ).first()
        if seen is not None:  # refused before it reaches the log
            raise CleanroomError(f"{party} approved job {spec.name} already")
        (index,) = self.ledger.submit([approval_record(spec, message)])
        self.store.insert(
            approvals,
            {"job": job, "party": party, "message": dict(message), "log_index": index},
            f"{party} approved job {spec.name} already",
        )
        with self.store.transaction() as db:
            rows = db.execute(sa.select(approvals.c.party).where(approvals.c.job == job))
            approved = {row.party for row in rows}
            if approved != set(spec.owners):
                return _PENDING
            db.execute(jobs.update().where(jobs.c.id == job).values(status=_APPROVED))
        self.ledger.submit([start_record(spec)])
        if spec.mode == "tee":
            policy = self._grant_keys()
            self._set_reference_values(spec)
            with self.store.transaction() as db:
                db.execute(jobs.update().where(jobs.c.id == job).values(policy=policy))
        return _APPROVED

    def _grant_keys(self) -> str:
        """Rewrite the broker's release policy from the TEE jobs approved and not done; the
        digest of the policy installed."""
        if self.kbs is None:
            raise CleanroomError(
                "this coordinator administers no key broker, so TEE jobs cannot get keys",
                hint="Start it with --kbs URL --kbs-admin-key FILE.",
            )
        with self.store.transaction() as db:
            active = db.execute(
                sa.select(jobs.c.submission).where(
                    jobs.c.mode == "tee", jobs.c.status.in_([_APPROVED, _RUNNING])
                )
            ).all()
        specs = [JobSpec.from_dict(r.submission["document"]["spec"]) for r in active]
        allowed: dict[str, list[str]] = {}
        for spec in specs:
            for resource, measurements in grants(spec).items():
                allowed.setdefault(resource, []).extend(measurements)
        policy = release_policy(allowed, allow_sim=self.allow_sim)
        self.kbs.set_policy(policy)
        return digest_of(policy.encode())

    def _set_reference_values(self, spec: JobSpec) -> None:
        """The broker's reference values for an approved TEE job's program, set once."""
        assert self.kbs is not None  # _grant_keys, called first, refuses to run without one
        tees = ["sgx", "sim"] if self.allow_sim else ["sgx"]
        measurement = (spec.program.measurement or "").removeprefix("sha256:")
        self.kbs.set_reference_values(
            {"name": spec.name, "tee": tees, "measurements": {"mrenclave": [measurement]}}
        )

    def job(self, job: str) -> dict[str, Any]:
        """A job's spec, state, approvals so far, error or result."""
        with self.store.transaction() as db:
            row = self._row(db, job)
            approved = db.execute(sa.select(approvals.c.party).where(approvals.c.job == job)).all()
        return {
            "id": row.id,
            "name": row.name,
            "mode": row.mode,
            "status": row.status,
            "spec": row.submission["document"]["spec"],
            # The parties of an mpc job run the program themselves (its digest is approved).
            **({"program": _b64(row.program)} if row.mode == "mpc" else {}),
            "approved_by": sorted(r.party for r in approved),
            "result": row.result,
            "error": row.error,
        }

    def jobs(self) -> list[dict[str, Any]]:
        with self.store.transaction() as db:
            rows = db.execute(sa.select(jobs.c.id, jobs.c.name, jobs.c.mode, jobs.c.status)).all()
        return [{"id": r.id, "name": r.name, "mode": r.mode, "status": r.status} for r in rows]

    # -- running -------------------------------------------------------------------------------

    def claim(self, worker: str) -> dict[str, Any] | None:
        """The oldest approved TEE job, now running on ``worker``: its spec, approvals,
        program archive and the inputs' sealed volumes; None when there is none."""
        with self.store.transaction() as db:
            row = db.execute(
                sa.select(jobs).where(jobs.c.mode == "tee", jobs.c.status == _APPROVED).limit(1)
            ).first()
            if row is None:
                return None
            claimed = db.execute(
                jobs.update()
                .where(jobs.c.id == row.id, jobs.c.status == _APPROVED)
                .values(status=_RUNNING, claimed_by=worker)
            )
            if not claimed.rowcount:
                return None
            spec = JobSpec.from_dict(row.submission["document"]["spec"])
            names = [i.dataset for i in spec.inputs]
            volumes = db.execute(
                sa.select(datasets.c.name, datasets.c.volume).where(datasets.c.name.in_(names))
            ).all()
            signed = db.execute(
                sa.select(approvals.c.message).where(approvals.c.job == row.id)
            ).all()
        return {
            "id": row.id,
            "spec": spec.to_dict(),
            "approvals": [r.message for r in signed],
            "program": _b64(row.program),
            "volumes": {r.name: _b64(r.volume) for r in volumes},
        }

    def join_mpc(self, job: str, rank: int, host: str, port: int, certificate: str) -> None:
        """Record where party ``rank`` of an approved mpc job listens (the dealer is rank 2)."""
        if not 0 <= rank < _MPC_PROCESSES:
            raise CleanroomError(f"an mpc job has ranks 0 to {_MPC_PROCESSES - 1}, not {rank}")
        with self.store.transaction() as db:
            row = self._row(db, job)
            if row.mode != "mpc" or row.status not in (_APPROVED, _RUNNING):
                raise CleanroomError(f"job {row.name} is not an approved mpc job ({row.status})")
            db.execute(jobs.update().where(jobs.c.id == job).values(status=_RUNNING))
        self.store.insert(
            parties,
            {"job": job, "rank": rank, "host": host, "port": port, "certificate": certificate},
            f"party {rank} of job {job} has joined already",
        )

    def mpc_parties(self, job: str) -> list[dict[str, Any]] | None:
        """Every party of an mpc job, by rank, once all have joined; None before."""
        with self.store.transaction() as db:
            rows = db.execute(
                sa.select(parties).where(parties.c.job == job).order_by(parties.c.rank)
            ).all()
        if len(rows) < _MPC_PROCESSES:
            return None
        return [{"host": r.host, "port": r.port, "certificate": r.certificate} for r in rows]

    def finish(
        self,
        job: str,
        *,
        envelopes: Mapping[str, tuple[str, bytes]],
        attestation: str,
        party: int | None = None,
        tee: str | None = None,
    ) -> str:
        """Take what ran the job sent back: the sealed outputs (file name to recipient and
        envelope) and the digest of the attestation result (a TEE job) or of the parties'
        certificates (mpc); with every part in, log the result and keep its receipt. The
        job's state after it. Only a running job takes results, and only for the outputs and
        recipients its spec names."""
        with self.store.transaction() as db:
            row = self._row(db, job)
        if row.status != _RUNNING:
            raise CleanroomError(f"job {row.name} is {row.status}: it takes no results")
        spec = JobSpec.from_dict(row.submission["document"]["spec"])
        suffix = "" if party is None else f".share{party}"
        expected = {
            envelope_name(f"{o.name}{suffix}", r): (f"{o.name}{suffix}", r)
            for o in spec.outputs
            for r in o.recipients
        }
        given = {file: recipient for file, (recipient, _) in envelopes.items()}
        if given != {file: recipient for file, (_, recipient) in expected.items()}:
            raise CleanroomError(
                f"job {spec.name} takes exactly its outputs for their recipients: "
                f"{', '.join(sorted(expected))}; sent: {', '.join(sorted(given)) or 'none'}"
            )
        for file, (recipient, envelope) in envelopes.items():
            self.store.insert(
                outputs,
                {"job": job, "file": file, "output": expected[file][0], "recipient": recipient,
                 "envelope": envelope},
                f"output {file} of job {spec.name} was sent already",
            )  # fmt: skip
        with self.store.transaction() as db:
            if party is not None:
                db.execute(
                    parties.update()
                    .where(parties.c.job == job, parties.c.rank == party)
                    .values(result={"attestation": attestation})
                )
                done = db.execute(
                    sa.select(parties.c.rank).where(
                        parties.c.job == job, parties.c.result.is_not(None)
                    )
                ).all()
                if len(done) < _MPC_PROCESSES - 1:  # the dealer sends nothing
                    return _RUNNING
            sent = db.execute(
                sa.select(outputs.c.output, outputs.c.recipient, outputs.c.envelope).where(
                    outputs.c.job == job
                )
            ).all()
        digests = {(r.output, r.recipient): digest_of(r.envelope) for r in sent}
        # A TEE job's policy is the broker's release policy it ran under; an mpc job's is the
        # approved spec itself (the parties enforce it).
        record = result_record(
            spec, outputs=digests, policy=row.policy or spec.digest, attestation=attestation,
            tee=tee,
        )  # fmt: skip
        (index,) = self.ledger.submit([record])
        receipt = self.ledger.receipt(index).to_text()
        with self.store.transaction() as db:
            db.execute(
                jobs.update()
                .where(jobs.c.id == job)
                .values(status=_DONE, result=record.to_dict() | {"index": index}, receipt=receipt)
            )
        if spec.mode == "tee":
            self._grant_keys()  # the job is done: its keys are no longer released
        return _DONE

    def fail(self, job: str, error: str) -> None:
        with self.store.transaction() as db:
            db.execute(jobs.update().where(jobs.c.id == job).values(status=_FAILED, error=error))
        if self.spec(job).mode == "tee" and self.kbs is not None:
            self._grant_keys()

    def outputs_for(self, job: str, recipient: str) -> dict[str, Any]:
        """A recipient's sealed outputs of a done job, and the result's receipt."""
        with self.store.transaction() as db:
            row = self._row(db, job)
            if row.status != _DONE:
                raise CleanroomError(f"job {row.name} is {row.status}, not done")
            sent = db.execute(
                sa.select(outputs.c.file, outputs.c.envelope).where(
                    outputs.c.job == job, outputs.c.recipient == recipient
                )
            ).all()
        return {
            "job": row.id,
            "name": row.name,
            "receipt": row.receipt,
            "envelopes": {r.file: _b64(r.envelope) for r in sent},
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

"""A client of the coordinator, for every role: owners, providers, workers, parties,
recipients. Whatever a member sends is signed with its member key here."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from trustroom.cleanroom._approval import approve
from trustroom.cleanroom._archive import pack
from trustroom.cleanroom._datasets import Dataset
from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._spec import JobSpec
from trustroom.ledger import MemberKey

__all__ = ["CoordinatorClient"]


class CoordinatorClient:
    """The coordinator at ``url``."""

    def __init__(self, url: str, *, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = http or httpx.Client(timeout=300)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, self.url + path, json=body)
        except httpx.HTTPError as exc:
            raise CleanroomError(
                f"the coordinator at {self.url} did not answer: {exc}",
                hint="Check the URL; is `trustroom cleanroom coordinator` running there?",
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text}
        if response.status_code != 200:
            raise CleanroomError(
                f"the coordinator refused: {answer.get('code', response.status_code)}: "
                f"{answer.get('message', answer)}",
                hint=answer.get("hint"),
            )
        return answer

    # -- owners and providers -----------------------------------------------------------

    def register_dataset(self, member: MemberKey, dataset: Dataset, volume: Path) -> None:
        message = member.sign(
            {"type": "dataset", "party": member.name, "dataset": dataset.to_dict(),
             "created_at": int(time.time())}
        )  # fmt: skip
        self._call("POST", "/datasets", {"message": message, "volume": _b64(pack(volume))})

    def submit_job(self, member: MemberKey, spec: JobSpec, program: bytes) -> str:
        """Submit ``spec`` with its ``program`` (:func:`pack` of the enclave image folder
        for tee, of the MPC program folder for mpc); the job's id (the spec's digest)."""
        message = member.sign(
            {"type": "job", "party": member.name, "spec": spec.to_dict(),
             "created_at": int(time.time())}
        )  # fmt: skip
        return str(
            self._call("POST", "/jobs", {"message": message, "program": _b64(program)})["id"]
        )

    def approve(self, member: MemberKey, spec: JobSpec) -> str:
        """``member``'s approval of ``spec``; the job's state after it."""
        message = approve(member, spec, at=int(time.time()))
        return str(self._call("POST", f"/jobs/{spec.digest}/approvals", message)["status"])

    def job(self, job: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{job}"))

    def jobs(self) -> list[dict[str, Any]]:
        """Every job's id, name, mode and state."""
        return list(self._call("GET", "/jobs")["jobs"])

    def wait(self, job: str, states: tuple[str, ...], timeout: float = 300) -> dict[str, Any]:
        """The job once it reaches one of ``states`` (CleanroomError if it fails first)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.job(job)
            if found["status"] in states:
                return found
            if found["status"] == "failed":
                raise CleanroomError(f"job {found['name']} failed: {found['error']}")
            if time.monotonic() > deadline:
                raise CleanroomError(f"job {found['name']} is still {found['status']}")
            time.sleep(0.2)

    # -- workers and parties --------------------------------------------------------------

    def claim(self, worker: str) -> dict[str, Any] | None:
        job: dict[str, Any] | None = self._call("POST", "/claims", {"worker": worker})["job"]
        return job

    def join(self, job: str, rank: int, host: str, port: int, certificate: str) -> None:
        body = {"rank": rank, "host": host, "port": port, "certificate": certificate}
        self._call("POST", f"/jobs/{job}/parties", body)

    def parties(self, job: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Every party of an mpc job, once all have joined."""
        deadline = time.monotonic() + timeout
        while (found := self._call("GET", f"/jobs/{job}/parties")["parties"]) is None:
            if time.monotonic() > deadline:
                raise CleanroomError(f"the parties of job {job} did not all join in time")
            time.sleep(0.2)
        return list(found)

    def result(
        self,
        job: str,
        envelopes: Mapping[str, tuple[str, bytes]],
        attestation: str,
        party: int | None = None,
        tee: str | None = None,
    ) -> str:
        body = {
            "envelopes": {
                f: {"recipient": r, "envelope": _b64(e)} for f, (r, e) in envelopes.items()
            },
            "attestation": attestation,
            "party": party,
            "tee": tee,
        }
        return str(self._call("POST", f"/jobs/{job}/result", body)["status"])

    def failure(self, job: str, error: str) -> None:
        self._call("POST", f"/jobs/{job}/failure", {"error": error})

    # -- recipients -----------------------------------------------------------------------

    def outputs(self, job: str, recipient: str) -> tuple[dict[str, bytes], str]:
        """``recipient``'s sealed outputs of a done job, by file name, and the receipt."""
        found = self._call("GET", f"/jobs/{job}/outputs/{recipient}")
        envelopes = {f: base64.b64decode(e) for f, e in found["envelopes"].items()}
        return envelopes, str(found["receipt"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

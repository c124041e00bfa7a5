"""The log's signing key: made inside the TEE, sealed to it, and attested in entry 0.

Whoever checks a checkpoint needs to know that the key which signed it belongs to a log
running known code. So the key is generated inside the TEE, its private half leaves only
sealed (to the code's signer, so that an upgraded log can still unseal it), and the first
entry of every log is a ``log-key`` record: the verifier key and TEE evidence whose report
data is SHA-512 of the verifier key. :func:`check_log_key` is the client's side.

With no TEE hardware the simulated TEE stands in, running "trustroom's code" as its
workload; such a log says so in entry 0 (``"sim": true``) and its evidence verifies only
for a verifier that trusts the simulated root, which no one should in production.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from typing import Any

from trustroom.evidence import VerificationResult, Verifier
from trustroom.ledger._errors import LedgerError, RecordInvalid
from trustroom.ledger._note import NoteSigner
from trustroom.ledger._records import Record
from trustroom.tee import Attester, SealPolicy, SimWorkload, local_attester, seal, unseal

__all__ = ["check_log_key", "ledger_attester", "log_key_record", "new_log_key", "open_log_key"]

_SEAL_LABEL = b"trustroom ledger log key v1"
_BINDING = b"trustroom ledger log key v1\n"


def ledger_attester() -> Attester:
    """This machine's TEE, or the simulated one running trustroom's own code (its Python
    sources, so that the measurement names a trustroom version and nothing else)."""
    digest = hashlib.sha256(b"trustroom ledger workload v1\0")
    package = resources.files("trustroom")
    for path in sorted(_sources(package)):
        name, data = path
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    signer = hashlib.sha256(b"trustroom sim signer v1\0trustroom").digest()
    return local_attester(SimWorkload(digest.digest(), signer))


def _sources(root: Any, prefix: str = "") -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for item in root.iterdir():
        name = f"{prefix}{item.name}"
        if item.is_dir() and item.name != "__pycache__":
            found += _sources(item, name + "/")
        elif item.name.endswith(".py"):
            found.append((name, item.read_bytes()))
    return found


def report_data(vkey: str) -> bytes:
    """The 64 bytes the TEE evidence binds: SHA-512 of the verifier key, domain-separated."""
    return hashlib.sha512(_BINDING + vkey.encode()).digest()


def new_log_key(origin: str, attester: Attester) -> tuple[NoteSigner, bytes]:
    """A fresh Ed25519 log key named ``origin`` and its private half sealed to the TEE."""
    signer = NoteSigner.generate(origin)
    sealed = seal(attester, signer.to_text().encode(), policy=SealPolicy.SIGNER, label=_SEAL_LABEL)
    return signer, sealed


def open_log_key(sealed: bytes, attester: Attester) -> NoteSigner:
    """The log key from its sealed form; only the TEE that sealed it (same signer) can."""
    return NoteSigner.from_text(unseal(attester, sealed).decode())


def log_key_record(origin: str, signer: NoteSigner, attester: Attester) -> Record:
    """Entry 0: the verifier key and the evidence that binds it to this TEE and code."""
    vkey = signer.verifier().vkey
    evidence = attester.evidence(report_data(vkey))
    return Record(
        "log-key",
        {
            "origin": origin,
            "vkey": vkey,
            "tee": attester.tee,
            "sim": attester.tee == "sim",
            "measurements": attester.measurements(),
            "evidence": base64.b64encode(evidence).decode(),
        },
    )


def check_log_key(record: Record, verifier: Verifier, **verify: Any) -> VerificationResult:
    """Verify entry 0: its evidence with ``verifier`` (keyword arguments go to
    ``Verifier.verify``, e.g. ``collateral``) and that it binds the record's key. Returns the
    verification result, whose measurements the caller compares with the code it expects."""
    if record.kind != "log-key":
        raise RecordInvalid(f"entry 0 is a {record.kind} record, not the log key")
    try:
        evidence = base64.b64decode(record.fields["evidence"], validate=True)
    except (ValueError, TypeError) as exc:
        raise RecordInvalid(f"the log key's evidence is not base64: {exc}") from exc
    result = verifier.verify(evidence, **verify)
    if not result.verified:
        raise LedgerError(
            "the log key's TEE evidence does not verify: " + ", ".join(result.error_codes),
            hint="The log's key was not made in a TEE you trust; do not accept its checkpoints.",
        )
    if result.report_data != report_data(str(record.fields["vkey"])).hex():
        raise LedgerError(
            "the log key's evidence binds another key",
            hint="Entry 0 was altered or made for another log; do not accept its checkpoints.",
        )
    return result

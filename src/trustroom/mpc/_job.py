"""A job file, and running one party of it: the parties of a real multi-host computation.

Every organisation keeps a copy of the same file (its own key's path is the only line that
differs)::

    protocol = "aby3"          # or "semi2k": two parties, then the dealer
    timeout = 60               # seconds a party waits for another's message (optional)
    connect_timeout = 300      # seconds to wait for the others to start (optional)

    [[parties]]
    host = "bank.example"
    port = 7100
    certificate = "bank.pem"   # paths are relative to this file
    key = "bank.key"           # only in the bank's own copy

    [[parties]]
    host = "retailer.example"
    ...

Party ``i`` is the ``i``-th table. Each party presents its certificate and pins the others'
(see ``_tcp``); ``trustroom mpc keygen`` makes a certificate and key.

A party that runs in a TEE makes its key there, in an RA-TLS certificate whose evidence binds
it (``trustroom mpc keygen --attested``); its table then says what that evidence must show,
and every other party checks it before connecting::

    [parties.expect]           # as trustroom.ratls.Expectation
    tee = ["sgx"]
    measurements = { mrenclave = ["9a3c..."] }
    min_tcb_status = "UpToDate"
    # allow_sim = true         # the simulated TEE, for trying a job out: protects nothing

``collateral = "intel.json"`` in the table gives Intel's collateral for hardware evidence
(dcap-qvl JSON); simulated evidence needs none.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trustroom.evidence import DcapCollateral, EvidenceError, Verifier
from trustroom.mpc._context import Context
from trustroom.mpc._errors import JobInvalid, MpcError, PeerRejected
from trustroom.mpc._launch import processes_for, run_party
from trustroom.mpc._tcp import Party, connect
from trustroom.ratls import Expectation, RaTlsError, inspect_certificate

__all__ = ["Job", "run_job"]


def _text(table: dict[str, Any], name: str, where: str) -> str:
    value = table.get(name)
    if not isinstance(value, str) or not value:
        raise JobInvalid(f"{where}: '{name}' must be a non-empty string")
    return value


def _number(table: dict[str, Any], name: str, default: float, where: str) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise JobInvalid(f"{where}: '{name}' must be a positive number of seconds")
    return float(value)


@dataclass(frozen=True)
class Job:
    """A job's protocol, its parties (dealer last for SEMI2K) and their timeouts; ``keys``
    holds the private key paths this copy names, by rank."""

    protocol: str
    parties: tuple[Party, ...]
    timeout: float = 60.0
    connect_timeout: float = 300.0
    keys: tuple[Path | None, ...] = ()
    expectations: tuple[Expectation | None, ...] = ()
    collaterals: tuple[DcapCollateral | None, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Job:
        """Read and check a job file; JobInvalid names what is wrong and where."""
        try:
            document = tomllib.loads(path.read_text())
        except OSError as exc:
            raise JobInvalid(f"cannot read the job file {path}: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise JobInvalid(f"{path} is not valid TOML: {exc}") from exc
        where = str(path)
        protocol = _text(document, "protocol", where)
        try:
            processes = processes_for(protocol)
        except MpcError as exc:
            raise JobInvalid(f"{where}: {exc.message}") from exc
        tables = document.get("parties")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise JobInvalid(f"{where}: list the parties as [[parties]] tables")
        if len(tables) != processes:
            raise JobInvalid(
                f"{where}: {protocol} runs {processes} processes (its dealer last, for "
                f"semi2k), and the file lists {len(tables)}"
            )
        parties, keys, expectations, collaterals = [], [], [], []
        for rank, table in enumerate(tables):
            at = f"{where}, party {rank}"
            port = table.get("port")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise JobInvalid(f"{at}: 'port' must be a TCP port number")
            certificate_path = path.parent / _text(table, "certificate", at)
            try:
                certificate = certificate_path.read_bytes()
                x509.load_pem_x509_certificate(certificate)
            except OSError as exc:
                raise JobInvalid(f"{at}: cannot read {certificate_path}: {exc.strerror}") from exc
            except ValueError as exc:
                raise JobInvalid(f"{at}: {certificate_path} is not a PEM certificate") from exc
            parties.append(Party(_text(table, "host", at), port, certificate))
            keys.append(path.parent / _text(table, "key", at) if "key" in table else None)
            expectations.append(_expectation(table.get("expect"), at))
            collaterals.append(_collateral(path.parent, table, at))
        return cls(
            protocol,
            tuple(parties),
            _number(document, "timeout", 60.0, where),
            _number(document, "connect_timeout", 300.0, where),
            tuple(keys),
            tuple(expectations),
            tuple(collaterals),
        )

    def check_attested(self, rank: int) -> None:
        """Verify, for party ``rank``, every other party's certificate that the job expects
        to be attested: its evidence binds its key, verifies, and meets the expectation.
        PeerRejected names the first that does not."""
        for other, expectation in enumerate(self.expectations):
            if expectation is None or other == rank:
                continue
            result = inspect_certificate(
                self.parties[other].certificate,
                verifier=Verifier(trust_sim=expectation.allow_sim),
                collateral=self.collaterals[other],
                expect=expectation,
            )
            if not result.verified:
                raise PeerRejected(
                    f"party {other}'s certificate does not attest what the job expects: "
                    + "; ".join(e.message for e in result.errors),
                    codes=list(result.error_codes),
                )


def _expectation(value: Any, where: str) -> Expectation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise JobInvalid(f"{where}: 'expect' must be a table (see trustroom.ratls.Expectation)")
    known = {"measurements", "tee", "min_tcb_status", "allow_sim", "allow_debug"}
    if unknown := set(value) - known:
        raise JobInvalid(f"{where}: 'expect' has unknown keys {sorted(unknown)}")
    try:
        return Expectation(**value)
    except (RaTlsError, TypeError, AttributeError) as exc:
        raise JobInvalid(f"{where}: 'expect' is not a valid expectation: {exc}") from exc


def _collateral(directory: Path, table: dict[str, Any], where: str) -> DcapCollateral | None:
    if "collateral" not in table:
        return None
    path = directory / _text(table, "collateral", where)
    try:
        return DcapCollateral.from_dcap_qvl_json(path.read_bytes())
    except OSError as exc:
        raise JobInvalid(f"{where}: cannot read {path}: {exc.strerror}") from exc
    except (EvidenceError, ValueError) as exc:
        raise JobInvalid(f"{where}: {path} is not Intel collateral (dcap-qvl JSON)") from exc


def run_job(main: Callable[[Context], Any], job: Job, rank: int, key: Path | None = None) -> Any:
    """Run party ``rank`` of ``job`` here (for SEMI2K's last rank, the dealer: None) with
    its private ``key`` (default: the one this copy of the job names)."""
    if not 0 <= rank < len(job.parties):
        raise JobInvalid(f"rank {rank} is not a party of this job (0 to {len(job.parties) - 1})")
    key_path = key or job.keys[rank]
    if key_path is None:
        raise JobInvalid(
            f"no private key for party {rank}",
            hint='Pass --key FILE, or add key = "FILE" to your own [[parties]] table.',
        )
    try:
        key_pem = key_path.read_bytes()
        public = serialization.load_pem_private_key(key_pem, password=None).public_key()
    except OSError as exc:
        raise JobInvalid(f"cannot read the private key {key_path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise JobInvalid(f"{key_path} is not an unencrypted PEM private key") from exc
    listed = x509.load_pem_x509_certificate(job.parties[rank].certificate).public_key()
    if listed != public:
        raise JobInvalid(f"{key_path} is not the key of party {rank}'s certificate in the job")
    job.check_attested(rank)
    transport = connect(
        rank, job.parties, key_pem, timeout=job.timeout, connect_timeout=job.connect_timeout
    )
    return run_party(main, job.protocol, transport)

"""Intel SGX under Gramine, through its ``/dev/attestation`` pseudo-files.

NOT RUN ON REAL HARDWARE: this module was written against Gramine's documented interface
(``Documentation/attestation.rst`` and ``libos/src/fs/dev/attestation.c``, Gramine 1.x up to
v1.9) and is tested with a fake ``/dev/attestation`` tree filled with a real recorded SGX quote.

What it uses:

* ``attestation_type``: ``"dcap"`` when the manifest sets ``sgx.remote_attestation = "dcap"``,
  else ``"none"``; Gramine removed EPID, and trustroom verifies DCAP quotes only.
* ``user_report_data`` (write 64 bytes) then ``quote`` (read): a DCAP quote over that data,
  made by the quoting enclave through AESM.
* ``report``: the enclave's 432-byte EREPORT. Its body holds the same measurements as a quote,
  and reading it needs neither DCAP nor AESM, so measurements and sealing work with
  ``attestation_type`` ``"none"`` too.
* ``keys/_sgx_mrenclave`` and ``keys/_sgx_mrsigner``: 16-byte EGETKEY seal keys (MRENCLAVE or
  MRSIGNER policy). Gramine derives them at the enclave's own ISVSVN and CPUSVN only: it cannot
  derive keys of older enclave versions, and a microcode (TCB) update changes the keys.

The pseudo-files belong to the process, and its threads share them, hence the lock.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from trustroom.evidence import EvidenceError
from trustroom.evidence._dcap_quote import ENCLAVE_REPORT_SIZE, EnclaveReport, parse_enclave_report
from trustroom.tee._attester import SealPolicy
from trustroom.tee._errors import SealPolicyDenied, TeeUnavailable
from trustroom.tee._hardware import (
    check_report_data,
    check_seal_request,
    derive_seal_key,
    parse_bound,
    read_file,
    write_file,
)

__all__ = ["GRAMINE_ROOT", "GramineSgxAttester"]

GRAMINE_ROOT = Path("/dev/attestation")
_REPORT_SIZE = 432  # sgx_report_t: body (384), KEYID (32), MAC (16)
_SEAL_KEY_SIZE = 16
_LOCK = threading.Lock()
_NOT_GRAMINE_HINT = (
    "This path is Gramine's /dev/attestation, present only inside a Gramine SGX enclave "
    "(gramine-sgx, not gramine-direct)."
)


class GramineSgxAttester:
    """Intel SGX inside a Gramine enclave; implements :class:`~trustroom.tee.Attester`."""

    tee = "sgx"

    def __init__(self, root: Path = GRAMINE_ROOT) -> None:
        self.root = root

    @property
    def attestation_type(self) -> str:
        """Gramine's ``attestation_type``: ``"dcap"``, ``"none"``, or ``"epid"`` in old releases."""
        path = self.root / "attestation_type"
        raw = read_file(path, "Gramine's attestation type", hint=_NOT_GRAMINE_HINT)
        return raw.decode("ascii", "replace").strip("\0\n ")

    def evidence(self, report_data: bytes) -> bytes:
        data = check_report_data(report_data)
        kind = self.attestation_type
        if kind == "epid":
            raise TeeUnavailable(
                "this enclave is set up for EPID attestation, which trustroom does not support",
                hint='Intel retired EPID attestation; set sgx.remote_attestation = "dcap" in '
                "the Gramine manifest and install the DCAP quote provider library.",
            )
        if kind != "dcap":
            raise TeeUnavailable(
                f"Gramine's attestation type is {kind!r}: this enclave cannot produce quotes",
                hint='Set sgx.remote_attestation = "dcap" in the Gramine manifest, sign it '
                "again, and run AESM with the DCAP quote provider library on the host.",
            )
        with _LOCK:
            write_file(self.root / "user_report_data", data, "Gramine's user_report_data")
            quote = read_file(
                self.root / "quote",
                "Gramine's quote",
                hint="Gramine could not get a quote from the quoting enclave: check that AESM "
                "runs on the host and its DCAP quote provider reaches a PCCS.",
            )
        parse_bound(quote, tee="sgx", source="Gramine's /dev/attestation/quote", report_data=data)
        return quote

    @cached_property
    def _report(self) -> EnclaveReport:
        raw = read_file(self.root / "report", "Gramine's SGX report", hint=_NOT_GRAMINE_HINT)
        if len(raw) != _REPORT_SIZE:
            raise TeeUnavailable(f"Gramine's SGX report is {len(raw)} bytes, not {_REPORT_SIZE}")
        try:
            return parse_enclave_report(raw[:ENCLAVE_REPORT_SIZE], "Gramine's SGX report")
        except EvidenceError as exc:
            raise TeeUnavailable(f"Gramine's SGX report is malformed: {exc.message}") from exc

    def measurements(self) -> dict[str, str]:
        return self._report.measurements()

    @property
    def security_version(self) -> int:
        return self._report.isv_svn

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        current = self.security_version
        policy, wanted = check_seal_request(policy, svn, current)
        if wanted != current:
            raise SealPolicyDenied(
                f"Gramine derives sealing keys at the enclave's own ISVSVN {current} only, "
                f"not {wanted}",
                hint="Gramine has no interface for keys of older ISVSVNs. Unseal with the old "
                "version and seal again before the update, or keep the data key in a KBS.",
            )
        name = "_sgx_mrenclave" if policy is SealPolicy.MEASUREMENT else "_sgx_mrsigner"
        key = read_file(self.root / "keys" / name, f"Gramine's {name} key")
        if len(key) != _SEAL_KEY_SIZE:
            raise TeeUnavailable(f"Gramine's {name} key is {len(key)} bytes, not 16")
        return derive_seal_key(key, backend="gramine-sgx", policy=policy, label=label)

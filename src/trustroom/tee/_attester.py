"""What every TEE backend offers the code running inside it: evidence, measurements, sealing."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["REPORT_DATA_SIZE", "Attester", "SealPolicy"]

REPORT_DATA_SIZE = 64


class SealPolicy(StrEnum):
    """Which code may re-derive a sealing key.

    ``MEASUREMENT``: only the very same code (SGX MRENCLAVE, TDX MRTD + RTMRs, SNP measurement).
    ``SIGNER``: any code from the same signer and product at a security version at least the
    sealing one (SGX MRSIGNER + ISVPRODID, ISVSVN >= sealing ISVSVN), so updates can unseal.
    """

    MEASUREMENT = "measurement"
    SIGNER = "signer"


@runtime_checkable
class Attester(Protocol):
    """The local TEE, as the workload inside it sees it.

    ``tee`` is the evidence type a verifier will report: ``"sgx"``, ``"tdx"``, ``"snp"`` or
    ``"sim"`` (the simulated platform, never a hardware root of trust).
    """

    @property
    def tee(self) -> str: ...

    def evidence(self, report_data: bytes) -> bytes:
        """Evidence (a quote or report) binding ``report_data`` (exactly 64 bytes)."""
        ...

    def measurements(self) -> dict[str, str]:
        """This workload's measurements, lowercase hex, keyed as verification results are."""
        ...

    @property
    def security_version(self) -> int:
        """The workload's security version (SGX ISVSVN, SNP guest SVN; 0 where none exists)."""
        ...

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        """A 32-byte key only code matching ``policy`` can derive again on this platform.

        ``svn`` selects an older security version under ``SealPolicy.SIGNER`` (to unseal data
        sealed before an update); it may not exceed the workload's own.
        """
        ...

"""The local TEE: evidence about this workload, sealing keys, sealed data.

A workload asks its :class:`Attester` for evidence binding 64 bytes of its choosing (a public
key, a nonce), for its measurements, and for sealing keys only the same code (or signer) can
derive again. Backends: Intel SGX under Gramine, Intel TDX and AMD SEV-SNP through Linux
configfs-tsm (with the guest ioctls as fallback), and the simulated TEE, which works everywhere
and protects nothing (its evidence verifies only with ``Verifier(trust_sim=True)``).
"""

from trustroom.tee._attester import REPORT_DATA_SIZE, Attester, SealPolicy
from trustroom.tee._errors import (
    InvalidReportData,
    SealedDataInvalid,
    SealPolicyDenied,
    TeeError,
    TeeUnavailable,
)
from trustroom.tee._seal import seal, unseal
from trustroom.tee._sim import SimAttester, SimPlatform, SimWorkload, sim_collateral

__all__ = [
    "REPORT_DATA_SIZE",
    "Attester",
    "InvalidReportData",
    "SealPolicy",
    "SealPolicyDenied",
    "SealedDataInvalid",
    "SimAttester",
    "SimPlatform",
    "SimWorkload",
    "TeeError",
    "TeeUnavailable",
    "seal",
    "sim_collateral",
    "unseal",
]

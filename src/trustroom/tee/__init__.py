"""The local TEE: evidence about this workload, sealing keys, sealed data.

A workload asks its :class:`Attester` for evidence binding 64 bytes of its choosing (a public
key, a nonce), for its measurements, and for sealing keys only the same code (or signer) can
derive again. Backends: Intel SGX under Gramine, Intel TDX and AMD SEV-SNP through Linux
configfs-tsm (with the guest ioctls as fallback), and the simulated TEE, which works everywhere
and protects nothing (its evidence verifies only with ``Verifier(trust_sim=True)``).
"""

from trustroom.tee._attester import REPORT_DATA_SIZE, Attester, SealPolicy
from trustroom.tee._detect import describe, detect_hardware
from trustroom.tee._errors import (
    InvalidReportData,
    SealedDataInvalid,
    SealPolicyDenied,
    TeeError,
    TeeUnavailable,
)
from trustroom.tee._gramine import GramineSgxAttester
from trustroom.tee._ioctl import SevGuestAttester, TdxGuestAttester
from trustroom.tee._local import local_attester
from trustroom.tee._seal import seal, unseal
from trustroom.tee._sim import SimAttester, SimPlatform, SimWorkload, sim_collateral
from trustroom.tee._tsm import TsmAttester

__all__ = [
    "REPORT_DATA_SIZE",
    "Attester",
    "GramineSgxAttester",
    "InvalidReportData",
    "SealPolicy",
    "SealPolicyDenied",
    "SealedDataInvalid",
    "SevGuestAttester",
    "SimAttester",
    "SimPlatform",
    "SimWorkload",
    "TdxGuestAttester",
    "TeeError",
    "TeeUnavailable",
    "TsmAttester",
    "describe",
    "detect_hardware",
    "local_attester",
    "seal",
    "sim_collateral",
    "unseal",
]

"""Parse and verify TEE evidence: Intel SGX/TDX DCAP quotes and AMD SEV-SNP reports.

Everything here is offline and pure: bytes and collateral in, a typed result out, with the
evaluation time passed in. Fetching collateral from Intel PCS, a PCCS or AMD KDS lives in
:mod:`trustroom.evidence.sources`.

>>> from trustroom.evidence import Verifier, Collateral
>>> result = Verifier().verify(quote, collateral=Collateral.from_dcap_qvl_json(text), at=when)
>>> result.verified, result.tcb_status, result.advisory_ids
"""

from trustroom.evidence._collateral import Collateral, DcapCollateral, SnpCollateral
from trustroom.evidence._errors import (
    CertificateExpired,
    ChainInvalid,
    CollateralExpired,
    CollateralMismatch,
    CollateralMissing,
    CollateralUnavailable,
    CrlExpired,
    EvidenceError,
    ExpectationFailed,
    Expired,
    InternalError,
    ParseError,
    QeIdentityMismatch,
    Revoked,
    SignatureInvalid,
    TcbLevelNotFound,
    TcbMismatch,
    TdxModuleMismatch,
    UnsupportedFormat,
    UntrustedRoot,
)
from trustroom.evidence._result import TcbStatus, VerificationResult
from trustroom.evidence._verifier import (
    Evidence,
    Verifier,
    is_evidence,
    is_sim_evidence,
    parse,
)

__all__ = [
    "CertificateExpired",
    "ChainInvalid",
    "Collateral",
    "CollateralExpired",
    "CollateralMismatch",
    "CollateralMissing",
    "CollateralUnavailable",
    "CrlExpired",
    "DcapCollateral",
    "Evidence",
    "EvidenceError",
    "ExpectationFailed",
    "Expired",
    "InternalError",
    "ParseError",
    "QeIdentityMismatch",
    "Revoked",
    "SignatureInvalid",
    "SnpCollateral",
    "TcbLevelNotFound",
    "TcbMismatch",
    "TcbStatus",
    "TdxModuleMismatch",
    "UnsupportedFormat",
    "UntrustedRoot",
    "VerificationResult",
    "Verifier",
    "is_evidence",
    "is_sim_evidence",
    "parse",
]

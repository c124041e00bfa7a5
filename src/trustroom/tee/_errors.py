"""Typed errors of the local TEE: producing evidence, deriving keys, sealing."""

from __future__ import annotations

from trustroom._core.errors import TrustroomError

__all__ = [
    "InvalidReportData",
    "SealPolicyDenied",
    "SealedDataInvalid",
    "TeeError",
    "TeeUnavailable",
]


class TeeError(TrustroomError):
    """The local TEE could not do what was asked."""

    code = "tee_error"


class TeeUnavailable(TeeError):
    code = "tee_unavailable"
    default_hint = (
        "No usable TEE interface was found or it refused the request. `trustroom tee detect` "
        "shows what this machine offers; the simulated TEE works everywhere but protects "
        "nothing."
    )


class InvalidReportData(TeeError):
    code = "invalid_report_data"
    default_hint = "Report data is exactly 64 bytes; hash longer data (SHA-512) and pad shorter."


class SealPolicyDenied(TeeError):
    code = "seal_policy_denied"
    default_hint = (
        "A workload can derive sealing keys for its own security version and older ones only."
    )


class SealedDataInvalid(TeeError):
    code = "sealed_data_invalid"
    default_hint = (
        "The sealed data was altered, truncated, or sealed by other code or on another "
        "platform. Only the workload (or signer) that sealed it can unseal it, on the same host."
    )

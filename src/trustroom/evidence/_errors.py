"""Typed errors of evidence parsing and verification, one class per stable code."""

from __future__ import annotations

from trustroom._core.errors import TrustroomError

__all__ = [
    "CertificateExpired",
    "ChainInvalid",
    "CollateralExpired",
    "CollateralMismatch",
    "CollateralMissing",
    "CollateralUnavailable",
    "CrlExpired",
    "EvidenceError",
    "ExpectationFailed",
    "Expired",
    "InternalError",
    "ParseError",
    "QeIdentityMismatch",
    "Revoked",
    "SignatureInvalid",
    "TcbLevelNotFound",
    "TcbMismatch",
    "TdxModuleMismatch",
    "UnsupportedFormat",
    "UntrustedRoot",
]


class EvidenceError(TrustroomError):
    """Evidence, or the collateral needed to verify it, was rejected."""

    code = "evidence_invalid"


class ParseError(EvidenceError):
    code = "parse_error"
    default_hint = (
        "The bytes are truncated, padded wrongly or not TEE evidence at all. Check that the file "
        "was copied in binary mode and is a DCAP quote or an SEV-SNP attestation report."
    )


class UnsupportedFormat(EvidenceError):
    code = "unsupported_format"
    default_hint = (
        "This evidence uses a version, key type or vendor trustroom does not verify. "
        "`trustroom evidence show FILE` prints what was found."
    )


class SignatureInvalid(EvidenceError):
    code = "signature_invalid"
    default_hint = (
        "A signature does not match the signed bytes: the evidence or its collateral was "
        "altered or corrupted in transit. Obtain fresh evidence and collateral."
    )


class ChainInvalid(EvidenceError):
    code = "chain_invalid"
    default_hint = (
        "A certificate chain is incomplete, out of order, or links certificates that do not "
        "issue each other. Supply the full chain as published by the vendor."
    )


class UntrustedRoot(EvidenceError):
    code = "untrusted_root"
    default_hint = (
        "The chain ends at a root that is not a trusted vendor root (Intel SGX Root CA, AMD "
        "ARK). Evidence from a simulator or a test platform is never trusted by default."
    )


class Expired(EvidenceError):
    """An item's validity window does not contain the evaluation time."""

    code = "expired"


class CertificateExpired(Expired):
    code = "certificate_expired"
    default_hint = (
        "A certificate is outside its validity period at the evaluation time. Check the time "
        "passed with --at, or fetch a current certificate from the vendor."
    )


class CrlExpired(Expired):
    code = "crl_expired"
    default_hint = (
        "A revocation list is stale (or not yet valid) at the evaluation time. Fetch current "
        "collateral (`trustroom evidence verify --fetch`, or --pccs URL for your PCCS), or "
        "evaluate at a time inside the CRL's window (--at)."
    )


class CollateralExpired(Expired):
    code = "collateral_expired"
    default_hint = (
        "TCB info or QE identity is outside its issueDate..nextUpdate window. Fetch fresh "
        "collateral (`trustroom evidence verify --fetch`, or --pccs URL for your PCCS), or "
        "evaluate at a time inside the window (--at)."
    )


class Revoked(EvidenceError):
    code = "revoked"
    default_hint = (
        "The platform's key or TCB level is revoked by the vendor. Evidence from this platform "
        "cannot be trusted until it is repaired and re-provisioned."
    )


class CollateralMissing(EvidenceError):
    code = "collateral_missing"
    default_hint = (
        "Verification needs collateral: pass --collateral JSON for Intel quotes or --cert "
        "(VCEK/VLEK) for SEV-SNP reports, or let trustroom fetch it with --fetch."
    )


class CollateralMismatch(EvidenceError):
    code = "collateral_mismatch"
    default_hint = (
        "The collateral belongs to another platform or TEE type (FMSPC, PCE ID, SGX vs TDX). "
        "Fetch the collateral for the FMSPC shown by `trustroom evidence show`."
    )


class CollateralUnavailable(EvidenceError):
    code = "collateral_unavailable"
    default_hint = (
        "The collateral service could not be reached or answered with an error. Check the "
        "network and the service URL, or pass collateral from a file."
    )


class TcbLevelNotFound(EvidenceError):
    code = "tcb_level_not_found"
    default_hint = (
        "No TCB level in the collateral covers this platform's SVNs: the platform is older than "
        "any level the vendor still lists, or the collateral is for another platform."
    )


class TcbMismatch(EvidenceError):
    code = "tcb_mismatch"
    default_hint = (
        "The TCB the evidence reports differs from the TCB its signing certificate was issued "
        "for. Fetch the VCEK for the reported TCB from AMD KDS."
    )


class QeIdentityMismatch(EvidenceError):
    code = "qe_identity_mismatch"
    default_hint = (
        "The quoting enclave that signed this quote is not Intel's published quoting enclave "
        "(signer, product id, attributes or misc-select differ)."
    )


class TdxModuleMismatch(EvidenceError):
    code = "tdx_module_mismatch"
    default_hint = (
        "The TDX module that produced this quote is not one the TCB info describes "
        "(module signer, attributes, or an unknown module version)."
    )


class ExpectationFailed(EvidenceError):
    code = "expectation_failed"
    default_hint = "The evidence is genuine but does not meet an expectation the caller set."


class InternalError(EvidenceError):
    code = "internal_error"
    default_hint = "This is a bug in trustroom; please report it with the evidence that caused it."

"""Typed errors of RA-TLS: reading certificates, binding keys, appraising peers, connecting.

::

    TrustroomError
    └── RaTlsError                       ratls_error
        ├── CertificateUnreadable        ratls_certificate_unreadable
        ├── CertificateOutsideValidity   ratls_certificate_expired
        ├── ExtensionMissing             ratls_extension_missing
        ├── ExtensionMalformed           ratls_extension_malformed
        ├── UnsupportedEvidenceType      ratls_unsupported_evidence
        ├── ClaimsNotBound               ratls_claims_not_bound
        ├── KeyNotBound                  ratls_key_not_bound
        ├── ExpectationNotMet            ratls_expectation_not_met
        ├── InvalidExpectation           ratls_invalid_expectation
        ├── PeerRejected                 ratls_peer_rejected
        ├── HttpsRequired                ratls_https_required
        └── TlsError (a ConnectionError) ratls_tls_error
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trustroom._core.errors import TrustroomError

if TYPE_CHECKING:
    from trustroom.ratls._result import RaTlsResult

__all__ = [
    "CertificateOutsideValidity",
    "CertificateUnreadable",
    "ClaimsNotBound",
    "ExpectationNotMet",
    "ExtensionMalformed",
    "ExtensionMissing",
    "HttpsRequired",
    "InvalidExpectation",
    "KeyNotBound",
    "PeerRejected",
    "RaTlsError",
    "TlsError",
    "UnsupportedEvidenceType",
]


class RaTlsError(TrustroomError):
    """An RA-TLS certificate or peer was rejected, or an attested connection failed."""

    code = "ratls_error"


class CertificateUnreadable(RaTlsError):
    code = "ratls_certificate_unreadable"
    default_hint = (
        "The bytes are not an X.509 certificate in PEM or DER, or it is damaged. RA-TLS peers "
        "present one self-signed certificate; check that the whole file was copied."
    )


class CertificateOutsideValidity(RaTlsError):
    code = "ratls_certificate_expired"
    default_hint = (
        "The RA-TLS certificate is expired or not yet valid at the evaluation time. The peer "
        "should create a fresh certificate (with fresh evidence); check both clocks, or --at."
    )


class ExtensionMissing(RaTlsError):
    code = "ratls_extension_missing"
    default_hint = (
        "The certificate carries no attestation evidence: neither the TCG DICE extension "
        "2.23.133.5.4.9 nor a legacy Gramine or Intel SGX SDK quote extension. The peer is an "
        "ordinary TLS endpoint, or its RA-TLS library runs without a TEE."
    )


class ExtensionMalformed(RaTlsError):
    code = "ratls_extension_malformed"
    default_hint = (
        "The evidence extension is not CBOR tag(60000)([evidence, claims]) with a claims map "
        "holding 'pubkey-hash' = [hash-alg-id, digest], as the interoperable RA-TLS format "
        "requires. The certificate was damaged or built by an incompatible tool."
    )


class UnsupportedEvidenceType(RaTlsError):
    code = "ratls_unsupported_evidence"
    default_hint = (
        "The evidence extension carries a CBOR tag trustroom does not verify; only tag 60000 "
        "(an Intel SGX or TDX DCAP quote) is supported."
    )


class ClaimsNotBound(RaTlsError):
    code = "ratls_claims_not_bound"
    default_hint = (
        "The evidence's report data is not the SHA-256 of the certificate's claims: the claims "
        "(and the key they name) were swapped in after the evidence was produced."
    )


class KeyNotBound(RaTlsError):
    code = "ratls_key_not_bound"
    default_hint = (
        "The evidence vouches for a different public key than the certificate's: the evidence "
        "was copied from another certificate. Do not trust this peer."
    )


class ExpectationNotMet(RaTlsError):
    code = "ratls_expectation_not_met"
    default_hint = (
        "The peer's evidence does not meet an expectation you set (its measurement, TEE type, "
        "TCB status, debug mode or simulation). Check that the peer runs the build you expect, "
        "or update the expectation if the peer was deliberately changed."
    )


class InvalidExpectation(RaTlsError):
    code = "ratls_invalid_expectation"
    default_hint = (
        "The expectation itself is inconsistent (an empty set of allowed values, an unknown "
        "TCB status, 'sim' allowed without allow_sim). Fix the Expectation you pass."
    )


class PeerRejected(RaTlsError):
    """The peer's RA-TLS certificate failed verification; ``result`` says why in full."""

    code = "ratls_peer_rejected"
    default_hint = (
        "The connection was closed before any application data was exchanged. The errors "
        "listed say which check failed; `trustroom ratls inspect` shows the same for a "
        "certificate file."
    )

    def __init__(
        self, message: str, *, result: RaTlsResult, hint: str | None = None, **details: Any
    ) -> None:
        super().__init__(message, hint=hint, **details)
        self.result = result


class HttpsRequired(RaTlsError):
    code = "ratls_https_required"
    default_hint = (
        "An attested connection needs TLS: use an https:// URL. Plain http cannot carry the "
        "peer's evidence, so nothing was sent."
    )


class TlsError(RaTlsError, ConnectionError):
    """The TLS connection itself failed (handshake, timeout, reset); also a ConnectionError."""

    code = "ratls_tls_error"
    default_hint = (
        "The TLS connection failed or timed out. If it closed right after the handshake, the "
        "peer probably rejected this side's attestation: check the peer's log for its reason."
    )

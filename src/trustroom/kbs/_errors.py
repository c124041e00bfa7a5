"""Typed errors of the key broker, each with a stable code, a hint and an HTTP status.

Trustee answers almost everything with 401 and a generic type, which its users found hard to
debug (guest-components #564, trustee PR #600, #719); here every refusal has its own code and a
status that says whose move it is: 400 a malformed request, 401 missing or failed
authentication, 403 a policy decision, 404 nothing there, 503 a database that did not answer.
"""

from __future__ import annotations

from typing import ClassVar

from trustroom._core.errors import TrustroomError

__all__ = [
    "AdminAuthFailed",
    "BindingMismatch",
    "EvidenceRejected",
    "InvalidRequest",
    "KbsError",
    "KbsRemoteError",
    "NonceReplayed",
    "PolicyDenied",
    "PolicyInvalid",
    "ProtocolVersionMismatch",
    "ResourceKeyInvalid",
    "ResourceNotFound",
    "ResponseInvalid",
    "SessionExpired",
    "SessionNotFound",
    "StoreUnavailable",
    "TokenInvalid",
    "UnsupportedTee",
]


class KbsError(TrustroomError):
    """The key broker refused or could not serve a request."""

    code = "kbs_error"
    status: ClassVar[int] = 500


class InvalidRequest(KbsError):
    code = "kbs_invalid_request"
    status = 400
    default_hint = "The request body does not have the KBS protocol 0.4.0 shape; see docs/kbs.md."


class ProtocolVersionMismatch(KbsError):
    code = "kbs_protocol_version_mismatch"
    status = 400
    default_hint = "Use a KBS client speaking protocol version 0.4.0 (Trustee v0.10 or later)."


class UnsupportedTee(KbsError):
    code = "kbs_unsupported_tee"
    status = 400
    default_hint = (
        "trustroom's broker verifies sgx, tdx, snp and sim evidence. CoCo's 'sample' TEE is "
        "refused on purpose: its evidence has no signature and no measurement, and clients "
        "fall back to it silently when no TEE is found."
    )


class SessionNotFound(KbsError):
    code = "kbs_session_not_found"
    status = 401
    default_hint = "Start again with POST /kbs/v0/auth and send the kbs-session-id cookie it sets."


class SessionExpired(KbsError):
    code = "kbs_session_expired"
    status = 401
    default_hint = "Sessions live a few minutes; run the auth and attest steps again."


class NonceReplayed(KbsError):
    code = "kbs_nonce_replayed"
    status = 401
    default_hint = "Each challenge nonce is good for one attestation; request a new challenge."


class BindingMismatch(KbsError):
    code = "kbs_binding_mismatch"
    status = 401
    default_hint = (
        "The evidence's report data must be SHA-384 of the RFC 8785 JSON of nonce, tee-pubkey "
        "and additional-evidence, zero-padded to 64 bytes; the evidence was made for another "
        "key or challenge."
    )


class EvidenceRejected(KbsError):
    code = "kbs_evidence_rejected"
    status = 401
    default_hint = (
        "The evidence did not verify; the errors list says why. Simulated evidence verifies "
        "only on a broker started with --trust-sim."
    )


class TokenInvalid(KbsError):
    code = "kbs_token_invalid"
    status = 401
    default_hint = (
        "Present an attestation token this broker issued and that has not expired, or attest again."
    )


class PolicyDenied(KbsError):
    code = "policy_denied"
    status = 403
    default_hint = (
        "The resource policy refused this request; 'reasons' and 'claims' show what it saw. "
        "Try a policy with POST /kbs/v0/explain before installing it."
    )


class PolicyInvalid(KbsError):
    code = "kbs_policy_invalid"
    status = 400
    default_hint = (
        "The resource policy must be Rego in 'package policy' defining a boolean 'allow'."
    )


class StoreUnavailable(KbsError):
    code = "kbs_store_unavailable"
    status = 503
    default_hint = (
        "The broker's database is overloaded or unreachable: retry shortly. If it persists, "
        "check the database server, or move from SQLite to PostgreSQL for heavy load."
    )


class ResourceNotFound(KbsError):
    code = "kbs_resource_not_found"
    status = 404
    default_hint = (
        "An administrator stores resources with POST /kbs/v0/resource/<repo>/<type>/<tag>."
    )


class AdminAuthFailed(KbsError):
    code = "kbs_admin_auth_failed"
    status = 401
    default_hint = (
        "Admin calls need 'Authorization: Bearer <JWT>' signed (EdDSA) with the private key "
        "matching the broker's admin public key, with an 'exp' in the future."
    )


class ResourceKeyInvalid(KbsError):
    code = "kbs_resource_key_invalid"
    status = 500
    default_hint = (
        "The resource key file holds 32 random bytes (raw, hex or base64); stored resources "
        "decrypt only with the key they were stored under."
    )


class ResponseInvalid(KbsError):
    """The client could not open a resource response (it is the client's error, not HTTP)."""

    code = "kbs_response_invalid"
    default_hint = (
        "The answer is not a JWE to this client's TEE key (ECDH-ES+A256KW or RSA-OAEP-256 with "
        "A256GCM): a broker speaking another protocol version, or an answer altered on the way."
    )


class KbsRemoteError(KbsError):
    """A problem+json answer from a broker, as the client sees it; ``remote_code`` is its code."""

    code = "kbs_remote_error"
    default_hint = "The broker refused the request; see the remote code and hint."

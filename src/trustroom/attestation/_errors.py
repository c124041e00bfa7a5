"""Typed errors of appraisal, signing keys and attestation-result tokens, one class per code."""

from __future__ import annotations

from trustroom._core.errors import TrustroomError

__all__ = [
    "AttestationError",
    "ReferenceValuesInvalid",
    "SigningKeyInvalid",
    "SigningKeyUnavailable",
    "TokenAudienceMismatch",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenNotYetValid",
    "TokenUntrustedIssuer",
]


class AttestationError(TrustroomError):
    """Appraisal inputs, signing keys or an attestation-result token were rejected."""

    code = "attestation_error"


class ReferenceValuesInvalid(AttestationError):
    code = "reference_values_invalid"
    default_hint = (
        "Reference values are typed: `tee` is a list of sgx/tdx/snp/sim, `measurements` maps a "
        "claim name to a list of lowercase hex values, `min_svn` maps an attribute to an "
        "integer. The error's `field` names the entry to fix."
    )


class SigningKeyInvalid(AttestationError):
    code = "signing_key_invalid"
    default_hint = (
        "Token signing keys are EC P-256 private keys in PEM with an RFC 3339 validity window; "
        "a certificate, if given, must certify that same key. Regenerate the key file if it "
        "was edited by hand."
    )


class SigningKeyUnavailable(AttestationError):
    code = "signing_key_unavailable"
    default_hint = (
        "No signing key is valid now: every key has expired or is not valid yet. Add one "
        "with SigningKeys.rotate() and watch SigningKeys.warnings() so it never happens again."
    )


class TokenError(AttestationError):
    """An attestation-result token was refused."""

    code = "token_error"


class TokenInvalid(TokenError):
    code = "token_invalid"
    default_hint = (
        "The token is malformed, not ES256, or its signature does not match its content: it "
        "was altered or truncated. Obtain a fresh token from the attestation service."
    )


class TokenExpired(TokenError):
    code = "token_expired"
    default_hint = (
        "Attestation results are short-lived on purpose. Attest again for a fresh token, or "
        "check the verifier's clock (use --at to evaluate at another time)."
    )


class TokenNotYetValid(TokenError):
    code = "token_not_yet_valid"
    default_hint = (
        "The token was issued in the future by this verifier's clock: one of the two clocks "
        "is wrong. Synchronise them (NTP) or allow some leeway."
    )


class TokenUntrustedIssuer(TokenError):
    code = "token_untrusted_issuer"
    default_hint = (
        "The token is signed by a key this verifier does not trust: pass the issuer's JWKS "
        "(or key) or the CA certifying its x5c chain. A key removed from the JWKS after it "
        "expired no longer verifies tokens."
    )


class TokenAudienceMismatch(TokenError):
    code = "token_audience_mismatch"
    default_hint = (
        "The token was issued for another relying party (its `aud` claim); ask the "
        "attestation service for a token addressed to this one."
    )

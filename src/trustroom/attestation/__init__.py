"""Appraise verified evidence and issue or verify EAR attestation-result tokens.

:func:`appraise` compares a :class:`~trustroom.evidence.VerificationResult` with a workload's
:class:`ReferenceValues` and yields an AR4SI trust vector and EAR status; :class:`TokenIssuer`
signs appraisals into ES256 EAR JWTs with rotating :class:`SigningKeys`; :func:`verify_token`
checks such tokens, ours or Trustee's, against a JWKS or a CA.

Evidence from the simulated TEE is never ``affirming``.

>>> appraisal = appraise(result, ReferenceValues.from_dict(stored))
>>> token = TokenIssuer(SigningKeys.load(path)).issue({"cpu0": appraisal})
>>> verify_token(token, keys=jwks).status
"""

from trustroom.attestation._appraisal import NO_REFERENCE_POLICY_ID, Appraisal, appraise
from trustroom.attestation._claims import CLAIMS, STATUSES
from trustroom.attestation._errors import (
    AttestationError,
    ReferenceValuesInvalid,
    SigningKeyInvalid,
    SigningKeyUnavailable,
    TokenAudienceMismatch,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenNotYetValid,
    TokenUntrustedIssuer,
)
from trustroom.attestation._issuer import EAR_PROFILE, TokenIssuer
from trustroom.attestation._keys import KeyWarning, SigningKey, SigningKeys
from trustroom.attestation._reference import TCB_STATUS_ORDER, ReferenceValues
from trustroom.attestation._verify import SubmodClaims, TokenClaims, verify_token

__all__ = [
    "CLAIMS",
    "EAR_PROFILE",
    "NO_REFERENCE_POLICY_ID",
    "STATUSES",
    "TCB_STATUS_ORDER",
    "Appraisal",
    "AttestationError",
    "KeyWarning",
    "ReferenceValues",
    "ReferenceValuesInvalid",
    "SigningKey",
    "SigningKeyInvalid",
    "SigningKeyUnavailable",
    "SigningKeys",
    "SubmodClaims",
    "TokenAudienceMismatch",
    "TokenClaims",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenIssuer",
    "TokenNotYetValid",
    "TokenUntrustedIssuer",
    "appraise",
    "verify_token",
]

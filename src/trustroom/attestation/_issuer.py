"""Issue EAR attestation-result tokens (draft-ietf-rats-ear, JWT form) signed with ES256."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from trustroom import __version__
from trustroom._core.timeutil import require_aware
from trustroom.attestation import _jws
from trustroom.attestation._appraisal import Appraisal
from trustroom.attestation._errors import AttestationError
from trustroom.attestation._keys import EXPIRY_WARNING, SigningKeys

__all__ = ["EAR_PROFILE", "VERIFIER_ID", "TokenIssuer"]

EAR_PROFILE = "tag:github.com,2023:veraison/ear"
VERIFIER_ID = {"developer": "trustroom", "build": f"trustroom {__version__}"}

log = logging.getLogger("trustroom.attestation")


class TokenIssuer:
    """Signs appraisals into EAR tokens with the newest valid key of ``keys``.

    Tokens live ``lifetime`` (5 minutes by default, as Trustee's): an attestation result is a
    statement about a moment, and a relying party should ask again rather than cache it.
    """

    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str = "trustroom",
        lifetime: timedelta = timedelta(minutes=5),
        expiry_warning: timedelta = EXPIRY_WARNING,
    ) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("token lifetime must be positive")
        self.keys = keys
        self.issuer = issuer
        self.lifetime = lifetime
        self.expiry_warning = expiry_warning

    def issue(
        self,
        submods: Mapping[str, Appraisal],
        *,
        runtime_data_claims: dict[str, Any] | None = None,
        at: datetime | None = None,
        nonce: str | None = None,
        audience: str | list[str] | None = None,
    ) -> str:
        """An EAR JWT with one submod per appraisal (``{"cpu0": appraisal}``, ...).

        ``runtime_data_claims`` (nonce, TEE public key, ...) is placed in every submod's
        annotated evidence, as Trustee does; ``nonce`` becomes ``eat_nonce``.
        """
        if not submods:
            raise AttestationError("an attestation-result token needs at least one submod")
        when = datetime.now(UTC) if at is None else require_aware(at)
        key = self.keys.current(when)
        if key.not_after - when <= self.expiry_warning:
            # The silent-expiry pain (trustee #1555): make it loud where operators look.
            successor = any(k.not_after > key.not_after for k in self.keys.keys)
            log.warning(
                "token signing key %s expires at %s; %s",
                key.kid,
                key.not_after.isoformat(),
                "a newer key is scheduled" if successor else "rotate the signing keys now",
            )
        iat = int(when.timestamp())
        payload: dict[str, Any] = {
            "eat_profile": EAR_PROFILE,
            "iat": iat,
            "exp": iat + int(self.lifetime.total_seconds()),
            "iss": self.issuer,
            "ear.verifier-id": dict(VERIFIER_ID),
            "submods": {
                name: appraisal.to_submod(runtime_data_claims)
                for name, appraisal in submods.items()
            },
        }
        if nonce is not None:
            payload["eat_nonce"] = nonce
        if audience is not None:
            payload["aud"] = audience
        jwk = key.jwk()
        header: dict[str, Any] = {"alg": "ES256", "typ": "JWT", "kid": key.kid, "jwk": jwk}
        if "x5c" in jwk:
            header["x5c"] = jwk["x5c"]
        return _jws.sign(header, payload, key.private_key)

"""Verify EAR attestation-result tokens, ours or another issuer's (Trustee, Veraison).

The key in a token's own header proves nothing by itself: a token is trusted only when it is
signed by a key configured here (looked up by ``kid``, or matched against the header JWK when
the issuer sends no ``kid``, as Trustee does) or by the leaf of its ``x5c`` chain anchored at
a configured CA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from trustroom._core.timeutil import format_time, require_aware
from trustroom.attestation import _claims as c
from trustroom.attestation import _jws
from trustroom.attestation._errors import (
    TokenAudienceMismatch,
    TokenExpired,
    TokenInvalid,
    TokenNotYetValid,
    TokenUntrustedIssuer,
)

__all__ = ["SubmodClaims", "TokenClaims", "verify_token"]

PublicKeys = Mapping[str, ec.EllipticCurvePublicKey]
_NOT_TEE = frozenset({"report_data", "runtime_data_claims", "init_data", "init_data_claims"})


@dataclass(frozen=True)
class SubmodClaims:
    """One appraisal in a verified token."""

    name: str
    status: str
    tee: str | None
    trust_vector: dict[str, int]
    policy_id: str | None
    claims: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "tee": self.tee,
            "trust_vector": dict(self.trust_vector),
            "policy_id": self.policy_id,
        }


@dataclass(frozen=True)
class TokenClaims:
    """A verified token: ``status`` is the worst submod's, ``payload`` the full claims."""

    status: str
    submods: dict[str, SubmodClaims]
    payload: dict[str, Any]
    header: dict[str, Any]
    kid: str | None
    issuer: str | None
    issued_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "issuer": self.issuer,
            "kid": self.kid,
            "issued_at": format_time(self.issued_at),
            "expires_at": format_time(self.expires_at),
            "submods": {name: s.to_dict() for name, s in self.submods.items()},
        }


def verify_token(
    token: str,
    *,
    keys: PublicKeys | Mapping[str, Any] | None = None,
    ca: x509.Certificate | None = None,
    at: datetime | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    leeway: timedelta = timedelta(0),
) -> TokenClaims:
    """Verify an EAR JWT and return its claims, or raise a :class:`TokenError`.

    ``keys`` is either ``{kid: public key}`` or a JSON Web Key Set (``{"keys": [...]}``);
    ``ca`` trusts any key certified through the token's ``x5c`` chain. At least one must be
    given. ``at`` (default now) is checked against ``iat``/``nbf``/``exp`` with ``leeway``;
    ``audience`` and ``issuer``, when given, must match ``aud`` and ``iss``.
    """
    header, payload, signing_input, signature = _jws.split(token)
    when = datetime.now(UTC) if at is None else require_aware(at)
    key = _trusted_key(header, keys, ca, when)
    if not _jws.verify_signature(key, signing_input, signature):
        raise TokenInvalid("token signature does not verify: the token was altered")
    issued_at, expires_at = _check_times(payload, when, leeway)
    _check_parties(payload, audience, issuer)
    submods = _submods(payload)
    return TokenClaims(
        status=c.worst(s.status for s in submods.values()),
        submods=submods,
        payload=payload,
        header=header,
        kid=header.get("kid") if isinstance(header.get("kid"), str) else None,
        issuer=payload.get("iss") if isinstance(payload.get("iss"), str) else None,
        issued_at=issued_at,
        expires_at=expires_at,
    )


def _configured_keys(keys: PublicKeys | Mapping[str, Any]) -> dict[str, ec.EllipticCurvePublicKey]:
    if "keys" in keys and isinstance(keys["keys"], list):
        found: dict[str, ec.EllipticCurvePublicKey] = {}
        for jwk in keys["keys"]:
            try:
                public = _jws.public_key_of_jwk(jwk)
            except ValueError:
                continue  # a JWKS may carry other key types for other uses
            found[jwk.get("kid") or _jws.thumbprint(public)] = public
        return found
    result: dict[str, ec.EllipticCurvePublicKey] = {}
    for kid, public in keys.items():
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise TypeError(f"key {kid!r} is not an EC public key")
        result[kid] = public
    return result


def _header_jwk_key(header: Mapping[str, Any]) -> ec.EllipticCurvePublicKey | None:
    if "jwk" not in header:
        return None
    try:
        return _jws.public_key_of_jwk(header["jwk"])
    except ValueError as exc:
        raise TokenInvalid(f"token header jwk is not an EC P-256 key: {exc}") from exc


def _trusted_key(
    header: Mapping[str, Any],
    keys: PublicKeys | Mapping[str, Any] | None,
    ca: x509.Certificate | None,
    when: datetime,
) -> ec.EllipticCurvePublicKey:
    if keys is None and ca is None:
        raise TokenUntrustedIssuer(
            "no trust anchor configured: pass keys (a JWKS) or a CA; the key in the token's "
            "own header proves nothing"
        )
    header_key = _header_jwk_key(header)
    if keys is not None:
        configured = _configured_keys(keys)
        kid = header.get("kid")
        if isinstance(kid, str) and kid in configured:
            return configured[kid]
        if header_key is not None:
            for public in configured.values():
                if public == header_key:
                    return public
    if ca is not None:
        return _x5c_key(header, header_key, ca, when)
    raise TokenUntrustedIssuer(
        f"token signed by key {header.get('kid') or '(no kid)'}, which is not among the "
        f"{len(_configured_keys(keys or {}))} trusted key(s)"
    )


def _x5c_key(
    header: Mapping[str, Any],
    header_key: ec.EllipticCurvePublicKey | None,
    ca: x509.Certificate,
    when: datetime,
) -> ec.EllipticCurvePublicKey:
    # Trustee puts x5c inside the jwk; RFC 7515 puts it in the header. Accept either.
    entries = header.get("x5c")
    if entries is None and isinstance(header.get("jwk"), dict):
        entries = header["jwk"].get("x5c")
    if not entries or not isinstance(entries, list):
        raise TokenUntrustedIssuer("token carries no x5c chain to check against the CA")
    try:
        chain = [x509.load_der_x509_certificate(_jws.decode_x5c_entry(e)) for e in entries]
    except ValueError as exc:
        raise TokenInvalid(f"token x5c chain is malformed: {exc}") from exc
    issuers = [*chain[1:], ca]
    if chain[-1] == ca:
        issuers = chain[1:]  # the chain includes the anchor itself
        chain = chain[:-1] or [ca]
    for cert, issuer in zip(chain, issuers, strict=False):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError) as exc:
            raise TokenUntrustedIssuer(
                f"x5c certificate {cert.subject.rfc4514_string()} is not issued by "
                f"{issuer.subject.rfc4514_string()}: {exc}"
            ) from exc
        except Exception as exc:  # InvalidSignature carries no message
            raise TokenUntrustedIssuer(
                f"x5c certificate {cert.subject.rfc4514_string()} has a bad signature"
            ) from exc
        if not _is_ca(issuer):
            raise TokenUntrustedIssuer(f"{issuer.subject.rfc4514_string()} is not a CA")
    for cert in [*chain, ca]:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise TokenUntrustedIssuer(
                f"certificate {cert.subject.rfc4514_string()} is not valid at "
                f"{format_time(when)} (valid {format_time(cert.not_valid_before_utc)} to "
                f"{format_time(cert.not_valid_after_utc)})"
            )
    leaf = chain[0].public_key()
    if not isinstance(leaf, ec.EllipticCurvePublicKey):
        raise TokenInvalid("the x5c leaf certificate does not hold an EC key")
    if header_key is not None and header_key != leaf:
        raise TokenInvalid("the token header jwk is not the key of its x5c leaf certificate")
    return leaf


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _timestamp(payload: Mapping[str, Any], name: str, required: bool) -> datetime | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid(f"token claim {name!r} must be a NumericDate, not {value!r}")
    return datetime.fromtimestamp(value, UTC)


def _check_times(
    payload: Mapping[str, Any], when: datetime, leeway: timedelta
) -> tuple[datetime, datetime]:
    issued_at = _timestamp(payload, "iat", True)
    expires_at = _timestamp(payload, "exp", True)
    not_before = _timestamp(payload, "nbf", False)
    assert issued_at is not None and expires_at is not None
    if when >= expires_at + leeway:
        raise TokenExpired(
            f"token expired at {format_time(expires_at)} (evaluated at {format_time(when)})",
            expires_at=format_time(expires_at),
        )
    start = max(issued_at, not_before or issued_at)
    if when + leeway < start:
        raise TokenNotYetValid(
            f"token is valid from {format_time(start)}, evaluated at {format_time(when)}"
        )
    return issued_at, expires_at


def _check_parties(payload: Mapping[str, Any], audience: str | None, issuer: str | None) -> None:
    if audience is not None:
        aud = payload.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise TokenAudienceMismatch(f"token is for {aud!r}, not for {audience!r}")
    if issuer is not None and payload.get("iss") != issuer:
        raise TokenUntrustedIssuer(f"token issuer {payload.get('iss')!r} is not {issuer!r}")


def _submods(payload: Mapping[str, Any]) -> dict[str, SubmodClaims]:
    submods = payload.get("submods")
    if not isinstance(submods, dict) or not submods:
        raise TokenInvalid("token has no submods: it is not an EAR attestation result")
    result: dict[str, SubmodClaims] = {}
    for name, claims in submods.items():
        if not isinstance(claims, dict):
            raise TokenInvalid(f"submod {name!r} is not an object")
        status = claims.get("ear.status")
        if status not in c.STATUSES:
            raise TokenInvalid(f"submod {name!r} has no valid ear.status ({status!r})")
        vector = claims.get("ear.trustworthiness-vector", {})
        if not isinstance(vector, dict) or not all(
            k in c.CLAIMS and isinstance(v, int) and not isinstance(v, bool)
            for k, v in vector.items()
        ):
            raise TokenInvalid(f"submod {name!r} has a malformed trustworthiness vector")
        evidence = claims.get("ear.veraison.annotated-evidence")
        tee = None
        if isinstance(evidence, dict):
            tees = (k for k, v in evidence.items() if k not in _NOT_TEE and isinstance(v, dict))
            tee = next(tees, None)
        policy = claims.get("ear.appraisal-policy-id")
        result[name] = SubmodClaims(
            name=name,
            # Never report better than the vector supports, whatever the issuer wrote.
            status=c.worst([status, c.status_of(vector)]),
            tee=tee,
            trust_vector={k: vector.get(k, 0) for k in c.CLAIMS},
            policy_id=policy if isinstance(policy, str) else None,
            claims=claims,
        )
    return result

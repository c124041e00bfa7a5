"""Admin authentication: an EdDSA (Ed25519) JWT bearer, checked against one public key.

This is Trustee's ``auth_public_key`` scheme (reference §2.11): the operator holds an Ed25519
private key and signs a short-lived JWT for each call (``kbs-client --auth-private-key``
does the same), the broker holds only the public key. Every admin route goes through
:func:`check_admin_token`; there is no "insecure" switch (trustee PR #957 shipped an admin
route without authentication).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwcrypto import jwk, jws, jwt

from trustroom.kbs._errors import AdminAuthFailed

__all__ = [
    "check_admin_token",
    "load_admin_private_key",
    "load_admin_public_key",
    "mint_admin_token",
]


def load_admin_public_key(path: Path) -> ed25519.Ed25519PublicKey:
    """The broker's admin key: an Ed25519 public key in PEM (``openssl pkey -pubout``)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AdminAuthFailed(
            f"cannot read the admin public key {path}: {exc}",
            hint="Generate one with `openssl genpkey -algorithm ed25519 -out admin.key` and "
            "`openssl pkey -in admin.key -pubout -out admin.pub`.",
        ) from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AdminAuthFailed(f"{path} is not an Ed25519 public key")
    return key


def load_admin_private_key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise AdminAuthFailed(f"cannot read the admin private key {path}: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise AdminAuthFailed(f"{path} is not an Ed25519 private key")
    return key


def mint_admin_token(
    private_key: ed25519.Ed25519PrivateKey, *, lifetime: timedelta = timedelta(minutes=5)
) -> str:
    """A compact EdDSA JWT for admin calls, valid for ``lifetime``."""
    now = int(time.time())
    claims = {"sub": "admin", "iat": now, "exp": now + int(lifetime.total_seconds())}
    token = jwt.JWT(header={"alg": "EdDSA", "typ": "JWT"}, claims=claims)
    token.make_signed_token(jwk.JWK.from_pyca(private_key))
    return str(token.serialize())


def check_admin_token(
    authorization: str | None, public_key: ed25519.Ed25519PublicKey | None
) -> dict[str, object]:
    """The claims of a valid admin bearer token from an Authorization header value.

    Without a configured public key every admin call is refused (deny by default).
    """
    if public_key is None:
        raise AdminAuthFailed(
            "this broker has no admin public key, so admin calls are refused",
            hint="Start the broker with --admin-key FILE (an Ed25519 public key in PEM).",
        )
    if not authorization or not authorization.startswith("Bearer "):
        raise AdminAuthFailed("admin calls need an 'Authorization: Bearer <JWT>' header")
    token = authorization.removeprefix("Bearer ").strip()
    try:
        verified = jwt.JWT(
            jwt=token,
            key=jwk.JWK.from_pyca(public_key),
            algs=["EdDSA"],
            check_claims={"exp": None},
        )
    except (jws.InvalidJWSSignature, jwt.JWTExpired) as exc:
        raise AdminAuthFailed(f"the admin token is not valid: {exc}") from exc
    except Exception as exc:  # jwcrypto signals malformed tokens with assorted exceptions
        raise AdminAuthFailed(f"the admin token is not valid: {type(exc).__name__}") from exc
    claims = json.loads(verified.claims)
    if not isinstance(claims, dict):
        raise AdminAuthFailed("the admin token's claims are not an object")
    return claims

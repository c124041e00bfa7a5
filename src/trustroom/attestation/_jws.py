"""Compact JWS with ES256 (RFC 7515/7518) and EC P-256 JWKs (RFC 7517, thumbprints RFC 7638).

Written on ``cryptography`` directly rather than with ``jwcrypto``: ES256 signing and
verification is a few lines around primitives trustroom already depends on, x5c chains need
our own validation anyway, and keeping the algorithm fixed here (no ``alg`` negotiation)
shuts out the classic JWT algorithm-confusion attacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from trustroom._core.encoding import b64url_decode, b64url_encode
from trustroom.attestation._errors import TokenInvalid

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "decode_x5c_entry",
    "jwk_of",
    "public_key_of_jwk",
    "sign",
    "split",
    "thumbprint",
    "verify_signature",
]

_COORDINATE = 32  # bytes of a P-256 coordinate and of r and s


def decode_x5c_entry(text: str) -> bytes:
    """One x5c certificate. RFC 7517 says standard base64, but Trustee before commit 08960487
    emitted base64url, and its tokens are still about: accept both."""
    if not isinstance(text, str):
        raise ValueError("x5c entries are strings")
    cleaned = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"x5c entry is not base64: {exc}") from exc


def _p256(key: ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"ES256 needs a P-256 key, not {key.curve.name}")
    return key


def jwk_of(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK of a P-256 key, members in RFC 7638 order."""
    numbers = _p256(key).public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(_COORDINATE, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_COORDINATE, "big")),
    }


def thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): a key id derived from the key itself."""
    canonical = json.dumps(jwk_of(key), separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def public_key_of_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a JWK; ValueError for anything else."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("only EC P-256 JWKs are accepted")
    x, y = b64url_decode(jwk.get("x", "")), b64url_decode(jwk.get("y", ""))
    if len(x) != _COORDINATE or len(y) != _COORDINATE:
        raise ValueError("JWK coordinates must be 32 bytes")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    return numbers.public_key()  # raises ValueError when the point is not on the curve


def _json_b64(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def sign(header: dict[str, Any], payload: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    """A compact JWS: ES256 over ``header.payload``, signature as raw r || s (RFC 7518 3.4)."""
    signing_input = f"{_json_b64(header)}.{_json_b64(payload)}"
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
    return f"{signing_input}.{b64url_encode(raw)}"


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, payload, signing input and signature of a compact ES256 JWS; TokenInvalid if
    it is not one (other algorithms, ``none`` included, are refused here)."""
    if not isinstance(token, str):
        raise TokenInvalid("a token is a string")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenInvalid(f"a compact JWS has 3 parts separated by '.', this has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid(f"token is not base64url-encoded JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenInvalid("token header and payload must be JSON objects")
    if header.get("alg") != "ES256":
        raise TokenInvalid(f"token algorithm {header.get('alg')!r} is not accepted; only ES256")
    if "crit" in header:
        raise TokenInvalid(f"token has critical header parameters {header['crit']!r}")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return header, payload, signing_input, signature


def verify_signature(
    key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes
) -> bool:
    if len(signature) != 2 * _COORDINATE:
        return False
    r = int.from_bytes(signature[:_COORDINATE], "big")
    s = int.from_bytes(signature[_COORDINATE:], "big")
    try:
        _p256(key).verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True

"""The resource response: a flattened JWE encrypted to the TEE public key from the token.

Trustee's default is ``ECDH-ES+A256KW`` with ``A256GCM`` (kbs/src/jwe/mod.rs); its clients may
also send an RSA key for ``RSA-OAEP-256``. Trustee's clients read the ephemeral key (``epk``)
from the *protected* header, while jwcrypto puts it in the per-recipient header of a flattened
JWE; so the JWE is assembled here with ``cryptography`` (RFC 7516/7518, a few lines), and
opened the same way on the client (a third of jwcrypto's time, and it reads ``epk`` from
either header). The tests check that stock jwcrypto decrypts what the broker sends.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from jwcrypto import jwk

from trustroom._core.encoding import b64url_decode, b64url_encode
from trustroom.kbs._errors import InvalidRequest, ResponseInvalid

__all__ = ["check_tee_pubkey", "decrypt_response", "encrypt_response"]

_ALGORITHMS = {"EC": "ECDH-ES+A256KW", "RSA": "RSA-OAEP-256"}
_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def check_tee_pubkey(value: Any) -> PublicKey:
    """The client's TEE key as a public key, refusing anything we would not encrypt to."""
    if not isinstance(value, Mapping):
        raise InvalidRequest("runtime-data.tee-pubkey must be a JWK object")
    kty = value.get("kty")
    if kty not in _ALGORITHMS:
        raise InvalidRequest(f"tee-pubkey kty {kty!r} is not supported; use EC (P-256) or RSA")
    alg = value.get("alg", _ALGORITHMS[kty])
    if alg != _ALGORITHMS[kty]:
        raise InvalidRequest(
            f"tee-pubkey alg {alg!r} is not supported for {kty}; use {_ALGORITHMS[kty]}",
            hint="RSA1_5 is refused (padding oracle); Trustee's default is ECDH-ES+A256KW.",
        )
    if kty == "EC" and value.get("crv") not in _CURVES:
        raise InvalidRequest(f"tee-pubkey curve {value.get('crv')!r} is not supported")
    if "d" in value or "p" in value:
        raise InvalidRequest("tee-pubkey contains private key material; send the public key only")
    try:
        return _public_key(value)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"tee-pubkey is not a valid JWK: {exc}") from exc


def _public_key(value: Mapping[str, Any]) -> PublicKey:
    """RFC 7518 §6.2.1 / §6.3.1 public members; the point must lie on the curve."""
    if value["kty"] == "RSA":
        n, e = (int.from_bytes(b64url_decode(value.get(m, "")), "big") for m in ("n", "e"))
        if n.bit_length() < 2048:
            raise ValueError("an RSA key has a modulus of at least 2048 bits")
        return rsa.RSAPublicNumbers(e, n).public_key()
    curve = _CURVES[value["crv"]]
    size = (curve.key_size + 7) // 8
    x, y = b64url_decode(value.get("x", "")), b64url_decode(value.get("y", ""))
    if len(x) != size or len(y) != size:
        raise ValueError(f"{value['crv']} coordinates are {size} bytes each")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
    )
    return numbers.public_key()


def _concat_kdf(shared: bytes, alg: str) -> bytes:
    # RFC 7518 §4.6.2: AlgorithmID, empty PartyUInfo/PartyVInfo, SuppPubInfo = key bits.
    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    other = field(alg.encode()) + field(b"") + field(b"") + struct.pack(">I", 256)
    return ConcatKDFHash(hashes.SHA256(), 32, other).derive(shared)


def encrypt_response(tee_pubkey: Mapping[str, Any], payload: bytes) -> dict[str, str]:
    """``payload`` as flattened JWE JSON (protected, encrypted_key, iv, ciphertext, tag)."""
    public = check_tee_pubkey(tee_pubkey)
    cek = os.urandom(32)
    header: dict[str, Any] = {"alg": _ALGORITHMS[str(tee_pubkey["kty"])], "enc": "A256GCM"}
    if isinstance(public, ec.EllipticCurvePublicKey):
        ephemeral = ec.generate_private_key(public.curve)
        kek = _concat_kdf(ephemeral.exchange(ec.ECDH(), public), header["alg"])
        encrypted_key = aes_key_wrap(kek, cek)
        size = (public.curve.key_size + 7) // 8
        point = ephemeral.public_key().public_numbers()
        header["epk"] = {
            "crv": tee_pubkey["crv"],
            "kty": "EC",
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    else:
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        encrypted_key = public.encrypt(cek, oaep)
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    iv = os.urandom(12)
    # RFC 7516 §5.1: the AAD is the ASCII of the encoded protected header.
    sealed = AESGCM(cek).encrypt(iv, payload, protected.encode())
    return {
        "protected": protected,
        "encrypted_key": b64url_encode(encrypted_key),
        "iv": b64url_encode(iv),
        "ciphertext": b64url_encode(sealed[:-16]),
        "tag": b64url_encode(sealed[-16:]),
    }


def decrypt_response(private_key: jwk.JWK, response: Mapping[str, Any]) -> bytes:
    """The plaintext of a resource response, with the client's private TEE key.

    The ephemeral key is read from the protected header (Trustee) or the per-recipient one
    (jwcrypto and other JOSE libraries).
    """
    try:
        protected = response["protected"]
        # Protected members win: only they are bound to the ciphertext.
        header = {**response.get("header", {}), **json.loads(b64url_decode(protected))}
        encrypted_key, iv, ciphertext, tag = (
            b64url_decode(response[m]) for m in ("encrypted_key", "iv", "ciphertext", "tag")
        )
        if header.get("enc") != "A256GCM":
            raise ValueError(f"content encryption {header.get('enc')!r} is not A256GCM")
        key = private_key.get_op_key("unwrapKey")
        if header.get("alg") == "ECDH-ES+A256KW" and isinstance(key, ec.EllipticCurvePrivateKey):
            ephemeral = _public_key({**header["epk"], "kty": "EC"})
            if not isinstance(ephemeral, ec.EllipticCurvePublicKey) or (
                ephemeral.curve.name != key.curve.name
            ):
                raise ValueError("the ephemeral key is not on the TEE key's curve")
            kek = _concat_kdf(key.exchange(ec.ECDH(), ephemeral), header["alg"])
            cek = aes_key_unwrap(kek, encrypted_key)
        elif header.get("alg") == "RSA-OAEP-256" and isinstance(key, rsa.RSAPrivateKey):
            oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
            cek = key.decrypt(encrypted_key, oaep)
        else:
            raise ValueError(f"key management {header.get('alg')!r} does not fit the TEE key")
        aad = protected + ("." + response["aad"] if "aad" in response else "")
        return AESGCM(cek).decrypt(iv, ciphertext + tag, aad.encode())
    except (KeyError, TypeError, ValueError, AttributeError, InvalidTag, InvalidUnwrap) as exc:
        raise ResponseInvalid(
            f"the resource response does not decrypt: {type(exc).__name__}: {exc}"
        ) from exc

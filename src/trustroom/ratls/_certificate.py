"""Making RA-TLS certificates: a fresh key, evidence binding it, one self-signed certificate."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from trustroom.ratls._extension import dice_extension, encode_claims
from trustroom.tee import REPORT_DATA_SIZE, Attester

__all__ = ["Identity", "PrivateKey", "create_certificate", "write_identity"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
Identity = tuple[PrivateKey, x509.Certificate]

# Clocks of peers differ; a certificate valid only from this very second would be refused by
# a peer whose clock is a little behind.
_CLOCK_SKEW = timedelta(minutes=5)


def create_certificate(
    attester: Attester,
    *,
    key: PrivateKey | None = None,
    subject: str = "trustroom RA-TLS",
    validity: timedelta = timedelta(days=7),
) -> Identity:
    """A key (ECDSA P-256 unless given) and a self-signed certificate attesting it.

    The certificate carries the interoperable RA-TLS evidence extension (OID 2.23.133.5.4.9,
    non-critical as every other implementation writes it): CBOR ``tag(60000)([evidence,
    claims])`` with ``claims = {"pubkey-hash": [1, SHA-256(SubjectPublicKeyInfo)]}`` and
    evidence from ``attester`` whose report data is ``SHA-256(claims)`` and 32 zero bytes.

    Evidence says nothing about freshness, so keep ``validity`` short and make a new
    certificate (and key) when the workload restarts.
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = encode_claims(spki)
    digest = hashlib.sha256(claims).digest()
    evidence = attester.evidence(digest + bytes(REPORT_DATA_SIZE - len(digest)))
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(dice_extension(evidence, claims), critical=False)
        .sign(key, _signature_hash(key))
    )
    return key, certificate


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384() if key.curve.key_size <= 384 else hashes.SHA512()
    return hashes.SHA256()


def write_identity(directory: Path, key: PrivateKey, certificate: x509.Certificate) -> None:
    """Write ``key.pem`` (PKCS#8, readable by the owner only) and ``cert.pem`` into ``directory``.

    The key is unencrypted: keep the directory inside the TEE's protected storage (for example
    Gramine's encrypted files); a key that leaves the TEE lets anyone present its evidence.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path = directory / "key.pem"
    # Created with mode 0600 from the start, so the key is never readable by others, even
    # briefly; an existing file is narrowed to 0600 before it is overwritten.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(key_pem)
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

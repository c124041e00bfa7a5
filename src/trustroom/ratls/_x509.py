"""Reading RA-TLS certificates as other TEE stacks write them.

Two quirks of the wild need care:

- mbedTLS (used by Gramine and the Intel SGX SDK) writes ECDSA signature algorithms with a NULL
  parameter, which RFC 5758 forbids and ``cryptography`` refuses to load. Such a certificate is
  re-encoded without the NULL before loading. That changes the signed TBS bytes, so its
  self-signature would no longer verify, and it is never checked: in RA-TLS the self-signature
  proves nothing (anyone holding the key can make one), the TLS handshake proves possession of
  the key, and the evidence proves where the key lives.
- The key binding hashes the certificate's SubjectPublicKeyInfo exactly as encoded, so it is
  taken from the certificate bytes instead of being re-serialised from the parsed key.
"""

from __future__ import annotations

import base64
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trustroom.evidence import EvidenceError
from trustroom.evidence._der import OID, SEQUENCE, encode, encode_oid, tlvs
from trustroom.ratls._errors import CertificateUnreadable

__all__ = ["load_certificate", "spki_der"]

_NULL = 0x05
_EXPLICIT_VERSION = 0xA0
_ECDSA_ALGORITHMS = {
    encode_oid(f"1.2.840.10045.4.3.{n}") for n in (1, 2, 3, 4)
}  # ecdsa-with-SHA224 .. SHA512


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    """A certificate from PEM or DER bytes, including mbedTLS-encoded ones.

    Raises :class:`CertificateUnreadable` for anything that is not a certificate.
    """
    if isinstance(data, x509.Certificate):
        return data
    # Only a leading PEM header means PEM: the DER of an RA-TLS certificate contains PEM text
    # (the PCK certificate chain inside its quote).
    der = _pem_to_der(data) if data.lstrip().startswith(b"-----BEGIN") else bytes(data)
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as first:
        repaired = _without_null_ecdsa_parameters(der)
        if repaired is None:
            raise CertificateUnreadable(f"not a readable X.509 certificate: {first}") from first
        try:
            return x509.load_der_x509_certificate(repaired)
        except ValueError as exc:
            raise CertificateUnreadable(f"not a readable X.509 certificate: {exc}") from exc


def _pem_to_der(data: bytes) -> bytes:
    try:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    except ValueError:
        pass  # possibly an mbedTLS certificate: decode the PEM armour only, then repair
    match = re.search(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", data, re.S)
    if match is None:
        raise CertificateUnreadable("no PEM 'CERTIFICATE' block found")
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except ValueError as exc:
        raise CertificateUnreadable(f"the PEM certificate block is not base64: {exc}") from exc


def _without_null_ecdsa_parameters(der: bytes) -> bytes | None:
    """``der`` with ECDSA AlgorithmIdentifiers stripped of their NULL, or None if unchanged."""
    try:
        ((tag, body),) = tlvs(der, "certificate")
        (tbs_tag, tbs), (alg_tag, alg), signature = tlvs(body, "certificate")
        fields = tlvs(tbs, "TBSCertificate")
    except (EvidenceError, ValueError):
        return None
    index = 2 if fields and fields[0][0] == _EXPLICIT_VERSION else 1
    if tag != SEQUENCE or len(fields) <= index:
        return None
    inner, outer = _repair_algorithm(fields[index][1]), _repair_algorithm(alg)
    if inner is None and outer is None:
        return None
    fields[index] = (SEQUENCE, inner or fields[index][1])
    new_tbs = encode(tbs_tag, b"".join(encode(t, v) for t, v in fields))
    return encode(SEQUENCE, new_tbs + encode(alg_tag, outer or alg) + encode(*signature))


def _repair_algorithm(value: bytes) -> bytes | None:
    try:
        parts = tlvs(value, "AlgorithmIdentifier")
    except EvidenceError:
        return None
    match parts:
        case [(tag, oid), (param_tag, b"")] if (
            tag == OID and param_tag == _NULL and oid in _ECDSA_ALGORITHMS
        ):
            return encode(OID, oid)
    return None


def spki_der(certificate: x509.Certificate) -> bytes:
    """The certificate's SubjectPublicKeyInfo, byte for byte as it is encoded in it."""
    try:
        ((_, tbs),) = tlvs(certificate.tbs_certificate_bytes, "TBSCertificate")
        fields = tlvs(tbs, "TBSCertificate")
    except EvidenceError as exc:
        raise CertificateUnreadable(f"cannot locate the public key: {exc.message}") from exc
    # version (optional, explicit [0]), serial, signature, issuer, validity, subject, SPKI
    index = 6 if fields and fields[0][0] == _EXPLICIT_VERSION else 5
    if len(fields) <= index or fields[index][0] != SEQUENCE:
        raise CertificateUnreadable("the certificate has no SubjectPublicKeyInfo")
    return encode(*fields[index])

"""The evidence extensions of RA-TLS certificates: the interoperable one and two legacy ones.

- ``tcg-dice``: OID 2.23.133.5.4.9 (TCG DICE tagged evidence), the format Gramine, rats-tls,
  the Intel SGX SDK and TNG all emit: CBOR ``tag(60000)([bstr evidence, bstr claims])`` with
  ``claims = {"pubkey-hash": bstr(CBOR [hash-alg-id, hash of the DER SubjectPublicKeyInfo])}``
  and the evidence's ``report_data = SHA-256(claims) || 32 zero bytes``.
- ``gramine-legacy``: Gramine's own extension, the raw quote with ``report_data[0:32] =
  SHA-256(SPKI)``. Gramine meant OID 1.2.840.113741.1337.6 but writes the ASN.1 tag and length
  into the OID bytes, so it reads as 0.6.9.42.840.113741.1337.6; both spellings are accepted.
- ``intel-legacy``: the Intel SGX SDK's OID 1.2.840.113741.1.13.1, the raw quote bound as above.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import cbor2
from cryptography import x509

from trustroom.ratls._errors import (
    CertificateUnreadable,
    ExtensionMalformed,
    ExtensionMissing,
    UnsupportedEvidenceType,
)

__all__ = [
    "HASH_ALGORITHMS",
    "EmbeddedEvidence",
    "EvidenceFormat",
    "decode_pubkey_hash",
    "dice_extension",
    "encode_claims",
    "find_evidence",
    "hash_spki",
]

EvidenceFormat = Literal["tcg-dice", "gramine-legacy", "intel-legacy"]

_DICE_OID = x509.ObjectIdentifier("2.23.133.5.4.9")
# Preference order: the interoperable format first, then the legacy ones.
_OIDS: dict[EvidenceFormat, tuple[str, ...]] = {
    "tcg-dice": (_DICE_OID.dotted_string,),
    "gramine-legacy": ("0.6.9.42.840.113741.1337.6", "1.2.840.113741.1337.6"),
    "intel-legacy": ("1.2.840.113741.1.13.1",),
}

_TAG_INTEL_QUOTE = 60000
# Tags registered or used by other RA-TLS stacks, named in the error so users see what they got.
_KNOWN_TAGS = {
    60001: "Intel TDX report / SGX report type 2",
    60002: "legacy SGX EREPORT",
    0x1A7504: "AMD SEV-SNP report (rats-tls)",
    0x1A7505: "AMD SEV report (rats-tls)",
    0x1A7506: "Hygon CSV report (rats-tls)",
    0xC0C000: "Confidential Containers attestation-agent evidence",
    0xC0C001: "Confidential Containers attestation-service token",
}
# CoSWID / CoRIM hash-entry algorithm ids (IANA Named Information Hash Algorithm registry).
HASH_ALGORITHMS = {1: "sha256", 7: "sha384", 8: "sha512"}
_PUBKEY_HASH = "pubkey-hash"
# The structures are two levels deep; anything deeper is not RA-TLS evidence.
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class EmbeddedEvidence:
    """Evidence found in a certificate: raw TEE evidence and, for tcg-dice, its claims bytes."""

    format: EvidenceFormat
    evidence: bytes
    claims: bytes | None


def find_evidence(
    certificate: x509.Certificate, prefer: EvidenceFormat | None = None
) -> tuple[EmbeddedEvidence, tuple[EvidenceFormat, ...]]:
    """The evidence to check (``prefer``, else the first format present) and every format present.

    Raises ExtensionMissing, ExtensionMalformed or UnsupportedEvidenceType.
    """
    try:
        extensions = {ext.oid.dotted_string: ext.value for ext in certificate.extensions}
    except (ValueError, x509.DuplicateExtension) as exc:
        # Duplicate or undecodable standard extensions: refuse rather than pick one of them.
        raise CertificateUnreadable(f"the certificate's extensions are invalid: {exc}") from exc
    raw: dict[EvidenceFormat, bytes] = {}
    for fmt, oids in _OIDS.items():
        for oid in oids:
            value = extensions.get(oid)
            if isinstance(value, x509.UnrecognizedExtension):
                raw.setdefault(fmt, value.value)
    present = tuple(raw)
    if not present:
        raise ExtensionMissing("the certificate carries no RA-TLS evidence extension")
    chosen = prefer or present[0]
    if chosen not in raw:
        raise ExtensionMissing(
            f"the certificate has no {chosen} evidence extension (it has {', '.join(present)})"
        )
    if chosen == "tcg-dice":
        evidence, claims = _decode_dice(raw[chosen])
        return EmbeddedEvidence(chosen, evidence, claims), present
    return EmbeddedEvidence(chosen, raw[chosen], None), present


def _decode_strict(data: bytes, what: str) -> Any:
    """One CBOR item that spans all of ``data``; cbor2.loads alone would ignore trailing bytes."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(
            stream, max_depth=_MAX_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        ).decode()
    except (cbor2.CBORDecodeError, RecursionError) as exc:
        raise ExtensionMalformed(f"{what} is not valid CBOR: {exc}", structure=what) from exc
    if stream.tell() != len(data):
        raise ExtensionMalformed(
            f"{what} has {len(data) - stream.tell()} bytes after its CBOR item", structure=what
        )
    return item


def _decode_dice(value: bytes) -> tuple[bytes, bytes]:
    item = _decode_strict(value, "the tcg-dice evidence extension")
    if not isinstance(item, cbor2.CBORTag):
        raise ExtensionMalformed(
            f"the tcg-dice extension is a CBOR {type(item).__name__}, not a tagged evidence item"
        )
    if item.tag != _TAG_INTEL_QUOTE:
        name = _KNOWN_TAGS.get(item.tag, "unknown")
        raise UnsupportedEvidenceType(
            f"the tcg-dice extension carries CBOR tag {item.tag} ({name}); trustroom verifies "
            f"tag {_TAG_INTEL_QUOTE} (Intel DCAP quote)",
            tag=item.tag,
        )
    match item.value:
        case [bytes() as evidence, bytes() as claims]:
            return evidence, claims
    raise ExtensionMalformed(
        f"CBOR tag {_TAG_INTEL_QUOTE} must hold [bstr evidence, bstr claims], not "
        f"{_describe(item.value)}"
    )


def decode_pubkey_hash(claims: bytes) -> tuple[int, bytes]:
    """(hash-alg-id, digest) of the claims' ``pubkey-hash``; raises ExtensionMalformed."""
    decoded = _decode_strict(claims, "the tcg-dice claims")
    if not isinstance(decoded, Mapping) or not isinstance(decoded.get(_PUBKEY_HASH), bytes):
        raise ExtensionMalformed(
            f"the tcg-dice claims must be a CBOR map with a byte string '{_PUBKEY_HASH}', "
            f"not {_describe(decoded)}"
        )
    entry = _decode_strict(decoded[_PUBKEY_HASH], f"the claims' {_PUBKEY_HASH}")
    match entry:
        case [int() as alg, bytes() as digest] if not isinstance(alg, bool):
            return alg, digest
    raise ExtensionMalformed(
        f"'{_PUBKEY_HASH}' must be a CBOR [hash-alg-id, digest], not {_describe(entry)}"
    )


def _describe(value: object) -> str:
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__name__}"


def hash_spki(spki: bytes, alg: int = 1) -> bytes:
    """The hash-entry digest of a SubjectPublicKeyInfo with algorithm id ``alg``."""
    return hashlib.new(HASH_ALGORITHMS[alg], spki).digest()


def encode_claims(spki: bytes) -> bytes:
    """The claims buffer binding ``spki``: ``{"pubkey-hash": bstr(CBOR [1, SHA-256(spki)])}``."""
    return cbor2.dumps({_PUBKEY_HASH: cbor2.dumps([1, hash_spki(spki)])})


def dice_extension(evidence: bytes, claims: bytes) -> x509.UnrecognizedExtension:
    """The tcg-dice extension value: ``tag(60000)([evidence, claims])``."""
    value = cbor2.dumps(cbor2.CBORTag(_TAG_INTEL_QUOTE, [evidence, claims]))
    return x509.UnrecognizedExtension(_DICE_OID, value)

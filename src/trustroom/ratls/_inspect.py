"""Verifying an RA-TLS certificate: readable, in its validity window, key bound, evidence genuine,
expectations met. Every check runs and every failure is reported; nothing here raises for a bad
certificate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from trustroom._core.errors import TrustroomError
from trustroom._core.timeutil import format_time, require_aware
from trustroom.evidence import (
    Collateral,
    Evidence,
    EvidenceError,
    VerificationResult,
    Verifier,
    parse,
)
from trustroom.ratls._errors import (
    CertificateOutsideValidity,
    ClaimsNotBound,
    ExtensionMalformed,
    KeyNotBound,
    RaTlsError,
)
from trustroom.ratls._expectation import Expectation
from trustroom.ratls._extension import (
    HASH_ALGORITHMS,
    EmbeddedEvidence,
    EvidenceFormat,
    decode_pubkey_hash,
    find_evidence,
    hash_spki,
)
from trustroom.ratls._result import RaTlsResult
from trustroom.ratls._sim import simulated_collateral
from trustroom.ratls._x509 import load_certificate, spki_der

__all__ = ["inspect_certificate"]


def inspect_certificate(
    certificate: x509.Certificate | bytes,
    *,
    verifier: Verifier,
    collateral: Collateral | None = None,
    at: datetime | None = None,
    expect: Expectation | None = None,
    evidence_format: EvidenceFormat | None = None,
) -> RaTlsResult:
    """Verify an RA-TLS certificate (PEM, DER, or loaded) at ``at`` (default: now).

    The evidence is taken from the interoperable TCG DICE extension when present, else from a
    legacy Gramine or Intel SGX SDK one (``evidence_format`` picks one explicitly). Collateral
    for hardware evidence must be passed in; evidence of this host's simulated TEE gets the
    simulated collateral. ``expect`` is checked when given.
    """
    when = require_aware(at) if at is not None else datetime.now(UTC)
    try:
        cert = load_certificate(certificate)
    except RaTlsError as exc:
        return RaTlsResult(False, "none", "unknown", False, when, errors=(exc,))
    errors: list[TrustroomError] = []
    # (1): The certificate is inside its validity window.
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        errors.append(_outside_validity(cert, when))
    found = _Findings(cert, when, errors)
    # (2): It carries evidence, in a format that decodes.
    try:
        spki = spki_der(cert)
        embedded, found.formats = find_evidence(cert, evidence_format)
        found.format = embedded.format
        evidence = parse(embedded.evidence)
    except (RaTlsError, EvidenceError) as exc:
        errors.append(exc)
        return found.result()
    found.public_key_sha256 = hashlib.sha256(spki).hexdigest()
    # (3): The evidence vouches for this certificate's public key.
    binding = _binding_errors(embedded, evidence, spki)
    errors.extend(binding)
    found.pubkey_bound = not binding
    # (4): The evidence is genuine: signed through a trusted root, collateral current.
    if collateral is None:
        try:
            collateral = simulated_collateral(embedded.evidence, when)
        except TrustroomError as exc:
            errors.append(exc)
    found.evidence = verifier.verify(embedded.evidence, collateral=collateral, at=when)
    errors.extend(found.evidence.errors)
    # (5): It meets what the caller expects of the peer.
    if expect is not None:
        errors.extend(expect.check(found.evidence))
    return found.result()


@dataclass
class _Findings:
    """What has been found so far, so that an early stop still reports it."""

    cert: x509.Certificate
    when: datetime
    errors: list[TrustroomError]
    format: str = "none"
    formats: tuple[str, ...] = ()
    public_key_sha256: str = ""
    pubkey_bound: bool = False
    evidence: VerificationResult | None = None

    def result(self) -> RaTlsResult:
        ev = self.evidence
        return RaTlsResult(
            verified=not self.errors,
            evidence_format=self.format,
            tee=ev.tee if ev else "unknown",
            pubkey_bound=self.pubkey_bound,
            evaluated_at=self.when,
            measurements=dict(ev.measurements) if ev else {},
            formats=self.formats,
            subject=self.cert.subject.rfc4514_string(),
            not_before=self.cert.not_valid_before_utc,
            not_after=self.cert.not_valid_after_utc,
            public_key_sha256=self.public_key_sha256,
            evidence=ev,
            errors=tuple(self.errors),
        )


def _outside_validity(cert: x509.Certificate, when: datetime) -> CertificateOutsideValidity:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    state = "expired" if when > end else "not yet valid"
    return CertificateOutsideValidity(
        f"the RA-TLS certificate is {state} at {format_time(when)} (valid "
        f"{format_time(start)} .. {format_time(end)})",
        valid_from=format_time(start),
        valid_until=format_time(end),
    )


def _binding_errors(
    embedded: EmbeddedEvidence, evidence: Evidence, spki: bytes
) -> list[RaTlsError]:
    """Why the evidence does not vouch for ``spki``, if it does not.

    Only report_data[0:32] is compared, as every interoperable verifier does; the format says
    the rest is zero but nothing rests on it.
    """
    bound = evidence.report_data[:32]
    if embedded.claims is None:
        # Legacy formats: the report data holds the key's hash directly.
        if bound != hash_spki(spki):
            return [KeyNotBound(
                f"the {embedded.format} evidence binds key hash {bound.hex()}, but the "
                f"certificate's key hashes to {hash_spki(spki).hex()}"
            )]  # fmt: skip
        return []
    errors: list[RaTlsError] = []
    claims_hash = hashlib.sha256(embedded.claims).digest()
    if bound != claims_hash:
        errors.append(ClaimsNotBound(
            f"the evidence's report data starts {bound.hex()}, but the claims hash to "
            f"{claims_hash.hex()}"
        ))  # fmt: skip
    try:
        alg, digest = decode_pubkey_hash(embedded.claims)
    except ExtensionMalformed as exc:
        return [*errors, exc]
    if alg not in HASH_ALGORITHMS:
        errors.append(ExtensionMalformed(
            f"pubkey-hash uses hash algorithm id {alg}; supported: 1 (sha-256), 7 (sha-384), "
            "8 (sha-512)"
        ))  # fmt: skip
    elif digest != hash_spki(spki, alg):
        errors.append(KeyNotBound(
            f"the claims name key hash {digest.hex()}, but the certificate's key hashes to "
            f"{hash_spki(spki, alg).hex()}"
        ))  # fmt: skip
    return errors

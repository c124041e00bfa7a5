"""Certificates, chains and CRLs, verified against pinned vendor roots.

Chains are checked for structure and signatures only; the time each certificate and CRL is
valid is returned as :class:`Window` objects so that callers check time separately (and on
every call, even when the signatures were verified earlier and cached).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning

from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._errors import (
    CertificateExpired,
    ChainInvalid,
    CrlExpired,
    ParseError,
    Revoked,
    SignatureInvalid,
    UntrustedRoot,
)
from trustroom.evidence._window import Window, cert_name

__all__ = [
    "VerifiedChain",
    "cert_name",
    "certificate_fields",
    "check_not_revoked",
    "load_crl",
    "load_der_certificate",
    "load_pem_chain",
    "verify_chain",
    "verify_crl",
]

_PEM_END = b"-----END CERTIFICATE-----"
MAX_CHAIN_LENGTH = 5


# AMD signs VCEKs with serial number 0, which RFC 5280 forbids and `cryptography` warns about
# on every load; the bytes are still AMD's genuine certificate. The filter is installed once,
# for this one message: `warnings.catch_warnings` per call would be slow and is not safe in a
# multi-threaded server.
warnings.filterwarnings(
    "ignore",
    message="Parsed a serial number which wasn't positive",
    category=CryptographyDeprecationWarning,
)

# What `cryptography` raises on certificate bytes that are not well-formed (UserWarning too,
# where warnings are errors). It decodes names and extensions lazily, on first access.
_MALFORMED = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    UserWarning,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextmanager
def certificate_fields(what: str) -> Iterator[None]:
    """Run code that reads certificate or CRL fields; a malformed field becomes ParseError.

    The functions below that read fields (chains, CRLs, revocation) run inside it: callers
    enter it once around a whole verification step rather than once per certificate.
    """
    try:
        yield
    except _MALFORMED as exc:
        raise ParseError(f"{what} holds a malformed certificate or CRL: {exc}") from exc


def load_der_certificate(data: bytes, what: str) -> x509.Certificate:
    """A certificate in DER (or PEM); if a future `cryptography` refuses AMD's serial-0
    VCEKs, this raises ParseError rather than crashing."""
    with certificate_fields(what):
        try:
            return x509.load_der_x509_certificate(data)
        except _MALFORMED:
            return x509.load_pem_x509_certificate(data)


def load_pem_chain(data: bytes, what: str) -> list[x509.Certificate]:
    """Certificates of a PEM bundle, leaf first; NUL padding after the last one is accepted."""
    tail = data.rfind(_PEM_END)
    if tail < 0:
        raise ParseError(f"{what} holds no PEM certificate", structure=what)
    trailer = data[tail + len(_PEM_END) :]
    if trailer.strip(b"\x00\r\n\t ") != b"":
        raise ParseError(f"{what} has unexpected bytes after the last certificate", structure=what)
    try:
        return x509.load_pem_x509_certificates(data[: tail + len(_PEM_END)])
    except _MALFORMED as exc:
        raise ParseError(f"{what} is not a valid PEM certificate chain", structure=what) from exc


def load_crl(der: bytes, what: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(der)
    except _MALFORMED:
        try:
            return x509.load_pem_x509_crl(der)
        except _MALFORMED as exc:
            raise ParseError(f"{what} is not a DER or PEM CRL", structure=what) from exc


def cert_window(cert: x509.Certificate) -> Window:
    return Window(
        CertificateExpired, cert.not_valid_before_utc, cert.not_valid_after_utc, cert=cert
    )


def crl_window(crl: x509.CertificateRevocationList, what: str) -> Window:
    next_update = crl.next_update_utc
    if next_update is None:
        raise ParseError(f"{what} has no nextUpdate, so its freshness cannot be judged")
    return Window(CrlExpired, crl.last_update_utc, next_update, what)


def _check_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ChainInvalid(f"certificate '{cert_name(issuer)}' is not a CA but issues others")
    try:
        # Checks that the child names this issuer, then the signature (RSA-PSS included).
        child.verify_directly_issued_by(issuer)
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"certificate '{cert_name(child)}' is not signed by '{cert_name(issuer)}'"
        ) from exc
    except ValueError as exc:
        if child.issuer != issuer.subject:
            raise ChainInvalid(
                f"certificate '{cert_name(child)}' names issuer "
                f"'{child.issuer.rfc4514_string()}', but the next certificate is "
                f"'{issuer.subject.rfc4514_string()}'"
            ) from exc
        raise ChainInvalid(
            f"certificate '{cert_name(child)}' uses a signature trustroom cannot check: {exc}"
        ) from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise ChainInvalid(
            f"certificate '{cert_name(child)}' uses a signature trustroom cannot check: {exc}"
        ) from exc
    return True


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A chain whose signatures lead to a trusted anchor: ``certs`` is leaf first, anchor last."""

    certs: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    def windows(self) -> tuple[Window, ...]:
        return tuple(cert_window(c) for c in self.certs)


def verify_chain(
    certs: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    what: str,
    cache: VerificationCache | None = None,
    known_links: Collection[tuple[x509.Certificate, x509.Certificate]] = (),
) -> VerifiedChain:
    """Check that ``certs`` (leaf first) chain by signature to one of the pinned ``anchors``.

    The chain may end with the anchor itself or with a certificate the anchor issued. A chain
    ending in any other self-signed certificate fails with UntrustedRoot, never ChainInvalid,
    so that "wrong root" is always reported as such. With a ``cache``, each issuer-to-child
    link is checked once: vendor chains share their upper links. ``known_links`` are (child,
    issuer) pairs whose signature was already checked (the vendor intermediates that ship with
    trustroom).
    """
    if not certs:
        raise ChainInvalid(f"{what} is empty")
    if len(certs) > MAX_CHAIN_LENGTH:
        # Vendor chains hold 2 or 3 certificates; refuse before spending a signature check
        # on each of thousands.
        raise ChainInvalid(f"{what} holds {len(certs)} certificates, more than {MAX_CHAIN_LENGTH}")
    chain = list(certs)
    top = chain[-1]
    if not any(top == anchor for anchor in anchors):
        issuers = [a for a in anchors if a.subject == top.issuer]
        if top.issuer == top.subject or not issuers:
            raise UntrustedRoot(
                f"{what} ends at '{cert_name(top)}', issued by "
                f"'{top.issuer.rfc4514_string()}', which is not a trusted root",
                root=top.issuer.rfc4514_string(),
            )
        chain.append(issuers[0])
    for child, issuer in itertools.pairwise(chain):
        if (child, issuer) in known_links:
            continue
        if cache is None:
            _check_signed_by(child, issuer)
        else:
            cache.get_or_compute(("link", child, issuer), partial(_check_signed_by, child, issuer))
    return VerifiedChain(tuple(chain))


def verify_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str) -> Window:
    """Check the CRL's signature by ``issuer``; return its thisUpdate..nextUpdate window."""
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ChainInvalid(f"{what}: issuer '{cert_name(issuer)}' has an unsupported key type")
    try:
        valid = crl.is_signature_valid(key)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise ChainInvalid(f"{what} uses a signature trustroom cannot check: {exc}") from exc
    if not valid:
        raise SignatureInvalid(f"{what} is not signed by '{cert_name(issuer)}'")
    return crl_window(crl, what)


def check_not_revoked(
    cert: x509.Certificate, crl: x509.CertificateRevocationList, what: str
) -> None:
    """Raise Revoked when ``cert`` is on ``crl`` (which must be the CRL of its issuer)."""
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is not None:
        raise Revoked(
            f"{what} '{cert_name(cert)}' (serial {cert.serial_number:x}) is revoked since "
            f"{entry.revocation_date_utc.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            serial=f"{cert.serial_number:x}",
        )

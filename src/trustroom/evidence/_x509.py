"""Certificates, chains and CRLs, verified against pinned vendor roots.

Chains are checked for structure and signatures only; the time each certificate and CRL is
valid is returned as :class:`Window` objects so that callers check time separately (and on
every call, even when the signatures were verified earlier and cached).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning

from trustroom.evidence._errors import (
    CertificateExpired,
    ChainInvalid,
    CrlExpired,
    ParseError,
    Revoked,
    SignatureInvalid,
    UntrustedRoot,
)
from trustroom.evidence._window import Window

__all__ = [
    "VerifiedChain",
    "cert_name",
    "check_not_revoked",
    "load_crl",
    "load_der_certificate",
    "load_pem_chain",
    "verify_chain",
    "verify_crl",
]

_PEM_END = b"-----END CERTIFICATE-----"


def cert_name(cert: x509.Certificate) -> str:
    """The certificate's common name, or its whole subject when it has none."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def load_der_certificate(data: bytes, what: str) -> x509.Certificate:
    # AMD signs VCEKs with serial number 0, which RFC 5280 forbids and `cryptography` warns
    # about. The bytes are still AMD's genuine certificate, so the warning is silenced here
    # and only here; if a future release refuses to load it, this raises ParseError.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            try:
                return x509.load_pem_x509_certificate(data)
            except ValueError as exc:
                raise ParseError(f"{what} is not a DER or PEM certificate", structure=what) from exc


def load_pem_chain(data: bytes, what: str) -> list[x509.Certificate]:
    """Certificates of a PEM bundle, leaf first; NUL padding after the last one is accepted."""
    tail = data.rfind(_PEM_END)
    if tail < 0:
        raise ParseError(f"{what} holds no PEM certificate", structure=what)
    trailer = data[tail + len(_PEM_END) :]
    if trailer.strip(b"\x00\r\n\t ") != b"":
        raise ParseError(f"{what} has unexpected bytes after the last certificate", structure=what)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_pem_x509_certificates(data[: tail + len(_PEM_END)])
        except ValueError as exc:
            raise ParseError(f"{what} is not a valid PEM certificate chain", structure=what) from exc


def load_crl(der: bytes, what: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(der)
    except ValueError:
        try:
            return x509.load_pem_x509_crl(der)
        except ValueError as exc:
            raise ParseError(f"{what} is not a DER or PEM CRL", structure=what) from exc


def cert_window(cert: x509.Certificate) -> Window:
    return Window(
        f"certificate '{cert_name(cert)}'",
        CertificateExpired,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )


def crl_window(crl: x509.CertificateRevocationList, what: str) -> Window:
    next_update = crl.next_update_utc
    if next_update is None:
        raise ParseError(f"{what} has no nextUpdate, so its freshness cannot be judged")
    return Window(what, CrlExpired, crl.last_update_utc, next_update)


def _check_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> None:
    if child.issuer != issuer.subject:
        raise ChainInvalid(
            f"certificate '{cert_name(child)}' names issuer '{child.issuer.rfc4514_string()}', "
            f"but the next certificate is '{issuer.subject.rfc4514_string()}'"
        )
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ChainInvalid(f"certificate '{cert_name(issuer)}' is not a CA but issues others")
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"certificate '{cert_name(child)}' is not signed by '{cert_name(issuer)}'"
        ) from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ChainInvalid(
            f"certificate '{cert_name(child)}' uses a signature trustroom cannot check: {exc}"
        ) from exc


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
    certs: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], what: str
) -> VerifiedChain:
    """Check that ``certs`` (leaf first) chain by signature to one of the pinned ``anchors``.

    The chain may end with the anchor itself or with a certificate the anchor issued. A chain
    ending in any other self-signed certificate fails with UntrustedRoot, never ChainInvalid,
    so that "wrong root" is always reported as such.
    """
    if not certs:
        raise ChainInvalid(f"{what} is empty")
    chain = list(certs)
    top = chain[-1]
    if top.issuer == top.subject:
        if not any(top == anchor for anchor in anchors):
            raise UntrustedRoot(
                f"{what} ends at '{cert_name(top)}', which is not a trusted root",
                root=top.subject.rfc4514_string(),
            )
    else:
        issuers = [a for a in anchors if a.subject == top.issuer]
        if not issuers:
            raise UntrustedRoot(
                f"{what} ends at '{cert_name(top)}', issued by "
                f"'{top.issuer.rfc4514_string()}', which is not a trusted root",
                root=top.issuer.rfc4514_string(),
            )
        chain.append(issuers[0])
    for child, issuer in zip(chain, chain[1:], strict=False):
        _check_signed_by(child, issuer)
    return VerifiedChain(tuple(chain))


def verify_crl(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str
) -> Window:
    """Check the CRL's issuer and signature; return its thisUpdate..nextUpdate window."""
    if crl.issuer != issuer.subject:
        raise ChainInvalid(
            f"{what} is issued by '{crl.issuer.rfc4514_string()}', "
            f"not by '{issuer.subject.rfc4514_string()}'"
        )
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

"""The Intel side of DCAP trust: collateral and PCK chains, verified to the Intel SGX Root CA.

Everything here is independent of the evaluation time (validity windows are returned, not
checked) and is therefore safe to cache by the exact input bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._collateral import DcapCollateral
from trustroom.evidence._dcap_identity import QeIdentity, TcbInfo
from trustroom.evidence._errors import (
    ChainInvalid,
    CollateralExpired,
    CollateralMismatch,
    SignatureInvalid,
    UntrustedRoot,
)
from trustroom.evidence._pck import PckCa, PckExtensions, parse_pck_extensions, pck_ca
from trustroom.evidence._roots import known_links
from trustroom.evidence._window import Window
from trustroom.evidence._x509 import (
    VerifiedChain,
    cert_name,
    certificate_fields,
    check_not_revoked,
    load_crl,
    load_pem_chain,
    verify_chain,
    verify_crl,
)

__all__ = [
    "TrustedCollateral",
    "TrustedPck",
    "check_pck_revocation",
    "load_p256_point",
    "verify_collateral",
    "verify_p256",
    "verify_pck_chain",
]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_TCB_SIGNER = ("SGX TCB Signing",)
_PCK_CAS = ("SGX PCK Processor CA", "SGX PCK Platform CA")


def load_p256_point(raw: bytes, what: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from the 64-byte x||y encoding DCAP uses."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError as exc:
        raise SignatureInvalid(f"{what} is not a point on P-256") from exc


def verify_p256(key: ec.EllipticCurvePublicKey, data: bytes, raw_sig: bytes, what: str) -> None:
    """Check a raw r||s ECDSA-P256/SHA-256 signature; raise SignatureInvalid naming ``what``."""
    if len(raw_sig) != 64 or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureInvalid(f"the signature over {what} is not an ECDSA P-256 signature")
    der = encode_dss_signature(int.from_bytes(raw_sig[:32]), int.from_bytes(raw_sig[32:]))
    try:
        key.verify(der, data, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise SignatureInvalid(f"the signature over {what} does not verify") from exc


def _cert_key(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ChainInvalid(f"{what} '{cert_name(cert)}' does not hold an ECDSA key")
    return key


@cache
def _shipped_names() -> dict[x509.Certificate, str]:
    return {child: cert_name(child) for child, _ in known_links()}


def _common_name(cert: x509.Certificate) -> str:
    # Decoding a name costs about as much as a third of a signature check; the names of the
    # intermediates that ship with trustroom are known already.
    return _shipped_names().get(cert) or cert_name(cert)


def _require_cn(cert: x509.Certificate, phrases: tuple[str, ...], what: str) -> None:
    # Intel QVL identifies the certificate roles by these CN phrases; a valid Intel certificate
    # in the wrong role (a PCK certificate signing TCB info, say) must not be accepted.
    if not any(p in _common_name(cert) for p in phrases):
        raise ChainInvalid(
            f"{what} starts with '{cert_name(cert)}', not an '{' or '.join(phrases)}' certificate"
        )


@dataclass(frozen=True, slots=True)
class TrustedCollateral:
    """Collateral whose signatures all lead to the trusted root."""

    root_crl: x509.CertificateRevocationList
    pck_crl: x509.CertificateRevocationList
    pck_crl_issuer: x509.Certificate
    tcb_info: TcbInfo
    qe_identity: QeIdentity
    windows: tuple[Window, ...]


def _signing_chain(
    pem: str, what: str, root: x509.Certificate, root_crl: x509.CertificateRevocationList,
    role: tuple[str, ...], cache: VerificationCache,
) -> VerifiedChain:  # fmt: skip
    # TCB info and QE identity are usually signed by the same chain: verify that text once.
    def build() -> VerifiedChain:
        chain = verify_chain(load_pem_chain(pem.encode(), what), [root], what, cache, known_links())
        _require_cn(chain.leaf, role, what)
        return chain

    chain = cache.get_or_compute(("issuer-chain", pem, role), build)
    for cert in chain.certs[:-1]:
        check_not_revoked(cert, root_crl, "certificate")
    return chain


@certificate_fields("the collateral")
def verify_collateral(
    c: DcapCollateral, root: x509.Certificate, cache: VerificationCache
) -> TrustedCollateral:
    """Verify every signature in ``c`` up to ``root``; see docs/evidence.md for the checklist."""
    # (1): The root CA CRL is signed by the pinned root, and does not revoke the root itself.
    root_crl = load_crl(c.root_ca_crl, "root CA CRL")
    try:
        windows = [verify_crl(root_crl, root, "root CA CRL")]
    except SignatureInvalid:
        if root_crl.issuer != root.subject:  # another root's CRL, not an altered one
            raise UntrustedRoot(
                f"the root CA CRL is issued by '{root_crl.issuer.rfc4514_string()}', "
                f"not by the trusted root '{cert_name(root)}'"
            ) from None
        raise
    check_not_revoked(root, root_crl, "root certificate")

    # (2): TCB info is signed, over its exact text, by a TCB Signing certificate of the root;
    # (3): the QE identity likewise.
    def signed_document(item: str, pem: str, text: str, signature: bytes) -> None:
        chain = _signing_chain(pem, f"{item} issuer chain", root, root_crl, _TCB_SIGNER, cache)
        verify_p256(_cert_key(chain.leaf, f"{item} signer"), text.encode(), signature, item)
        windows.extend(chain.windows())

    signed_document("TCB info", c.tcb_info_issuer_chain, c.tcb_info, c.tcb_info_signature)
    tcb_info = TcbInfo.from_json(c.tcb_info)
    signed_document(
        "QE identity", c.qe_identity_issuer_chain, c.qe_identity, c.qe_identity_signature
    )
    qe_identity = QeIdentity.from_json(c.qe_identity)
    windows += [_doc_window("TCB info", tcb_info), _doc_window("QE identity", qe_identity)]

    # (4): The PCK CRL is signed by a PCK CA (Processor or Platform) of the root.
    crl_chain = _signing_chain(
        c.pck_crl_issuer_chain, "PCK CRL issuer chain", root, root_crl, _PCK_CAS, cache
    )
    pck_crl = load_crl(c.pck_crl, "PCK CRL")
    windows += [*crl_chain.windows(), verify_crl(pck_crl, crl_chain.leaf, "PCK CRL")]
    return TrustedCollateral(
        root_crl, pck_crl, crl_chain.leaf, tcb_info, qe_identity, _unique(windows)
    )


def _doc_window(item: str, doc: TcbInfo | QeIdentity) -> Window:
    return Window(CollateralExpired, doc.issue_date, doc.next_update, item)


def _unique(windows: list[Window]) -> tuple[Window, ...]:
    # The three issuer chains share the root and usually the signer; report each item once.
    return tuple(dict.fromkeys(windows))


@dataclass(frozen=True, slots=True)
class TrustedPck:
    """A PCK chain verified to the root, with the platform facts from its SGX extensions."""

    chain: VerifiedChain
    key: ec.EllipticCurvePublicKey
    extensions: PckExtensions
    ca: PckCa

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain.leaf


@certificate_fields("the PCK certificate chain")
def verify_pck_chain(pem: bytes, root: x509.Certificate, cache: VerificationCache) -> TrustedPck:
    certs = load_pem_chain(pem, "PCK certificate chain")
    chain = verify_chain(certs, [root], "PCK chain", cache, known_links())
    _require_cn(chain.leaf, ("SGX PCK Certificate",), "PCK certificate chain")
    if len(chain.certs) != 3:
        raise ChainInvalid("a PCK chain is PCK certificate, PCK CA, root: three certificates")
    issuer = _common_name(chain.certs[1])
    ca = pck_ca(issuer)
    if ca is None:
        raise ChainInvalid(f"the PCK certificate is issued by '{issuer}', not a PCK CA")
    key = _cert_key(chain.leaf, "PCK certificate")
    return TrustedPck(chain, key, parse_pck_extensions(chain.leaf), ca)


@certificate_fields("the PCK certificate chain")
def check_pck_revocation(pck: TrustedPck, collateral: TrustedCollateral) -> None:
    """The PCK certificate and its CA must not be revoked by the collateral's CRLs."""
    pck_ca = pck.chain.certs[1]
    if collateral.pck_crl_issuer != pck_ca:
        raise CollateralMismatch(
            f"the PCK CRL is issued by '{cert_name(collateral.pck_crl_issuer)}' but the PCK "
            f"certificate by '{cert_name(pck_ca)}': fetch the {pck.ca} CA CRL"
        )
    check_not_revoked(pck.leaf, collateral.pck_crl, "PCK certificate")
    check_not_revoked(pck_ca, collateral.root_crl, "PCK CA certificate")

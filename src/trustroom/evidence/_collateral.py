"""Collateral: what a verifier needs besides the evidence itself.

Intel DCAP collateral is the set Intel PCS or a PCCS publishes for a platform (CRLs, TCB info,
QE identity and their issuer chains); trustroom reads and writes it in the JSON layout of
Phala's dcap-qvl ``QuoteCollateralV3``, which other tools already exchange. SEV-SNP collateral
is the VCEK or VLEK certificate of the signing chip, optionally with the ASK/ASVK + ARK chain
(the AMD roots ship with trustroom) and AMD's CRL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding

from trustroom.evidence._errors import ParseError
from trustroom.evidence._json import load_object
from trustroom.evidence._x509 import load_crl

__all__ = ["Collateral", "DcapCollateral", "SnpCollateral", "split_signed_json"]


class Collateral:
    """Base of all collateral; build one with the named constructors."""

    __slots__ = ()

    @staticmethod
    def from_dcap_qvl_json(text: str | bytes) -> DcapCollateral:
        """Intel collateral from dcap-qvl's ``QuoteCollateralV3`` JSON (hex CRLs, PEM chains)."""
        return DcapCollateral.from_dcap_qvl_json(text)

    @staticmethod
    def from_snp_certificates(
        vek: bytes, chain: bytes | None = None, crl: bytes | None = None
    ) -> SnpCollateral:
        """SEV-SNP collateral: a VCEK or VLEK (DER or PEM), optionally its chain and CRL."""
        return SnpCollateral(vek=vek, chain=chain, crl=crl)


_HEX_FIELDS = ("root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature")
_TEXT_FIELDS = (
    "pck_crl_issuer_chain",
    "tcb_info_issuer_chain",
    "tcb_info",
    "qe_identity_issuer_chain",
    "qe_identity",
)


@dataclass(frozen=True, slots=True)
class DcapCollateral(Collateral):
    """Intel PCS collateral for one platform (FMSPC) and TEE type.

    ``tcb_info`` and ``qe_identity`` hold the exact JSON text Intel signed; signatures are raw
    ECDSA r||s. Keep the text byte for byte: re-serialising it breaks the signature.
    ``pck_certificate_chain`` (PEM) is needed only for quotes that do not carry their PCK
    certificate chain themselves.
    """

    pck_crl_issuer_chain: str
    root_ca_crl: bytes
    pck_crl: bytes
    tcb_info_issuer_chain: str
    tcb_info: str
    tcb_info_signature: bytes
    qe_identity_issuer_chain: str
    qe_identity: str
    qe_identity_signature: bytes
    pck_certificate_chain: str | None = None

    @classmethod
    def from_dcap_qvl_json(cls, text: str | bytes) -> DcapCollateral:
        obj = load_object(text, "collateral")
        fields: dict[str, str | bytes | None] = {k: obj.string(k) for k in _TEXT_FIELDS}
        if obj.value.get("pck_certificate_chain") is not None:
            fields["pck_certificate_chain"] = obj.string("pck_certificate_chain")
        # Intel's own collateral JSON (sgx_ql_qve_collateral_t) keeps each document as the PCS
        # served it, signature inside, and CRLs may be PEM: accept both layouts.
        for doc, key in (("tcb_info", "tcbInfo"), ("qe_identity", "enclaveIdentity")):
            wrapped = str(fields[doc])
            if f"{doc}_signature" not in obj.value and wrapped.lstrip().startswith(f'{{"{key}"'):
                fields[doc], fields[f"{doc}_signature"] = split_signed_json(wrapped, key)
        for key in _HEX_FIELDS:
            if key in fields:
                continue
            value = obj.string(key)
            if value.lstrip().startswith("-----BEGIN"):
                fields[key] = load_crl(value.encode(), key).public_bytes(Encoding.DER)
                continue
            try:
                fields[key] = bytes.fromhex(value)
            except ValueError as exc:
                raise ParseError(f"collateral.{key} is not hex", field=key) from exc
        return cls(**fields)  # type: ignore[arg-type]

    def to_dcap_qvl_json(self) -> str:
        out: dict[str, str] = {k: getattr(self, k) for k in _TEXT_FIELDS}
        out.update({k: getattr(self, k).hex() for k in _HEX_FIELDS})
        if self.pck_certificate_chain is not None:
            out["pck_certificate_chain"] = self.pck_certificate_chain
        return json.dumps(out, indent=2)


@dataclass(frozen=True, slots=True)
class SnpCollateral(Collateral):
    """The certificate that signed an SEV-SNP report, and optionally its chain and CRL."""

    vek: bytes
    chain: bytes | None = None
    crl: bytes | None = None


def split_signed_json(body: str, key: str) -> tuple[str, bytes]:
    """Split an Intel PCS response ``{"<key>":{...},"signature":"<hex>"}`` into (text, sig).

    The signature covers the inner object exactly as served, so the text is cut out of the
    body rather than re-serialised. The parsed body must agree with the cut.
    """
    obj = load_object(body, f"Intel PCS {key} response")
    signature_hex = obj.string("signature")
    obj.obj(key)
    marker = f'"{key}":'
    start = body.find(marker)
    end = body.rfind(',"signature"')
    if start < 0 or end < 0 or end < start:
        raise ParseError(f"Intel PCS {key} response is not in the published layout")
    inner = body[start + len(marker) : end].strip()
    if load_object(inner, key).value != obj.value[key]:
        raise ParseError(f"Intel PCS {key} response is not in the published layout")
    try:
        return inner, bytes.fromhex(signature_hex)
    except ValueError as exc:
        raise ParseError(f"Intel PCS {key} signature is not hex") from exc

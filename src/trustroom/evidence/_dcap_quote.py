"""Intel DCAP quotes: SGX v3/v4/v5 and TDX v4/v5 (TD 1.0 and TD 1.5 bodies), ECDSA-P256.

Layout follows Intel's QuoteStructures.h and the DCAP quote library specification. Parsing
honours the declared signature-data length: bytes after it (padding, or a trailer a transport
added) are kept out of the quote and counted in ``trailing_bytes``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Literal

from trustroom.evidence._errors import ParseError, UnsupportedFormat
from trustroom.evidence._reader import Reader

__all__ = [
    "EnclaveReport",
    "Quote",
    "QuoteHeader",
    "TdReport",
    "pack_enclave_report",
    "parse_quote",
]

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
TEE_TYPE_SGX = 0x00000000
TEE_TYPE_TDX = 0x00000081
ATT_KEY_ECDSA_P256 = 2
ENCLAVE_REPORT_SIZE = 384
TD10_REPORT_SIZE = 584
TD15_REPORT_SIZE = 648
CERT_DATA_PCK_CHAIN = 5
CERT_DATA_QE_REPORT = 6
_BODY_TYPES = {
    1: ("sgx", ENCLAVE_REPORT_SIZE),
    2: ("td10", TD10_REPORT_SIZE),
    3: ("td15", TD15_REPORT_SIZE),
}

BodyKind = Literal["sgx", "td10", "td15"]


@dataclass(frozen=True, slots=True)
class QuoteHeader:
    version: int
    att_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class EnclaveReport:
    """An SGX REPORT body: the application enclave's, or the quoting enclave's own."""

    raw: bytes
    cpusvn: bytes
    miscselect: int
    isv_ext_prod_id: bytes
    attributes: bytes
    mrenclave: bytes
    mrsigner: bytes
    config_id: bytes
    isv_prod_id: int
    isv_svn: int
    config_svn: int
    isv_family_id: bytes
    report_data: bytes

    @property
    def debug(self) -> bool:
        return bool(self.attributes[0] & 0x02)

    def measurements(self) -> dict[str, str]:
        return {
            "mrenclave": self.mrenclave.hex(),
            "mrsigner": self.mrsigner.hex(),
            "config_id": self.config_id.hex(),
            "isv_ext_prod_id": self.isv_ext_prod_id.hex(),
            "isv_family_id": self.isv_family_id.hex(),
            "attributes": self.attributes.hex(),
            "miscselect": f"{self.miscselect:08x}",
        }

    def attribute_claims(self) -> dict[str, Any]:
        flags = int.from_bytes(self.attributes[:8], "little")
        return {
            "debug": self.debug,
            "mode64bit": bool(flags & 0x04),
            "provision_key": bool(flags & 0x10),
            "einittoken_key": bool(flags & 0x20),
            "kss": bool(flags & 0x80),
            "attributes": self.attributes.hex(),
            "miscselect": f"{self.miscselect:08x}",
            "isv_prod_id": self.isv_prod_id,
            "isv_svn": self.isv_svn,
            "config_svn": self.config_svn,
        }


# Fixed layouts, unpacked in one call each (the quote is parsed on every verification).
_ENCLAVE_REPORT = struct.Struct("<16sI12s16s16s32s32s32s32s64sHHH42s16s64s")
_TD10_REPORT = struct.Struct("<16s48s48s8s8s8s48s48s48s48s48s48s48s48s64s")
_TD15_EXTRA = struct.Struct("<16s48s")


def pack_enclave_report(
    *,
    cpusvn: bytes,
    attributes: bytes,
    mrenclave: bytes,
    mrsigner: bytes,
    isv_prod_id: int,
    isv_svn: int,
    report_data: bytes,
    miscselect: int = 0,
) -> bytes:
    """The 384 bytes of an SGX REPORT body (what the simulated TEE signs)."""
    return _ENCLAVE_REPORT.pack(
        cpusvn, miscselect, bytes(12), bytes(16), attributes, mrenclave, bytes(32), mrsigner,
        bytes(32), bytes(64), isv_prod_id, isv_svn, 0, bytes(42), bytes(16), report_data,
    )  # fmt: skip


def parse_enclave_report(raw: bytes, what: str) -> EnclaveReport:
    if len(raw) != ENCLAVE_REPORT_SIZE:
        raise ParseError(f"{what} must be {ENCLAVE_REPORT_SIZE} bytes, not {len(raw)}")
    fields = _ENCLAVE_REPORT.unpack(raw)
    (cpusvn, miscselect, _, isv_ext_prod_id, attributes, mrenclave, _, mrsigner, _, config_id,
     isv_prod_id, isv_svn, config_svn, _, isv_family_id, report_data) = fields  # fmt: skip
    return EnclaveReport(
        raw, cpusvn, miscselect, isv_ext_prod_id, attributes, mrenclave, mrsigner, config_id,
        isv_prod_id, isv_svn, config_svn, isv_family_id, report_data,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TdReport:
    """A TD quote body, TD 1.0 (584 bytes) or TD 1.5 (648 bytes, two more fields)."""

    tee_tcb_svn: bytes
    mrseam: bytes
    mrsignerseam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mrtd: bytes
    mrconfigid: bytes
    mrowner: bytes
    mrownerconfig: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    tee_tcb_svn2: bytes | None
    mrservicetd: bytes | None

    @property
    def debug(self) -> bool:
        return bool(self.td_attributes[0] & 0x01)

    def measurements(self) -> dict[str, str]:
        out = {
            "mrtd": self.mrtd.hex(),
            "rtmr0": self.rtmrs[0].hex(),
            "rtmr1": self.rtmrs[1].hex(),
            "rtmr2": self.rtmrs[2].hex(),
            "rtmr3": self.rtmrs[3].hex(),
            "mrseam": self.mrseam.hex(),
            "mrsignerseam": self.mrsignerseam.hex(),
            "mrconfigid": self.mrconfigid.hex(),
            "mrowner": self.mrowner.hex(),
            "mrownerconfig": self.mrownerconfig.hex(),
            "td_attributes": self.td_attributes.hex(),
            "xfam": self.xfam.hex(),
        }
        if self.mrservicetd is not None:
            out["mrservicetd"] = self.mrservicetd.hex()
        return out

    def attribute_claims(self) -> dict[str, Any]:
        flags = int.from_bytes(self.td_attributes, "little")
        return {
            "debug": self.debug,
            "sept_ve_disable": bool(flags & (1 << 28)),
            "pks": bool(flags & (1 << 30)),
            "kl": bool(flags & (1 << 31)),
            "perfmon": bool(flags & (1 << 63)),
            "td_attributes": self.td_attributes.hex(),
            "xfam": self.xfam.hex(),
            "seam_attributes": self.seam_attributes.hex(),
        }


def parse_td_report(raw: bytes, kind: BodyKind) -> TdReport:
    size = TD15_REPORT_SIZE if kind == "td15" else TD10_REPORT_SIZE
    if len(raw) != size:
        raise ParseError(f"a {kind} TD report must be {size} bytes, not {len(raw)}")
    fields = _TD10_REPORT.unpack_from(raw)
    (tee_tcb_svn, mrseam, mrsignerseam, seam_attributes, td_attributes, xfam, mrtd, mrconfigid,
     mrowner, mrownerconfig, rtmr0, rtmr1, rtmr2, rtmr3, report_data) = fields  # fmt: skip
    svn2, service = (
        _TD15_EXTRA.unpack_from(raw, TD10_REPORT_SIZE) if kind == "td15" else (None, None)
    )
    return TdReport(
        tee_tcb_svn, mrseam, mrsignerseam, seam_attributes, td_attributes, xfam, mrtd, mrconfigid,
        mrowner, mrownerconfig, (rtmr0, rtmr1, rtmr2, rtmr3), report_data, svn2, service,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class QeCertification:
    """What the quoting enclave adds: its own report, signed by the PCK key, and the chain."""

    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    cert_type: int
    cert_data: bytes


@dataclass(frozen=True, slots=True)
class Quote:
    data: bytes
    header: QuoteHeader
    body_kind: BodyKind
    body: EnclaveReport | TdReport
    signed_length: int
    signature: bytes
    attestation_key: bytes
    qe: QeCertification
    trailing_bytes: int

    @property
    def tee(self) -> Literal["sgx", "tdx"]:
        return "sgx" if self.body_kind == "sgx" else "tdx"

    @property
    def format(self) -> str:
        return f"intel-dcap-{self.tee}-quote-v{self.header.version}"

    @property
    def signed_region(self) -> bytes:
        return self.data[: self.signed_length]

    @property
    def report_data(self) -> bytes:
        return self.body.report_data

    def measurements(self) -> dict[str, str]:
        return self.body.measurements()

    def attribute_claims(self) -> dict[str, Any]:
        return self.body.attribute_claims()

    def to_dict(self) -> dict[str, Any]:
        h = self.header
        return {
            "format": self.format,
            "tee": self.tee,
            "header": {
                "version": h.version,
                "att_key_type": h.att_key_type,
                "tee_type": f"0x{h.tee_type:08x}",
                "qe_svn": h.qe_svn,
                "pce_svn": h.pce_svn,
                "qe_vendor_id": h.qe_vendor_id.hex(),
                "user_data": h.user_data.hex(),
            },
            "body": self.body_kind,
            "measurements": self.measurements(),
            "attributes": self.attribute_claims(),
            "report_data": self.report_data.hex(),
            "tcb": self.tcb_claims(),
            "qe_report": {
                "mrenclave": self.qe.qe_report.mrenclave.hex(),
                "mrsigner": self.qe.qe_report.mrsigner.hex(),
                "isv_prod_id": self.qe.qe_report.isv_prod_id,
                "isv_svn": self.qe.qe_report.isv_svn,
            },
            "certification_data_type": self.qe.cert_type,
            "signed_length": self.signed_length,
            "trailing_bytes": self.trailing_bytes,
        }

    def tcb_claims(self) -> dict[str, Any]:
        if isinstance(self.body, TdReport):
            out: dict[str, Any] = {"tee_tcb_svn": self.body.tee_tcb_svn.hex()}
            if self.body.tee_tcb_svn2 is not None:
                out["tee_tcb_svn2"] = self.body.tee_tcb_svn2.hex()
            return out
        return {"cpusvn": self.body.cpusvn.hex()}


def is_dcap_quote(data: bytes) -> bool:
    """Cheap detection from the header: version 3-5 and an ECDSA attestation key type."""
    return (
        len(data) >= 4
        and int.from_bytes(data[0:2], "little") in (3, 4, 5)
        and int.from_bytes(data[2:4], "little") in (2, 3)
    )


def _parse_header(r: Reader) -> QuoteHeader:
    header = QuoteHeader(
        version=r.u16("version"),
        att_key_type=r.u16("att_key_type"),
        tee_type=r.u32("tee_type"),
        qe_svn=r.u16("qe_svn"),
        pce_svn=r.u16("pce_svn"),
        qe_vendor_id=r.take(16, "qe_vendor_id"),
        user_data=r.take(20, "user_data"),
    )
    if header.version not in (3, 4, 5):
        raise UnsupportedFormat(f"DCAP quote version {header.version} is not supported (3, 4, 5)")
    if header.att_key_type != ATT_KEY_ECDSA_P256:
        raise UnsupportedFormat(
            f"attestation key type {header.att_key_type} is not supported "
            "(only 2, ECDSA-256-with-P-256, is used by Intel's quoting enclaves)"
        )
    if header.tee_type not in (TEE_TYPE_SGX, TEE_TYPE_TDX):
        raise UnsupportedFormat(f"TEE type 0x{header.tee_type:08x} is neither SGX nor TDX")
    if header.version == 3 and header.tee_type != TEE_TYPE_SGX:
        raise ParseError("a version 3 quote must have TEE type SGX (0)", field="tee_type")
    return header


def _body_kind(r: Reader, header: QuoteHeader) -> tuple[BodyKind, int]:
    if header.version < 5:
        if header.tee_type == TEE_TYPE_SGX:
            return "sgx", ENCLAVE_REPORT_SIZE
        return "td10", TD10_REPORT_SIZE
    body_type = r.u16("body_type")
    body_size = r.u32("body_size")
    if body_type not in _BODY_TYPES:
        raise UnsupportedFormat(f"quote v5 body type {body_type} is not known (1, 2, 3)")
    kind, size = _BODY_TYPES[body_type]
    if body_size != size:
        raise ParseError(
            f"quote v5 body type {body_type} ({kind}) must be {size} bytes, declared {body_size}",
            field="body_size",
        )
    if (kind == "sgx") != (header.tee_type == TEE_TYPE_SGX):
        raise ParseError(
            f"quote v5 body type {body_type} contradicts TEE type 0x{header.tee_type:08x}",
            field="body_type",
        )
    return kind, size  # type: ignore[return-value]


def _parse_qe_certification(r: Reader) -> QeCertification:
    qe_report_raw = r.take(ENCLAVE_REPORT_SIZE, "qe_report")
    qe_sig = r.take(64, "qe_report_signature")
    qe_auth = r.take(r.u16("qe_auth_data_size"), "qe_auth_data")
    cert_type = r.u16("certification_data_type")
    cert_data = r.take(r.u32("certification_data_size"), "certification_data")
    return QeCertification(
        parse_enclave_report(qe_report_raw, "QE report"), qe_sig, qe_auth, cert_type, cert_data
    )


def parse_quote(data: bytes) -> Quote:
    """Parse a DCAP quote; raises ParseError or UnsupportedFormat, never anything else."""
    r = Reader(data, "DCAP quote")
    header = _parse_header(r)
    kind, size = _body_kind(r, header)
    raw_body = r.take(size, "body")
    body: EnclaveReport | TdReport = (
        parse_enclave_report(raw_body, "enclave report")
        if kind == "sgx"
        else parse_td_report(raw_body, kind)
    )
    signed_length = r.offset
    sig_len = r.u32("signature_data_size")
    sig = Reader(r.take(sig_len, "signature_data"), "quote signature data")
    signature = sig.take(64, "quote_signature")
    attestation_key = sig.take(64, "attestation_key")
    if header.version == 3:
        qe = _parse_qe_certification(sig)
    else:
        outer_type = sig.u16("certification_data_type")
        if outer_type != CERT_DATA_QE_REPORT:
            raise UnsupportedFormat(
                f"quote v{header.version} certification data type {outer_type} is not "
                f"supported (expected 6, QE report certification data)"
            )
        inner = Reader(sig.take(sig.u32("certification_data_size"), "certification_data"),
                       "QE report certification data")  # fmt: skip
        qe = _parse_qe_certification(inner)
        if inner.remaining():
            raise ParseError(
                f"QE report certification data declares {len(inner.data)} bytes but its "
                f"fields use {inner.offset}",
                field="certification_data_size",
            )
    if sig.remaining():
        raise ParseError(
            f"signature data declares {sig_len} bytes but its fields use {sig.offset}",
            field="signature_data_size",
        )
    end = r.offset
    return Quote(
        data[:end], header, kind, body, signed_length, signature, attestation_key, qe,
        len(data) - end,
    )  # fmt: skip

"""Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1).

Layout from Intel's "SGX PCK Certificate and CRL Profile": a SEQUENCE of {OID, value} pairs,
the TCB entry itself a SEQUENCE of 16 component SVNs, the PCESVN and the raw CPUSVN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509

from trustroom.evidence import _der
from trustroom.evidence._errors import ParseError

__all__ = ["PckCa", "PckExtensions", "parse_pck_extensions", "pck_ca"]

PckCa = Literal["processor", "platform"]


def pck_ca(issuer_common_name: str) -> PckCa | None:
    """Which of Intel's two PCK CAs a common name denotes, if either."""
    if "SGX PCK Processor CA" in issuer_common_name:
        return "processor"
    if "SGX PCK Platform CA" in issuer_common_name:
        return "platform"
    return None


SGX_EXTENSIONS_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
_BASE = "1.2.840.113741.1.13.1"
_SGX_TYPES = {0: "Standard", 1: "Scalable", 2: "ScalableWithIntegrity"}


@dataclass(frozen=True, slots=True)
class PckExtensions:
    ppid: bytes
    tcb_components: tuple[int, ...]
    pce_svn: int
    cpusvn: bytes
    pce_id: bytes
    fmspc: bytes
    sgx_type: str
    platform_instance_id: bytes | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fmspc": self.fmspc.hex(),
            "pce_id": self.pce_id.hex(),
            "pce_svn": self.pce_svn,
            "cpusvn": self.cpusvn.hex(),
            "tcb_components": list(self.tcb_components),
            "sgx_type": self.sgx_type,
        }


def _oid(suffix: str) -> bytes:
    return _der.encode_oid(f"{_BASE}.{suffix}")


_PPID, _TCB, _PCEID, _FMSPC, _SGX_TYPE, _INSTANCE = map(_oid, ["1", "2", "3", "4", "5", "6"])
_COMPONENTS = [_oid(f"2.{i}") for i in range(1, 17)]
_PCESVN, _CPUSVN = _oid("2.17"), _oid("2.18")


def _pairs(data: bytes, what: str) -> dict[bytes, tuple[int, bytes]]:
    # Keyed by the raw OID bytes: decoding every OID to text costs more than the rest.
    out: dict[bytes, tuple[int, bytes]] = {}
    for tag, value in _der.tlvs(data, what):
        if tag != _der.SEQUENCE:
            raise ParseError(f"{what}: expected a SEQUENCE of {{OID, value}}")
        items = _der.tlvs(value, what)
        if len(items) != 2 or items[0][0] != _der.OID:
            raise ParseError(f"{what}: malformed {{OID, value}} entry")
        out[items[0][1]] = items[1]
    return out


def _value(pairs: dict[bytes, tuple[int, bytes]], oid: bytes, tag: int, what: str) -> bytes:
    found = pairs.get(oid)
    if found is None or found[0] != tag:
        name = _der.decode_oid(oid, what)
        raise ParseError(f"{what}: entry {name} is missing or of the wrong type", field=name)
    return found[1]


def _octets(pairs: dict[bytes, tuple[int, bytes]], oid: bytes, size: int, what: str) -> bytes:
    value = _value(pairs, oid, _der.OCTET_STRING, what)
    if len(value) != size:
        name = _der.decode_oid(oid, what)
        raise ParseError(f"{what}: entry {name} must be {size} bytes", field=name)
    return value


def parse_pck_extensions(cert: x509.Certificate) -> PckExtensions:
    what = "PCK certificate SGX extensions"
    try:
        ext = cert.extensions.get_extension_for_oid(SGX_EXTENSIONS_OID).value
    except x509.ExtensionNotFound as exc:
        raise ParseError(f"the PCK certificate has no SGX extension ({_BASE})") from exc
    except ValueError as exc:
        raise ParseError(f"the PCK certificate's extensions are malformed: {exc}") from exc
    if not isinstance(ext, x509.UnrecognizedExtension):
        raise ParseError(f"{what}: unexpected extension type")
    top = _pairs(_der.single(ext.value, _der.SEQUENCE, what), what)
    tcb = _pairs(_value(top, _TCB, _der.SEQUENCE, what), f"{what} (TCB)")
    components = tuple(
        _der.decode_int(_value(tcb, oid, _der.INTEGER, what), what) for oid in _COMPONENTS
    )
    sgx_type_raw = _der.decode_int(_value(top, _SGX_TYPE, _der.ENUMERATED, what), what)
    instance = top.get(_INSTANCE)
    return PckExtensions(
        ppid=_octets(top, _PPID, 16, what),
        tcb_components=components,
        pce_svn=_der.decode_int(_value(tcb, _PCESVN, _der.INTEGER, what), what),
        cpusvn=_octets(tcb, _CPUSVN, 16, what),
        pce_id=_octets(top, _PCEID, 2, what),
        fmspc=_octets(top, _FMSPC, 6, what),
        sgx_type=_SGX_TYPES.get(sgx_type_raw, f"unknown ({sgx_type_raw})"),
        platform_instance_id=instance[1] if instance and instance[0] == _der.OCTET_STRING else None,
    )

"""Synthetic Intel DCAP platforms for tests: quotes and collateral under a self-made root CA.

Real vectors cover a handful of platforms at a handful of instants. This factory builds whole
platforms instead, correctly signed end to end, so that tests can reach every TCB status, a
revoked PCK certificate, a foreign quoting enclave, a TDX module Intel never published, stale
collateral and SGX/TDX mix-ups, and so that trustroom can be compared with Phala's dcap-qvl on
the same bytes.

What it makes, mirroring Intel's real artefacts (see the reference
attestation-evidence-formats.md, sections 1-3):

* a PKI: "Test SGX Root CA" (self-signed), "Test SGX PCK Processor CA" and
  "Test SGX PCK Platform CA", "Test SGX TCB Signing", and a PCK leaf "Test SGX PCK Certificate"
  carrying Intel's SGX extension (OID 1.2.840.113741.1.13.1) in Intel's DER layout; the CN
  phrases are the ones Intel QVL checks. All keys are ECDSA P-256 and derived from fixed labels,
  so they are the same in every run and only created once per process;
* a root CA CRL and a PCK CRL, with configurable thisUpdate/nextUpdate and revoked serials;
* TCB info v3 ("SGX" or "TDX", with tdxModule and tdxModuleIdentities) and QE identity v2
  ("QE" or "TD_QE") as compact JSON text, signed over the exact text (raw r||s);
* quotes: SGX v3, TDX v4 (TD 1.0 body) and TDX v5 (TD 1.5 body), QE report signed by the
  PCK key and bound to the attestation key, PCK chain as NUL-terminated PEM (certification
  data type 5, wrapped in type 6 for v4/v5);
* collateral in dcap-qvl's ``QuoteCollateralV3`` JSON layout (hex CRLs and signatures).

Usage::

    p = make_platform("tdx", tcb_levels=[TcbLevel("OutOfDate", advisory_ids=("INTEL-SA-1",))])
    Verifier(intel_root=p.root_der).verify(p.quote(), collateral=p.collateral(), at=p.now)
    dcap_qvl.verify_with_root_ca(p.quote(), dcap_qvl.QuoteCollateralV3.from_json(
        p.collateral_json()), p.root_der, p.now_secs)
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = [
    "DAY",
    "DEFAULT_SGX_COMPONENTS",
    "DEFAULT_TEE_TCB_SVN",
    "NOW",
    "SEPT_VE_DISABLE",
    "SGX_EXTENSION_OID",
    "PlatformSpec",
    "QeLevel",
    "TcbLevel",
    "TdxModule",
    "TestPlatform",
    "bump",
    "der_integer",
    "der_oid",
    "make_platform",
    "sgx_extension_der",
]

#: The default evaluation time of every platform: all collateral is valid then.
NOW = datetime(2025, 6, 20, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"

#: PCK component SVNs of the default platform (shaped like a real Ice Lake server's).
DEFAULT_SGX_COMPONENTS = (11, 11, 2, 2, 255, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0)
#: TEE_TCB_SVN of the default TD: module ISVSVN 6, module major version 1, microcode 3.
DEFAULT_TEE_TCB_SVN = (6, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
# Real Intel quoting enclave identities (reference section 2).
SGX_QE_MRSIGNER = bytes.fromhex("8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff")
TD_QE_MRSIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
QE_ATTRIBUTES = bytes.fromhex("11000000000000000000000000000000")
QE_ATTRIBUTES_MASK = bytes.fromhex("fbffffffffffffff0000000000000000")
SEPT_VE_DISABLE = 1 << 28

# A TCB status name ("UpToDate", ..., "Revoked"); plain str so that parametrized tests type-check.
Status = str


def bump(values: Sequence[int], index: int, by: int = 1) -> tuple[int, ...]:
    """``values`` with ``values[index]`` raised by ``by`` (lowered when negative)."""
    out = list(values)
    out[index] += by
    return tuple(out)


# --------------------------------------------------------------------------------------------
# A tiny DER encoder: just what Intel's SGX extension uses.


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + value


def _int_content(value: int) -> bytes:
    # Minimal two's complement, as DER requires: 255 is 00 FF, 127 is 7F, 0 is 00.
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def der_integer(value: int) -> bytes:
    return _tlv(0x02, _int_content(value))


def der_enumerated(value: int) -> bytes:
    return _tlv(0x0A, _int_content(value))


def der_octets(value: bytes) -> bytes:
    return _tlv(0x04, value)


def der_sequence(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def sgx_extension_der(
    *,
    ppid: bytes,
    components: Sequence[int],
    pce_svn: int,
    cpusvn: bytes,
    pce_id: bytes,
    fmspc: bytes,
    sgx_type: int = 0,
    platform_instance_id: bytes | None = None,
) -> bytes:
    """Intel's SGX extension value: a SEQUENCE of {OID, value} pairs (PCK certificate profile)."""

    def pair(suffix: str, value: bytes) -> bytes:
        return der_sequence(der_oid(f"{SGX_EXTENSION_OID}.{suffix}"), value)

    assert len(components) == 16 and len(cpusvn) == 16
    tcb = [pair(f"2.{i}", der_integer(svn)) for i, svn in enumerate(components, start=1)]
    tcb += [pair("2.17", der_integer(pce_svn)), pair("2.18", der_octets(cpusvn))]
    items = [
        pair("1", der_octets(ppid)),
        pair("2", der_sequence(*tcb)),
        pair("3", der_octets(pce_id)),
        pair("4", der_octets(fmspc)),
        pair("5", der_enumerated(sgx_type)),
    ]
    if platform_instance_id is not None:
        items.append(pair("6", der_octets(platform_instance_id)))
    return der_sequence(*items)


# --------------------------------------------------------------------------------------------
# Keys and the certificate authorities, made once per process.

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@cache
def _key(label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from ``label``: the same in every run, and no entropy spent."""
    scalar = int.from_bytes(hashlib.sha256(f"trustroom-test:{label}".encode()).digest(), "big")
    return ec.derive_private_key(scalar % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _serial(label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"serial:{label}".encode()).digest()[:19], "big") | 1


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Trustroom Test Corporation"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    *,
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    path_length: int | Literal["leaf"] | None,
    extra: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    public = key.public_key()
    issuer_public = issuer_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_key_usage(ca=path_length != "leaf"), critical=True)
        .add_extension(
            x509.BasicConstraints(
                ca=path_length != "leaf",
                path_length=None if path_length == "leaf" else path_length,
            ),
            critical=True,
        )
    )
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class _Authority:
    root: x509.Certificate
    cas: dict[str, x509.Certificate]  # "processor" / "platform"
    tcb_signing: x509.Certificate


ROOT_KEY = "root"
CA_KEYS = {"processor": "processor-ca", "platform": "platform-ca"}
TCB_SIGNING_KEY = "tcb-signing"
PCK_KEY = "pck-leaf"
ATTESTATION_KEY = "attestation-key"


@cache
def _authority() -> _Authority:
    root_key = _key(ROOT_KEY)
    root = _certificate(
        subject="Test SGX Root CA", key=root_key, issuer=None, issuer_key=root_key,
        serial=_serial("root"), not_before=datetime(2018, 5, 21, 10, 45, 10, tzinfo=UTC),
        not_after=datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), path_length=1,
    )  # fmt: skip
    cas = {}
    for ca, label in CA_KEYS.items():
        cas[ca] = _certificate(
            subject=f"Test SGX PCK {ca.capitalize()} CA", key=_key(label), issuer=root,
            issuer_key=root_key, serial=_serial(ca), path_length=0,
            not_before=datetime(2018, 5, 21, 10, 50, 10, tzinfo=UTC),
            not_after=datetime(2033, 5, 21, 10, 50, 10, tzinfo=UTC),
        )  # fmt: skip
    tcb_signing = _certificate(
        subject="Test SGX TCB Signing", key=_key(TCB_SIGNING_KEY), issuer=root,
        issuer_key=root_key, serial=_serial("tcb-signing"), path_length="leaf",
        not_before=datetime(2025, 5, 6, 9, 25, tzinfo=UTC),
        not_after=datetime(2032, 5, 6, 9, 25, tzinfo=UTC),
    )  # fmt: skip
    return _Authority(root, cas, tcb_signing)


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def _crl(
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    this_update: datetime,
    next_update: datetime,
    revoked: Sequence[int],
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------------------------
# Collateral documents.


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TcbLevel:
    """One TCB level of TCB info. ``None`` SVNs mean "exactly the platform's own values"."""

    status: Status
    sgx: Sequence[int] | None = None
    pcesvn: int | None = None
    tdx: Sequence[int] | None = None
    advisory_ids: Sequence[str] = ()
    tcb_date: str = "2024-03-13T00:00:00Z"

    def __post_init__(self) -> None:
        _freeze(self)


@dataclass(frozen=True)
class QeLevel:
    """A level of a QE identity or of a TDX module identity: one ISVSVN threshold."""

    isvsvn: int
    status: Status = "UpToDate"
    advisory_ids: Sequence[str] = ()
    tcb_date: str = "2024-03-13T00:00:00Z"

    def __post_init__(self) -> None:
        _freeze(self)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tcb": {"isvsvn": self.isvsvn},
            "tcbDate": self.tcb_date,
            "tcbStatus": self.status,
        }
        if self.advisory_ids:
            out["advisoryIDs"] = list(self.advisory_ids)
        return out


@dataclass(frozen=True)
class TdxModule:
    """``tdxModule`` (no id, no levels) or an entry of ``tdxModuleIdentities``."""

    id: str = ""
    mrsigner: bytes = bytes(48)
    attributes: bytes = bytes(8)
    attributes_mask: bytes = b"\xff" * 8
    levels: Sequence[QeLevel] = ()

    def __post_init__(self) -> None:
        _freeze(self)

    def to_json(self, *, identity: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id} if identity else {}
        out.update(
            mrsigner=self.mrsigner.hex().upper(),
            attributes=self.attributes.hex().upper(),
            attributesMask=self.attributes_mask.hex().upper(),
        )
        if identity:
            out["tcbLevels"] = [level.to_json() for level in self.levels]
        return out


def _freeze(obj: Any) -> None:
    """Turn list fields of a frozen dataclass into tuples, so that it can be hashed."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))


def _components(values: Sequence[int]) -> list[dict[str, int]]:
    assert len(values) == 16, values
    return [{"svn": v} for v in values]


# --------------------------------------------------------------------------------------------
# The platform.


@dataclass(frozen=True)
class PlatformSpec:
    """Everything :func:`make_platform` accepts; every field has a working default.

    PCK certificate: ``ca``, ``pck_components`` (16 SVNs), ``pce_svn``, ``cpusvn`` (default:
    the components, as in real certificates), ``fmspc``, ``pce_id``, ``ppid``, ``sgx_type``,
    ``pck_not_before`` / ``pck_not_after``.
    CRLs: ``revoked_pck`` (PCK CRL lists the leaf), ``pck_crl_ca`` (which CA issues the PCK CRL;
    default ``ca``), ``revoked_cas`` (root CRL lists these PCK CAs), this/next update of both.
    TCB info: ``tcb_levels`` (default: one UpToDate level exactly at the platform),
    ``tcb_info_id`` / ``tcb_info_version`` (labels only: the layout follows the id and is
    always version 3's), ``tcb_fmspc`` / ``tcb_pce_id`` (default: the
    certificate's), ``tcb_issue_date`` / ``tcb_next_update``, ``tdx_module``,
    ``tdx_module_identities`` (default: one identity ``TDX_<major>`` whose single UpToDate level
    is the module's own ISVSVN).
    QE identity: ``qe_identity_id`` / ``qe_identity_version``, ``qe_mrsigner``, ``qe_isvprodid``,
    ``qe_miscselect`` (+mask), ``qe_attributes`` (+mask), ``qe_levels``, issue/next update.
    The QE report in quotes matches the identity (``qe_isvsvn``) unless :meth:`TestPlatform.quote`
    overrides it. TDX: ``tee_tcb_svn`` of the TD.
    """

    tee: str = "sgx"  # "sgx" | "tdx"
    ca: str = "processor"  # "processor" | "platform"
    # PCK certificate
    pck_components: Sequence[int] = DEFAULT_SGX_COMPONENTS
    pce_svn: int = 13
    cpusvn: bytes | None = None
    fmspc: bytes = bytes.fromhex("00906ED50000")
    pce_id: bytes = bytes(2)
    ppid: bytes = bytes(range(0xA0, 0xB0))
    sgx_type: int = 0
    pck_not_before: datetime = NOW - 365 * DAY
    pck_not_after: datetime = NOW + 5 * 365 * DAY
    # CRLs
    revoked_pck: bool = False
    pck_crl_ca: str | None = None
    revoked_cas: Sequence[str] = ()
    pck_crl_this_update: datetime = NOW - 3 * DAY
    pck_crl_next_update: datetime = NOW + 27 * DAY
    root_crl_this_update: datetime = NOW - 90 * DAY
    root_crl_next_update: datetime = NOW + 275 * DAY
    # TDX
    tee_tcb_svn: Sequence[int] = DEFAULT_TEE_TCB_SVN
    # TCB info
    tcb_levels: Sequence[TcbLevel] | None = None
    tcb_info_id: str | None = None
    tcb_info_version: int = 3
    tcb_fmspc: bytes | None = None
    tcb_pce_id: bytes | None = None
    tcb_issue_date: datetime = NOW - 2 * DAY
    tcb_next_update: datetime = NOW + 28 * DAY
    tcb_evaluation_data_number: int = 17
    tdx_module: TdxModule = field(default_factory=TdxModule)
    tdx_module_identities: Sequence[TdxModule] | None = None
    # QE identity (and the QE report's defaults)
    qe_identity_id: str | None = None
    qe_identity_version: int = 2
    qe_mrsigner: bytes | None = None
    qe_isvprodid: int | None = None
    qe_isvsvn: int = 8
    qe_miscselect: int = 0
    qe_miscselect_mask: int = 0xFFFFFFFF
    qe_attributes: bytes = QE_ATTRIBUTES
    qe_attributes_mask: bytes = QE_ATTRIBUTES_MASK
    qe_levels: Sequence[QeLevel] = (QeLevel(8, "UpToDate"),)
    qe_issue_date: datetime = NOW - 1 * DAY
    qe_next_update: datetime = NOW + 29 * DAY

    def __post_init__(self) -> None:
        _freeze(self)
        assert self.tee in ("sgx", "tdx"), self.tee
        assert self.ca in ("processor", "platform"), self.ca
        assert len(self.pck_components) == 16 and len(self.tee_tcb_svn) == 16


_QUOTE_FIELDS = frozenset(
    {
        # header
        "version", "att_key_type", "tee_type", "qe_svn", "pce_svn", "qe_vendor_id", "user_data",
        "body",
        # SGX enclave report
        "cpusvn", "miscselect", "attributes", "mrenclave", "mrsigner", "isv_prod_id", "isv_svn",
        "config_id", "config_svn", "isv_ext_prod_id", "isv_family_id", "report_data",
        # TD report
        "tee_tcb_svn", "tee_tcb_svn2", "mrseam", "mrsignerseam", "seam_attributes",
        "td_attributes", "xfam", "mrtd", "mrconfigid", "mrowner", "mrownerconfig", "rtmrs",
        "mrservicetd",
        # quoting enclave
        "qe_mrsigner", "qe_mrenclave", "qe_isvprodid", "qe_isvsvn", "qe_attributes",
        "qe_miscselect", "qe_cpusvn", "qe_auth_data", "qe_report_data",
        # certification data and signatures
        "pck_chain", "cert_data_type", "attestation_key", "corrupt_quote_signature",
    }
)  # fmt: skip


class TestPlatform:
    """A complete synthetic platform; build with :func:`make_platform`."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, spec: PlatformSpec) -> None:
        self.spec = spec
        self.tee = spec.tee
        self.now = NOW
        auth = _authority()
        self.authority = auth
        self.root = auth.root
        self.root_der = auth.root.public_bytes(serialization.Encoding.DER)
        self.pck_ca = auth.cas[spec.ca]
        self.cpusvn = spec.cpusvn if spec.cpusvn is not None else bytes(spec.pck_components)
        self.pck_cert = self._pck_certificate()
        self.pck_chain_pem = _pem(self.pck_cert, self.pck_ca, self.root)

    # -- convenience ---------------------------------------------------------------------

    @property
    def now_secs(self) -> int:
        return int(self.now.timestamp())

    def replace(self, **changes: Any) -> TestPlatform:
        """Another platform with some :class:`PlatformSpec` fields changed."""
        return _make(replace(self.spec, **changes))

    @property
    def pck_serial(self) -> int:
        return self.pck_cert.serial_number

    # -- PKI -----------------------------------------------------------------------------

    def _pck_certificate(self) -> x509.Certificate:
        s = self.spec
        ext = sgx_extension_der(
            ppid=s.ppid, components=s.pck_components, pce_svn=s.pce_svn, cpusvn=self.cpusvn,
            pce_id=s.pce_id, fmspc=s.fmspc, sgx_type=s.sgx_type,
            platform_instance_id=bytes(range(16)) if s.ca == "platform" else None,
        )  # fmt: skip
        # The serial depends on everything the certificate says, so two different platforms
        # never share one (which would make one's revocation the other's).
        serial = _serial(f"pck:{s!r}")
        return _certificate(
            subject="Test SGX PCK Certificate", key=_key(PCK_KEY), issuer=self.pck_ca,
            issuer_key=_key(CA_KEYS[s.ca]), serial=serial, not_before=s.pck_not_before,
            not_after=s.pck_not_after, path_length="leaf",
            extra=[x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), ext)],
        )  # fmt: skip

    # -- collateral ----------------------------------------------------------------------

    def tcb_levels(self) -> list[TcbLevel]:
        """The TCB levels with every ``None`` replaced by the platform's own values."""
        s = self.spec
        levels = s.tcb_levels if s.tcb_levels is not None else [TcbLevel("UpToDate")]
        return [
            replace(
                lv,
                sgx=tuple(lv.sgx if lv.sgx is not None else s.pck_components),
                pcesvn=lv.pcesvn if lv.pcesvn is not None else s.pce_svn,
                tdx=tuple(lv.tdx if lv.tdx is not None else s.tee_tcb_svn),
            )
            for lv in levels
        ]

    def module_identities(self) -> list[TdxModule]:
        s = self.spec
        if s.tdx_module_identities is not None:
            return list(s.tdx_module_identities)
        major = s.tee_tcb_svn[1]
        if major == 0:
            return []
        return [TdxModule(id=f"TDX_{major:02X}", levels=(QeLevel(s.tee_tcb_svn[0]),))]

    @cached_property
    def tcb_info(self) -> str:
        """The exact TCB info text that is signed (compact JSON, Intel's key order)."""
        s = self.spec
        tee_id = s.tcb_info_id or self.tee.upper()
        tdx = tee_id == "TDX"  # the layout follows the id, so that ids can be swapped
        doc: dict[str, Any] = {
            "id": tee_id,
            "version": s.tcb_info_version,
            "issueDate": _time(s.tcb_issue_date),
            "nextUpdate": _time(s.tcb_next_update),
            "fmspc": (s.tcb_fmspc if s.tcb_fmspc is not None else s.fmspc).hex().upper(),
            "pceId": (s.tcb_pce_id if s.tcb_pce_id is not None else s.pce_id).hex().upper(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": s.tcb_evaluation_data_number,
        }
        if tdx:
            doc["tdxModule"] = s.tdx_module.to_json(identity=False)
            doc["tdxModuleIdentities"] = [
                m.to_json(identity=True) for m in self.module_identities()
            ]
        levels = []
        for lv in self.tcb_levels():
            assert lv.sgx is not None and lv.tdx is not None
            tcb: dict[str, Any] = {"sgxtcbcomponents": _components(lv.sgx), "pcesvn": lv.pcesvn}
            if tdx:
                tcb["tdxtcbcomponents"] = _components(lv.tdx)
            level: dict[str, Any] = {"tcb": tcb, "tcbDate": lv.tcb_date, "tcbStatus": lv.status}
            if lv.advisory_ids:
                level["advisoryIDs"] = list(lv.advisory_ids)
            levels.append(level)
        doc["tcbLevels"] = levels
        return json.dumps(doc, separators=(",", ":"))

    @cached_property
    def qe_identity(self) -> str:
        s = self.spec
        doc = {
            "id": s.qe_identity_id or ("TD_QE" if self.tee == "tdx" else "QE"),
            "version": s.qe_identity_version,
            "issueDate": _time(s.qe_issue_date),
            "nextUpdate": _time(s.qe_next_update),
            "tcbEvaluationDataNumber": s.tcb_evaluation_data_number,
            "miscselect": s.qe_miscselect.to_bytes(4, "little").hex().upper(),
            "miscselectMask": s.qe_miscselect_mask.to_bytes(4, "little").hex().upper(),
            "attributes": s.qe_attributes.hex().upper(),
            "attributesMask": s.qe_attributes_mask.hex().upper(),
            "mrsigner": self._qe_mrsigner.hex().upper(),
            "isvprodid": self._qe_isvprodid,
            "tcbLevels": [level.to_json() for level in s.qe_levels],
        }
        return json.dumps(doc, separators=(",", ":"))

    @property
    def _qe_mrsigner(self) -> bytes:
        if self.spec.qe_mrsigner is not None:
            return self.spec.qe_mrsigner
        return TD_QE_MRSIGNER if self.tee == "tdx" else SGX_QE_MRSIGNER

    @property
    def _qe_isvprodid(self) -> int:
        if self.spec.qe_isvprodid is not None:
            return self.spec.qe_isvprodid
        return 2 if self.tee == "tdx" else 1

    @cached_property
    def root_ca_crl(self) -> bytes:
        s = self.spec
        revoked = [self.authority.cas[ca].serial_number for ca in s.revoked_cas]
        return _crl(self.root, _key(ROOT_KEY), s.root_crl_this_update, s.root_crl_next_update,
                    revoked)  # fmt: skip

    @cached_property
    def pck_crl_issuer(self) -> x509.Certificate:
        return self.authority.cas[self.spec.pck_crl_ca or self.spec.ca]

    @cached_property
    def pck_crl(self) -> bytes:
        s = self.spec
        ca = s.pck_crl_ca or s.ca
        revoked = [self.pck_serial] if s.revoked_pck else []
        # A few other serials, so that "not listed" is tested against a non-empty list.
        revoked += [_serial(f"other-pck-{i}") for i in range(3)]
        return _crl(self.authority.cas[ca], _key(CA_KEYS[ca]), s.pck_crl_this_update,
                    s.pck_crl_next_update, revoked)  # fmt: skip

    @cached_property
    def tcb_info_signature(self) -> bytes:
        return _raw_signature(_key(TCB_SIGNING_KEY), self.tcb_info.encode())

    @cached_property
    def qe_identity_signature(self) -> bytes:
        return _raw_signature(_key(TCB_SIGNING_KEY), self.qe_identity.encode())

    def collateral_dict(self) -> dict[str, str]:
        """Collateral in dcap-qvl's ``QuoteCollateralV3`` JSON layout, as a dict."""
        return dict(self._collateral_dict)

    @cached_property
    def _collateral_dict(self) -> dict[str, str]:
        signing_chain = _pem(self.authority.tcb_signing, self.root)
        return {
            "pck_crl_issuer_chain": _pem(self.pck_crl_issuer, self.root),
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": signing_chain,
            "tcb_info": self.tcb_info,
            "tcb_info_signature": self.tcb_info_signature.hex(),
            "qe_identity_issuer_chain": signing_chain,
            "qe_identity": self.qe_identity,
            "qe_identity_signature": self.qe_identity_signature.hex(),
        }

    def collateral_json(self, **overrides: str) -> str:
        """The collateral JSON text; ``overrides`` replace fields (already hex / PEM / text)."""
        if not overrides:
            return self._collateral_json
        doc = self.collateral_dict()
        unknown = set(overrides) - set(doc)
        assert not unknown, f"not collateral fields: {unknown}"
        doc.update(overrides)
        return json.dumps(doc, indent=2)

    @cached_property
    def _collateral_json(self) -> str:
        return json.dumps(self._collateral_dict, indent=2)

    def collateral(self, **overrides: str) -> Any:
        """trustroom's DcapCollateral for :meth:`collateral_json`."""
        from trustroom.evidence import Collateral

        return Collateral.from_dcap_qvl_json(self.collateral_json(**overrides))

    # -- quotes --------------------------------------------------------------------------

    def quote_defaults(self) -> dict[str, Any]:
        s = self.spec
        tdx = self.tee == "tdx"
        return {
            "version": 4 if tdx else 3,
            "att_key_type": 2,
            "tee_type": 0x81 if tdx else 0,
            "qe_svn": 0 if tdx else s.qe_isvsvn,
            "pce_svn": 0 if tdx else s.pce_svn,
            "qe_vendor_id": INTEL_QE_VENDOR_ID,
            "user_data": bytes(range(0x40, 0x50)) + bytes(4),
            "body": None,  # from the version: sgx for v3, td10 for v4, td15 for v5 TDX
            "cpusvn": self.cpusvn,
            "miscselect": 0,
            "attributes": bytes.fromhex("0500000000000000e700000000000000"),
            "mrenclave": hashlib.sha256(b"app enclave").digest(),
            "mrsigner": hashlib.sha256(b"app signer").digest(),
            "isv_prod_id": 0,
            "isv_svn": 0,
            "config_id": bytes(64),
            "config_svn": 0,
            "isv_ext_prod_id": bytes(16),
            "isv_family_id": bytes(16),
            "report_data": hashlib.sha512(b"report data").digest(),
            "tee_tcb_svn": bytes(s.tee_tcb_svn),
            "tee_tcb_svn2": None,  # default: tee_tcb_svn (a TD that was never relaunched)
            "mrseam": hashlib.sha384(b"tdx module").digest(),
            "mrsignerseam": bytes(48),
            "seam_attributes": bytes(8),
            "td_attributes": SEPT_VE_DISABLE.to_bytes(8, "little"),
            "xfam": bytes.fromhex("e702060000000000"),
            "mrtd": hashlib.sha384(b"mrtd").digest(),
            "mrconfigid": bytes(48),
            "mrowner": bytes(48),
            "mrownerconfig": bytes(48),
            "rtmrs": tuple(hashlib.sha384(b"rtmr%d" % i).digest() for i in range(4)),
            "mrservicetd": bytes(48),
            "qe_mrsigner": self._qe_mrsigner,
            "qe_mrenclave": hashlib.sha256(b"quoting enclave").digest(),
            "qe_isvprodid": self._qe_isvprodid,
            "qe_isvsvn": s.qe_isvsvn,
            "qe_attributes": s.qe_attributes,
            "qe_miscselect": s.qe_miscselect,
            "qe_cpusvn": self.cpusvn,
            "qe_auth_data": bytes(range(32)),
            "qe_report_data": None,  # default: SHA-256(attestation key || auth data) || 0*32
            "pck_chain": self.pck_chain_pem.encode() + b"\x00",
            "cert_data_type": 5,
            "attestation_key": ATTESTATION_KEY,
            "corrupt_quote_signature": False,
        }

    def quote(self, **overrides: Any) -> bytes:
        """A signed quote; keyword arguments override fields (see :meth:`quote_defaults`).

        ``version=5`` makes a v5 quote (TD 1.5 body for TDX); ``body="td10"`` with version 5
        keeps the TD 1.0 body.
        """
        unknown = set(overrides) - _QUOTE_FIELDS
        assert not unknown, f"not quote fields: {unknown}"
        f = {**self.quote_defaults(), **overrides}
        tdx = f["tee_type"] == 0x81
        body_kind = f["body"] or ("sgx" if not tdx else "td15" if f["version"] == 5 else "td10")
        if body_kind == "sgx":
            body = enclave_report(
                cpusvn=f["cpusvn"], miscselect=f["miscselect"], attributes=f["attributes"],
                mrenclave=f["mrenclave"], mrsigner=f["mrsigner"], isv_prod_id=f["isv_prod_id"],
                isv_svn=f["isv_svn"], config_id=f["config_id"], config_svn=f["config_svn"],
                isv_ext_prod_id=f["isv_ext_prod_id"], isv_family_id=f["isv_family_id"],
                report_data=f["report_data"],
            )  # fmt: skip
        else:
            body = td_report(f, td15=body_kind == "td15")
        header = struct.pack(
            "<HHIHH", f["version"], f["att_key_type"], f["tee_type"], f["qe_svn"], f["pce_svn"]
        ) + f["qe_vendor_id"] + f["user_data"]  # fmt: skip
        assert len(header) == 48
        if f["version"] >= 5:
            body_type = {"sgx": 1, "td10": 2, "td15": 3}[body_kind]
            body = struct.pack("<HI", body_type, len(body)) + body
        signed = header + body

        attestation_key = _key(f["attestation_key"])
        attestation_raw = _raw_public(attestation_key)
        qe_report_data = f["qe_report_data"]
        if qe_report_data is None:
            qe_report_data = hashlib.sha256(attestation_raw + f["qe_auth_data"]).digest()
            qe_report_data += bytes(32)
        qe_report = enclave_report(
            cpusvn=f["qe_cpusvn"], miscselect=f["qe_miscselect"], attributes=f["qe_attributes"],
            mrenclave=f["qe_mrenclave"], mrsigner=f["qe_mrsigner"],
            isv_prod_id=f["qe_isvprodid"], isv_svn=f["qe_isvsvn"], report_data=qe_report_data,
        )  # fmt: skip
        qe_report_sig = _raw_signature(_key(PCK_KEY), qe_report)
        chain = f["pck_chain"]
        qe_cert_data = (
            qe_report
            + qe_report_sig
            + struct.pack("<H", len(f["qe_auth_data"]))
            + f["qe_auth_data"]
            + struct.pack("<HI", f["cert_data_type"], len(chain))
            + chain
        )
        signature = _raw_signature(attestation_key, signed)
        if f["corrupt_quote_signature"]:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        if f["version"] == 3:
            sig_data = signature + attestation_raw + qe_cert_data
        else:
            sig_data = (
                signature
                + attestation_raw
                + struct.pack("<HI", 6, len(qe_cert_data))
                + qe_cert_data
            )
        quote: bytes = signed + struct.pack("<I", len(sig_data)) + sig_data
        return quote


def enclave_report(
    *,
    cpusvn: bytes = bytes(16),
    miscselect: int = 0,
    isv_ext_prod_id: bytes = bytes(16),
    attributes: bytes = bytes(16),
    mrenclave: bytes = bytes(32),
    mrsigner: bytes = bytes(32),
    config_id: bytes = bytes(64),
    isv_prod_id: int = 0,
    isv_svn: int = 0,
    config_svn: int = 0,
    isv_family_id: bytes = bytes(16),
    report_data: bytes = bytes(64),
) -> bytes:
    """An SGX REPORT body (384 bytes), the application enclave's or the QE's."""
    out = (
        _fixed(cpusvn, 16)
        + struct.pack("<I", miscselect)
        + bytes(12)
        + _fixed(isv_ext_prod_id, 16)
        + _fixed(attributes, 16)
        + _fixed(mrenclave, 32)
        + bytes(32)
        + _fixed(mrsigner, 32)
        + bytes(32)
        + _fixed(config_id, 64)
        + struct.pack("<HHH", isv_prod_id, isv_svn, config_svn)
        + bytes(42)
        + _fixed(isv_family_id, 16)
        + _fixed(report_data, 64)
    )
    assert len(out) == 384
    return out


def td_report(f: dict[str, Any], *, td15: bool) -> bytes:
    """A TD 1.0 (584 bytes) or TD 1.5 (648 bytes) report body from quote fields ``f``."""
    out = (
        _fixed(f["tee_tcb_svn"], 16)
        + _fixed(f["mrseam"], 48)
        + _fixed(f["mrsignerseam"], 48)
        + _fixed(f["seam_attributes"], 8)
        + _fixed(f["td_attributes"], 8)
        + _fixed(f["xfam"], 8)
        + _fixed(f["mrtd"], 48)
        + _fixed(f["mrconfigid"], 48)
        + _fixed(f["mrowner"], 48)
        + _fixed(f["mrownerconfig"], 48)
        + b"".join(_fixed(r, 48) for r in f["rtmrs"])
        + _fixed(f["report_data"], 64)
    )
    if td15:
        svn2 = f["tee_tcb_svn2"] if f["tee_tcb_svn2"] is not None else f["tee_tcb_svn"]
        out += _fixed(svn2, 16) + _fixed(f["mrservicetd"], 48)
    assert len(out) == (648 if td15 else 584)
    return out


def _fixed(value: bytes | Sequence[int], size: int) -> bytes:
    raw = bytes(value)
    assert len(raw) == size, f"{len(raw)} bytes where {size} are needed"
    return raw


def make_platform(tee: str = "sgx", **options: Any) -> TestPlatform:
    """A synthetic SGX or TDX platform; ``options`` are :class:`PlatformSpec` fields."""
    names = {f.name for f in fields(PlatformSpec)}
    unknown = set(options) - names
    if unknown:
        raise TypeError(f"make_platform() got unknown options {sorted(unknown)}")
    return _make(PlatformSpec(tee=tee, **options))


@cache
def _make(spec: PlatformSpec) -> TestPlatform:
    # The same spec gives the same platform object: tests that share a platform build it once.
    return TestPlatform(spec)

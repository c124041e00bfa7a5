"""AMD SEV-SNP attestation reports: parsing, and verification against AMD's pinned roots.

Report layout from AMD's SEV-SNP firmware ABI specification (56860, "ATTESTATION_REPORT"), as
read by google/go-sev-guest ``abi/abi.go`` (``ReportToProto``) and virtee/sev
``src/firmware/guest/types/snp.rs``. Verification follows go-sev-guest ``verify/verify.go``,
trustee ``deps/verifier/src/snp/mod.rs`` (product from CPUID, VEK TCB and hwID checks) and
AMD's VCEK/VLEK certificate specification (57230) for the ``1.3.6.1.4.1.3704.1.*`` extensions.

A report is exactly 0x4A0 bytes; bytes after it (an extended report's certificate table,
padding) are not part of it and are counted in ``trailing_bytes``. Versions 2 to 5 are read;
the CPUID fields exist from version 3 and the mitigation vectors from version 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from trustroom.evidence import _der
from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._collateral import SnpCollateral
from trustroom.evidence._errors import (
    CollateralMismatch,
    CollateralMissing,
    ExpectationFailed,
    ParseError,
    Revoked,
    SignatureInvalid,
    TcbMismatch,
    UnsupportedFormat,
)
from trustroom.evidence._outcome import Outcome
from trustroom.evidence._reader import Reader
from trustroom.evidence._roots import amd_chains, known_links
from trustroom.evidence._window import Window
from trustroom.evidence._x509 import (
    VerifiedChain,
    certificate_fields,
    check_not_revoked,
    load_crl,
    load_der_certificate,
    load_pem_chain,
    verify_chain,
    verify_crl,
)

__all__ = [
    "PRODUCTS",
    "REPORT_SIZE",
    "SIGNED_SIZE",
    "SnpReport",
    "is_snp_report",
    "parse_report",
    "product_from_cpuid",
    "tcb_components",
    "vcek_path",
    "verify_report",
]

REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SIG_ALGO_ECDSA_P384_SHA384 = 1
KDS_URL = "https://kdsintf.amd.com"
_VERSIONS = (2, 3, 4, 5)
PRODUCTS = ("Milan", "Genoa", "Turin")
_SIGNING_KEYS = {0: "vcek", 1: "vlek", 7: "none"}
_WHAT = "SEV-SNP report"

_POLICY_FLAGS = {
    "smt_allowed": 16,
    "migrate_ma": 18,
    "debug": 19,
    "single_socket": 20,
    "cxl_allowed": 21,
    "mem_aes_256_xts": 22,
    "rapl_dis": 23,
    "ciphertext_hiding": 24,
    "page_swap_disable": 25,
}
_POLICY_RESERVED_ONE = 17
_POLICY_DEFINED_BITS = 26
_PLATFORM_FLAGS = {
    "smt_enabled": 0,
    "tsme_enabled": 1,
    "ecc_enabled": 2,
    "rapl_disabled": 3,
    "ciphertext_hiding_enabled": 4,
    "alias_check_complete": 5,
    "tio_enabled": 7,
}
# Byte index of each component in the little-endian TCB_VERSION (virtee/sev
# from_legacy_bytes / from_turin_bytes).
_TCB_LEGACY = {"bootloader": 0, "tee": 1, "snp": 6, "microcode": 7}
_TCB_TURIN = {"bootloader": 1, "tee": 2, "snp": 3, "microcode": 7, "fmc": 0}

_AMD_OID = "1.3.6.1.4.1.3704.1."
_SPL_OIDS = {"bootloader": "3.1", "tee": "3.2", "snp": "3.3", "microcode": "3.8", "fmc": "3.9"}
_KDS_SPL_NAMES = {
    "fmc": "fmcSPL",
    "bootloader": "blSPL",
    "tee": "teeSPL",
    "snp": "snpSPL",
    "microcode": "ucodeSPL",
}
# go-sev-guest kds.steppingDecoder: the productName suffix of a VCEK names the stepping.
_STEPPINGS = {"B0": 0, "B1": 1, "B2": 2}


def product_from_cpuid(family: int, model: int) -> str | None:
    """The SEV-SNP product line of a CPU family/model, or None when it is not one we know."""
    if family == 0x19:
        if model <= 0x0F:
            return "Milan"
        if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:
            return "Genoa"
    if family == 0x1A and model <= 0x11:
        return "Turin"
    return None


def tcb_components(tcb: int, product: str | None) -> dict[str, int]:
    """Split a TCB_VERSION into its SPLs; Turin moved the fields and added the FMC's SPL.

    Without a product (version 2 reports carry no CPUID) the Milan/Genoa layout applies:
    Turin firmware only produces version 3 and later.
    """
    raw = tcb.to_bytes(8, "little")
    layout = _TCB_TURIN if product == "Turin" else _TCB_LEGACY
    return {name: raw[index] for name, index in layout.items()}


def _bits(value: int, flags: dict[str, int]) -> dict[str, bool]:
    return {name: bool(value >> bit & 1) for name, bit in flags.items()}


@dataclass(frozen=True, slots=True)
class SnpReport:
    """A parsed SEV-SNP ATTESTATION_REPORT; TCB values are the raw little-endian u64s."""

    data: bytes
    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: int
    platform_info: int
    signer_info: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: int
    cpuid_fam_id: int | None
    cpuid_mod_id: int | None
    cpuid_step: int | None
    chip_id: bytes
    committed_tcb: int
    current_build: int
    current_minor: int
    current_major: int
    committed_build: int
    committed_minor: int
    committed_major: int
    launch_tcb: int
    launch_mit_vector: int | None
    current_mit_vector: int | None
    signature_r: int
    signature_s: int
    trailing_bytes: int

    @property
    def tee(self) -> str:
        return "snp"

    @property
    def format(self) -> str:
        return f"amd-sev-snp-report-v{self.version}"

    @property
    def signed_region(self) -> bytes:
        return self.data[:SIGNED_SIZE]

    @property
    def signing_key(self) -> str:
        return _SIGNING_KEYS.get(self.signer_info >> 2 & 7, "reserved")

    @property
    def mask_chip_key(self) -> bool:
        return bool(self.signer_info & 2)

    @property
    def author_key_en(self) -> bool:
        return bool(self.signer_info & 1)

    @property
    def debug(self) -> bool:
        return bool(self.policy >> _POLICY_FLAGS["debug"] & 1)

    @property
    def product(self) -> str | None:
        """The product line named by the CPUID fields (version 3+), else None."""
        if self.cpuid_fam_id is None or self.cpuid_mod_id is None:
            return None
        return product_from_cpuid(self.cpuid_fam_id, self.cpuid_mod_id)

    def measurements(self) -> dict[str, str]:
        return {
            "measurement": self.measurement.hex(),
            "host_data": self.host_data.hex(),
            "id_key_digest": self.id_key_digest.hex(),
            "author_key_digest": self.author_key_digest.hex(),
            "family_id": self.family_id.hex(),
            "image_id": self.image_id.hex(),
            "report_id": self.report_id.hex(),
            "policy": f"{self.policy:016x}",
        }

    def attribute_claims(self) -> dict[str, Any]:
        return {
            **_bits(self.policy, _POLICY_FLAGS),
            "abi_major": self.policy >> 8 & 0xFF,
            "abi_minor": self.policy & 0xFF,
            "policy": f"0x{self.policy:016x}",
            "vmpl": self.vmpl,
            "guest_svn": self.guest_svn,
            "signing_key": self.signing_key,
            "mask_chip_key": self.mask_chip_key,
            "author_key_en": self.author_key_en,
        }

    def platform_claims(self) -> dict[str, Any]:
        product = self.product
        out: dict[str, Any] = {
            "chip_id": self.chip_id.hex(),
            "product": product,
            "cpuid_family": None if self.cpuid_fam_id is None else f"0x{self.cpuid_fam_id:02x}",
            "cpuid_model": None if self.cpuid_mod_id is None else f"0x{self.cpuid_mod_id:02x}",
            "cpuid_stepping": self.cpuid_step,
            "reported_tcb": tcb_components(self.reported_tcb, product),
            "current_tcb": tcb_components(self.current_tcb, product),
            "committed_tcb": tcb_components(self.committed_tcb, product),
            "launch_tcb": tcb_components(self.launch_tcb, product),
            "current_firmware": f"{self.current_major}.{self.current_minor}.{self.current_build}",
            "committed_firmware": (
                f"{self.committed_major}.{self.committed_minor}.{self.committed_build}"
            ),
            "platform_info": {
                **_bits(self.platform_info, _PLATFORM_FLAGS),
                "value": f"0x{self.platform_info:016x}",
            },
        }
        if self.launch_mit_vector is not None and self.current_mit_vector is not None:
            out["launch_mit_vector"] = f"0x{self.launch_mit_vector:016x}"
            out["current_mit_vector"] = f"0x{self.current_mit_vector:016x}"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "tee": self.tee,
            "version": self.version,
            "measurements": self.measurements(),
            "attributes": self.attribute_claims(),
            "report_data": self.report_data.hex(),
            "platform": self.platform_claims(),
            "report_id_ma": self.report_id_ma.hex(),
            "signer_info": f"0x{self.signer_info:08x}",
            "signature_algo": self.signature_algo,
            "signature": {"r": f"{self.signature_r:096x}", "s": f"{self.signature_s:096x}"},
            "signed_length": SIGNED_SIZE,
            "trailing_bytes": self.trailing_bytes,
        }


def is_snp_report(data: bytes) -> bool:
    """Cheap detection from the header: a known version and the one signature algorithm.

    A truncated report is still recognised, so that parsing names the truncation.
    """
    return (
        len(data) >= 0x38
        and int.from_bytes(data[0:4], "little") in _VERSIONS
        and int.from_bytes(data[0x34:0x38], "little") == SIG_ALGO_ECDSA_P384_SHA384
    )


def _reserved(r: Reader, size: int) -> None:
    offset = r.offset
    field = f"reserved_0x{offset:03x}"
    if any(r.take(size, field)):
        raise ParseError(
            f"{_WHAT}: bytes 0x{offset:03x}..0x{offset + size:03x} are reserved and must be zero",
            structure=_WHAT,
            field=field,
        )


def _check_policy(policy: int) -> None:
    # An unknown policy bit could relax a guarantee this code cannot evaluate, so, like
    # go-sev-guest, a report using one is refused rather than shown as if understood.
    if not policy >> _POLICY_RESERVED_ONE & 1:
        raise ParseError(
            f"{_WHAT}: policy bit {_POLICY_RESERVED_ONE} is reserved and must be 1",
            structure=_WHAT,
            field="policy",
        )
    if policy >> _POLICY_DEFINED_BITS:
        raise ParseError(
            f"{_WHAT}: policy 0x{policy:016x} sets reserved bits {_POLICY_DEFINED_BITS}-63",
            structure=_WHAT,
            field="policy",
        )


def _check_signer_info(signer_info: int) -> None:
    if signer_info >> 5:
        raise ParseError(
            f"{_WHAT}: signer_info 0x{signer_info:08x} sets reserved bits 5-31",
            structure=_WHAT,
            field="signer_info",
        )
    key = signer_info >> 2 & 7
    if key == 7:
        raise UnsupportedFormat(
            f"{_WHAT} is not signed (SIGNING_KEY 7, none): there is nothing to verify"
        )
    if key not in _SIGNING_KEYS:
        raise UnsupportedFormat(f"{_WHAT}: SIGNING_KEY {key} is reserved (0 VCEK, 1 VLEK)")


def parse_report(data: bytes) -> SnpReport:
    """Parse an SEV-SNP attestation report; raises ParseError or UnsupportedFormat only."""
    raw = Reader(data, _WHAT).take(REPORT_SIZE, "report")
    r = Reader(raw, _WHAT)
    version = r.u32("version")
    if version not in _VERSIONS:
        raise UnsupportedFormat(f"{_WHAT} version {version} is not supported (2 to 5)")
    guest_svn = r.u32("guest_svn")
    policy = r.u64("policy")
    _check_policy(policy)
    family_id = r.take(16, "family_id")
    image_id = r.take(16, "image_id")
    vmpl = r.u32("vmpl")
    signature_algo = r.u32("signature_algo")
    if signature_algo != SIG_ALGO_ECDSA_P384_SHA384:
        raise UnsupportedFormat(
            f"{_WHAT} signature algorithm {signature_algo} is not supported "
            "(1, ECDSA P-384 with SHA-384, is the only one AMD firmware uses)"
        )
    current_tcb = r.u64("current_tcb")
    platform_info = r.u64("platform_info")
    signer_info = r.u32("signer_info")
    _check_signer_info(signer_info)
    _reserved(r, 4)
    report_data = r.take(64, "report_data")
    measurement = r.take(48, "measurement")
    host_data = r.take(32, "host_data")
    id_key_digest = r.take(48, "id_key_digest")
    author_key_digest = r.take(48, "author_key_digest")
    report_id = r.take(32, "report_id")
    report_id_ma = r.take(32, "report_id_ma")
    reported_tcb = r.u64("reported_tcb")
    cpuid: tuple[int | None, int | None, int | None] = (None, None, None)
    if version >= 3:
        family, model, step = r.take(3, "cpuid")
        cpuid = (family, model, step)
    _reserved(r, 0x1A0 - r.offset)
    chip_id = r.take(64, "chip_id")
    committed_tcb = r.u64("committed_tcb")
    current_build, current_minor, current_major = r.take(3, "current_version")
    _reserved(r, 1)
    committed_build, committed_minor, committed_major = r.take(3, "committed_version")
    _reserved(r, 1)
    launch_tcb = r.u64("launch_tcb")
    mit: tuple[int | None, int | None] = (None, None)
    if version >= 5:
        mit = (r.u64("launch_mit_vector"), r.u64("current_mit_vector"))
    _reserved(r, SIGNED_SIZE - r.offset)
    signature_r = int.from_bytes(r.take(72, "signature_r"), "little")
    signature_s = int.from_bytes(r.take(72, "signature_s"), "little")
    _reserved(r, REPORT_SIZE - r.offset)
    return SnpReport(
        raw, version, guest_svn, policy, family_id, image_id, vmpl, signature_algo, current_tcb,
        platform_info, signer_info, report_data, measurement, host_data, id_key_digest,
        author_key_digest, report_id, report_id_ma, reported_tcb, *cpuid, chip_id, committed_tcb,
        current_build, current_minor, current_major, committed_build, committed_minor,
        committed_major, launch_tcb, *mit, signature_r, signature_s, len(data) - REPORT_SIZE,
    )  # fmt: skip


def vcek_path(product: str, chip_id: bytes, tcb: Mapping[str, int]) -> str:
    """The AMD KDS path of the VCEK for a chip at a TCB (Turin: the 8-byte hwID, with FMC)."""
    hwid = chip_id[:8] if product == "Turin" else chip_id
    query = "&".join(
        f"{param}={tcb[name]}" for name, param in _KDS_SPL_NAMES.items() if name in tcb
    )
    return f"/vcek/v1/{product}/{hwid.hex()}?{query}"


@dataclass(frozen=True, slots=True)
class _Vek:
    """A VCEK or VLEK certificate and the AMD extensions that bind it to a TCB and chip."""

    cert: x509.Certificate
    key: ec.EllipticCurvePublicKey
    product_name: str
    spls: dict[str, int]
    hw_id: bytes | None
    csp_id: str | None

    @property
    def kind(self) -> str:
        return "vcek" if self.hw_id is not None else "vlek"

    @property
    def product_line(self) -> str | None:
        line = self.product_name.split("-", 1)[0]
        return line if line in PRODUCTS else None

    @property
    def stepping(self) -> int | None:
        """The stepping a VCEK's productName names ("Milan-B0" -> 0); VLEKs name none."""
        _, _, suffix = self.product_name.partition("-")
        return _STEPPINGS.get(suffix)


def _load_certificates(data: bytes, what: str, *, pem_chain: bool) -> list[x509.Certificate]:
    """Load and fully decode certificates once, so a malformed one is a ParseError here and
    not a stray exception deep in the chain checks."""
    with certificate_fields(what):
        certs = load_pem_chain(data, what) if pem_chain else [load_der_certificate(data, what)]
        for cert in certs:
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            list(cert.extensions)
            cert.public_key()
    return certs


def _ia5(value: bytes, what: str) -> str:
    try:
        return _der.single(value, _der.IA5STRING, what).decode("ascii")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what} is not ASCII", structure=what) from exc


def _hw_id(value: bytes, what: str) -> bytes:
    # KDS writes the hwID as raw octets with no DER header (64 bytes, 8 on Turin); accept a
    # proper OCTET STRING too, as go-sev-guest and trustee do, in case AMD fixes that.
    octets = value if len(value) in (8, 64) else _der.single(value, _der.OCTET_STRING, what)
    if len(octets) not in (8, 64):
        raise ParseError(f"{what} is {len(octets)} bytes, not 64 (or 8 on Turin)", structure=what)
    return octets


def _load_vek(data: bytes) -> _Vek:
    what = "VCEK/VLEK certificate"
    (cert,) = _load_certificates(data, what, pem_chain=False)
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise UnsupportedFormat(f"the {what} key is not ECDSA P-384, so it cannot sign a report")
    values = {
        ext.oid.dotted_string.removeprefix(_AMD_OID): ext.value.value
        for ext in cert.extensions
        if ext.oid.dotted_string.startswith(_AMD_OID)
        and isinstance(ext.value, x509.UnrecognizedExtension)
    }

    def required(arc: str, name: str) -> bytes:
        if arc not in values:
            raise ParseError(
                f"the {what} has no {name} extension ({_AMD_OID}{arc}): it is not an AMD "
                "VCEK or VLEK",
                structure=what,
                field=name,
            )
        return values[arc]

    product_name = _ia5(required("2", "productName"), what)
    spls: dict[str, int] = {}
    for name, arc in _SPL_OIDS.items():
        if name == "fmc" and arc not in values:
            continue
        spl = _der.decode_int(_der.single(required(arc, f"{name} SPL"), _der.INTEGER, what), what)
        if not 0 <= spl <= 0xFF:
            raise ParseError(f"the {what} {name} SPL {spl} is not a byte", structure=what)
        spls[name] = spl
    hw_id = _hw_id(values["4"], f"{what} hwID") if "4" in values else None
    csp_id = _ia5(values["5"], f"{what} cspID") if "5" in values else None
    return _Vek(cert, key, product_name, spls, hw_id, csp_id)


def _known_product(name: str | None) -> str | None:
    """``name`` as one of the product lines trustroom has roots for, any case, else None."""
    wanted = (name or "").strip().lower()
    return next((p for p in PRODUCTS if p.lower() == wanted), None)


def _select_product(report: SnpReport, vek: _Vek, wanted: str | None) -> str:
    claimed: str | None
    if report.product is not None:
        claimed, source = report.product, "the report's CPUID"
    else:
        claimed, source = vek.product_line, f"the {vek.kind.upper()} ('{vek.product_name}')"
    if wanted is None:
        if claimed is None:
            raise UnsupportedFormat(
                f"the AMD product is unknown: {_cpuid_text(report)}, certificate productName "
                f"'{vek.product_name}' (trustroom verifies {', '.join(PRODUCTS)})",
                hint="Pass the product (Milan, Genoa or Turin) if this is a newer model.",
            )
        return claimed
    product = _known_product(wanted)
    if product is None:
        raise UnsupportedFormat(
            f"AMD product '{wanted}' is not one trustroom has roots for ({', '.join(PRODUCTS)})"
        )
    if claimed is not None and claimed != product:
        raise ExpectationFailed(
            f"expected an AMD {product} platform, but {source} names {claimed}",
            expected=product,
            found=claimed,
        )
    return product


def _cpuid_text(report: SnpReport) -> str:
    if report.cpuid_fam_id is None:
        return f"report version {report.version} has no CPUID fields"
    return f"CPUID family 0x{report.cpuid_fam_id:02x} model 0x{report.cpuid_mod_id:02x}"


def _stepping(report: SnpReport, vek: _Vek) -> tuple[int | None, str]:
    # Version 3+ reports state the stepping; for version 2 only the VCEK's productName does,
    # as in go-sev-guest, which ignores that name when CPUID is present because some VCEKs
    # carry a wrong stepping suffix (its issue 115).
    if report.cpuid_step is not None:
        return report.cpuid_step, "the report's CPUID"
    return vek.stepping, f"the {vek.kind.upper()} productName '{vek.product_name}'"


def _chain(vek: _Vek, chain_pem: bytes | None, product: str) -> VerifiedChain:
    amd = amd_chains()[product]
    what = f"{vek.kind.upper()} chain"
    if chain_pem is None:
        issuer = amd.ask if vek.kind == "vcek" else amd.asvk
        if issuer is None:
            raise CollateralMissing(
                f"trustroom ships no {product} ASVK, the key that issues {product} VLEKs",
                hint=(
                    f"Pass the VLEK chain (ASVK then ARK) from {KDS_URL}/vlek/v1/{product}/"
                    "cert_chain with the VLEK certificate."
                ),
            )
        issuers = [issuer]
    else:
        issuers = _load_certificates(chain_pem, f"{product} AMD chain", pem_chain=True)
        # KDS serves ASK then ARK; other tools write ARK first. Self-signed (the ARK) goes last.
        issuers.sort(key=lambda cert: cert.issuer == cert.subject)
    # The ARK is pinned per product, so whatever chain came with the evidence, the top must
    # be (or be issued by) AMD's own root for that product.
    return verify_chain([vek.cert, *issuers], [amd.ark], what, known_links=known_links())


def _crl(crl_data: bytes, product: str) -> tuple[x509.CertificateRevocationList, Window]:
    what = f"AMD {product} CRL"
    crl = load_crl(crl_data, what)
    return crl, verify_crl(crl, amd_chains()[product].ark, what)


@certificate_fields("the SEV-SNP collateral")
def verify_report(
    report: SnpReport,
    collateral: SnpCollateral | None,
    outcome: Outcome,
    *,
    cache: VerificationCache,
    product: str | None = None,
    stepping: int | None = None,
) -> None:
    """Verify ``report`` with its VCEK/VLEK up to the pinned AMD root of its product.

    Raises an EvidenceError for a failure that ends verification; records a revoked AMD key in
    ``outcome.errors`` and every certificate/CRL validity window in ``outcome.windows`` (the
    caller judges time). ``product`` and ``stepping`` are the caller's expectations.
    """
    # (1): Without the signing certificate nothing can be verified; say where it comes from.
    # The Verifier hands over whatever collateral its caller gave, Intel's included.
    if collateral is not None and not isinstance(collateral, SnpCollateral):
        raise CollateralMismatch(
            f"{type(collateral).__name__} is not SEV-SNP collateral",
            hint="Pass the VCEK or VLEK certificate (--cert) for an SEV-SNP report.",
        )
    if collateral is None or not collateral.vek:
        if report.signing_key == "vlek":
            hint = (
                "Pass --cert VLEK: the cloud provider supplies the VLEK with the report (the "
                "extended report's certificate table); AMD KDS serves VLEKs only to providers."
            )
        else:
            line = _known_product(product) or report.product
            path = vcek_path(
                line or "{Milan|Genoa}",
                report.chip_id,
                tcb_components(report.reported_tcb, line),
            )
            url = f"{KDS_URL}{path}"
            hint = f"Pass --cert VCEK_OR_VLEK; AMD KDS serves this VCEK at {url}"
        raise CollateralMissing(f"the {_WHAT} needs its VCEK or VLEK certificate", hint=hint)

    # (2): Load the VEK and check it is the kind of key the report says signed it.
    vek = _load_vek(collateral.vek)
    if vek.kind != report.signing_key:
        raise CollateralMismatch(
            f"the report is signed by a {report.signing_key.upper()} but the certificate is a "
            f"{vek.kind.upper()} ({'it has a hwID' if vek.hw_id else 'it has no hwID'})",
            hint="Pass the certificate of the key that signed the report (signer_info).",
        )

    # (3): Report signature, first, so that every field used below is the one AMD signed.
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    try:
        vek.key.verify(signature, report.signed_region, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"the {_WHAT} signature does not verify with the {vek.kind.upper()} public key"
        ) from exc

    # (4): Product line: the caller's, else CPUID (v3+), else the VEK's productName.
    line = _select_product(report, vek, product)

    # (5): VEK <- ASK/ASVK <- pinned ARK (RSA-PSS SHA-384), cached on the exact bytes.
    chain_pem, crl_data = collateral.chain, collateral.crl
    chain = cache.get_or_compute(
        ("snp-vek-chain", line, collateral.vek, chain_pem), lambda: _chain(vek, chain_pem, line)
    )
    outcome.windows.extend(chain.windows())
    if crl_data is not None:
        crl, window = cache.get_or_compute(
            ("snp-crl", line, crl_data), lambda: _crl(crl_data, line)
        )
        outcome.windows.append(window)
        # AMD's CRL is the ARK's, so it can only speak for what the ARK issued (the ASK or
        # ASVK); VEK serials are the ASK's namespace (and all 0). Revocation is recorded
        # rather than raised so the remaining checks still report.
        try:
            check_not_revoked(chain.certs[-2], crl, f"AMD {line} signing key")
        except Revoked as exc:
            outcome.fail(exc)

    # (6): The VEK is issued for one TCB (and, for a VCEK, one chip): the report must match.
    reported = tcb_components(report.reported_tcb, line)
    for name, value in reported.items():
        certified = vek.spls.get(name)
        if certified != value:
            raise TcbMismatch(
                f"{name} SPL: the {vek.kind.upper()} is issued for "
                f"{'no value' if certified is None else certified}, the report's reported_tcb "
                f"has {value}",
                component=name,
                certificate=certified,
                reported=value,
            )
    # A host may mask CHIP_ID to zeros; like go-sev-guest, the comparison is then skipped (the
    # VCEK's signature already binds the report to one chip).
    if vek.hw_id is not None and not report.mask_chip_key and any(report.chip_id):
        chip_id = report.chip_id[: len(vek.hw_id)] if line == "Turin" else report.chip_id
        if vek.hw_id != chip_id:
            raise TcbMismatch(
                f"chip id: the VCEK is issued for hwID {vek.hw_id.hex()}, the report's chip_id "
                f"is {report.chip_id.hex()}",
                component="chip_id",
            )

    # (7): The caller's stepping expectation (product was checked in step 4).
    found, source = _stepping(report, vek)
    if stepping is not None and found != stepping:
        raise ExpectationFailed(
            f"expected product stepping {stepping}, but {source} gives "
            f"{'no stepping' if found is None else f'stepping {found}'}",
            expected=stepping,
            found=found,
        )

    outcome.platform.update(
        {
            "product": line,
            "stepping": found,
            "signer": vek.kind,
            "chip_id": report.chip_id.hex(),
            "reported_tcb": reported,
            "certificate_tcb": vek.spls,
            "certificate_product_name": vek.product_name,
            "csp_id": vek.csp_id,
            "chain": [c.subject.rfc4514_string() for c in chain.certs],
        }
    )

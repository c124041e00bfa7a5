"""SEV-SNP report parsing and verification.

Real vectors (vectors/amd, outcomes from their origin projects' tests) check the happy
paths and the go-sev-guest stepping expectation; a small synthetic AMD hierarchy, swapped in
for the pinned roots, reaches the checks no real vector can (TCB and chip-id mismatches, Turin's
layout, revocation).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from vector_loader import ROOT

from trustroom.evidence import _snp
from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._collateral import DcapCollateral, SnpCollateral
from trustroom.evidence._errors import (
    CertificateExpired,
    ChainInvalid,
    CollateralMismatch,
    CollateralMissing,
    EvidenceError,
    ExpectationFailed,
    Expired,
    ParseError,
    Revoked,
    SignatureInvalid,
    TcbMismatch,
    UnsupportedFormat,
    UntrustedRoot,
)
from trustroom.evidence._outcome import Outcome
from trustroom.evidence._roots import AmdChain
from trustroom.evidence._snp import is_snp_report, parse_report, verify_report
from trustroom.evidence._x509 import verify_chain

VECTORS = ROOT / "amd"
V2_REPORT = (VECTORS / "snp_v2_milan_gosev.report.bin").read_bytes()
V2_VCEK = (VECTORS / "snp_v2_milan_gosev.vcek.der").read_bytes()
V3_REPORT = (VECTORS / "snp_v3_milan_vlek_trustee.report.bin").read_bytes()
V3_VLEK = (VECTORS / "snp_v3_milan_vlek_trustee.vlek.der").read_bytes()
MILAN_ASK_ARK = (VECTORS / "milan_ask_ark.pem").read_bytes()
MILAN_ASVK_ARK = (VECTORS / "milan_asvk_ark.pem").read_bytes()
GENOA_ASK_ARK = (VECTORS / "genoa_ask_ark.pem").read_bytes()

V2_INSIDE = datetime(2024, 1, 1, tzinfo=UTC)
VLEK_FROM = datetime(2024, 12, 10, 22, 14, 21, tzinfo=UTC)
VLEK_UNTIL = datetime(2025, 12, 10, 22, 14, 21, tzinfo=UTC)
V3_INSIDE = datetime(2025, 6, 1, tzinfo=UTC)


def verify(
    data: bytes,
    vek: bytes,
    *,
    chain: bytes | None = None,
    crl: bytes | None = None,
    cache: VerificationCache | None = None,
    product: str | None = None,
    stepping: int | None = None,
) -> Outcome:
    outcome = Outcome()
    verify_report(
        parse_report(data),
        SnpCollateral(vek=vek, chain=chain, crl=crl),
        outcome,
        cache=cache or VerificationCache(),
        product=product,
        stepping=stepping,
    )
    return outcome


def time_errors(outcome: Outcome, at: datetime) -> list[Expired]:
    return [e for w in outcome.windows if (e := w.check(at)) is not None]


def flipped(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


# --- parsing -----------------------------------------------------------------------------


def test_v2_report_fields() -> None:
    report = parse_report(V2_REPORT)
    assert report.version == 2
    assert report.format == "amd-sev-snp-report-v2"
    assert report.tee == "snp"
    assert report.report_data == bytes([1, 2, 3, 4, 5]) + bytes(59)
    assert report.debug is True
    assert report.attribute_claims()["debug"] is True
    assert report.signing_key == "vcek"
    assert report.cpuid_fam_id is None and report.product is None
    assert report.launch_mit_vector is None
    assert report.trailing_bytes == 0
    assert report.signed_region == V2_REPORT[:0x2A0]
    platform = report.platform_claims()
    assert platform["reported_tcb"] == {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
    assert platform["chip_id"].startswith("3ac3fe21e13fb099")
    assert report.measurements()["measurement"].startswith("b07af9620f3b839b")
    json.dumps(report.to_dict())


def test_v3_report_fields() -> None:
    report = parse_report(V3_REPORT)
    assert report.version == 3
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x01, 1)
    assert report.product == "Milan"
    assert report.signing_key == "vlek"
    assert report.vmpl == 1
    assert report.debug is False
    claims = report.platform_claims()
    assert claims["reported_tcb"] == {"bootloader": 4, "tee": 0, "snp": 24, "microcode": 217}
    assert claims["current_tcb"]["microcode"] == 220
    assert claims["platform_info"]["tsme_enabled"] is True
    json.dumps(report.to_dict())


def test_detection() -> None:
    assert is_snp_report(V2_REPORT) and is_snp_report(V3_REPORT)
    # A truncated report is still recognised by its header, so that parsing names the cut.
    assert is_snp_report(V2_REPORT[:0x38]) and not is_snp_report(V2_REPORT[:0x37])
    with pytest.raises(ParseError, match="truncated"):
        parse_report(V2_REPORT[:-1])
    assert not is_snp_report(flipped(V2_REPORT, 0x34))
    assert not is_snp_report(b"\x04\x00\x02\x00" + bytes(2000))  # a DCAP quote header


def test_trailing_bytes_are_not_part_of_the_report() -> None:
    report = parse_report(V2_REPORT + b"\xaa" * 16)
    assert report.data == V2_REPORT
    assert report.trailing_bytes == 16
    assert not verify(V2_REPORT + b"\xaa" * 16, V2_VCEK).errors


@pytest.mark.parametrize(
    ("offset", "value", "error", "field"),
    [
        (0x00, 1, UnsupportedFormat, None),  # version 1
        (0x00, 6, UnsupportedFormat, None),  # version 6
        (0x34, 2, UnsupportedFormat, None),  # signature algorithm
        (0x0A, 0x09, ParseError, "policy"),  # reserved-one bit 17 cleared
        (0x0C, 0x01, ParseError, "policy"),  # policy bit 32
        (0x48, 0x1C, UnsupportedFormat, None),  # SIGNING_KEY 7: unsigned
        (0x48, 0x08, UnsupportedFormat, None),  # SIGNING_KEY 2: reserved
        (0x48, 0x20, ParseError, "signer_info"),
        (0x4C, 0x01, ParseError, "reserved_0x04c"),
        (0x188, 0x19, ParseError, "reserved_0x188"),  # CPUID bytes are reserved in v2
        (0x1EB, 0x01, ParseError, "reserved_0x1eb"),
        (0x1F8, 0x01, ParseError, "reserved_0x1f8"),  # mitigation vectors are v5+
        (0x400, 0x01, ParseError, "reserved_0x330"),
    ],
)
def test_malformed_fields(
    offset: int, value: int, error: type[EvidenceError], field: str | None
) -> None:
    data = bytearray(V2_REPORT)
    data[offset] = value
    with pytest.raises(error) as info:
        parse_report(bytes(data))
    if field is not None:
        assert info.value.details["field"] == field


def test_truncated_report() -> None:
    with pytest.raises(ParseError, match="truncated"):
        parse_report(V2_REPORT[:0x49F])


# --- the real vectors --------------------------------------------------------------------


@pytest.mark.parametrize("chain", [None, MILAN_ASK_ARK])
def test_v2_vcek_verifies(chain: bytes | None) -> None:
    outcome = verify(V2_REPORT, V2_VCEK, chain=chain)
    assert outcome.errors == []
    assert len(outcome.windows) == 3
    assert outcome.tcb_status is None
    for at in (
        datetime(2022, 9, 24, 0, 55, 28, tzinfo=UTC),
        V2_INSIDE,
        datetime(2029, 9, 24, 0, 55, 28, tzinfo=UTC),
    ):
        assert time_errors(outcome, at) == []
    assert outcome.platform["product"] == "Milan"
    assert outcome.platform["signer"] == "vcek"
    assert outcome.platform["stepping"] == 0
    assert outcome.platform["reported_tcb"] == outcome.platform["certificate_tcb"]


@pytest.mark.parametrize(
    "at", [datetime(2022, 9, 24, tzinfo=UTC), datetime(2029, 9, 25, tzinfo=UTC)]
)
def test_v2_vcek_window(at: datetime) -> None:
    errors = time_errors(verify(V2_REPORT, V2_VCEK), at)
    assert [type(e) for e in errors] == [CertificateExpired]
    assert "SEV-VCEK" in errors[0].message


def test_v2_stepping_expectation() -> None:
    assert not verify(V2_REPORT, V2_VCEK, product="Milan", stepping=0).errors
    with pytest.raises(ExpectationFailed) as info:
        verify(V2_REPORT, V2_VCEK, stepping=12)
    assert "stepping 12" in info.value.message
    assert "stepping 0" in info.value.message


def test_product_expectation() -> None:
    assert not verify(V2_REPORT, V2_VCEK, product="milan").errors
    with pytest.raises(ExpectationFailed, match="Genoa"):
        verify(V2_REPORT, V2_VCEK, product="Genoa")
    with pytest.raises(ExpectationFailed, match="CPUID names Milan"):
        verify(V3_REPORT, V3_VLEK, product="Turin")
    with pytest.raises(UnsupportedFormat, match="Venice"):
        verify(V2_REPORT, V2_VCEK, product="Venice")


@pytest.mark.parametrize("chain", [None, MILAN_ASVK_ARK])
def test_v3_vlek_verifies(chain: bytes | None) -> None:
    outcome = verify(V3_REPORT, V3_VLEK, chain=chain, stepping=1)
    assert outcome.errors == []
    assert time_errors(outcome, V3_INSIDE) == []
    assert time_errors(outcome, VLEK_FROM) == time_errors(outcome, VLEK_UNTIL) == []
    assert outcome.platform["signer"] == "vlek"
    assert outcome.platform["csp_id"] == "CN=cc-us-east-2.amazonaws.com"
    for at in (VLEK_FROM - timedelta(seconds=1), VLEK_UNTIL + timedelta(seconds=1)):
        errors = time_errors(outcome, at)
        assert [type(e) for e in errors] == [CertificateExpired]
        assert "SEV-VLEK" in errors[0].message


def test_v3_stepping_comes_from_cpuid() -> None:
    with pytest.raises(ExpectationFailed, match=r"stepping 0.*CPUID gives stepping 1"):
        verify(V3_REPORT, V3_VLEK, stepping=0)


def test_missing_collateral() -> None:
    outcome = Outcome()
    with pytest.raises(CollateralMissing) as info:
        verify_report(parse_report(V2_REPORT), None, outcome, cache=VerificationCache())
    assert "kdsintf.amd.com/vcek/v1/" in info.value.hint
    assert "3ac3fe21e13fb099" in info.value.hint and "ucodeSPL=68" in info.value.hint
    with pytest.raises(CollateralMissing, match="VCEK or VLEK") as info:
        verify_report(
            parse_report(V3_REPORT), SnpCollateral(vek=b""), outcome, cache=VerificationCache()
        )
    assert "VLEK" in info.value.hint


# --- tampering and wrong collateral ------------------------------------------------------

_MBZ_V2 = [
    range(0x0C, 0x10),  # policy bits 32-63
    range(0x49, 0x50),  # signer_info bits 8-31, reserved word
    range(0x188, 0x1A0),
    range(0x1EB, 0x1EC),
    range(0x1EF, 0x1F0),
    range(0x1F8, 0x2A0),
]


def _expected_for_flip(offset: int) -> type[EvidenceError]:
    if offset in range(0x01, 0x04) or offset in range(0x34, 0x38):
        return UnsupportedFormat
    if any(offset in r for r in _MBZ_V2):
        return ParseError
    return SignatureInvalid


def test_every_signed_byte_is_covered() -> None:
    cache = VerificationCache()
    for offset in range(0x2A0):
        expected = _expected_for_flip(offset)
        with pytest.raises(expected):
            verify(flipped(V2_REPORT, offset), V2_VCEK, cache=cache)


@pytest.mark.parametrize("offset", [0x50, 0x90, 0xBF, 0x180, 0x1A0, 0x2A0, 0x2C7, 0x2E8, 0x317])
def test_corruption_breaks_the_signature(offset: int) -> None:
    with pytest.raises(SignatureInvalid):
        verify(flipped(V2_REPORT, offset, 0x80), V2_VCEK)
    with pytest.raises(SignatureInvalid):
        verify(flipped(V3_REPORT, offset, 0x80), V3_VLEK)


def test_signature_high_bytes_break_the_signature() -> None:
    # The 24 bytes above each 48-byte R and S are zero; setting one makes R >= n.
    with pytest.raises(SignatureInvalid):
        verify(flipped(V2_REPORT, 0x2D0), V2_VCEK)


def test_certificate_of_the_other_vector() -> None:
    with pytest.raises(CollateralMismatch, match="signed by a VCEK"):
        verify(V2_REPORT, V3_VLEK)
    with pytest.raises(CollateralMismatch, match="signed by a VLEK"):
        verify(V3_REPORT, V2_VCEK)


def test_signer_info_lying_about_the_key() -> None:
    with pytest.raises(CollateralMismatch):
        verify(flipped(V2_REPORT, 0x48, 0x04), V2_VCEK)


def test_wrong_product_chain() -> None:
    with pytest.raises(UntrustedRoot, match="ARK-Genoa"):
        verify(V2_REPORT, V2_VCEK, chain=GENOA_ASK_ARK)
    with pytest.raises(ChainInvalid):
        verify(V3_REPORT, V3_VLEK, chain=MILAN_ASK_ARK)
    with pytest.raises(ChainInvalid):
        verify(V2_REPORT, V2_VCEK, chain=MILAN_ASVK_ARK)


def test_garbage_certificate() -> None:
    with pytest.raises(ParseError):
        verify(V2_REPORT, b"not a certificate")
    with pytest.raises(ParseError):
        verify(V2_REPORT, V2_VCEK, chain=b"-----BEGIN CERTIFICATE-----\nAAAA\n")


def test_chain_verification_is_cached_but_windows_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("chain")
        return verify_chain(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_snp, "verify_chain", counting)
    cache = VerificationCache()
    first = verify(V2_REPORT, V2_VCEK, cache=cache)
    second = verify(V2_REPORT, V2_VCEK, cache=cache)
    assert calls == ["chain"]
    assert first.windows == second.windows and len(second.windows) == 3
    verify(V2_REPORT, V2_VCEK, chain=MILAN_ASK_ARK, cache=cache)
    assert calls == ["chain", "chain"]


# --- a synthetic AMD hierarchy -----------------------------------------------------------

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
SPLS = {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
CHIP_ID = bytes(range(1, 65))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    extensions: dict[str, bytes] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    for oid, value in (extensions or {}).items():
        ext = x509.UnrecognizedExtension(x509.ObjectIdentifier(f"1.3.6.1.4.1.3704.1.{oid}"), value)
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA384(), rsa_padding=PSS)


def _der_int(value: int) -> bytes:
    body = value.to_bytes(2, "big").lstrip(b"\x00") or b"\x00"
    if body[0] & 0x80:
        body = b"\x00" + body
    return bytes([0x02, len(body)]) + body


def _ia5(text: str) -> bytes:
    return bytes([0x16, len(text)]) + text.encode()


@dataclass
class Hierarchy:
    ark_key: rsa.RSAPrivateKey
    ask_key: rsa.RSAPrivateKey
    chains: dict[str, AmdChain]
    vek_key: ec.EllipticCurvePrivateKey

    def vek(
        self,
        *,
        product_name: str = "Milan-B0",
        spls: Mapping[str, int] = SPLS,
        hw_id: bytes | None = CHIP_ID,
        issuer: str = "SEV-Milan",
    ) -> bytes:
        ext = {"1": _der_int(0), "2": _ia5(product_name)}
        ext |= {_snp._SPL_OIDS[name]: _der_int(value) for name, value in spls.items()}
        if hw_id is None:
            ext["5"] = _ia5("CN=example.com")
        else:
            ext["4"] = hw_id
        cert = _cert("SEV-VEK", self.vek_key, issuer, self.ask_key, ca=False, extensions=ext)
        return cert.public_bytes(serialization.Encoding.DER)

    def report(self, edit: Callable[[bytearray], None] = lambda _: None) -> bytes:
        data = bytearray(V2_REPORT)
        data[0x1A0:0x1E0] = CHIP_ID
        edit(data)
        der = self.vek_key.sign(bytes(data[:0x2A0]), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        data[0x2A0:0x2E8] = r.to_bytes(72, "little")
        data[0x2E8:0x330] = s.to_bytes(72, "little")
        return bytes(data)

    def crl(self, revoked: list[x509.Certificate], key: rsa.RSAPrivateKey) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name("ARK-Milan"))
            .last_update(NOW - timedelta(days=1))
            .next_update(NOW + timedelta(days=30))
        )
        for cert in revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(NOW - timedelta(hours=1))
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(key, hashes.SHA384(), rsa_padding=PSS)
        return crl.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]:
    return (
        rsa.generate_private_key(65537, 2048),
        rsa.generate_private_key(65537, 2048),
        ec.generate_private_key(ec.SECP384R1()),
    )


@pytest.fixture
def amd(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey],
    monkeypatch: pytest.MonkeyPatch,
) -> Hierarchy:
    ark_key, ask_key, vek_key = keys
    ark = _cert("ARK-Milan", ark_key, "ARK-Milan", ark_key, ca=True)
    chains = {
        "Milan": AmdChain(
            "Milan",
            ark,
            _cert("SEV-Milan", ask_key, "ARK-Milan", ark_key, ca=True),
            _cert("SEV-VLEK-Milan", ask_key, "ARK-Milan", ark_key, ca=True),
        ),
        "Turin": AmdChain(
            "Turin", ark, _cert("SEV-Turin", ask_key, "ARK-Milan", ark_key, ca=True), None
        ),
    }
    monkeypatch.setattr(_snp, "amd_chains", lambda: chains)
    return Hierarchy(ark_key, ask_key, chains, vek_key)


def test_synthetic_hierarchy_verifies(amd: Hierarchy) -> None:
    outcome = verify(amd.report(), amd.vek())
    assert outcome.errors == [] and time_errors(outcome, NOW) == []


@pytest.mark.parametrize("component", ["bootloader", "tee", "snp", "microcode"])
def test_tcb_mismatch(amd: Hierarchy, component: str) -> None:
    spls = SPLS | {component: SPLS[component] + 1}
    with pytest.raises(TcbMismatch) as info:
        verify(amd.report(), amd.vek(spls=spls))
    assert info.value.details == {
        "component": component,
        "certificate": SPLS[component] + 1,
        "reported": SPLS[component],
    }
    assert component in info.value.message


def test_tcb_is_compared_with_reported_not_current(amd: Hierarchy) -> None:
    def newer_current(data: bytearray) -> None:
        data[0x3F] = 99  # current_tcb microcode

    assert not verify(amd.report(newer_current), amd.vek()).errors


def test_chip_id_mismatch(amd: Hierarchy) -> None:
    with pytest.raises(TcbMismatch, match="chip id"):
        verify(amd.report(), amd.vek(hw_id=bytes(reversed(CHIP_ID))))


@pytest.mark.parametrize("mask", ["mask_chip_key", "zero_chip_id"])
def test_masked_chip_id_is_not_compared(amd: Hierarchy, mask: str) -> None:
    def edit(data: bytearray) -> None:
        if mask == "mask_chip_key":
            data[0x48] |= 0x02
        else:
            data[0x1A0:0x1E0] = bytes(64)

    assert not verify(amd.report(edit), amd.vek(hw_id=bytes(64))).errors


def _turin(data: bytearray) -> None:
    data[0:4] = (3).to_bytes(4, "little")
    data[0x188:0x18B] = bytes([0x1A, 0x02, 0x01])
    data[0x180:0x188] = bytes([3, 4, 1, 8, 0, 0, 0, 0x15])  # fmc bl tee snp ... ucode


TURIN_SPLS = {"fmc": 3, "bootloader": 4, "tee": 1, "snp": 8, "microcode": 0x15}


def test_turin_layout(amd: Hierarchy) -> None:
    vek = amd.vek(product_name="Turin-B0", spls=TURIN_SPLS, hw_id=CHIP_ID[:8], issuer="SEV-Turin")
    outcome = verify(amd.report(_turin), vek, stepping=1)
    assert outcome.platform["product"] == "Turin"
    assert outcome.platform["reported_tcb"] == TURIN_SPLS
    assert parse_report(amd.report(_turin)).platform_claims()["reported_tcb"] == TURIN_SPLS
    with pytest.raises(TcbMismatch, match="fmc"):
        verify(amd.report(_turin), amd.vek(
            product_name="Turin-B0", spls=TURIN_SPLS | {"fmc": 2}, hw_id=CHIP_ID[:8],
            issuer="SEV-Turin",
        ))  # fmt: skip
    without_fmc = {k: v for k, v in TURIN_SPLS.items() if k != "fmc"}
    with pytest.raises(TcbMismatch, match="fmc SPL: the VCEK is issued for no value"):
        verify(amd.report(_turin), amd.vek(
            product_name="Turin-B0", spls=without_fmc, hw_id=CHIP_ID[:8], issuer="SEV-Turin"
        ))  # fmt: skip
    with pytest.raises(TcbMismatch, match="chip id"):
        verify(amd.report(_turin), amd.vek(
            product_name="Turin-B0", spls=TURIN_SPLS, hw_id=CHIP_ID[8:16], issuer="SEV-Turin"
        ))  # fmt: skip


def test_vlek_needs_an_asvk(amd: Hierarchy) -> None:
    def vlek_signed(data: bytearray) -> None:
        _turin(data)
        data[0x48] = 0x04

    vlek = amd.vek(product_name="Turin", spls=TURIN_SPLS, hw_id=None, issuer="SEV-VLEK-Milan")
    with pytest.raises(CollateralMissing) as info:
        verify(amd.report(vlek_signed), vlek)
    assert "vlek/v1/Turin/cert_chain" in info.value.hint


def test_self_made_ark_is_untrusted(amd: Hierarchy) -> None:
    other = rsa.generate_private_key(65537, 2048)
    fake_ark = _cert("ARK-Milan", other, "ARK-Milan", other, ca=True)
    fake_ask = _cert("SEV-Milan", amd.ask_key, "ARK-Milan", other, ca=True)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (fake_ask, fake_ark))
    with pytest.raises(UntrustedRoot):
        verify(amd.report(), amd.vek(), chain=pem)
    # An ASK that only claims the pinned ARK as its issuer fails on the ARK's signature.
    forged = fake_ask.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(SignatureInvalid):
        verify(amd.report(), amd.vek(), chain=forged)


def test_self_made_ark_against_the_shipped_roots() -> None:
    key = rsa.generate_private_key(65537, 2048)
    ark = _cert("ARK-Milan", key, "ARK-Milan", key, ca=True)
    ask = _cert("SEV-Milan", key, "ARK-Milan", key, ca=True)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ask, ark))
    with pytest.raises(UntrustedRoot):
        verify(V2_REPORT, V2_VCEK, chain=pem)


def test_crl(amd: Hierarchy) -> None:
    ask = amd.chains["Milan"].ask
    clean = verify(amd.report(), amd.vek(), crl=amd.crl([], amd.ark_key))
    assert clean.errors == [] and len(clean.windows) == 4
    assert time_errors(clean, NOW + timedelta(days=31))  # the CRL went stale
    revoked = verify(amd.report(), amd.vek(), crl=amd.crl([ask], amd.ark_key))
    assert [type(e) for e in revoked.errors] == [Revoked]
    with pytest.raises((SignatureInvalid, ChainInvalid)):
        verify(amd.report(), amd.vek(), crl=amd.crl([], amd.ask_key))
    with pytest.raises(ParseError):
        verify(amd.report(), amd.vek(), crl=b"garbage")


def test_vek_without_amd_extensions(amd: Hierarchy) -> None:
    plain = _cert("SEV-VEK", amd.vek_key, "SEV-Milan", amd.ask_key, ca=False)
    with pytest.raises(ParseError, match="productName"):
        verify(amd.report(), plain.public_bytes(serialization.Encoding.DER))


def test_vek_with_a_non_p384_key(amd: Hierarchy) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("SEV-VEK", p256, "SEV-Milan", amd.ask_key, ca=False)
    with pytest.raises(UnsupportedFormat, match="P-384"):
        verify(amd.report(), cert.public_bytes(serialization.Encoding.DER))


def test_vek_as_pem(amd: Hierarchy) -> None:
    der = amd.vek()
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    assert not verify(amd.report(), pem).errors


# --- fuzzing: nothing but EvidenceError may escape ----------------------------------------

FUZZ = settings(max_examples=200, deadline=None)


def _mutate(data: bytes, cut: int, tail: bytes, flips: list[int]) -> bytes:
    out = bytearray(data[:cut] + tail)
    for bit in flips:
        if out:
            out[bit // 8 % len(out)] ^= 1 << bit % 8
    return bytes(out)


def _verify_quietly(data: bytes, vek: bytes, chain: bytes | None = None) -> None:
    with contextlib.suppress(EvidenceError):
        verify(data, vek, chain=chain)


@FUZZ
@given(
    base=st.sampled_from([V2_REPORT, V3_REPORT]),
    cut=st.integers(0, 0x4A0),
    tail=st.binary(max_size=32),
    flips=st.lists(st.integers(0, 0x4A0 * 8), max_size=4),
)
def test_fuzz_report(base: bytes, cut: int, tail: bytes, flips: list[int]) -> None:
    data = _mutate(base, cut, tail, flips)
    try:
        parse_report(data)
    except EvidenceError:
        return
    vek = V2_VCEK if base is V2_REPORT else V3_VLEK
    _verify_quietly(data, vek)


@FUZZ
@given(
    base=st.sampled_from([V2_VCEK, V3_VLEK, b""]),
    cut=st.integers(0, 1400),
    tail=st.binary(max_size=16),
    flips=st.lists(st.integers(0, 1400 * 8), max_size=3),
)
def test_fuzz_certificate(base: bytes, cut: int, tail: bytes, flips: list[int]) -> None:
    vek = _mutate(base, cut, tail, flips)
    _verify_quietly(V2_REPORT if base is not V3_VLEK else V3_REPORT, vek)


_ASK, _ARK = (
    c.public_bytes(serialization.Encoding.DER)
    for c in x509.load_pem_x509_certificates(MILAN_ASK_ARK)
)


def _pem(der: bytes) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\n%s-----END CERTIFICATE-----\n" % base64.encodebytes(der)


@FUZZ
@given(
    cut=st.integers(0, len(_ASK)),
    tail=st.binary(max_size=8),
    flips=st.lists(st.integers(0, len(_ASK) * 8), max_size=3),
)
def test_fuzz_chain(cut: int, tail: bytes, flips: list[int]) -> None:
    chain = _pem(_mutate(_ASK, cut, tail, flips)) + _pem(_ARK)
    _verify_quietly(V2_REPORT, V2_VCEK, chain=chain)


def test_intel_collateral_is_refused() -> None:
    intel = DcapCollateral("", b"", b"", "", "", b"", "", "", b"")
    with pytest.raises(CollateralMismatch, match="DcapCollateral"):
        verify_report(
            parse_report(V2_REPORT),
            intel,  # type: ignore[arg-type]
            Outcome(),
            cache=VerificationCache(),
        )

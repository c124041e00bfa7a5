"""Real Intel quotes give the outcomes their origin project (dcap-qvl) asserts."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dcap_qvl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from vector_loader import intel

from trustroom.evidence import DcapCollateral, SnpCollateral, UnsupportedFormat, Verifier, parse
from trustroom.evidence._dcap_identity import TcbInfo

SGX = intel("sgx_v3_dcapqvl")
TDX = intel("tdx_v4_dcapqvl")


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier()


def test_sgx_v3_vector(verifier: Verifier) -> None:
    result = verifier.verify(SGX.quote, collateral=SGX.collateral, at=SGX.at)
    assert result.verified, result.errors
    assert result.tee == "sgx"
    assert result.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert set(result.advisory_ids) == {"INTEL-SA-00289", "INTEL-SA-00615"}
    assert result.platform["qe_tcb_status"] == "UpToDate"
    assert result.measurements["mrenclave"].startswith("33d8736d")
    assert result.measurements["mrsigner"].startswith("815f42f1")
    assert bytes.fromhex(result.report_data) == b"Hello, world!".ljust(64, b"\0")


def test_tdx_v4_vector(verifier: Verifier) -> None:
    result = verifier.verify(TDX.quote, collateral=TDX.collateral, at=TDX.at)
    assert result.verified, result.errors
    assert result.tee == "tdx"
    assert result.tcb_status == "UpToDate"
    assert result.advisory_ids == ()
    assert result.platform["fmspc"] == "b0c06f000000"
    assert result.platform["pce_svn"] == 11
    assert parse(TDX.quote).to_dict()["tcb"]["tee_tcb_svn"] == "06010300000000000000000000000000"
    assert result.measurements["mrtd"] == (
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407"
        "de03ae6dc5f87f27428b2538873118b7"
    )
    assert {"rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam"} <= set(result.measurements)


def test_tdx_padding_is_outside_the_quote() -> None:
    quote = parse(TDX.quote)
    assert quote.to_dict()["trailing_bytes"] == len(TDX.quote) - 4936 == 70


@pytest.mark.parametrize("trailer", [b"", b"\0" * 100, b"\nextra bytes(only for testing)\n"])
def test_trailing_bytes_do_not_change_the_verdict(verifier: Verifier, trailer: bytes) -> None:
    result = verifier.verify(SGX.quote + trailer, collateral=SGX.collateral, at=SGX.at)
    assert result.verified


@pytest.mark.parametrize(
    ("vector", "later", "item", "code"),
    [
        (SGX, datetime(2025, 7, 20, tzinfo=UTC), "TCB info", "collateral_expired"),
        (SGX, datetime(2025, 7, 20, tzinfo=UTC), "QE identity", "collateral_expired"),
        (SGX, datetime(2025, 7, 20, tzinfo=UTC), "PCK CRL", "crl_expired"),
        (TDX, datetime(2026, 5, 1, tzinfo=UTC), "root CA CRL", "crl_expired"),
        (TDX, datetime(2025, 6, 19, tzinfo=UTC), "TCB info", "collateral_expired"),
    ],
)
def test_outside_a_window_the_item_and_window_are_named(
    verifier: Verifier, vector, later: datetime, item: str, code: str
) -> None:
    result = verifier.verify(vector.quote, collateral=vector.collateral, at=later)
    assert not result.verified
    errors = [e for e in result.errors if e.details.get("item") == item]
    assert errors and errors[0].code == code
    detail = errors[0].to_dict()
    assert detail["valid_from"] < detail["valid_until"]
    assert detail["valid_from"] in errors[0].message and item in errors[0].message


def test_error_lists_every_expired_item_not_just_the_first(verifier: Verifier) -> None:
    result = verifier.verify(
        SGX.quote, collateral=SGX.collateral, at=datetime(2025, 8, 1, tzinfo=UTC)
    )
    items = {e.details["item"] for e in result.errors}
    assert {"TCB info", "QE identity", "PCK CRL"} <= items


def test_certificate_window(verifier: Verifier) -> None:
    result = verifier.verify(
        SGX.quote, collateral=SGX.collateral, at=datetime(2031, 1, 1, tzinfo=UTC)
    )
    assert "certificate_expired" in result.error_codes
    assert any("Intel SGX PCK Certificate" in e.message for e in result.errors)


def test_sgx_quote_with_tdx_collateral_is_a_mismatch(verifier: Verifier) -> None:
    result = verifier.verify(SGX.quote, collateral=TDX.collateral, at=SGX.at)
    assert result.error_codes[0] == "collateral_mismatch"


def test_missing_collateral(verifier: Verifier) -> None:
    result = verifier.verify(SGX.quote, at=SGX.at)
    assert result.error_codes == ("collateral_missing",)
    assert "--collateral" in result.errors[0].hint


# --- corrupting signed bytes ------------------------------------------------------------------

_SIG_DATA = 0x1B0 + 4  # v3: quote signature data starts after the signed region and its length


@pytest.mark.parametrize(
    ("where", "offset"),
    [
        ("header version-independent field (qe_svn)", 0x08),
        ("header user data", 0x1C),
        ("enclave cpusvn", 0x30),
        ("MRENCLAVE", 0x70),
        ("MRSIGNER", 0xB0),
        ("report data", 0x170),
        ("quote signature r", _SIG_DATA),
        ("quote signature s", _SIG_DATA + 40),
        ("attestation key", _SIG_DATA + 64 + 10),
        ("QE report MRENCLAVE", _SIG_DATA + 128 + 0x40),
        ("QE report report data", _SIG_DATA + 128 + 0x140),
        ("QE report signature", _SIG_DATA + 512 + 5),
        ("QE authentication data", _SIG_DATA + 578 + 3),
    ],
)
def test_a_changed_signed_byte_fails_the_signature(
    verifier: Verifier, where: str, offset: int
) -> None:
    data = bytearray(SGX.quote)
    data[offset] ^= 0x40
    result = verifier.verify(bytes(data), collateral=SGX.collateral, at=SGX.at)
    assert not result.verified, where
    assert result.error_codes[0] == "signature_invalid", (where, result.errors)


def test_a_changed_tdx_body_byte_fails(verifier: Verifier) -> None:
    for offset in (0x30, 0xB8, 0x178, 0x238, 0x277):  # tee_tcb_svn, mrtd, rtmr0, report data
        data = bytearray(TDX.quote)
        data[offset] ^= 0x01
        result = verifier.verify(bytes(data), collateral=TDX.collateral, at=TDX.at)
        assert result.error_codes[0] == "signature_invalid", offset


def _flip_in_text(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    assert match
    digit = match.group(1)
    return text[: match.start(1)] + str((int(digit) + 1) % 10) + text[match.end(1) :]


@pytest.mark.parametrize(
    ("field", "pattern"),
    [
        ("tcb_info", r'"tcbEvaluationDataNumber":(\d)'),
        ("tcb_info", r'"pcesvn":(\d)'),
        ("qe_identity", r'"isvprodid":(\d)'),
        ("qe_identity", r'"isvsvn":(\d)'),
    ],
)
def test_a_changed_collateral_document_fails(verifier: Verifier, field: str, pattern: str) -> None:
    changed = replace(
        SGX.collateral, **{field: _flip_in_text(getattr(SGX.collateral, field), pattern)}
    )
    result = verifier.verify(SGX.quote, collateral=changed, at=SGX.at)
    assert result.error_codes[0] == "signature_invalid"


def test_reserialised_collateral_fails() -> None:
    # Signatures cover the exact text: equivalent JSON with other spacing is not what Intel signed.
    spaced = json.dumps(json.loads(SGX.collateral.tcb_info), indent=1)
    result = Verifier().verify(
        SGX.quote, collateral=replace(SGX.collateral, tcb_info=spaced), at=SGX.at
    )
    assert result.error_codes[0] == "signature_invalid"


@pytest.mark.parametrize("field", ["tcb_info_signature", "qe_identity_signature"])
def test_a_changed_collateral_signature_fails(verifier: Verifier, field: str) -> None:
    sig = bytearray(getattr(SGX.collateral, field))
    sig[7] ^= 0x01
    result = verifier.verify(
        SGX.quote, collateral=replace(SGX.collateral, **{field: bytes(sig)}), at=SGX.at
    )
    assert result.error_codes[0] == "signature_invalid"


@pytest.mark.parametrize("field", ["root_ca_crl", "pck_crl"])
def test_a_changed_crl_byte_fails(verifier: Verifier, field: str) -> None:
    crl = bytearray(getattr(SGX.collateral, field))
    crl[-5] ^= 0x01  # inside the signature value
    result = verifier.verify(
        SGX.quote, collateral=replace(SGX.collateral, **{field: bytes(crl)}), at=SGX.at
    )
    assert result.error_codes[0] == "signature_invalid"


def _replace_pem_cert(pem: bytes, index: int, mutate) -> bytes:
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    body = b"".join(blocks[index].split(b"\n")[1:-1])
    der = bytearray(base64.b64decode(body))
    mutate(der)
    lines = base64.b64encode(bytes(der))
    wrapped = b"\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
    new = b"-----BEGIN CERTIFICATE-----\n" + wrapped + b"\n-----END CERTIFICATE-----"
    assert len(new) == len(blocks[index])  # same size: the quote's length fields stay right
    return pem.replace(blocks[index], new)


def test_a_changed_pck_certificate_fails(verifier: Verifier) -> None:
    quote = parse(SGX.quote)
    cert_data = quote.qe.cert_data
    leaf = x509.load_pem_x509_certificates(cert_data.rstrip(b"\0"))[0]
    serial = leaf.serial_number.to_bytes(20, "big").lstrip(b"\0")

    def bump_serial(der: bytearray) -> None:
        at = bytes(der).index(serial)
        der[at + len(serial) - 1] ^= 0x01

    changed = _replace_pem_cert(cert_data, 0, bump_serial)
    data = SGX.quote.replace(cert_data, changed)
    result = verifier.verify(data, collateral=SGX.collateral, at=SGX.at)
    assert result.error_codes[0] == "signature_invalid"


# --- roots ------------------------------------------------------------------------------------


def _self_signed_root() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Not Intel Root CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_wrong_root_is_untrusted_root() -> None:
    result = Verifier(intel_root=_self_signed_root()).verify(
        SGX.quote, collateral=SGX.collateral, at=SGX.at
    )
    assert result.error_codes[0] == "untrusted_root"


def test_collateral_chain_from_another_root_is_untrusted_root(verifier: Verifier) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = x509.load_der_x509_certificate(_self_signed_root())
    fake = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Intel SGX TCB Signing")])
        )
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(root.not_valid_before_utc)
        .not_valid_after(root.not_valid_after_utc)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    pem = (
        fake.public_bytes(serialization.Encoding.PEM)
        + root.public_bytes(serialization.Encoding.PEM)
    ).decode()
    changed: DcapCollateral = replace(SGX.collateral, tcb_info_issuer_chain=pem)
    result = verifier.verify(SGX.quote, collateral=changed, at=SGX.at)
    assert result.error_codes[0] == "untrusted_root"


# --- caching ----------------------------------------------------------------------------------


def test_a_reused_verifier_answers_exactly_like_a_fresh_one() -> None:
    reused = Verifier()
    times = [SGX.at, datetime(2025, 7, 25, tzinfo=UTC), SGX.at, datetime(2025, 6, 1, tzinfo=UTC)]
    for vector in (SGX, TDX, SGX):
        for at in times:
            for data in (vector.quote, vector.quote[:-1] + b"\x00", vector.quote[:100]):
                fresh = Verifier().verify(data, collateral=vector.collateral, at=at).to_dict()
                assert reused.verify(data, collateral=vector.collateral, at=at).to_dict() == fresh


# --- agreement with Phala's dcap-qvl on the real vectors ---------------------------------------


@pytest.mark.parametrize("vector", [SGX, TDX], ids=lambda v: v.name)
def test_agrees_with_dcap_qvl_on_real_quotes(verifier: Verifier, vector) -> None:
    theirs = dcap_qvl.verify(
        vector.quote,
        dcap_qvl.QuoteCollateralV3.from_json(vector.collateral_text),
        int(vector.at.timestamp()),
    )
    ours = verifier.verify(vector.quote, collateral=vector.collateral, at=vector.at)
    assert ours.verified
    assert ours.tcb_status == theirs.status
    assert sorted(ours.advisory_ids) == sorted(theirs.advisory_ids)


@pytest.mark.parametrize("vector", [SGX, TDX], ids=lambda v: v.name)
def test_agrees_with_dcap_qvl_on_stale_collateral(verifier: Verifier, vector) -> None:
    later = vector.at + timedelta(days=31)
    with pytest.raises(ValueError, match="expired"):
        dcap_qvl.verify(
            vector.quote,
            dcap_qvl.QuoteCollateralV3.from_json(vector.collateral_text),
            int(later.timestamp()),
        )
    assert not verifier.verify(vector.quote, collateral=vector.collateral, at=later).verified


def test_one_verifier_shared_by_threads() -> None:
    shared = Verifier(cache_size=4)  # small, so that threads also evict each other's entries
    cases = [
        (v, at, data)
        for v in (SGX, TDX)
        for at in (v.at, v.at + timedelta(days=40))
        for data in (v.quote, v.quote[:200] + bytes([v.quote[200] ^ 1]) + v.quote[201:])
    ]
    expected = [
        Verifier().verify(d, collateral=v.collateral, at=at).to_dict() for v, at, d in cases
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(
            pool.map(
                lambda case: shared.verify(
                    case[2], collateral=case[0].collateral, at=case[1]
                ).to_dict(),
                cases * 8,
            )
        )
    assert got == expected * 8


def test_tcb_info_of_an_unknown_tcb_type_is_unsupported() -> None:
    text = SGX.collateral.tcb_info
    assert '"tcbType":0' in text
    with pytest.raises(UnsupportedFormat, match="tcbType 1"):
        TcbInfo.from_json(text.replace('"tcbType":0', '"tcbType":1'))


def test_collateral_in_intels_own_json_layout() -> None:
    # Documents as the PCS serves them (signature inside), CRLs as PEM: the same collateral.
    theirs = json.loads(SGX.collateral_text)
    for doc, key in (("tcb_info", "tcbInfo"), ("qe_identity", "enclaveIdentity")):
        signature = theirs.pop(f"{doc}_signature")
        theirs[doc] = f'{{"{key}":{theirs[doc]},"signature":"{signature}"}}'
    for crl in ("root_ca_crl", "pck_crl"):
        der = x509.load_der_x509_crl(bytes.fromhex(theirs[crl]))
        theirs[crl] = der.public_bytes(serialization.Encoding.PEM).decode()
    collateral = DcapCollateral.from_dcap_qvl_json(json.dumps(theirs))
    assert (collateral.tcb_info, collateral.qe_identity) == (
        SGX.collateral.tcb_info,
        SGX.collateral.qe_identity,
    )
    result = Verifier().verify(SGX.quote, collateral=collateral, at=SGX.at)
    assert result.verified and result.tcb_status == "ConfigurationAndSWHardeningNeeded"


def test_amd_collateral_for_an_intel_quote_is_a_mismatch(verifier: Verifier) -> None:
    wrong = SnpCollateral(vek=b"not a VCEK")
    result = verifier.verify(SGX.quote, collateral=wrong, at=SGX.at)
    assert result.error_codes == ("collateral_mismatch",)


def test_an_overlong_chain_is_refused_before_any_signature_check(verifier: Verifier) -> None:
    chain = SGX.collateral.tcb_info_issuer_chain * 50
    result = verifier.verify(
        SGX.quote, collateral=replace(SGX.collateral, tcb_info_issuer_chain=chain), at=SGX.at
    )
    assert result.error_codes == ("chain_invalid",)
    assert "100 certificates" in result.errors[0].message

"""RA-TLS certificates: the interop vector, sim certificates, tampering and hostile bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vector_loader import ROOT

import trustroom.ratls as ratls
from trustroom import TrustroomError
from trustroom.evidence import Verifier, parse
from trustroom.ratls import (
    Expectation,
    InvalidExpectation,
    RaTlsError,
    create_certificate,
    inspect_certificate,
    load_certificate,
    write_identity,
)
from trustroom.tee import SimAttester, SimWorkload

GRAMINE = ROOT / "ratls" / "gramine-cert.pem"
DICE = "2.23.133.5.4.9"
GRAMINE_LEGACY = "0.6.9.42.840.113741.1337.6"
INTEL_LEGACY = "1.2.840.113741.1.13.1"
APP = SimWorkload(mrenclave=b"\x11" * 32, mrsigner=b"\x22" * 32, isv_prod_id=7, isv_svn=3)
TRUSTING = Verifier(trust_sim=True)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def sim_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One simulated platform for the module, in a temporary $TRUSTROOM_HOME."""
    home = tmp_path_factory.mktemp("trustroom-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTROOM_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def sim_cert() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key, cert = create_certificate(SimAttester(APP))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, cert


def _spki(key: ratls.PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate(
    extensions: dict[str, bytes],
    key: ratls.PrivateKey | None = None,
    *,
    start: datetime | None = None,
) -> x509.Certificate:
    """A self-signed certificate carrying ``extensions`` (OID -> raw value), as a peer might."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    start = start or datetime.now(UTC) - timedelta(hours=1)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
    )
    for oid, value in extensions.items():
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def _extension(cert: x509.Certificate, oid: str = DICE) -> bytes:
    value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


# -- the Gramine interop certificate ----------------------------------------------------------


def test_gramine_certificate_is_bound_but_unverified_without_collateral() -> None:
    result = inspect_certificate(GRAMINE.read_bytes(), verifier=Verifier())
    assert result.evidence_format == "tcg-dice"
    assert result.formats == ("tcg-dice", "gramine-legacy")
    assert result.pubkey_bound is True
    assert result.tee == "sgx"
    assert result.subject == "C=US,O=GramineDevelopers,CN=RATLS"
    assert result.verified is False
    assert result.error_codes == ("collateral_missing",)
    assert "collateral" in result.errors[0].message
    assert result.measurements["mrenclave"] == (
        "0866e7ca11b9f4efe4bf39b2607f4e1299f111920d96d95719080f01b62b7585"
    )
    assert result.evidence is not None and result.evidence.attributes["debug"] is True


def test_gramine_legacy_extension_binds_the_key_too() -> None:
    result = inspect_certificate(
        GRAMINE.read_bytes(), verifier=Verifier(), evidence_format="gramine-legacy"
    )
    assert result.evidence_format == "gramine-legacy"
    assert result.pubkey_bound is True
    assert result.error_codes == ("collateral_missing",)


def test_gramine_evidence_matches_the_interop_format_independently() -> None:
    # Decoded here with cbor2 and hashlib alone, as the interop spec describes it, so that the
    # library's own reading is checked against an independent one.
    cert = load_certificate(GRAMINE.read_bytes())
    tagged = cbor2.loads(_extension(cert))
    assert tagged.tag == 60000
    quote_bytes, claims = tagged.value
    alg, digest = cbor2.loads(cbor2.loads(claims)["pubkey-hash"])
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (alg, digest) == (1, hashlib.sha256(spki).digest())
    quote = parse(quote_bytes)
    assert quote.report_data == hashlib.sha256(claims).digest() + bytes(32)
    assert quote.format == "intel-dcap-sgx-quote-v3"
    layout = quote.to_dict()
    assert layout["header"]["version"] == 3 and layout["header"]["att_key_type"] == 2
    assert layout["body"] == "sgx" and layout["certification_data_type"] == 5
    assert layout["signed_length"] == 48 + 384 and layout["trailing_bytes"] == 0
    assert len(quote_bytes) == 4734
    legacy = parse(_extension(cert, GRAMINE_LEGACY))
    assert legacy.report_data == hashlib.sha256(spki).digest() + bytes(32)


def test_certificate_encodings(sim_cert) -> None:
    # mbedTLS writes ECDSA algorithm identifiers with a NULL parameter; they still load.
    cert = load_certificate(GRAMINE.read_bytes())
    assert cert.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    # DER that contains PEM text (the quote's PCK chain) is still read as DER.
    for original in (cert, sim_cert[1]):
        der = original.public_bytes(serialization.Encoding.DER)
        assert b"-----BEGIN CERTIFICATE-----" in der
        assert load_certificate(der).subject == original.subject
        pem = original.public_bytes(serialization.Encoding.PEM)
        assert load_certificate(b"\n" + pem).subject == original.subject


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\n!!"])
def test_unreadable_certificates_are_typed(data: bytes) -> None:
    result = inspect_certificate(data, verifier=Verifier())
    assert result.error_codes == ("ratls_certificate_unreadable",)
    assert result.verified is False and result.evidence_format == "none"


# -- certificates of the simulated TEE ---------------------------------------------------------


def test_sim_certificate_verifies_with_trust_sim(sim_cert) -> None:
    key, cert = sim_cert
    result = inspect_certificate(cert, verifier=TRUSTING)
    assert result.verified, result.errors
    assert (result.tee, result.evidence_format, result.pubkey_bound) == ("sim", "tcg-dice", True)
    assert result.measurements["mrenclave"] == APP.mrenclave.hex()
    assert result.public_key_sha256 == hashlib.sha256(_spki(key)).hexdigest()
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(DICE))
    assert ext.critical is False
    assert result.to_dict()["errors"] == [] and result.to_dict()["tcb_status"] == "UpToDate"


def test_sim_certificate_without_trust_sim_is_an_untrusted_root(sim_cert) -> None:
    result = inspect_certificate(sim_cert[1], verifier=Verifier())
    assert result.verified is False
    assert result.error_codes == ("untrusted_root",)
    assert result.pubkey_bound is True and result.tee == "sim"


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP384R1()), ed25519.Ed25519PrivateKey.generate(),
     rsa.generate_private_key(65537, 2048)],
    ids=["p384", "ed25519", "rsa"],
)  # fmt: skip
def test_given_keys_are_bound(key: ratls.PrivateKey) -> None:
    got, cert = create_certificate(SimAttester(APP), key=key, subject="svc")
    assert got is key
    result = inspect_certificate(cert, verifier=TRUSTING)
    assert result.verified, result.errors
    assert result.subject == "CN=svc"


def test_evidence_moved_to_another_key_is_not_bound(sim_cert) -> None:
    stolen = _certificate({DICE: _extension(sim_cert[1])})
    result = inspect_certificate(stolen, verifier=TRUSTING)
    assert result.pubkey_bound is False and result.verified is False
    assert result.error_codes == ("ratls_key_not_bound",)
    assert isinstance(result.errors[0], ratls.KeyNotBound)


def test_claims_rewritten_for_another_key_are_not_bound(sim_cert) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    quote, _ = cbor2.loads(_extension(sim_cert[1])).value
    claims = cbor2.dumps({"pubkey-hash": cbor2.dumps([1, hashlib.sha256(_spki(key)).digest()])})
    forged = cbor2.dumps(cbor2.CBORTag(60000, [quote, claims]))
    result = inspect_certificate(_certificate({DICE: forged}, key), verifier=TRUSTING)
    assert result.pubkey_bound is False
    assert result.error_codes == ("ratls_claims_not_bound",)


@pytest.mark.parametrize(("oid", "fmt"), [(GRAMINE_LEGACY, "gramine-legacy"),
                                          (INTEL_LEGACY, "intel-legacy")])  # fmt: skip
def test_legacy_extensions_verify(oid: str, fmt: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    quote = SimAttester(APP).evidence(hashlib.sha256(_spki(key)).digest() + bytes(32))
    result = inspect_certificate(_certificate({oid: quote}, key), verifier=TRUSTING)
    assert result.verified, result.errors
    assert (result.evidence_format, result.pubkey_bound) == (fmt, True)
    other = inspect_certificate(_certificate({oid: quote}), verifier=TRUSTING)
    assert other.error_codes == ("ratls_key_not_bound",)


def test_dice_is_preferred_over_legacy(sim_cert) -> None:
    cert = _certificate({GRAMINE_LEGACY: b"junk", DICE: _extension(sim_cert[1])}, sim_cert[0])
    result = inspect_certificate(cert, verifier=TRUSTING)
    assert result.evidence_format == "tcg-dice" and result.verified
    assert result.formats == ("tcg-dice", "gramine-legacy")


def test_certificate_without_evidence() -> None:
    result = inspect_certificate(_certificate({}), verifier=TRUSTING)
    assert result.error_codes == ("ratls_extension_missing",)
    asked = inspect_certificate(
        GRAMINE.read_bytes(), verifier=TRUSTING, evidence_format="intel-legacy"
    )
    assert asked.error_codes == ("ratls_extension_missing",)
    assert "gramine-legacy" in asked.errors[0].message


def test_expired_and_not_yet_valid_certificates(sim_cert) -> None:
    now = datetime.now(UTC)
    later = inspect_certificate(sim_cert[1], verifier=TRUSTING, at=now + timedelta(days=30))
    assert later.error_codes == ("ratls_certificate_expired",)
    assert "expired" in later.errors[0].message and later.pubkey_bound
    assert later.errors[0].to_dict()["valid_until"] == later.to_dict()["certificate"]["not_after"]
    earlier = inspect_certificate(sim_cert[1], verifier=TRUSTING, at=now - timedelta(hours=1))
    assert earlier.error_codes == ("ratls_certificate_expired",)
    assert "not yet valid" in earlier.errors[0].message


def test_short_validity() -> None:
    _, cert = create_certificate(SimAttester(APP), validity=timedelta(minutes=1))
    assert cert.not_valid_after_utc - datetime.now(UTC) <= timedelta(minutes=1)


def test_write_identity(tmp_path: Path, sim_cert) -> None:
    key, cert = sim_cert
    target = tmp_path / "id"
    write_identity(target, key, cert)
    assert (target / "key.pem").stat().st_mode & 0o777 == 0o600
    loaded = serialization.load_pem_private_key((target / "key.pem").read_bytes(), None)
    assert _spki(loaded) == _spki(key)  # type: ignore[arg-type]
    assert load_certificate((target / "cert.pem").read_bytes()) == cert


# -- hostile extension bytes ------------------------------------------------------------------


def _typed_failure(extension: bytes, key: ratls.PrivateKey | None = None) -> tuple[str, ...]:
    result = inspect_certificate(_certificate({DICE: extension}, key), verifier=TRUSTING)
    assert result.verified is False
    assert result.errors and all(isinstance(e, TrustroomError) for e in result.errors)
    assert "internal_error" not in result.error_codes
    return result.error_codes


@FUZZ
@given(st.binary(max_size=300))
def test_garbage_extension_bytes(data: bytes) -> None:
    _typed_failure(data)


@FUZZ
@given(tag=st.integers(min_value=0, max_value=2**32).filter(lambda t: t != 60000))
def test_other_cbor_tags(tag: int) -> None:
    codes = _typed_failure(cbor2.dumps(cbor2.CBORTag(tag, [b"quote", b"claims"])))
    assert codes in (("ratls_unsupported_evidence",), ("ratls_extension_malformed",))


def test_known_foreign_tag_is_named() -> None:
    result = inspect_certificate(
        _certificate({DICE: cbor2.dumps(cbor2.CBORTag(0x1A7504, [b"report", b"claims"]))}),
        verifier=TRUSTING,
    )
    assert result.error_codes == ("ratls_unsupported_evidence",)
    assert "SEV-SNP" in result.errors[0].message


@FUZZ
@given(data=st.data())
def test_truncated_cbor(sim_cert, data: st.DataObject) -> None:
    extension = _extension(sim_cert[1])
    cut = data.draw(st.integers(min_value=0, max_value=len(extension) - 1))
    assert _typed_failure(extension[:cut], sim_cert[0]) == ("ratls_extension_malformed",)


def test_trailing_bytes_after_the_cbor_item(sim_cert) -> None:
    codes = _typed_failure(_extension(sim_cert[1]) + b"\x00", sim_cert[0])
    assert codes == ("ratls_extension_malformed",)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(value=cbor_values)
def test_wrong_structures_under_tag_60000(value: object) -> None:
    _typed_failure(cbor2.dumps(cbor2.CBORTag(60000, value)))


@FUZZ
@given(claims=cbor_values)
def test_wrong_claims(sim_cert, claims: object) -> None:
    quote, _ = cbor2.loads(_extension(sim_cert[1])).value
    _typed_failure(cbor2.dumps(cbor2.CBORTag(60000, [quote, cbor2.dumps(claims)])), sim_cert[0])


@pytest.mark.parametrize(
    ("entry", "code"),
    [([2, b"\0" * 32], "ratls_extension_malformed"), ([True, b"\0" * 32],
      "ratls_extension_malformed"), ([1, b"\0" * 32], "ratls_key_not_bound")],
)  # fmt: skip
def test_pubkey_hash_entries(entry: list[object], code: str) -> None:
    # Claims that do bind to real evidence, so that only the pubkey-hash entry is at fault.
    claims = cbor2.dumps({"pubkey-hash": cbor2.dumps(entry)})
    quote = SimAttester(APP).evidence(hashlib.sha256(claims).digest() + bytes(32))
    result = inspect_certificate(
        _certificate({DICE: cbor2.dumps(cbor2.CBORTag(60000, [quote, claims]))}),
        verifier=TRUSTING,
    )
    assert result.error_codes == (code,) and not result.pubkey_bound


def test_sha384_pubkey_hash_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    entry = cbor2.dumps([7, hashlib.sha384(_spki(key)).digest()])
    claims = cbor2.dumps({"pubkey-hash": entry, "nonce": b"n"})
    quote = SimAttester(APP).evidence(hashlib.sha256(claims).digest() + bytes(32))
    extension = cbor2.dumps(cbor2.CBORTag(60000, [quote, claims]))
    result = inspect_certificate(_certificate({DICE: extension}, key), verifier=TRUSTING)
    assert result.verified, result.errors


# -- expectations ------------------------------------------------------------------------------


def _failed(result: ratls.RaTlsResult) -> list[str]:
    return [
        e.details["expectation"] for e in result.errors if e.code == "ratls_expectation_not_met"
    ]


def test_matching_expectation(sim_cert) -> None:
    expect = Expectation(
        measurements={"mrenclave": {APP.mrenclave.hex().upper()}, "mrsigner": APP.mrsigner.hex()},
        tee={"sgx"},
        min_tcb_status="UpToDate",
        allow_sim=True,
    )
    result = inspect_certificate(sim_cert[1], verifier=TRUSTING, expect=expect)
    assert result.verified, result.errors


def test_each_failed_expectation_is_named(sim_cert) -> None:
    debug_app = SimWorkload(b"\x33" * 32, b"\x22" * 32, debug=True)
    _, cert = create_certificate(SimAttester(debug_app))
    expect = Expectation(measurements={"mrenclave": {APP.mrenclave.hex()}, "mrtd": {"00"}})
    result = inspect_certificate(cert, verifier=TRUSTING, expect=expect)
    assert _failed(result) == ["allow_sim", "allow_debug", "measurements.mrenclave",
                               "measurements.mrtd"]  # fmt: skip
    mrenclave = next(e for e in result.errors if "measurements.mrenclave" in e.message)
    assert mrenclave.details["found"] == debug_app.mrenclave.hex()
    assert APP.mrenclave.hex() in mrenclave.message
    assert result.pubkey_bound and not result.verified


def test_tcb_and_tee_expectations_on_hardware_evidence() -> None:
    result = inspect_certificate(
        GRAMINE.read_bytes(),
        verifier=Verifier(),
        expect=Expectation(tee={"tdx"}, min_tcb_status="UpToDate", allow_debug=True),
    )
    assert _failed(result) == ["tee", "min_tcb_status"]


@pytest.mark.parametrize(
    "kwargs",
    [{"measurements": {"mrenclave": set()}}, {"tee": set()}, {"tee": {"sim"}},
     {"min_tcb_status": "Fine"}],
)  # fmt: skip
def test_invalid_expectations(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidExpectation):
        Expectation(**kwargs)  # type: ignore[arg-type]


def test_error_codes_are_unique_and_hinted() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    errors = subclasses(RaTlsError)
    codes = [c.code for c in errors]
    assert len(codes) == len(set(codes))
    assert all(c.code.startswith("ratls_") and c.code.islower() for c in errors)
    assert all(c.default_hint != TrustroomError.default_hint for c in errors if c is not RaTlsError)


def test_exports_are_pinned() -> None:
    assert ratls.__all__ == [
        "TCB_STATUS_ORDER",
        "CertificateOutsideValidity",
        "CertificateUnreadable",
        "ClaimsNotBound",
        "Expectation",
        "ExpectationNotMet",
        "ExtensionMalformed",
        "ExtensionMissing",
        "HttpsRequired",
        "Identity",
        "InvalidExpectation",
        "KeyNotBound",
        "PeerRejected",
        "PrivateKey",
        "RaTlsConnection",
        "RaTlsError",
        "RaTlsResult",
        "RaTlsServer",
        "RaTlsTransport",
        "TlsError",
        "UnsupportedEvidenceType",
        "connect",
        "create_certificate",
        "inspect_certificate",
        "load_certificate",
        "write_identity",
    ]

"""Hostile bytes in quotes, collateral and certificates give typed errors, never a crash.

Every parser is driven with truncated, extended, bit-flipped and random input. The verifier
must always return a result whose errors are typed EvidenceErrors (never ``internal_error``),
and parsers must raise nothing but EvidenceError subclasses.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vector_loader import intel

from trustroom.evidence import DcapCollateral, EvidenceError, Verifier, parse
from trustroom.evidence._dcap_identity import QeIdentity, TcbInfo
from trustroom.evidence._pck import parse_pck_extensions
from trustroom.evidence._x509 import load_crl, load_pem_chain

SGX = intel("sgx_v3_dcapqvl")
TDX = intel("tdx_v4_dcapqvl")
VERIFIER = Verifier()
FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _verify_is_typed(data: bytes, collateral: DcapCollateral) -> None:
    result = VERIFIER.verify(data, collateral=collateral, at=SGX.at)
    assert all(isinstance(e, EvidenceError) for e in result.errors)
    assert "internal_error" not in result.error_codes, result.errors
    assert result.verified == (not result.errors)


def _parse_is_typed(data: bytes) -> None:
    with contextlib.suppress(EvidenceError):
        parse(data)


quotes = st.sampled_from([SGX, TDX])


@FUZZ
@given(vector=quotes, cut=st.integers(min_value=0, max_value=5100))
def test_truncated_quotes(vector, cut: int) -> None:
    data = vector.quote[:cut]
    _parse_is_typed(data)
    _verify_is_typed(data, vector.collateral)


@FUZZ
@given(vector=quotes, tail=st.binary(max_size=600))
def test_extended_quotes(vector, tail: bytes) -> None:
    result = VERIFIER.verify(vector.quote + tail, collateral=vector.collateral, at=vector.at)
    assert result.verified  # bytes after the declared signature data are not part of the quote


@FUZZ
@given(
    vector=quotes,
    flips=st.lists(st.tuples(st.integers(0, 4935), st.integers(0, 7)), min_size=1, max_size=4),
)
def test_bit_flipped_quotes(vector, flips: list[tuple[int, int]]) -> None:
    data = bytearray(vector.quote)
    for offset, bit in flips:
        data[offset % len(vector.quote)] ^= 1 << bit
    _parse_is_typed(bytes(data))
    result = VERIFIER.verify(bytes(data), collateral=vector.collateral, at=vector.at)
    assert "internal_error" not in result.error_codes, result.errors
    # Everything before the PEM chain is signed or hashed into a signature; the PEM text
    # itself is not (its DER content is), so a flip there may decode to the same certificate.
    pem_start = vector.quote.index(b"-----BEGIN CERTIFICATE-----")
    if bytes(data[:pem_start]) != vector.quote[:pem_start]:
        assert not result.verified


@FUZZ
@given(
    version=st.sampled_from([3, 4, 5]),
    tee=st.sampled_from([0, 0x81]),
    body=st.binary(min_size=0, max_size=1400),
)
def test_random_quotes_with_plausible_headers(version: int, tee: int, body: bytes) -> None:
    header = version.to_bytes(2, "little") + (2).to_bytes(2, "little") + tee.to_bytes(4, "little")
    data = header + bytes(40) + body
    _parse_is_typed(data)
    _verify_is_typed(data, SGX.collateral)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _parse_is_typed(data)
    _verify_is_typed(data, SGX.collateral)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(value=json_values)
def test_random_json_collateral(value: object) -> None:
    text = json.dumps(value)
    for loader in (DcapCollateral.from_dcap_qvl_json, TcbInfo.from_json, QeIdentity.from_json):
        with contextlib.suppress(EvidenceError):
            loader(text)


def _mutations(document: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(document) - 1), st.characters(codec="ascii")).map(
        lambda m: document[: m[0]] + m[1] + document[m[0] + 1 :]
    )


@FUZZ
@given(text=_mutations(SGX.collateral.tcb_info) | _mutations(TDX.collateral.tcb_info))
def test_mutated_tcb_info_text(text: str) -> None:
    with contextlib.suppress(EvidenceError):
        TcbInfo.from_json(text)
    _verify_is_typed(SGX.quote, replace(SGX.collateral, tcb_info=text))


@FUZZ
@given(text=_mutations(SGX.collateral.qe_identity))
def test_mutated_qe_identity_text(text: str) -> None:
    with contextlib.suppress(EvidenceError):
        QeIdentity.from_json(text)


@FUZZ
@given(
    field=st.sampled_from(["root_ca_crl", "pck_crl"]),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
)
def test_mutated_crls(field: str, cut: int, flip: int) -> None:
    crl = bytearray(getattr(SGX.collateral, field))
    crl[flip % len(crl)] ^= 0x10
    data = bytes(crl[: max(cut, 1)]) if cut < len(crl) else bytes(crl)
    with contextlib.suppress(EvidenceError):
        load_crl(data, field)
    _verify_is_typed(SGX.quote, replace(SGX.collateral, **{field: data}))


@FUZZ
@given(cut=st.integers(0, 3000), flip=st.integers(0, 3000), byte=st.integers(1, 255))
def test_mutated_pem_chains(cut: int, flip: int, byte: int) -> None:
    pem = bytearray(SGX.collateral.pck_crl_issuer_chain.encode())
    pem[flip % len(pem)] ^= byte
    data = bytes(pem[:cut]) if cut < len(pem) else bytes(pem)
    with contextlib.suppress(EvidenceError):
        load_pem_chain(data, "chain")
    _verify_is_typed(
        SGX.quote, replace(SGX.collateral, pck_crl_issuer_chain=data.decode("latin-1"))
    )


_KEY = ec.generate_private_key(ec.SECP256R1())


def _cert_with_sgx_extension(value: bytes) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "fuzz")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(SGX.at)
        .not_valid_after(SGX.at)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.840.113741.1.13.1"), value),
            critical=False,
        )
        .sign(_KEY, hashes.SHA256())
    )


_REAL_EXTENSION = (
    load_pem_chain(parse(SGX.quote).qe.cert_data, "chain")[0]
    .extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.840.113741.1.13.1"))
    .value.value
)


@FUZZ
@given(
    value=st.binary(max_size=300)
    | st.tuples(
        st.integers(0, len(_REAL_EXTENSION) - 1), st.integers(1, 255), st.integers(1, 600)
    ).map(
        lambda m: (
            _REAL_EXTENSION[: m[0]]
            + bytes([_REAL_EXTENSION[m[0]] ^ m[1]])
            + _REAL_EXTENSION[m[0] + 1 :]
        )[: m[2]]
    )
)
def test_mutated_pck_extensions(value: bytes) -> None:
    with contextlib.suppress(EvidenceError):
        parse_pck_extensions(_cert_with_sgx_extension(value))


@pytest.mark.slow
@settings(max_examples=3000, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    vector=quotes,
    flips=st.lists(st.tuples(st.integers(0, 5100), st.integers(0, 7)), min_size=1, max_size=8),
)
def test_bit_flipped_quotes_deep(vector, flips: list[tuple[int, int]]) -> None:
    data = bytearray(vector.quote)
    for offset, bit in flips:
        data[offset % len(data)] ^= 1 << bit
    _parse_is_typed(bytes(data))
    _verify_is_typed(bytes(data), vector.collateral)

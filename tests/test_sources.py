"""Collateral sources against recorded Intel PCS / AMD KDS responses; never the real network."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from vector_loader import ROOT, Reply, intel, recorded_replies

from trustroom.evidence import Verifier
from trustroom.evidence._collateral import Collateral, DcapCollateral, SnpCollateral
from trustroom.evidence._errors import CollateralUnavailable, ParseError, UnsupportedFormat
from trustroom.evidence._x509 import load_der_certificate
from trustroom.evidence.sources import (
    AmdKds,
    CachedSource,
    DefaultSource,
    IntelPcs,
    default_cache_dir,
)

AMD = ROOT / "amd"
SGX_QUOTE = intel("sgx_v3_dcapqvl").quote
TDX_QUOTE = intel("tdx_v4_dcapqvl").quote
SNP_REPORT = (AMD / "snp_v2_milan_gosev.report.bin").read_bytes()
VLEK_REPORT = (AMD / "snp_v3_milan_vlek_trustee.report.bin").read_bytes()
PCS = "https://api.trustedservices.intel.com"
ROOT_CRL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
MILAN_CHIP_ID = bytes.fromhex(
    "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e537861"
    "84ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
)
MILAN_VCEK_URL = (
    f"https://kdsintf.amd.com/vcek/v1/Milan/{MILAN_CHIP_ID.hex()}"
    "?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
)


def _stand_in_crl() -> bytes:
    # No genuine AMD CRL is among the shared vectors. The source only checks that a CRL parses
    # and passes its bytes on, so any well-formed CRL exercises that path.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test CRL issuer")])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(now)
        .next_update(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(Encoding.DER)


AMD_CRL = _stand_in_crl()


class Server:
    """An httpx.MockTransport over recorded replies that remembers every request."""

    def __init__(self, *scenarios: str) -> None:
        self.replies = recorded_replies(*scenarios)
        self.replies["/vcek/v1/Milan/crl"] = Reply(200, {}, AMD_CRL)
        self.requests: list[httpx.Request] = []
        self.fail: Callable[[httpx.Request], None] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            self.fail(request)
        reply = self.replies.get(request.url.raw_path.decode())
        if reply is None:
            return httpx.Response(404, headers={"Error-Message": "no recorded reply"})
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


@pytest.fixture
def server() -> Server:
    return Server("sgx", "tdx", "amd")


def _expected(name: str) -> DcapCollateral:
    return intel(name).collateral


def _assert_same(got: Collateral, want: DcapCollateral) -> None:
    assert isinstance(got, DcapCollateral)
    for field in fields(DcapCollateral):
        assert getattr(got, field.name) == getattr(want, field.name), field.name


# --- Intel PCS -------------------------------------------------------------------------------


def test_intel_sgx_collateral_equals_the_vector_and_uses_pcs_v4_urls() -> None:
    server = Server("sgx")
    with server.client() as client:
        got = IntelPcs(client=client).collateral_for(SGX_QUOTE)
    _assert_same(got, _expected("sgx_v3_dcapqvl"))
    assert server.urls == [
        f"{PCS}/sgx/certification/v4/pckcrl?ca=processor&encoding=der",
        f"{PCS}/sgx/certification/v4/tcb?fmspc=00A067110000",
        f"{PCS}/sgx/certification/v4/qe/identity",
        ROOT_CRL,
    ]


def test_intel_tdx_collateral_equals_the_vector_and_uses_tdx_paths() -> None:
    server = Server("tdx")
    with server.client() as client:
        got = IntelPcs(client=client).collateral_for(TDX_QUOTE)
    _assert_same(got, _expected("tdx_v4_dcapqvl"))
    assert json.loads(got.qe_identity)["id"] == "TD_QE"
    assert server.urls == [
        f"{PCS}/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        f"{PCS}/tdx/certification/v4/tcb?fmspc=B0C06F000000",
        f"{PCS}/tdx/certification/v4/qe/identity",
        ROOT_CRL,
    ]


def test_api_key_goes_to_the_pcs_only(server: Server) -> None:
    with server.client() as client:
        IntelPcs(client=client, api_key="k3y").collateral_for(SGX_QUOTE)
        keys = [r.headers.get("Ocp-Apim-Subscription-Key") for r in server.requests]
        assert keys == ["k3y", "k3y", "k3y", None]
        server.requests.clear()
        IntelPcs(client=client).collateral_for(SGX_QUOTE)
    assert all("Ocp-Apim-Subscription-Key" not in r.headers for r in server.requests)


def _pem(der: bytes) -> bytes:
    crl = x509.load_der_x509_crl(der)
    return crl.public_bytes(Encoding.PEM)


@pytest.mark.parametrize("encode", [lambda der: der.hex().encode(), _pem])
def test_pccs_serves_the_same_api_and_its_root_crl_as_hex_or_pem(
    server: Server, encode: Callable[[bytes], bytes]
) -> None:
    root = server.replies["/IntelSGXRootCA.der"]
    server.replies["/sgx/certification/v4/rootcacrl"] = Reply(200, {}, encode(root.body))
    base = "https://pccs.example:8081"
    with server.client() as client:
        got = IntelPcs(f"{base}/sgx/certification/v4/", client=client, api_key="k").dcap_collateral(
            tee="sgx", fmspc=bytes.fromhex("00a067110000"), ca="processor"
        )
    _assert_same(got, _expected("sgx_v3_dcapqvl"))
    assert server.urls[-1] == f"{base}/sgx/certification/v4/rootcacrl"
    assert all(u.startswith(f"{base}/sgx/certification/v4/") for u in server.urls)
    assert all(r.headers["Ocp-Apim-Subscription-Key"] == "k" for r in server.requests)


def test_the_legacy_tcb_issuer_chain_header_is_accepted(server: Server) -> None:
    tcb = server.replies["/sgx/certification/v4/tcb?fmspc=00A067110000"]
    tcb.headers = {"SGX-TCB-Info-Issuer-Chain": tcb.headers["TCB-Info-Issuer-Chain"]}
    with server.client() as client:
        got = IntelPcs(client=client).collateral_for(SGX_QUOTE)
    _assert_same(got, _expected("sgx_v3_dcapqvl"))


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_are_collateral_unavailable(server: Server, status: int) -> None:
    path = "/sgx/certification/v4/tcb?fmspc=00A067110000"
    server.replies[path] = Reply(status, {"Error-Message": "FMSPC unknown"}, b"")
    with server.client() as client, pytest.raises(CollateralUnavailable) as info:
        IntelPcs(client=client).collateral_for(SGX_QUOTE)
    assert f"{PCS}{path}" in info.value.message
    assert str(status) in info.value.message
    assert "FMSPC unknown" in info.value.message
    assert info.value.details["status"] == status


def test_connection_errors_are_collateral_unavailable(server: Server) -> None:
    def refuse(request: httpx.Request) -> None:
        raise httpx.ConnectError("connection refused", request=request)

    server.fail = refuse
    with server.client() as client, pytest.raises(CollateralUnavailable) as info:
        IntelPcs(client=client).collateral_for(SGX_QUOTE)
    assert f"{PCS}/sgx/certification/v4/pckcrl" in info.value.message
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_timeouts_are_collateral_unavailable(server: Server) -> None:
    def slow(request: httpx.Request) -> None:
        raise httpx.ReadTimeout("timed out", request=request)

    server.fail = slow
    with server.client() as client, pytest.raises(CollateralUnavailable):
        AmdKds(client=client, product="Milan").collateral_for(SNP_REPORT)


_TCB = "/sgx/certification/v4/tcb?fmspc=00A067110000"
_QE = "/sgx/certification/v4/qe/identity"
_PCK_CRL = "/sgx/certification/v4/pckcrl?ca=processor&encoding=der"


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (_TCB, b"not json", None),
        (_TCB, b'{"tcbInfo":{"id":"SGX"}}', None),
        (_TCB, b'{"tcbInfo":{"id":"SGX"},"signature":"zz"}', None),
        (_TCB, b"\xff\xfe", None),
        (_TCB, None, {}),
        (_TCB, None, {"TCB-Info-Issuer-Chain": "not%20a%20PEM%20chain"}),
        (_QE, b'{"enclaveIdentity":[],"signature":"00"}', None),
        (_PCK_CRL, b"\x30\x03garbage", None),
        (_PCK_CRL, b"abc", None),
        ("/IntelSGXRootCA.der", b"", None),
    ],
)
def test_malformed_responses_are_parse_errors(
    server: Server, path: str, body: bytes | None, headers: dict[str, str] | None
) -> None:
    reply = server.replies[path]
    if body is not None:
        reply.body = body
    if headers is not None:
        reply.headers = headers
    with server.client() as client, pytest.raises(ParseError):
        IntelPcs(client=client).collateral_for(SGX_QUOTE)


def test_bad_requests_are_refused_before_any_network() -> None:
    with pytest.raises(ValueError, match="invalid collateral request"):
        IntelPcs().dcap_collateral(tee="sgx", fmspc=b"\x00", ca="processor")
    with pytest.raises(UnsupportedFormat):
        IntelPcs().collateral_for(SNP_REPORT)
    with pytest.raises(UnsupportedFormat):
        DefaultSource().collateral_for(b"neither a quote nor a report")


# --- AMD KDS ---------------------------------------------------------------------------------


def _milan_collateral() -> SnpCollateral:
    return SnpCollateral(
        vek=(AMD / "snp_v2_milan_gosev.vcek.der").read_bytes(),
        chain=(AMD / "milan_ask_ark.pem").read_bytes(),
        crl=AMD_CRL,
    )


def test_amd_vcek_collateral_for_the_report(server: Server) -> None:
    with server.client() as client:
        got = AmdKds(client=client, product="Milan").collateral_for(SNP_REPORT)
    assert got == _milan_collateral()
    assert server.urls == [
        MILAN_VCEK_URL,
        "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain",
        "https://kdsintf.amd.com/vcek/v1/Milan/crl",
    ]


def test_amd_explicit_request_matches_the_vcek_extensions(server: Server) -> None:
    with server.client() as client:
        got = AmdKds(client=client).snp_collateral(
            product="Milan-B0",
            signer="vcek",
            chip_id=MILAN_CHIP_ID,
            tcb={"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68},
        )
    assert got == _milan_collateral()
    assert server.urls[0] == MILAN_VCEK_URL
    # The request names the chip and TCB the VCEK itself was issued for: its hwID extension
    # and its blSPL/teeSPL/snpSPL/ucodeSPL extensions (raw DER INTEGERs).
    vcek = load_der_certificate(got.vek, "VCEK")
    ext = {
        e.oid.dotted_string: e.value.value
        for e in vcek.extensions
        if isinstance(e.value, x509.UnrecognizedExtension)
    }
    assert ext["1.3.6.1.4.1.3704.1.4"] == MILAN_CHIP_ID
    assert [ext[f"1.3.6.1.4.1.3704.1.3.{i}"][-1] for i in (1, 2, 3, 8)] == [2, 0, 5, 68]


def test_amd_report_without_product_needs_one_configured(server: Server) -> None:
    with server.client() as client, pytest.raises(CollateralUnavailable, match="product"):
        AmdKds(client=client).collateral_for(SNP_REPORT)
    assert server.requests == []


def test_turin_urls_use_the_8_byte_hwid_and_fmc_spl(server: Server) -> None:
    tcb = {"bootloader": 1, "tee": 2, "snp": 3, "microcode": 4, "fmc": 5}
    with server.client() as client, pytest.raises(CollateralUnavailable):
        AmdKds(client=client).snp_collateral(
            product="turin", signer="vcek", chip_id=MILAN_CHIP_ID, tcb=tcb
        )
    assert server.urls == [
        "https://kdsintf.amd.com/vcek/v1/Turin/3ac3fe21e13fb099"
        "?fmcSPL=5&blSPL=1&teeSPL=2&snpSPL=3&ucodeSPL=4"
    ]


def test_vlek_and_masked_chips_are_not_on_kds(server: Server) -> None:
    tcb = {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
    with server.client() as client:
        kds = AmdKds(client=client)
        with pytest.raises(CollateralUnavailable, match="VLEK") as info:
            kds.snp_collateral(product="Milan", signer="vlek", chip_id=MILAN_CHIP_ID, tcb=tcb)
        assert "extended report" in info.value.hint
        with pytest.raises(CollateralUnavailable, match="masked"):
            kds.snp_collateral(product="Milan", signer="vcek", chip_id=bytes(64), tcb=tcb)
        with pytest.raises(UnsupportedFormat, match="Naples"):
            kds.snp_collateral(product="Naples", signer="vcek", chip_id=MILAN_CHIP_ID, tcb=tcb)
    assert server.requests == []


def test_vlek_signed_report_is_refused_without_a_request(server: Server, tmp_path: Path) -> None:
    with server.client() as client:
        cache = CachedSource(DefaultSource(amd=AmdKds(client=client)), tmp_path)
        with pytest.raises(CollateralUnavailable, match="VLEK") as info:
            cache.collateral_for(VLEK_REPORT)
    assert "Collateral.from_snp_certificates" in info.value.hint
    assert server.requests == []
    assert _files(tmp_path) == []


def test_malformed_kds_answers_are_parse_errors(server: Server) -> None:
    server.replies["/vcek/v1/Milan/cert_chain"].body = b"not PEM"
    with server.client() as client, pytest.raises(ParseError):
        AmdKds(client=client, product="Milan").collateral_for(SNP_REPORT)


# --- DefaultSource ---------------------------------------------------------------------------


def test_default_source_dispatches_on_the_evidence(server: Server) -> None:
    with server.client() as client:
        source = DefaultSource(IntelPcs(client=client), AmdKds(client=client, product="Milan"))
        assert isinstance(source.collateral_for(TDX_QUOTE), DcapCollateral)
        assert source.collateral_for(SNP_REPORT) == _milan_collateral()
    hosts = [r.url.host for r in server.requests]
    assert hosts[:3] == ["api.trustedservices.intel.com"] * 3
    assert hosts[-3:] == ["kdsintf.amd.com"] * 3


# --- CachedSource ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 7, 19, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _cached(client: httpx.Client, directory: Path, clock: Clock) -> CachedSource:
    inner = DefaultSource(IntelPcs(client=client), AmdKds(client=client, product="Milan"))
    return CachedSource(inner, directory, max_age=timedelta(hours=1), clock=clock)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def test_cache_hit_makes_no_request(server: Server, tmp_path: Path) -> None:
    clock = Clock()
    with server.client() as client:
        first = _cached(client, tmp_path, clock).collateral_for(SGX_QUOTE)
        count = len(server.requests)
        clock.now += timedelta(minutes=59)
        again = _cached(client, tmp_path, clock).collateral_for(SGX_QUOTE)
    assert count == 4
    assert len(server.requests) == count
    assert again == first
    _assert_same(again, _expected("sgx_v3_dcapqvl"))


def test_cache_layout_is_dcap_qvl_json_and_metadata(server: Server, tmp_path: Path) -> None:
    with server.client() as client:
        _cached(client, tmp_path, Clock()).collateral_for(SGX_QUOTE)
    [entry] = list(tmp_path.iterdir())
    assert entry.name.startswith("dcap-")
    assert sorted(p.name for p in entry.iterdir()) == ["collateral.json", "meta.json"]
    stored = DcapCollateral.from_dcap_qvl_json((entry / "collateral.json").read_bytes())
    _assert_same(stored, _expected("sgx_v3_dcapqvl"))
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["fetched_at"] == "2025-07-19T10:00:00Z"
    assert meta["identity"] == {
        "kind": "dcap",
        "tee": "sgx",
        "fmspc": "00a067110000",
        "ca": "processor",
    }


def test_cache_keys_differ_per_platform(server: Server, tmp_path: Path) -> None:
    with server.client() as client:
        cache = _cached(client, tmp_path, Clock())
        cache.collateral_for(SGX_QUOTE)
        cache.collateral_for(TDX_QUOTE)
        cache.collateral_for(SNP_REPORT)
        count = len(server.requests)
        _assert_same(cache.collateral_for(TDX_QUOTE), _expected("tdx_v4_dcapqvl"))
        assert cache.collateral_for(SNP_REPORT) == _milan_collateral()
    assert count == 11 and len(server.requests) == count
    assert len(list(tmp_path.iterdir())) == 3
    [snp] = [p for p in tmp_path.iterdir() if p.name.startswith("snp-")]
    assert sorted(p.name for p in snp.iterdir()) == ["chain.pem", "crl.der", "meta.json", "vek.der"]


def test_expired_entry_is_fetched_again(server: Server, tmp_path: Path) -> None:
    clock = Clock()
    with server.client() as client:
        cache = _cached(client, tmp_path, clock)
        cache.collateral_for(SNP_REPORT)
        clock.now += timedelta(hours=1, seconds=1)
        cache.collateral_for(SNP_REPORT)
        clock.now += timedelta(minutes=1)
        cache.collateral_for(SNP_REPORT)
    assert len(server.requests) == 6


def test_entry_from_the_future_is_fetched_again(server: Server, tmp_path: Path) -> None:
    clock = Clock()
    with server.client() as client:
        cache = _cached(client, tmp_path, clock)
        cache.collateral_for(SNP_REPORT)
        clock.now -= timedelta(minutes=5)
        cache.collateral_for(SNP_REPORT)
    assert len(server.requests) == 6


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("collateral.json", b"{ truncated"),
        ("collateral.json", b""),
        ("meta.json", b"\x00\x01"),
        ("meta.json", b"[]"),
        ("meta.json", b'{"kind":"dcap","fetched_at":"yesterday","files":{}}'),
        ("meta.json", b'{"kind":"dcap","fetched_at":"2025-07-19T10:00:00Z","files":{}}'),
        (
            "meta.json",
            b'{"kind":"dcap","fetched_at":"2025-07-19T10:00:00Z",'
            b'"files":{"collateral":{"name":"../x","sha256":""}}}',
        ),
        (
            "meta.json",
            b'{"kind":"dcap","fetched_at":"2025-07-19T10:00:00Z",'
            b'"files":{"collateral":{"name":"x\\u0000","sha256":""}}}',
        ),
    ],
)
def test_corrupt_cache_file_is_a_miss_and_is_replaced(
    server: Server, tmp_path: Path, name: str, content: bytes
) -> None:
    clock = Clock()
    with server.client() as client:
        cache = _cached(client, tmp_path, clock)
        cache.collateral_for(SGX_QUOTE)
        [entry] = list(tmp_path.iterdir())
        (entry / name).write_bytes(content)
        got = cache.collateral_for(SGX_QUOTE)
        assert len(server.requests) == 8
        _assert_same(got, _expected("sgx_v3_dcapqvl"))
        cache.collateral_for(SGX_QUOTE)
    assert len(server.requests) == 8


def test_missing_cache_file_is_a_miss(server: Server, tmp_path: Path) -> None:
    with server.client() as client:
        cache = _cached(client, tmp_path, Clock())
        cache.collateral_for(SNP_REPORT)
        [entry] = list(tmp_path.iterdir())
        (entry / "crl.der").unlink()
        assert cache.collateral_for(SNP_REPORT) == _milan_collateral()
    assert len(server.requests) == 6


def test_cache_writes_are_atomic_and_inside_the_directory(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str, dst: str | Path) -> None:
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    directory = tmp_path / "deep" / "cache"
    with server.client() as client:
        _cached(client, directory, Clock()).collateral_for(SNP_REPORT)
    written = _files(directory)
    assert sorted(dst for _, dst in replaced) == written
    assert replaced[-1][1].name == "meta.json"
    for src, dst in replaced:
        assert src.parent == dst.parent and src.name.endswith(".tmp")
        assert not src.exists()
    assert all(p.is_relative_to(directory) for p in written)


def test_failures_are_not_cached(server: Server, tmp_path: Path) -> None:
    server.replies["/vcek/v1/Milan/crl"] = Reply(503, {}, b"")
    with server.client() as client:
        cache = _cached(client, tmp_path, Clock())
        with pytest.raises(CollateralUnavailable):
            cache.collateral_for(SNP_REPORT)
        assert _files(tmp_path) == []
        server.replies["/vcek/v1/Milan/crl"] = Reply(200, {}, AMD_CRL)
        assert cache.collateral_for(SNP_REPORT) == _milan_collateral()


def test_unwritable_cache_still_returns_collateral(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with server.client() as client, caplog.at_level(logging.WARNING):
        got = _cached(client, blocker, Clock()).collateral_for(SNP_REPORT)
    assert got == _milan_collateral()
    assert "could not write the collateral cache entry" in caplog.text


def test_fetched_and_cached_collateral_verifies(server: Server, tmp_path: Path) -> None:
    sgx = intel("sgx_v3_dcapqvl")
    with server.client() as client:
        _cached(client, tmp_path, Clock()).collateral_for(SNP_REPORT)
        cache = _cached(client, tmp_path, Clock())
        cache.collateral_for(sgx.quote)
        dcap = cache.collateral_for(sgx.quote)  # both read back from disk
        snp = cache.collateral_for(SNP_REPORT)
    assert len(server.requests) == 7
    result = Verifier().verify(sgx.quote, collateral=dcap, at=sgx.at)
    assert result.verified, result.errors
    assert result.tcb_status == "ConfigurationAndSWHardeningNeeded"
    # The served CRL is a stand-in not signed by AMD (see _stand_in_crl), so verify without it.
    assert isinstance(snp, SnpCollateral)
    vcek_only = SnpCollateral(vek=snp.vek, chain=snp.chain)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    result = Verifier().verify(SNP_REPORT, collateral=vcek_only, at=at)
    assert result.verified, result.errors


def test_collateral_without_a_file_layout_is_passed_on_uncached(tmp_path: Path) -> None:
    class Opaque:
        def collateral_for(self, evidence: bytes) -> Collateral:
            return Collateral()

    assert type(CachedSource(Opaque(), tmp_path).collateral_for(SGX_QUOTE)) is Collateral
    assert _files(tmp_path) == []


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "cache" / "collateral"
    monkeypatch.delenv("TRUSTROOM_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".local/share/trustroom/cache/collateral"

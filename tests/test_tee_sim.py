"""The simulated TEE: real-format evidence under a simulated root, sealing keys, sealed data."""

from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trustroom.evidence import Verifier, parse
from trustroom.tee import (
    InvalidReportData,
    SealedDataInvalid,
    SealPolicy,
    SealPolicyDenied,
    SimAttester,
    SimPlatform,
    SimWorkload,
    seal,
    unseal,
)

APP = SimWorkload(mrenclave=b"\x11" * 32, mrsigner=b"\x22" * 32, isv_prod_id=7, isv_svn=3)
OTHER_APP = SimWorkload(mrenclave=b"\x12" * 32, mrsigner=b"\x22" * 32, isv_prod_id=7, isv_svn=3)
REPORT_DATA = bytes(range(64))


@pytest.fixture
def platform(tmp_path: Path) -> SimPlatform:
    return SimPlatform(tmp_path / "sim")


def test_sim_evidence_verifies_only_when_sim_is_trusted(platform: SimPlatform) -> None:
    quote = SimAttester(APP, platform).evidence(REPORT_DATA)
    collateral = platform.collateral()
    trusted = Verifier(trust_sim=True).verify(quote, collateral=collateral)
    assert trusted.verified, trusted.errors
    assert trusted.tee == "sim" and trusted.tcb_status == "UpToDate"
    assert trusted.measurements["mrenclave"] == APP.mrenclave.hex()
    assert trusted.measurements["mrsigner"] == APP.mrsigner.hex()
    assert trusted.attributes["isv_prod_id"] == 7 and trusted.attributes["isv_svn"] == 3
    assert bytes.fromhex(trusted.report_data) == REPORT_DATA
    refused = Verifier().verify(quote, collateral=collateral)
    assert refused.error_codes == ("untrusted_root",) and refused.tee == "sim"
    assert "SIMULATED" in refused.errors[0].message and "trust_sim" in refused.errors[0].hint


def test_sim_evidence_is_an_sgx_dcap_v3_quote(platform: SimPlatform) -> None:
    quote = parse(SimAttester(APP, platform).evidence(REPORT_DATA))
    assert quote.format == "intel-dcap-sgx-quote-v3"
    assert quote.to_dict()["trailing_bytes"] == 0
    assert quote.attribute_claims()["debug"] is False
    debug = parse(
        SimAttester(SimWorkload(b"\1" * 32, b"\2" * 32, debug=True), platform).evidence(REPORT_DATA)
    )
    assert debug.attribute_claims()["debug"] is True


@pytest.mark.parametrize("offset", [0x70, 0x170, 0x1B4 + 10, 0x1B4 + 200])
def test_a_changed_byte_fails(platform: SimPlatform, offset: int) -> None:
    quote = bytearray(SimAttester(APP, platform).evidence(REPORT_DATA))
    quote[offset] ^= 1
    result = Verifier(trust_sim=True).verify(bytes(quote), collateral=platform.collateral())
    assert result.error_codes[0] == "signature_invalid"


def test_report_data_must_be_64_bytes(platform: SimPlatform) -> None:
    with pytest.raises(InvalidReportData):
        SimAttester(APP, platform).evidence(b"short")


def test_another_hosts_collateral_does_not_fit(tmp_path: Path) -> None:
    a, b = SimPlatform(tmp_path / "a"), SimPlatform(tmp_path / "b")
    quote = SimAttester(APP, a).evidence(REPORT_DATA)
    assert Verifier(trust_sim=True).verify(quote, collateral=a.collateral()).verified
    mixed = Verifier(trust_sim=True).verify(quote, collateral=b.collateral())
    assert mixed.error_codes[0] == "untrusted_root"


def test_platform_state_persists_and_is_private(tmp_path: Path) -> None:
    first = SimPlatform(tmp_path / "sim")
    again = SimPlatform(tmp_path / "sim")
    assert first.root == again.root
    assert SimAttester(APP, first).seal_key(SealPolicy.MEASUREMENT, b"l") == SimAttester(
        APP, again
    ).seal_key(SealPolicy.MEASUREMENT, b"l")
    assert stat.S_IMODE(os.stat(tmp_path / "sim" / "platform.json").st_mode) == 0o600
    assert (tmp_path / "sim" / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE")


def _make(directory: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return SimPlatform(Path(directory)).root.public_bytes(Encoding.DER)


def test_concurrent_first_use_yields_one_platform(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        roots = pool.map(_make, [str(tmp_path / "sim")] * 8)
    assert len(set(roots)) == 1


def test_collateral_is_reissued_when_stale(platform: SimPlatform) -> None:
    quote = SimAttester(APP, platform).evidence(REPORT_DATA)
    later = datetime.now(UTC) + timedelta(days=90)
    assert (
        not Verifier(trust_sim=True)
        .verify(quote, collateral=platform.collateral(), at=later)
        .verified
    )
    fresh = platform.collateral(later)
    assert Verifier(trust_sim=True).verify(quote, collateral=fresh, at=later).verified


def test_the_collateral_file_is_parsed_once_per_version(platform: SimPlatform) -> None:
    first = platform.collateral()
    assert platform.collateral() is first  # the file did not change: no second parse
    later = datetime.now(UTC) + timedelta(days=90)
    fresh = platform.collateral(later)  # stale at `later`: issued anew, the file replaced
    again = platform.collateral(later)
    assert again == fresh and again is not first
    assert platform.collateral(later) is again


def test_sealing_keys_follow_the_policy(platform: SimPlatform) -> None:
    def key(
        workload: SimWorkload, policy: SealPolicy, svn: int | None = None, label: bytes = b"k"
    ) -> bytes:
        return SimAttester(workload, platform).seal_key(policy, label, svn=svn)

    assert key(APP, SealPolicy.MEASUREMENT) != key(OTHER_APP, SealPolicy.MEASUREMENT)
    assert key(APP, SealPolicy.SIGNER) == key(OTHER_APP, SealPolicy.SIGNER)  # same signer
    assert key(APP, SealPolicy.MEASUREMENT, label=b"a") != key(
        APP, SealPolicy.MEASUREMENT, label=b"b"
    )
    newer = SimWorkload(b"\x13" * 32, APP.mrsigner, APP.isv_prod_id, isv_svn=4)
    assert key(newer, SealPolicy.SIGNER, svn=3) == key(APP, SealPolicy.SIGNER)
    with pytest.raises(SealPolicyDenied):
        key(APP, SealPolicy.SIGNER, svn=4)
    other_product = SimWorkload(APP.mrenclave, APP.mrsigner, isv_prod_id=8, isv_svn=3)
    assert key(other_product, SealPolicy.SIGNER) != key(APP, SealPolicy.SIGNER)
    debug = SimWorkload(APP.mrenclave, APP.mrsigner, APP.isv_prod_id, APP.isv_svn, debug=True)
    assert key(debug, SealPolicy.MEASUREMENT) != key(APP, SealPolicy.MEASUREMENT)
    assert key(APP, SealPolicy.MEASUREMENT) != key(APP, SealPolicy.MEASUREMENT, label=b"")
    assert key(APP, SealPolicy.MEASUREMENT) != SimAttester(
        APP, SimPlatform(platform.directory.parent / "x")
    ).seal_key(SealPolicy.MEASUREMENT, b"k")


def test_seal_and_unseal(platform: SimPlatform) -> None:
    app = SimAttester(APP, platform)
    blob = seal(app, b"the secret", label=b"db-key")
    assert b"the secret" not in blob
    assert unseal(app, blob) == b"the secret"
    with pytest.raises(SealedDataInvalid):
        unseal(SimAttester(OTHER_APP, platform), blob)
    for i in (0, 10, len(blob) - 1):
        changed = bytearray(blob)
        changed[i] ^= 1
        with pytest.raises(SealedDataInvalid):
            unseal(app, bytes(changed))
    with pytest.raises(SealedDataInvalid):
        unseal(app, blob[:20])


def test_signer_sealed_data_survives_an_update(platform: SimPlatform) -> None:
    blob = seal(SimAttester(APP, platform), b"state", policy=SealPolicy.SIGNER)
    update = SimWorkload(b"\x99" * 32, APP.mrsigner, APP.isv_prod_id, isv_svn=APP.isv_svn + 1)
    assert unseal(SimAttester(update, platform), blob) == b"state"
    older = SimWorkload(b"\x98" * 32, APP.mrsigner, APP.isv_prod_id, isv_svn=APP.isv_svn - 1)
    with pytest.raises(SealPolicyDenied):
        unseal(SimAttester(older, platform), blob)


def test_measured_workload(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('hi')\n")
    first = SimWorkload.measure(tmp_path / "app")
    assert SimWorkload.measure(tmp_path / "app") == first
    (tmp_path / "app" / "main.py").write_text("print('hi!')\n")
    assert SimWorkload.measure(tmp_path / "app").mrenclave != first.mrenclave
    assert SimWorkload.measure(tmp_path / "app", signer="acme").mrsigner != first.mrsigner

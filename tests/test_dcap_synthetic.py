"""trustroom's DCAP verifier on synthetic platforms (tests/dcap_factory.py).

Real vectors pin a few platforms at a few instants; here a self-made root CA signs whole
platforms, so every TCB status, every collateral mix-up and every expiry can be reached, and
each check of the pipeline (docs/evidence.md, "What is checked") is shown to fail on its own.
Assertions use the stable error codes, never messages.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from dcap_factory import (
    DAY,
    DEFAULT_SGX_COMPONENTS,
    DEFAULT_TEE_TCB_SVN,
    NOW,
    SGX_EXTENSION_OID,
    QeLevel,
    TcbLevel,
    TdxModule,
    TestPlatform,
    bump,
    make_platform,
    sgx_extension_der,
)
from vector_loader import intel

from trustroom.evidence import Collateral, VerificationResult, Verifier, parse

C = DEFAULT_SGX_COMPONENTS
T = DEFAULT_TEE_TCB_SVN
TEES = ("sgx", "tdx")
SECOND = timedelta(seconds=1)


def verify(
    p: TestPlatform,
    quote: bytes | None = None,
    *,
    collateral: Any = None,
    at: datetime | None = None,
    verifier: Verifier | None = None,
    **quote_fields: Any,
) -> VerificationResult:
    """Verify ``p``'s quote (or ``quote``) with its own collateral at ``p.now``, under its root."""
    v = verifier if verifier is not None else Verifier(intel_root=p.root_der)
    return v.verify(
        quote if quote is not None else p.quote(**quote_fields),
        collateral=collateral if collateral is not None else p.collateral(),
        at=at if at is not None else p.now,
    )


def assert_fails(result: VerificationResult, code: str) -> None:
    assert not result.verified
    assert result.error_codes == (code,), result.to_dict()["errors"]


# --------------------------------------------------------------------------------------------
# The factory mirrors Intel's artefacts


def test_factory_encodes_the_sgx_extension_byte_for_byte_like_intel() -> None:
    vector = intel("sgx_v3_dcapqvl")
    chain = parse(vector.quote).qe.cert_data.rstrip(b"\x00")  # type: ignore[union-attr]
    leaf = x509.load_pem_x509_certificates(chain)[0]
    real = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert isinstance(real.value, x509.UnrecognizedExtension)
    ours = sgx_extension_der(
        ppid=bytes.fromhex("d04ec06d4e6d92dc90d0ad3cf5ee2ddf"),
        components=(11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        pce_svn=13,
        cpusvn=bytes.fromhex("0b0b0202ff0100000000000000000000"),
        pce_id=bytes(2),
        fmspc=bytes.fromhex("00a067110000"),
        sgx_type=0,
    )
    assert ours == real.value.value


@pytest.mark.parametrize(("tee", "vector"), [("sgx", "sgx_v3_dcapqvl"), ("tdx", "tdx_v4_dcapqvl")])
def test_factory_collateral_has_intels_fields_in_intels_order(tee: str, vector: str) -> None:
    real = json.loads(intel(vector).collateral_text)
    ours = json.loads(make_platform(tee).collateral_json())
    assert set(ours) == set(real) - {"pck_certificate_chain"}
    for doc in ("tcb_info", "qe_identity"):
        real_doc, our_doc = json.loads(real[doc]), json.loads(ours[doc])
        assert list(our_doc) == list(real_doc)
        # advisoryIDs is optional (absent on UpToDate levels); the rest is in Intel's order.
        real_level = max(real_doc["tcbLevels"], key=len)
        our_level = our_doc["tcbLevels"][0]
        assert list(our_level) == [key for key in real_level if key in our_level]
        assert list(our_level["tcb"]) == list(real_level["tcb"])
    if tee == "tdx":
        real_module = json.loads(real["tcb_info"])["tdxModuleIdentities"][0]
        our_module = json.loads(ours["tcb_info"])["tdxModuleIdentities"][0]
        assert list(our_module) == list(real_module)


# --------------------------------------------------------------------------------------------
# Baselines


@pytest.mark.parametrize(
    ("tee", "fields", "fmt"),
    [
        ("sgx", {}, "intel-dcap-sgx-quote-v3"),
        ("sgx", {"version": 4}, "intel-dcap-sgx-quote-v4"),
        ("sgx", {"version": 5}, "intel-dcap-sgx-quote-v5"),
        ("tdx", {}, "intel-dcap-tdx-quote-v4"),
        ("tdx", {"version": 5, "body": "td10"}, "intel-dcap-tdx-quote-v5"),
        ("tdx", {"version": 5}, "intel-dcap-tdx-quote-v5"),
    ],
    ids=["sgx-v3", "sgx-v4", "sgx-v5", "tdx-v4-td10", "tdx-v5-td10", "tdx-v5-td15"],
)
def test_baseline_platform_verifies_up_to_date(tee: str, fields: dict[str, Any], fmt: str) -> None:
    p = make_platform(tee)
    result = verify(p, **fields)
    assert result.verified, result.to_dict()["errors"]
    assert (result.tee, result.format) == (tee, fmt)
    assert result.tcb_status == "UpToDate"
    assert result.advisory_ids == ()
    assert result.platform["fmspc"] == p.spec.fmspc.hex()
    assert result.platform["pck_ca"] == "processor"
    assert result.platform["tcb_components"] == list(C)
    assert result.platform["pce_svn"] == p.spec.pce_svn
    if tee == "tdx" and fields.get("version") == 5:
        # The TD 1.5 body (and only it) carries MRSERVICETD.
        assert ("mrservicetd" in result.measurements) == ("body" not in fields)
    if tee == "tdx":
        assert result.platform["tdx_module_tcb_status"] == "UpToDate"
        assert result.attributes["sept_ve_disable"] is True


def test_platform_ca_platform_verifies() -> None:
    result = verify(make_platform("sgx", ca="platform"))
    assert result.verified
    assert result.platform["pck_ca"] == "platform"


@pytest.mark.parametrize("tee", TEES)
def test_tampered_quote_signature_is_signature_invalid(tee: str) -> None:
    assert_fails(verify(make_platform(tee), corrupt_quote_signature=True), "signature_invalid")


@pytest.mark.parametrize("tee", TEES)
def test_qe_report_not_binding_the_attestation_key_is_signature_invalid(tee: str) -> None:
    # The QE report is validly signed by the PCK key but vouches for other key material.
    result = verify(make_platform(tee), qe_report_data=bytes(64))
    assert_fails(result, "signature_invalid")


# --------------------------------------------------------------------------------------------
# TCB status by level selection


STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
)


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize("status", STATUSES)
def test_each_tcb_status_is_reported_from_the_matching_level(tee: str, status: str) -> None:
    # A newer level the platform does not reach comes first, an older one after: the platform
    # must land exactly on the middle one.
    levels = [
        TcbLevel("UpToDate", sgx=bump(C, 0), advisory_ids=("INTEL-SA-NEWER",)),
        TcbLevel(status, advisory_ids=(f"INTEL-SA-{status}",)),  # exactly the platform's SVNs
        TcbLevel("OutOfDate", sgx=bump(C, 0, -1), advisory_ids=("INTEL-SA-OLDER",)),
    ]
    result = verify(make_platform(tee, tcb_levels=levels))
    assert result.verified, result.to_dict()["errors"]
    assert result.tcb_status == status
    assert result.advisory_ids == (f"INTEL-SA-{status}",)
    assert result.platform["platform_tcb_status"] == status


@pytest.mark.parametrize("tee", TEES)
def test_levels_are_matched_newest_first_whatever_their_order(tee: str) -> None:
    levels = [TcbLevel("OutOfDate", sgx=bump(C, 0, -1)), TcbLevel("SWHardeningNeeded")]
    result = verify(make_platform(tee, tcb_levels=levels))
    assert result.tcb_status == "SWHardeningNeeded"


@pytest.mark.parametrize("tee", TEES)
def test_revoked_level_fails_with_revoked_and_reports_the_status(tee: str) -> None:
    levels = [TcbLevel("UpToDate", sgx=bump(C, 2)), TcbLevel("Revoked", advisory_ids=("SA-R",))]
    result = verify(make_platform(tee, tcb_levels=levels))
    assert_fails(result, "revoked")
    assert result.tcb_status == "Revoked"
    assert result.advisory_ids == ("SA-R",)


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize(
    "level",
    [
        TcbLevel("UpToDate", sgx=bump(C, 15)),  # one SGX component above the platform
        TcbLevel("UpToDate", pcesvn=14),  # PCESVN above the platform
    ],
    ids=["sgx-component", "pcesvn"],
)
def test_platform_below_every_level_is_tcb_level_not_found(tee: str, level: TcbLevel) -> None:
    p = make_platform(tee, tcb_levels=[level])
    assert_fails(verify(p), "tcb_level_not_found")


def test_tdx_platform_below_every_tdx_level_is_tcb_level_not_found() -> None:
    # The SGX part matches, the TEE TCB SVN (byte 2: microcode) does not.
    p = make_platform("tdx", tcb_levels=[TcbLevel("UpToDate", tdx=bump(T, 2))])
    assert_fails(verify(p), "tcb_level_not_found")


def test_tdx_picks_the_first_level_matching_sgx_and_tdx() -> None:
    levels = [
        TcbLevel("UpToDate", tdx=bump(T, 2)),  # SGX matches, TDX does not
        TcbLevel("SWHardeningNeeded", sgx=bump(C, 0, -1), advisory_ids=("SA-S",)),
    ]
    result = verify(make_platform("tdx", tcb_levels=levels))
    assert (result.verified, result.tcb_status, result.advisory_ids) == (
        True,
        "SWHardeningNeeded",
        ("SA-S",),
    )


def test_pck_component_svns_not_cpusvn_select_the_level() -> None:
    # QVL matches the 16 component SVNs of the PCK certificate; the raw CPUSVN next to them is
    # not used (real certificates carry the same values in both).
    levels = [TcbLevel("UpToDate"), TcbLevel("OutOfDate", sgx=bump(C, 0, -1))]
    p = make_platform("sgx", cpusvn=bytes(bump(C, 0, -1)), tcb_levels=levels)
    assert verify(p).tcb_status == "UpToDate"


# --------------------------------------------------------------------------------------------
# QE identity level and convergence


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize(
    ("platform_status", "expected"),
    [
        ("UpToDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDateConfigurationNeeded"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"),
        ("OutOfDate", "OutOfDate"),
        ("OutOfDateConfigurationNeeded", "OutOfDateConfigurationNeeded"),
    ],
)
def test_out_of_date_qe_converges_like_qvl(tee: str, platform_status: str, expected: str) -> None:
    p = make_platform(
        tee,
        tcb_levels=[TcbLevel(platform_status, advisory_ids=("INTEL-SA-00001", "INTEL-SA-00002"))],
        qe_levels=[QeLevel(9), QeLevel(8, "OutOfDate", ("INTEL-SA-00002", "INTEL-SA-00003"))],
    )
    result = verify(p)
    assert result.verified
    assert result.tcb_status == expected
    # Advisories are the union, platform first, each once.
    assert result.advisory_ids == ("INTEL-SA-00001", "INTEL-SA-00002", "INTEL-SA-00003")
    assert (result.platform["platform_tcb_status"], result.platform["qe_tcb_status"]) == (
        platform_status,
        "OutOfDate",
    )


@pytest.mark.parametrize("tee", TEES)
def test_revoked_qe_level_revokes_the_platform(tee: str) -> None:
    p = make_platform(tee, qe_levels=[QeLevel(9), QeLevel(8, "Revoked")])
    result = verify(p)
    assert_fails(result, "revoked")
    assert result.tcb_status == "Revoked"


@pytest.mark.parametrize("tee", TEES)
def test_qe_below_every_qe_level_is_tcb_level_not_found(tee: str) -> None:
    assert_fails(verify(make_platform(tee, qe_levels=[QeLevel(9)])), "tcb_level_not_found")


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize(
    "fields",
    [
        {"qe_mrsigner": b"\x01" * 32},
        {"qe_isvprodid": 7},
        {"qe_attributes": bytes.fromhex("13000000000000000000000000000000")},  # DEBUG QE
        {"qe_miscselect": 1},
    ],
    ids=["mrsigner", "isvprodid", "attributes", "miscselect"],
)
def test_foreign_quoting_enclave_is_qe_identity_mismatch(tee: str, fields: dict[str, Any]) -> None:
    assert_fails(verify(make_platform(tee), **fields), "qe_identity_mismatch")


def test_qe_attribute_bits_outside_the_mask_are_ignored() -> None:
    # Intel's mask FBFF.. leaves out bit 2; QE reports really carry 0x15 there.
    qe_attributes = bytes.fromhex("15000000000000000000000000000000")
    assert verify(make_platform("sgx"), qe_attributes=qe_attributes).verified


# --------------------------------------------------------------------------------------------
# TDX module identity


def _module(id_: str, *levels: QeLevel, **kw: Any) -> TdxModule:
    return TdxModule(id=id_, levels=levels, **kw)


def test_tdx_module_version_selects_its_identity() -> None:
    modules = [
        _module("TDX_01", QeLevel(7), QeLevel(6, "OutOfDate", ("SA-M1",))),
        _module("TDX_02", QeLevel(6)),
    ]
    p = make_platform("tdx", tdx_module_identities=modules)
    v1 = verify(p)  # tee_tcb_svn[1] == 1
    assert (v1.tcb_status, v1.advisory_ids) == ("OutOfDate", ("SA-M1",))
    assert v1.platform["tdx_module_tcb_status"] == "OutOfDate"
    v2 = verify(p, tee_tcb_svn=bump(T, 1))  # tee_tcb_svn[1] == 2
    assert (v2.tcb_status, v2.advisory_ids) == ("UpToDate", ())


def test_tdx_module_identity_id_is_case_insensitive() -> None:
    p = make_platform("tdx", tdx_module_identities=[_module("tdx_01", QeLevel(6))])
    assert verify(p).verified


@pytest.mark.parametrize("modules", [[_module("TDX_03", QeLevel(0))], []], ids=["other", "none"])
def test_missing_tdx_module_identity_is_tdx_module_mismatch(modules: list[TdxModule]) -> None:
    p = make_platform("tdx", tdx_module_identities=modules)
    assert_fails(verify(p), "tdx_module_mismatch")


@pytest.mark.parametrize("major", [1, 0], ids=["identity", "tdxModule"])
def test_wrong_mrsignerseam_is_tdx_module_mismatch(major: int) -> None:
    p = make_platform("tdx", tee_tcb_svn=(6, major, *T[2:]))
    assert verify(p).verified
    assert_fails(verify(p, mrsignerseam=b"\x01" * 48), "tdx_module_mismatch")


def test_version_0_module_is_checked_against_tdx_module() -> None:
    signer = b"\x5a" * 48
    p = make_platform("tdx", tee_tcb_svn=(6, 0, *T[2:]), tdx_module=TdxModule(mrsigner=signer))
    assert verify(p, mrsignerseam=signer).verified
    assert_fails(verify(p), "tdx_module_mismatch")  # the quote's MRSIGNERSEAM is zero


def test_seam_attributes_are_compared_with_the_module_identity() -> None:
    p = make_platform("tdx")
    assert_fails(verify(p, seam_attributes=b"\x01" + bytes(7)), "tdx_module_mismatch")


@pytest.mark.parametrize(
    "module",
    [
        _module("TDX_01", QeLevel(6), attributes_mask=bytes(8)),  # bit masked out
        _module("TDX_01", QeLevel(6), attributes=b"\x01" + bytes(7)),  # published non-zero
    ],
    ids=["outside-mask", "non-zero-identity"],
)
def test_non_zero_seam_attributes_are_tdx_module_mismatch_as_in_qvl(module: TdxModule) -> None:
    p = make_platform("tdx", tdx_module_identities=[module])
    assert_fails(verify(p, seam_attributes=b"\x01" + bytes(7)), "tdx_module_mismatch")


@pytest.mark.parametrize(
    ("platform_status", "expected"),
    [
        ("UpToDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDateConfigurationNeeded"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"),
    ],
)
def test_out_of_date_module_converges_like_qvl(platform_status: str, expected: str) -> None:
    p = make_platform(
        "tdx",
        tcb_levels=[TcbLevel(platform_status, advisory_ids=("SA-P",))],
        tdx_module_identities=[_module("TDX_01", QeLevel(7), QeLevel(6, "OutOfDate", ("SA-M",)))],
    )
    result = verify(p)
    assert (result.verified, result.tcb_status, result.advisory_ids) == (
        True,
        expected,
        ("SA-P", "SA-M"),
    )


def test_revoked_module_level_revokes_the_platform() -> None:
    modules = [_module("TDX_01", QeLevel(7), QeLevel(6, "Revoked"))]
    result = verify(make_platform("tdx", tdx_module_identities=modules))
    assert_fails(result, "revoked")
    assert result.tcb_status == "Revoked"


def test_module_below_every_module_level_is_tcb_level_not_found() -> None:
    p = make_platform("tdx", tdx_module_identities=[_module("TDX_01", QeLevel(7))])
    assert_fails(verify(p), "tcb_level_not_found")


@pytest.mark.parametrize("index", [0, 1])
def test_tee_tcb_svn_bytes_0_1_are_left_to_the_module_when_version_above_0(index: int) -> None:
    # The newest level asks for more than the TD has in byte 0 (module ISVSVN) or byte 1
    # (module version); with a module version above 0 QVL compares from byte 2 on.
    levels = [TcbLevel("UpToDate", tdx=bump(T, index)), TcbLevel("OutOfDate", tdx=bump(T, 2, -1))]
    assert verify(make_platform("tdx", tcb_levels=levels)).tcb_status == "UpToDate"


def test_tee_tcb_svn_byte_0_counts_when_module_version_is_0() -> None:
    svn = (6, 0, *T[2:])
    levels = [TcbLevel("UpToDate", tdx=bump(svn, 0)), TcbLevel("OutOfDate", tdx=bump(svn, 0, -1))]
    p = make_platform("tdx", tee_tcb_svn=svn, tcb_levels=levels)
    assert verify(p).tcb_status == "OutOfDate"


def test_td_attributes_are_reported_not_judged() -> None:
    # Debug TDs and TDs without SEPT_VE_DISABLE are genuine evidence; appraisal decides.
    result = verify(make_platform("tdx"), td_attributes=(1).to_bytes(8, "little"))
    assert result.verified
    assert result.attributes["debug"] is True
    assert result.attributes["sept_ve_disable"] is False
    sgx = verify(make_platform("sgx"), attributes=bytes.fromhex("07") + bytes(15))
    assert sgx.verified and sgx.attributes["debug"] is True


# --------------------------------------------------------------------------------------------
# Revocation and collateral mix-ups


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_pck_certificate_on_the_pck_crl_is_revoked(tee: str, ca: str) -> None:
    p = make_platform(tee, ca=ca, revoked_pck=True)
    assert_fails(verify(p), "revoked")
    assert verify(p.replace(revoked_pck=False)).verified


def test_pck_ca_on_the_root_crl_is_revoked() -> None:
    assert_fails(verify(make_platform("sgx", revoked_cas=("processor",))), "revoked")
    # Revoking the other CA does not touch this platform.
    assert verify(make_platform("sgx", revoked_cas=("platform",))).verified


@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_pck_crl_of_the_other_ca_is_collateral_mismatch(ca: str) -> None:
    other = "platform" if ca == "processor" else "processor"
    p = make_platform("sgx", ca=ca, pck_crl_ca=other)
    assert_fails(verify(p), "collateral_mismatch")


@pytest.mark.parametrize("tee", TEES)
@pytest.mark.parametrize(
    "options",
    [{"tcb_fmspc": bytes.fromhex("00906ED50001")}, {"tcb_pce_id": b"\x00\x01"}],
    ids=["fmspc", "pce_id"],
)
def test_tcb_info_of_another_platform_is_collateral_mismatch(
    tee: str, options: dict[str, Any]
) -> None:
    assert_fails(verify(make_platform(tee, **options)), "collateral_mismatch")


@pytest.mark.parametrize(("quote_tee", "collateral_tee"), [("sgx", "tdx"), ("tdx", "sgx")])
def test_collateral_of_the_other_tee_is_collateral_mismatch(
    quote_tee: str, collateral_tee: str
) -> None:
    # Same FMSPC, same PKI: only the TEE type of TCB info and QE identity differs.
    p = make_platform(quote_tee)
    other = make_platform(collateral_tee)
    assert_fails(verify(p, collateral=other.collateral()), "collateral_mismatch")


@pytest.mark.parametrize(
    "options",
    [{"tcb_info_id": "TDX"}, {"qe_identity_id": "TD_QE"}],
    ids=["tcb-info-id", "qe-identity-id"],
)
def test_sgx_quote_with_one_tdx_document_is_collateral_mismatch(options: dict[str, Any]) -> None:
    assert_fails(verify(make_platform("sgx", **options)), "collateral_mismatch")


# --------------------------------------------------------------------------------------------
# Time


def _time_error(result: VerificationResult, code: str) -> dict[str, Any]:
    assert not result.verified
    assert result.error_codes == (code,), result.to_dict()["errors"]
    error: dict[str, Any] = result.to_dict()["errors"][0]
    return error


@pytest.mark.parametrize(
    ("options", "valid_from", "valid_until"),
    [
        (
            {"tcb_issue_date": NOW + SECOND, "tcb_next_update": NOW + 30 * DAY},
            "2025-06-20T12:00:01Z",
            "2025-07-20T12:00:00Z",
        ),
        (
            {"tcb_issue_date": NOW - 30 * DAY, "tcb_next_update": NOW - SECOND},
            "2025-05-21T12:00:00Z",
            "2025-06-20T11:59:59Z",
        ),
    ],
    ids=["not-yet-valid", "expired"],
)
def test_tcb_info_outside_its_window_is_collateral_expired(
    options: dict[str, Any], valid_from: str, valid_until: str
) -> None:
    error = _time_error(verify(make_platform("tdx", **options)), "collateral_expired")
    assert error["item"] == "TCB info"
    assert "TCB info" in error["message"]  # the message names what to refresh
    assert (error["valid_from"], error["valid_until"]) == (valid_from, valid_until)


def test_tcb_info_window_is_inclusive_at_both_ends() -> None:
    # TCB info is the last item to become valid and the first to expire.
    start, end = NOW - DAY / 4, NOW + DAY / 4
    p = make_platform("sgx", tcb_issue_date=start, tcb_next_update=end)
    assert verify(p, at=start).verified
    assert verify(p, at=end).verified
    for at in (start - SECOND, end + SECOND):
        assert _time_error(verify(p, at=at), "collateral_expired")["item"] == "TCB info"


def test_stale_qe_identity_is_collateral_expired() -> None:
    p = make_platform("sgx", qe_issue_date=NOW - 40 * DAY, qe_next_update=NOW - DAY)
    assert _time_error(verify(p), "collateral_expired")["item"] == "QE identity"


@pytest.mark.parametrize(
    "options",
    [
        {"pck_crl_this_update": NOW - 40 * DAY, "pck_crl_next_update": NOW - SECOND},
        {"pck_crl_this_update": NOW + SECOND},
        {"root_crl_this_update": NOW - 400 * DAY, "root_crl_next_update": NOW - DAY},
    ],
    ids=["pck-crl-stale", "pck-crl-future", "root-crl-stale"],
)
def test_crl_outside_its_window_is_crl_expired(options: dict[str, Any]) -> None:
    _time_error(verify(make_platform("sgx", **options)), "crl_expired")


@pytest.mark.parametrize(
    "options",
    [{"pck_not_after": NOW - SECOND}, {"pck_not_before": NOW + SECOND}],
    ids=["expired", "not-yet-valid"],
)
def test_pck_certificate_outside_its_validity_is_certificate_expired(
    options: dict[str, Any],
) -> None:
    error = _time_error(verify(make_platform("tdx", **options)), "certificate_expired")
    assert "SGX PCK Certificate" in error["item"]


def test_every_expired_item_is_reported() -> None:
    p = make_platform("sgx")
    late = verify(p, at=NOW + 100 * DAY)  # past TCB info, QE identity and the PCK CRL
    assert late.error_codes.count("collateral_expired") == 2
    assert "crl_expired" in late.error_codes
    assert {e.details["item"] for e in late.errors if e.code == "collateral_expired"} == {
        "TCB info",
        "QE identity",
    }


# --------------------------------------------------------------------------------------------
# Trust anchor and caching


@pytest.mark.parametrize("tee", TEES)
def test_test_platform_is_untrusted_under_the_intel_root(tee: str) -> None:
    p = make_platform(tee)
    result = Verifier().verify(p.quote(), collateral=p.collateral(), at=p.now)
    assert_fails(result, "untrusted_root")


def test_reused_verifier_answers_exactly_like_a_fresh_one() -> None:
    sgx = make_platform("sgx")
    tdx = make_platform("tdx")
    revoked = make_platform("sgx", revoked_pck=True)
    stale = make_platform("tdx", tcb_levels=[TcbLevel("OutOfDate", advisory_ids=("SA-1",))])
    calls: list[tuple[TestPlatform, bytes, Collateral, datetime]] = [
        (sgx, sgx.quote(), sgx.collateral(), NOW),
        (tdx, tdx.quote(), tdx.collateral(), NOW),
        (tdx, tdx.quote(version=5), tdx.collateral(), NOW),
        (sgx, sgx.quote(), sgx.collateral(), NOW + 26 * DAY),  # still valid
        (sgx, sgx.quote(), sgx.collateral(), NOW + 40 * DAY),  # windows closed
        (sgx, sgx.quote(), sgx.collateral(), NOW),  # and open again
        (revoked, revoked.quote(), revoked.collateral(), NOW),
        (revoked, revoked.quote(), sgx.collateral(), NOW),  # same PCK CA, other CRL entries
        (sgx, sgx.quote(), tdx.collateral(), NOW),  # mix-up after both were cached
        (stale, stale.quote(), stale.collateral(), NOW),
        (tdx, tdx.quote(), stale.collateral(), NOW),  # same PCK chain, other TCB info
        (tdx, tdx.quote(corrupt_quote_signature=True), tdx.collateral(), NOW),
        (tdx, tdx.quote(), tdx.collateral(), NOW - 400 * DAY),  # before the PCK certificate
        (tdx, tdx.quote(), tdx.collateral(), NOW),
    ]
    reused = Verifier(intel_root=sgx.root_der)
    seen = []
    for p, quote, collateral, at in calls:
        got = reused.verify(quote, collateral=collateral, at=at).to_dict()
        fresh = Verifier(intel_root=p.root_der).verify(quote, collateral=collateral, at=at)
        assert got == fresh.to_dict()
        seen.append((got["verified"], got["tcb_status"]))
    # The sequence really went through passes and failures.
    assert (True, "UpToDate") in seen and (True, "OutOfDate") in seen
    assert sum(not verified for verified, _ in seen) == 5


# --------------------------------------------------------------------------------------------
# PCK certificate chain supplied with the collateral


def test_quote_without_its_pck_chain_verifies_with_the_chain_in_the_collateral() -> None:
    p = make_platform("sgx")
    leaf_only = p.pck_chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----"
    quote = p.quote(cert_data_type=4, pck_chain=leaf_only.encode())  # type 4: PCK leaf only
    assert_fails(
        Verifier(intel_root=p.root_der).verify(quote, collateral=p.collateral(), at=p.now),
        "unsupported_format",
    )
    with_chain = replace(p.collateral(), pck_certificate_chain=p.pck_chain_pem)
    result = Verifier(intel_root=p.root_der).verify(quote, collateral=with_chain, at=p.now)
    assert result.verified, result.to_dict()["errors"]
    assert "pck_certificate_chain" in json.loads(with_chain.to_dcap_qvl_json())
    assert Collateral.from_dcap_qvl_json(with_chain.to_dcap_qvl_json()) == with_chain

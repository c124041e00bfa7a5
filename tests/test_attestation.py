"""Appraisal: verified evidence + reference values -> AR4SI trust vector, EAR status, reasons."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from vector_loader import intel

from trustroom.attestation import (
    CLAIMS,
    Appraisal,
    ReferenceValues,
    ReferenceValuesInvalid,
    appraise,
)
from trustroom.evidence import (
    Revoked,
    SignatureInvalid,
    UntrustedRoot,
    VerificationResult,
    Verifier,
)
from trustroom.tee import SimAttester, SimWorkload, sim_collateral

APP = SimWorkload(mrenclave=b"\x11" * 32, mrsigner=b"\x22" * 32, isv_prod_id=7, isv_svn=3)


@pytest.fixture(scope="module")
def sgx() -> VerificationResult:
    v = intel("sgx_v3_dcapqvl")
    return Verifier().verify(v.quote, collateral=v.collateral, at=v.at)


@pytest.fixture(scope="module")
def tdx() -> VerificationResult:
    v = intel("tdx_v4_dcapqvl")
    return Verifier().verify(v.quote, collateral=v.collateral, at=v.at)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerificationResult]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTROOM_HOME", str(tmp_path_factory.mktemp("home")))
        quote = SimAttester(APP).evidence(bytes(64))
        yield Verifier(trust_sim=True).verify(quote, collateral=sim_collateral())


def _reference(result: VerificationResult, **changes: object) -> ReferenceValues:
    """Reference values that the result matches in every respect, then ``changes``."""
    keys = ("mrenclave", "mrsigner") if result.tee in ("sgx", "sim") else ("mrtd", "rtmr0")
    fields: dict[str, object] = {
        "name": "workload",
        "tee": frozenset({result.tee}),
        "measurements": {k: frozenset({result.measurements[k]}) for k in keys},
        "min_svn": {},
        "min_tcb_status": result.tcb_status,
        "allow_debug": False,
    }
    fields.update(changes)
    return ReferenceValues(**fields)  # type: ignore[arg-type]


def _rules(appraisal: Appraisal) -> set[tuple[str, str]]:
    return {(r["rule"], r["claim"]) for r in appraisal.reasons}


def test_real_hardware_matching_everything_is_affirming(
    sgx: VerificationResult, tdx: VerificationResult
) -> None:
    for result in (sgx, tdx):
        appraisal = appraise(result, _reference(result))
        assert appraisal.status == "affirming", appraisal.reasons
        assert appraisal.reasons == [] and appraisal.failed_rules == frozenset()
        assert list(appraisal.trust_vector) == list(CLAIMS)
        assert appraisal.trust_vector["hardware"] == 2
        assert appraisal.trust_vector["executables"] == 2
        assert appraisal.trust_vector["configuration"] == 2
        assert appraisal.trust_vector["runtime-opaque"] == 2
        assert appraisal.tee == result.tee and appraisal.policy_id == "workload"


def test_no_reference_values_is_warning_at_best(tdx: VerificationResult) -> None:
    appraisal = appraise(tdx, None)
    assert appraisal.status == "warning"
    assert appraisal.trust_vector["executables"] == 33
    assert _rules(appraisal) == {("measurements", "executables")}


def test_measurement_mismatch_is_contraindicated_and_explained(sgx: VerificationResult) -> None:
    ref = _reference(sgx, measurements={"mrenclave": frozenset({"00" * 32})})
    appraisal = appraise(sgx, ref)
    assert appraisal.status == "contraindicated"
    assert appraisal.trust_vector["executables"] == 96
    (reason,) = appraisal.reasons
    assert reason == {
        "rule": "measurements",
        "claim": "executables",
        "expected": {"mrenclave": ["00" * 32]},
        "found": {"mrenclave": sgx.measurements["mrenclave"]},
    }


def test_missing_measurement_key_fails(sgx: VerificationResult) -> None:
    ref = _reference(sgx, measurements={"mrtd": frozenset({"00" * 48})})
    appraisal = appraise(sgx, ref)
    assert appraisal.status == "contraindicated"
    assert appraisal.reasons[0]["found"] == {"mrtd": None}


def test_tee_not_allowed(tdx: VerificationResult) -> None:
    appraisal = appraise(tdx, _reference(tdx, tee=frozenset({"sgx"})))
    assert appraisal.status == "contraindicated"
    assert appraisal.trust_vector["hardware"] == 97
    assert _rules(appraisal) == {("tee_allowed", "hardware")}


def test_tcb_below_minimum_maps_to_hardware_and_configuration(sgx: VerificationResult) -> None:
    # The SGX vector is ConfigurationAndSWHardeningNeeded: configuration, not hardware.
    appraisal = appraise(sgx, _reference(sgx, min_tcb_status="UpToDate"))
    assert appraisal.status == "warning"
    assert appraisal.trust_vector["configuration"] == 32
    assert appraisal.trust_vector["hardware"] == 2
    assert _rules(appraisal) == {("min_tcb_status", "configuration")}
    out_of_date = dataclasses.replace(sgx, tcb_status="OutOfDateConfigurationNeeded")
    appraisal = appraise(out_of_date, _reference(sgx, min_tcb_status="OutOfDate"))
    assert appraisal.trust_vector["hardware"] == 32
    assert appraisal.trust_vector["configuration"] == 32
    # A weaker minimum accepts it.
    ok = appraise(sgx, _reference(sgx, min_tcb_status="OutOfDate"))
    assert ok.status == "affirming"


def test_no_tcb_status_fails_a_tcb_rule_closed(tdx: VerificationResult) -> None:
    snp_like = dataclasses.replace(tdx, tcb_status=None)
    appraisal = appraise(snp_like, _reference(tdx, min_tcb_status="OutOfDate"))
    assert appraisal.status == "warning"
    assert appraisal.reasons[0]["found"] is None


def test_min_svn(sim: VerificationResult, sgx: VerificationResult) -> None:
    appraisal = appraise(sgx, _reference(sgx, min_svn={"isv_svn": 2}))
    assert appraisal.trust_vector["executables"] == 32
    assert appraisal.reasons == [
        {"rule": "min_svn", "claim": "executables", "expected": {"isv_svn": 2},
         "found": {"isv_svn": 0}}
    ]  # fmt: skip
    missing = appraise(sgx, _reference(sgx, min_svn={"guest_svn": 1}))
    assert missing.reasons[0]["found"] == {"guest_svn": None}
    assert appraise(sgx, _reference(sgx, min_svn={"isv_svn": 0})).status == "affirming"


def test_debug_is_refused_unless_allowed_and_never_hidden(tdx: VerificationResult) -> None:
    debug = dataclasses.replace(tdx, attributes={**tdx.attributes, "debug": True})
    refused = appraise(debug, _reference(tdx))
    assert refused.status == "contraindicated"
    assert refused.trust_vector["configuration"] == 96
    assert ("debug", "configuration") in _rules(refused)
    allowed = appraise(debug, _reference(tdx, allow_debug=True))
    assert allowed.trust_vector["configuration"] == 2
    assert allowed.trust_vector["runtime-opaque"] == 96  # the host can read its memory
    assert _rules(allowed) == {("debug", "runtime-opaque")}
    assert allowed.status != "affirming"


@pytest.mark.parametrize(
    ("codes", "hardware"),
    [(("signature_invalid",), 99), (("untrusted_root",), 97), (("revoked",), 96)],
)
def test_unverified_evidence_is_contraindicated(
    tdx: VerificationResult, codes: tuple[str, ...], hardware: int
) -> None:
    make = {"signature_invalid": SignatureInvalid, "untrusted_root": UntrustedRoot,
            "revoked": Revoked}  # fmt: skip
    failed = dataclasses.replace(tdx, verified=False, errors=tuple(make[c]("x") for c in codes))
    appraisal = appraise(failed, _reference(tdx))
    assert appraisal.status == "contraindicated" and not appraisal.verified
    assert appraisal.trust_vector["hardware"] == hardware
    assert appraisal.trust_vector["executables"] == 0  # nothing unattested is appraised
    assert appraisal.reasons[0]["rule"] == "evidence_verified"
    assert appraisal.reasons[0]["found"] == list(codes)


def test_sim_is_never_affirming_even_when_everything_matches(sim: VerificationResult) -> None:
    assert sim.verified and sim.tee == "sim"
    appraisal = appraise(sim, _reference(sim, min_svn={"isv_svn": 3}))
    assert appraisal.status == "contraindicated"
    assert appraisal.simulated
    assert appraisal.trust_vector["hardware"] == 97
    assert appraisal.trust_vector["runtime-opaque"] == 96
    assert appraisal.trust_vector["executables"] == 2  # the measurement rules still work
    assert appraisal.failed_rules == {"simulated_tee"}
    assert appraise(sim, None).status == "contraindicated"


def test_sim_must_be_listed_explicitly(sim: VerificationResult) -> None:
    appraisal = appraise(sim, _reference(sim, tee=frozenset({"sgx"})))
    assert ("tee_allowed", "hardware") in _rules(appraisal)


def test_submod_shape(sgx: VerificationResult) -> None:
    submod = appraise(sgx, _reference(sgx)).to_submod({"nonce": "abc"})
    assert submod["ear.status"] == "affirming"
    assert set(submod["ear.trustworthiness-vector"]) == set(CLAIMS)
    assert submod["ear.appraisal-policy-id"] == "workload"
    annotated = submod["ear.veraison.annotated-evidence"]
    assert annotated["sgx"]["measurements"]["mrenclave"] == sgx.measurements["mrenclave"]
    assert annotated["sgx"]["tcb_status"] == sgx.tcb_status
    assert annotated["report_data"] == sgx.report_data
    assert annotated["runtime_data_claims"] == {"nonce": "abc"}


# --- reference values -------------------------------------------------------------------


def test_reference_values_round_trip(sgx: VerificationResult) -> None:
    ref = _reference(sgx, min_svn={"isv_svn": 2})
    data = ref.to_dict()
    assert data["tee"] == ["sgx"] and data["min_svn"] == {"isv_svn": 2}
    assert ReferenceValues.from_dict(data) == ref


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tee": ["sgx", "sev"]}, "tee"),
        ({"tee": []}, "tee"),
        ({"tee": "sgx"}, "tee"),
        ({"name": ""}, "name"),
        ({"measurements": {"mrenclave": ["ABCD"]}}, "measurements.mrenclave"),
        ({"measurements": {"mrenclave": "abcd"}}, "measurements.mrenclave"),
        ({"measurements": {"mrenclave": []}}, "measurements.mrenclave"),
        ({"min_svn": {"isv_svn": "2"}}, "min_svn.isv_svn"),
        ({"min_svn": {"isv_svn": True}}, "min_svn.isv_svn"),
        ({"min_tcb_status": "Revoked"}, "min_tcb_status"),
        ({"allow_debug": "yes"}, "allow_debug"),
        ({"min_svns": {}}, "min_svns"),
    ],
)
def test_reference_values_validation_names_the_field(change: dict[str, object], field: str) -> None:
    data: dict[str, object] = {"name": "w", "tee": ["sgx"], **change}
    with pytest.raises(ReferenceValuesInvalid) as info:
        ReferenceValues.from_dict(data)
    assert info.value.details["field"] == field
    assert info.value.code == "reference_values_invalid"


def test_reference_values_are_frozen(tmp_path: Path) -> None:
    ref = ReferenceValues("w", frozenset({"tdx"}), {"mrtd": frozenset({"ab"})})
    with pytest.raises(TypeError):
        ref.measurements["mrtd"] = frozenset()  # type: ignore[index]

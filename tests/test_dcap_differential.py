"""trustroom against Phala's dcap-qvl (pinned 0.7.0) on the same synthetic platforms.

For a grid of platforms (PCK SVNs and PCESVN against a ladder of TCB levels, QE levels, TDX
module levels, TEE TCB SVNs; SGX and TDX) both verifiers must agree on acceptance (dcap-qvl
raising == trustroom not verified), the TCB status and the set of advisory IDs.

Where they do not agree, Intel's QVL (the reference implementation; reference document
attestation-evidence-formats.md section 3) decides who is right:

* ``DIVERGENCES``: dcap-qvl differs from QVL by design (it adds policy checks, or simplifies);
  trustroom follows QVL. Each is asserted exactly, both sides, with the reason.
* ``QVL_CORNER_CASES``: places where trustroom once differed from QVL while dcap-qvl followed
  it (TD 1.5 relaunch advice, SEAM attributes, the statuses module and QE levels may carry,
  QE level order). Both must now give QVL's answer.

Older dcap-qvl releases merged statuses by severity and compared TEE TCB SVN bytes 0-1;
``test_former_divergences_now_agree`` pins that 0.7.0 agrees with QVL on both.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any

import dcap_qvl
import pytest
from dcap_factory import (
    DAY,
    DEFAULT_SGX_COMPONENTS,
    DEFAULT_TEE_TCB_SVN,
    NOW,
    SEPT_VE_DISABLE,
    QeLevel,
    TcbLevel,
    TdxModule,
    TestPlatform,
    bump,
    make_platform,
)

from trustroom.evidence import Verifier

C = DEFAULT_SGX_COMPONENTS
T = DEFAULT_TEE_TCB_SVN


@dataclass(frozen=True)
class Verdict:
    """What both verifiers are compared on."""

    accepted: bool
    status: str | None = None
    advisories: frozenset[str] = frozenset()

    @classmethod
    def ok(cls, status: str, *advisories: str) -> Verdict:
        return cls(True, status, frozenset(advisories))


REJECTED = Verdict(False)


@dataclass(frozen=True)
class Case:
    name: str
    tee: str
    options: dict[str, Any] = field(default_factory=dict)  # make_platform options
    quote: dict[str, Any] = field(default_factory=dict)  # TestPlatform.quote fields

    def platform(self) -> TestPlatform:
        return make_platform(self.tee, **self.options)


# One verifier for the whole module: every platform shares the test root, and its cache makes
# the grid fast (test_dcap_synthetic checks that a reused verifier equals a fresh one).
_VERIFIERS: dict[bytes, Verifier] = {}


def trustroom_verdict(p: TestPlatform, quote: bytes) -> Verdict:
    verifier = _VERIFIERS.setdefault(p.root_der, Verifier(intel_root=p.root_der))
    result = verifier.verify(quote, collateral=p.collateral(), at=p.now)
    if not result.verified:
        return REJECTED
    assert result.tcb_status is not None
    return Verdict.ok(result.tcb_status, *result.advisory_ids)


def dcap_qvl_verdict(p: TestPlatform, quote: bytes) -> Verdict:
    collateral = dcap_qvl.QuoteCollateralV3.from_json(p.collateral_json())
    try:
        report = dcap_qvl.verify_with_root_ca(quote, collateral, p.root_der, p.now_secs)
    except ValueError:
        return REJECTED
    return Verdict.ok(report.status, *report.advisory_ids)


def both(case: Case) -> tuple[Verdict, Verdict]:
    p = case.platform()
    quote = p.quote(**case.quote)
    return trustroom_verdict(p, quote), dcap_qvl_verdict(p, quote)


# --------------------------------------------------------------------------------------------
# The agreement grid

# A ladder of levels, newest first: the platform lands on one of them (or below all) through
# its PCK component SVNs (index 0: a microcode-like component; index 6: a configuration-like
# one) and its PCESVN.
LADDER = (
    TcbLevel("UpToDate", sgx=C, pcesvn=13),
    TcbLevel("SWHardeningNeeded", sgx=C, pcesvn=12, advisory_ids=("INTEL-SA-00615",)),
    TcbLevel("ConfigurationNeeded", sgx=bump(C, 6, -12), pcesvn=13,
             advisory_ids=("INTEL-SA-00289",)),
    TcbLevel("ConfigurationAndSWHardeningNeeded", sgx=bump(C, 6, -12), pcesvn=12,
             advisory_ids=("INTEL-SA-00289", "INTEL-SA-00615")),
    TcbLevel("OutOfDate", sgx=bump(C, 0, -1), pcesvn=13,
             advisory_ids=("INTEL-SA-00828", "INTEL-SA-00615")),
    TcbLevel("OutOfDateConfigurationNeeded", sgx=bump(bump(C, 0, -1), 6, -12), pcesvn=12,
             advisory_ids=("INTEL-SA-00828", "INTEL-SA-00289")),
    TcbLevel("Revoked", sgx=bump(C, 0, -2), pcesvn=11, advisory_ids=("INTEL-SA-00999",)),
)  # fmt: skip
PLATFORM_SVNS = {
    "top": C,
    "config": bump(C, 6, -12),
    "old": bump(C, 0, -1),
    "old-config": bump(bump(C, 0, -1), 6, -12),
    "older": bump(C, 0, -2),
    "below-all": bump(C, 0, -3),
}
PCESVNS = (13, 12, 11)
QE_LEVELS = {
    "qe-up": (QeLevel(8),),
    "qe-old": (QeLevel(9), QeLevel(8, "OutOfDate", ("INTEL-SA-00615", "INTEL-SA-00477"))),
    "qe-revoked": (QeLevel(9), QeLevel(8, "Revoked")),
    "qe-below": (QeLevel(9),),
}
MODULES = {
    "mod-up": (TdxModule("TDX_01", levels=(QeLevel(6),)),),
    "mod-old": (TdxModule("TDX_01", levels=(QeLevel(7), QeLevel(6, "OutOfDate", ("SA-M",)))),),
    "mod-revoked": (TdxModule("TDX_01", levels=(QeLevel(7), QeLevel(6, "Revoked"))),),
    "mod-below": (TdxModule("TDX_01", levels=(QeLevel(7),)),),
    "mod-missing": (TdxModule("TDX_02", levels=(QeLevel(0),)),),
}
TDX_LADDER = tuple(
    level if i != 1 else TcbLevel(level.status, sgx=level.sgx, pcesvn=level.pcesvn,
                                  tdx=bump(T, 2), advisory_ids=level.advisory_ids)
    for i, level in enumerate(LADDER)
)  # fmt: skip
TEE_TCB_SVNS = {"tee-top": T, "tee-microcode-low": bump(T, 2, -1)}


def _grid() -> list[Case]:
    cases = []
    for (svn_name, svns), pcesvn, (qe_name, qe) in itertools.product(
        PLATFORM_SVNS.items(), PCESVNS, QE_LEVELS.items()
    ):
        cases.append(Case(
            f"sgx-{svn_name}-pce{pcesvn}-{qe_name}", "sgx",
            dict(pck_components=svns, pce_svn=pcesvn, tcb_levels=LADDER, qe_levels=qe),
        ))  # fmt: skip
    # TDX: the ladder's SWHardeningNeeded level also asks for more microcode (TEE TCB SVN
    # byte 2), so that TDs with older microcode fall through to the next level.
    for (svn_name, svns), pcesvn, (qe_name, qe), (mod_name, mods), (tee_name, tee) in (
        itertools.product(
            PLATFORM_SVNS.items(), (13, 12), QE_LEVELS.items(), MODULES.items(),
            TEE_TCB_SVNS.items(),
        )
    ):  # fmt: skip
        if (qe_name != "qe-up") + (mod_name != "mod-up") + (tee_name != "tee-top") > 1:
            continue  # one deviation from the nominal platform at a time keeps the grid small
        cases.append(Case(
            f"tdx-{svn_name}-pce{pcesvn}-{qe_name}-{mod_name}-{tee_name}", "tdx",
            dict(pck_components=svns, pce_svn=pcesvn, tcb_levels=TDX_LADDER, qe_levels=qe,
                 tdx_module_identities=mods, tee_tcb_svn=tee),
        ))  # fmt: skip
    return cases


GRID = _grid()


GRID_BY_NAME = {case.name: case for case in GRID}
assert len(GRID_BY_NAME) == len(GRID)


@functools.cache
def grid_verdicts(name: str) -> tuple[Verdict, Verdict]:
    # Each grid case is verified once, whichever of the two tests below asks first.
    return both(GRID_BY_NAME[name])


def test_grid_covers_every_outcome() -> None:
    # Guard against a grid that silently stops reaching a status (or a failure).
    seen = {grid_verdicts(case.name)[0].status for case in GRID}
    assert seen == {
        None,  # rejected
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
    }


@pytest.mark.parametrize("case", GRID, ids=[c.name for c in GRID])
def test_grid_agrees_with_dcap_qvl(case: Case) -> None:
    ours, theirs = grid_verdicts(case.name)
    assert ours == theirs


# More agreement: collateral problems, identity mismatches and the v4/v5 layouts.
MOD_OLD = MODULES["mod-old"]
AGREEMENT = [
    Case("sgx-baseline", "sgx"),
    Case("tdx-v4-baseline", "tdx"),
    Case("tdx-v5-td15", "tdx", quote={"version": 5}),
    Case("tdx-v5-td10-body", "tdx", quote={"version": 5, "body": "td10"}),
    Case("sgx-platform-ca", "sgx", {"ca": "platform"}),
    Case("tdx-platform-ca", "tdx", {"ca": "platform"}),
    Case("sgx-revoked-pck", "sgx", {"revoked_pck": True}),
    Case("tdx-revoked-pck-platform-ca", "tdx", {"revoked_pck": True, "ca": "platform"}),
    Case("sgx-revoked-pck-ca", "sgx", {"revoked_cas": ("processor",)}),
    Case("sgx-pck-crl-of-other-ca", "sgx", {"pck_crl_ca": "platform"}),
    Case("sgx-fmspc-mismatch", "sgx", {"tcb_fmspc": bytes(6)}),
    Case("tdx-fmspc-mismatch", "tdx", {"tcb_fmspc": bytes(6)}),
    Case("sgx-with-tdx-tcb-info", "sgx", {"tcb_info_id": "TDX"}),
    Case("tdx-with-sgx-tcb-info", "tdx", {"tcb_info_id": "SGX"}),
    Case("sgx-with-td-qe-identity", "sgx", {"qe_identity_id": "TD_QE"}),
    Case("tdx-with-qe-identity", "tdx", {"qe_identity_id": "QE"}),
    Case("sgx-qe-mrsigner", "sgx", quote={"qe_mrsigner": b"\x01" * 32}),
    Case("tdx-qe-isvprodid", "tdx", quote={"qe_isvprodid": 1}),
    Case("sgx-qe-miscselect", "sgx", quote={"qe_miscselect": 1}),
    Case("tdx-qe-debug", "tdx", quote={"qe_attributes": bytes([0x13]) + bytes(15)}),
    Case("sgx-qe-attribute-outside-mask", "sgx",
         quote={"qe_attributes": bytes([0x15]) + bytes(15)}),
    Case("sgx-quote-signature", "sgx", quote={"corrupt_quote_signature": True}),
    Case("tdx-qe-report-binding", "tdx", quote={"qe_report_data": bytes(64)}),
    Case("sgx-pck-chain-without-nul", "sgx",
         quote={"pck_chain": make_platform("sgx").pck_chain_pem.encode()}),
    Case("tdx-mrsignerseam", "tdx", quote={"mrsignerseam": b"\x01" * 48}),
    Case("tdx-mrsignerseam-module-v0", "tdx", {"tee_tcb_svn": bump(T, 1, -1)},
         quote={"mrsignerseam": b"\x01" * 48}),
    Case("tdx-module-v0-own-signer", "tdx",
         {"tee_tcb_svn": bump(T, 1, -1), "tdx_module": TdxModule(mrsigner=b"\x02" * 48)},
         quote={"mrsignerseam": b"\x02" * 48}),
    Case("tdx-seam-attributes", "tdx", quote={"seam_attributes": b"\x01" + bytes(7)}),
    Case("tdx-module-identities-empty", "tdx", {"tdx_module_identities": ()}),
    Case("tdx-module-id-lowercase", "tdx",
         {"tdx_module_identities": (TdxModule("tdx_01", levels=(QeLevel(6),)),)}),
    Case("tdx-levels-unsorted", "tdx",
         {"tcb_levels": (TcbLevel("OutOfDate", tdx=bump(T, 2, -1)), TcbLevel("UpToDate"))}),
    Case("tdx-td-pks-perfmon", "tdx",
         quote={"td_attributes": (SEPT_VE_DISABLE | 1 << 30 | 1 << 63).to_bytes(8, "little")}),
    Case("tdx-td15-relaunch-not-advised", "tdx", {"tdx_module_identities": MOD_OLD},
         quote={"version": 5}),  # TEE_TCB_SVN2 == TEE_TCB_SVN: nothing newer to relaunch into
    Case("tdx-td15-qe-old-blocks-relaunch", "tdx",
         {"tdx_module_identities": MOD_OLD, "qe_levels": QE_LEVELS["qe-old"]},
         quote={"version": 5, "tee_tcb_svn2": bump(T, 0)}),
    Case("sgx-expired-tcb-info", "sgx", {"tcb_next_update": NOW - DAY}),
    Case("tdx-future-tcb-info", "tdx", {"tcb_issue_date": NOW + DAY}),
    Case("sgx-stale-pck-crl", "sgx", {"pck_crl_next_update": NOW - DAY}),
    Case("tdx-stale-root-crl", "tdx", {"root_crl_next_update": NOW - DAY}),
    Case("tdx-expired-pck", "tdx", {"pck_not_after": NOW - DAY}),
    Case("sgx-future-pck", "sgx", {"pck_not_before": NOW + DAY}),
    Case("tdx-stale-qe-identity", "tdx", {"qe_next_update": NOW - DAY}),
    Case("sgx-pce-svn-256", "sgx", {"pce_svn": 256}),
    Case("sgx-component-128", "sgx", {"pck_components": bump(C, 7, 128)}),
]  # fmt: skip


@pytest.mark.parametrize("case", AGREEMENT, ids=[c.name for c in AGREEMENT])
def test_scenarios_agree_with_dcap_qvl(case: Case) -> None:
    ours, theirs = both(case)
    assert ours == theirs


def test_untrusted_root_is_rejected_by_both() -> None:
    # Under Intel's real root, a test platform is rejected by both verifiers.
    p = make_platform("tdx")
    quote = p.quote()
    result = Verifier().verify(quote, collateral=p.collateral(), at=p.now)
    assert "untrusted_root" in result.error_codes
    with pytest.raises(ValueError):
        dcap_qvl.verify(quote, dcap_qvl.QuoteCollateralV3.from_json(p.collateral_json()),
                        p.now_secs)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Divergences listed in docs/evidence.md that dcap-qvl 0.7.0 no longer has


FORMER_DIVERGENCES = [
    # (a) Status convergence. Older dcap-qvl merged QE/module status by severity
    # (ConfigurationNeeded + OutOfDate -> OutOfDate); 0.7.0 converges like QVL
    # (convergeTcbStatusWithQeTcbStatus / ...WithTdxModuleStatus): OutOfDateConfigurationNeeded.
    (Case("sgx-qe-old-config", "sgx",
          {"tcb_levels": (TcbLevel("ConfigurationNeeded", advisory_ids=("SA-P",)),),
           "qe_levels": (QeLevel(9), QeLevel(8, "OutOfDate", ("SA-Q",)))}),
     Verdict.ok("OutOfDateConfigurationNeeded", "SA-P", "SA-Q")),
    (Case("tdx-qe-old-config-sw", "tdx",
          {"tcb_levels": (TcbLevel("ConfigurationAndSWHardeningNeeded", advisory_ids=("SA-P",)),),
           "qe_levels": (QeLevel(9), QeLevel(8, "OutOfDate", ("SA-Q",)))}),
     Verdict.ok("OutOfDateConfigurationNeeded", "SA-P", "SA-Q")),
    (Case("tdx-module-old-config", "tdx",
          {"tcb_levels": (TcbLevel("ConfigurationNeeded", advisory_ids=("SA-P",)),),
           "tdx_module_identities": MOD_OLD}),
     Verdict.ok("OutOfDateConfigurationNeeded", "SA-P", "SA-M")),
    # (b) TEE TCB SVN bytes 0-1 with a module version above 0. Older dcap-qvl compared them
    # with the TCB level; 0.7.0 starts at byte 2 like QVL's isTdxTcbHigherOrEqual.
    (Case("tdx-level-wants-newer-module-isvsvn", "tdx",
          {"tcb_levels": (TcbLevel("UpToDate", tdx=bump(T, 0)),
                          TcbLevel("OutOfDate", tdx=bump(T, 2, -1)))}),
     Verdict.ok("UpToDate")),
    (Case("tdx-level-wants-newer-module-version", "tdx",
          {"tcb_levels": (TcbLevel("UpToDate", tdx=bump(T, 1)),
                          TcbLevel("OutOfDate", tdx=bump(T, 2, -1)))}),
     Verdict.ok("UpToDate")),
    # ... and with module version 0 both compare byte 0.
    (Case("tdx-module-v0-byte-0-counts", "tdx",
          {"tee_tcb_svn": bump(T, 1, -1),
           "tcb_levels": (TcbLevel("UpToDate", tdx=bump(bump(T, 1, -1), 0)),
                          TcbLevel("OutOfDate", tdx=bump(bump(T, 1, -1), 0, -1)))}),
     Verdict.ok("OutOfDate")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "expected"), FORMER_DIVERGENCES, ids=[c.name for c, _ in FORMER_DIVERGENCES]
)
def test_former_divergences_now_agree(case: Case, expected: Verdict) -> None:
    assert both(case) == (expected, expected)


# --------------------------------------------------------------------------------------------
# Documented divergences: dcap-qvl differs from QVL by design; trustroom follows QVL


@dataclass(frozen=True)
class Divergence:
    case: Case
    trustroom: Verdict
    dcap_qvl: Verdict
    why: str


DEBUG_SGX = bytes.fromhex("0700000000000000e700000000000000")
NO_POLICY = (
    "(c) dcap-qvl applies appraisal policy inside verification; trustroom verifies the "
    "evidence and reports the attributes for the appraisal layer (reference section 3, step 14)"
)
MOD_OLD_V2 = (*MOD_OLD, TdxModule("TDX_02", levels=(QeLevel(3),)))

DIVERGENCES = [
    Divergence(
        Case("sgx-debug-enclave", "sgx", quote={"attributes": DEBUG_SGX}),
        Verdict.ok("UpToDate"), REJECTED, NO_POLICY + ": SGX ATTRIBUTES.DEBUG",
    ),
    Divergence(
        Case("tdx-debug-td", "tdx",
             quote={"td_attributes": (SEPT_VE_DISABLE | 1).to_bytes(8, "little")}),
        Verdict.ok("UpToDate"), REJECTED, NO_POLICY + ": TD_ATTRIBUTES.TUD.DEBUG",
    ),
    Divergence(
        Case("tdx-without-sept-ve-disable", "tdx", quote={"td_attributes": bytes(8)}),
        Verdict.ok("UpToDate"), REJECTED, NO_POLICY + ": SEPT_VE_DISABLE (bit 28) clear",
    ),
    Divergence(
        Case("tdx-reserved-td-attribute", "tdx",
             quote={"td_attributes": (SEPT_VE_DISABLE | 1 << 29).to_bytes(8, "little")}),
        Verdict.ok("UpToDate"), REJECTED, NO_POLICY + ": reserved TD_ATTRIBUTES bit 29 set",
    ),
    Divergence(
        Case("td15-service-td", "tdx", quote={"version": 5, "mrservicetd": b"\x01" * 48}),
        Verdict.ok("UpToDate"), REJECTED,
        NO_POLICY + ": non-zero MRSERVICETD (dcap-qvl's allow_service_td is off by default)",
    ),
    Divergence(
        Case("debug-qe-outside-identity-mask", "sgx", {"qe_attributes_mask": bytes(16)},
             quote={"qe_attributes": bytes([0x13]) + bytes(15)}),
        Verdict.ok("UpToDate"), REJECTED,
        "dcap-qvl refuses a debug QE whatever the QE identity says; QVL compares ATTRIBUTES "
        "only under the identity's attributesMask (Intel's real mask covers DEBUG, so this "
        "needs a synthetic identity)",
    ),
    Divergence(
        Case("cpusvn-below-components", "sgx",
             {"cpusvn": bytes(bump(C, 0, -1)),
              "tcb_levels": (TcbLevel("UpToDate"), TcbLevel("OutOfDate", sgx=bump(C, 0, -1)))}),
        Verdict.ok("UpToDate"), Verdict.ok("OutOfDate"),
        "dcap-qvl matches TCB levels with the raw CPUSVN (OID ...13.1.2.18) of the PCK "
        "certificate; QVL (TcbLevelCheck isCpuSvnHigherOrEqual) uses the 16 component SVNs "
        "(...13.1.2.1-16). Real certificates carry equal values",
    ),
    Divergence(
        Case("cpusvn-above-components", "tdx",
             {"cpusvn": bytes(bump(C, 0, 5)),
              "tcb_levels": (TcbLevel("UpToDate", sgx=bump(C, 0)), TcbLevel("OutOfDate"))}),
        Verdict.ok("OutOfDate"), Verdict.ok("UpToDate"),
        "as above, the other way round: a raw CPUSVN above the components lifts dcap-qvl's level",
    ),
    Divergence(
        Case("pce-id-mismatch", "tdx", {"tcb_pce_id": b"\x00\x01"}),
        REJECTED, Verdict.ok("UpToDate"),
        "dcap-qvl does not compare the PCE ID of the PCK certificate with TCB info; QVL "
        "4.1.2.4.10 does (STATUS_TCB_INFO_MISMATCH), trustroom says collateral_mismatch",
    ),
    Divergence(
        Case("qe-auth-data-16-bytes", "sgx", quote={"qe_auth_data": bytes(16)}),
        Verdict.ok("UpToDate"), REJECTED,
        "dcap-qvl requires exactly 32 bytes of QE authentication data; the quote format (and "
        "QVL) carry a variable-size field, hashed with the attestation key whatever its size",
    ),
    Divergence(
        Case("qe-auth-data-empty", "tdx", quote={"qe_auth_data": b""}),
        Verdict.ok("UpToDate"), REJECTED, "as above, with no QE authentication data at all",
    ),
    Divergence(
        Case("sgx-quote-v4", "sgx", quote={"version": 4}),
        Verdict.ok("UpToDate"), REJECTED,
        "dcap-qvl accepts SGX quotes only as version 3; QVL (Quote::validate) accepts SGX in "
        "v4 and in v5 with body type 1",
    ),
    Divergence(
        Case("sgx-quote-v5", "sgx", quote={"version": 5}),
        Verdict.ok("UpToDate"), REJECTED, "as above, v5 with an SGX body (type 1)",
    ),
    Divergence(
        Case("tdx-module-levels-unsorted", "tdx",
             {"tdx_module_identities": (
                 TdxModule("TDX_01", levels=(QeLevel(2, "OutOfDate"), QeLevel(6))),)}),
        Verdict.ok("UpToDate"), Verdict.ok("OutOfDate"),
        "dcap-qvl takes TDX module levels in document order; QVL keeps them in a "
        "std::set<TdxModuleTcbLevel, std::greater> (highest ISVSVN first), as trustroom does. "
        "Intel publishes them sorted",
    ),
    Divergence(
        Case("td15-relaunch-svn2-below-every-level", "tdx", {"tdx_module_identities": MOD_OLD},
             quote={"version": 5, "tee_tcb_svn2": bump(bump(T, 0), 2, -1)}),
        Verdict.ok("OutOfDate", "SA-M"), REJECTED,
        "TD 1.5 relaunch check: QVL checkForRelaunch compares TEE_TCB_SVN2 with the newest "
        "level only and otherwise keeps the TDX status (OutOfDate); dcap-qvl evaluates "
        "TEE_TCB_SVN2 against all levels and fails when none matches",
    ),
]  # fmt: skip


@pytest.mark.parametrize("d", DIVERGENCES, ids=[d.case.name for d in DIVERGENCES])
def test_documented_divergence(d: Divergence) -> None:
    ours, theirs = both(d.case)
    assert ours == d.trustroom, d.why
    assert theirs == d.dcap_qvl, d.why


# --------------------------------------------------------------------------------------------
# QVL corner cases where trustroom once deviated (dcap-qvl follows QVL); both must agree now


@dataclass(frozen=True)
class CornerCase:
    case: Case
    qvl: Verdict  # what QVL (and dcap-qvl) answer
    why: str


RELAUNCH = (
    "QVL checkForRelaunch (TD 1.5): TDRelaunchAdvised[ConfigurationNeeded] when the module is "
    "OutOfDate but TEE_TCB_SVN2 meets the newest level"
)
QVL_CORNER_CASES = [
    CornerCase(
        Case("td15-relaunch-advised", "tdx", {"tdx_module_identities": MOD_OLD},
             quote={"version": 5, "tee_tcb_svn2": bump(T, 0)}),
        Verdict.ok("TDRelaunchAdvised", "SA-M"), RELAUNCH,
    ),
    CornerCase(
        Case("td15-relaunch-advised-config", "tdx",
             {"tdx_module_identities": MOD_OLD,
              "tcb_levels": (TcbLevel("ConfigurationNeeded", advisory_ids=("SA-P",)),)},
             quote={"version": 5, "tee_tcb_svn2": bump(T, 0)}),
        Verdict.ok("TDRelaunchAdvisedConfigurationNeeded", "SA-P", "SA-M"), RELAUNCH,
    ),
    CornerCase(
        Case("td15-relaunch-into-module-v2", "tdx", {"tdx_module_identities": MOD_OLD_V2},
             quote={"version": 5, "tee_tcb_svn2": bytes([3, 2, 3, *T[3:]])}),
        Verdict.ok("TDRelaunchAdvised", "SA-M"), RELAUNCH,
    ),
    CornerCase(
        Case("td15-relaunch-into-unknown-module", "tdx", {"tdx_module_identities": MOD_OLD},
             quote={"version": 5, "tee_tcb_svn2": bytes([3, 2, 3, *T[3:]])}),
        REJECTED, RELAUNCH + "; a TEE_TCB_SVN2 module version without identity is "
        "STATUS_TDX_MODULE_MISMATCH",
    ),
    CornerCase(
        Case("seam-attributes-outside-mask", "tdx",
             {"tdx_module_identities": (
                 TdxModule("TDX_01", attributes_mask=bytes(8), levels=(QeLevel(6),)),)},
             quote={"seam_attributes": b"\x01" + bytes(7)}),
        REJECTED,
        "QVL 4.1.2.4.11.2 requires SEAMATTRIBUTES to be zero (dcap-qvl: no bits outside "
        "attributesMask), not only equal under the mask",
    ),
    CornerCase(
        Case("module-level-configuration-needed", "tdx",
             {"tdx_module_identities": (
                 TdxModule("TDX_01", levels=(QeLevel(6, "ConfigurationNeeded", ("SA-M",)),)),)}),
        REJECTED,
        "QVL accepts only UpToDate/OutOfDate/Revoked as TDX module level status "
        "(VALID_MODULE_TCB_STATUSES), not any status dropped in convergence",
    ),
    CornerCase(
        Case("qe-level-sw-hardening-needed", "sgx",
             {"qe_levels": (QeLevel(8, "SWHardeningNeeded", ("SA-Q",)),)}),
        REJECTED,
        "QVL's enclave identity parser (parseStringToTcbStatus) knows UpToDate, "
        "ConfigurationNeeded, OutOfDate, OutOfDateConfigurationNeeded and Revoked only",
    ),
    CornerCase(
        Case("qe-levels-unsorted", "tdx",
             {"qe_levels": (QeLevel(2, "OutOfDate", ("SA-Q",)), QeLevel(8))}),
        Verdict.ok("OutOfDate", "SA-Q"),
        "QVL (EnclaveIdentityV2::getTcbStatus) takes QE identity levels in document order, "
        "not sorted by ISVSVN. Intel publishes them sorted",
    ),
]  # fmt: skip


@pytest.mark.parametrize("d", QVL_CORNER_CASES, ids=[d.case.name for d in QVL_CORNER_CASES])
def test_qvl_corner_cases(d: CornerCase) -> None:
    ours, theirs = both(d.case)
    assert theirs == d.qvl, f"dcap-qvl no longer answers as QVL: {d.why}"
    assert ours == d.qvl, d.why

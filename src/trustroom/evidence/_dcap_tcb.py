"""Intel TCB evaluation: which TCB level a platform, its TDX module and its QE are at.

Semantics follow Intel's Quote Verification Library (TcbLevelCheck, TdxModuleCheck and the
status convergence in QuoteVerifier), the reference implementation. Where Phala's dcap-qvl
differs, QVL is followed and docs/evidence.md says where.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustroom.evidence._dcap_identity import QeIdentity, QeTcbLevel, TcbInfo, TcbLevel
from trustroom.evidence._dcap_quote import EnclaveReport, TdReport
from trustroom.evidence._errors import QeIdentityMismatch, TcbLevelNotFound, TdxModuleMismatch
from trustroom.evidence._pck import PckExtensions
from trustroom.evidence._result import TcbStatus as S

__all__ = ["TcbVerdict", "evaluate_tcb"]


@dataclass(frozen=True, slots=True)
class TcbVerdict:
    status: str
    advisory_ids: tuple[str, ...]
    platform_status: str
    qe_status: str
    module_status: str | None
    tcb_date: str


def match_qe_identity(qe: EnclaveReport, identity: QeIdentity) -> QeTcbLevel:
    """Check the QE report against Intel's QE identity; return the QE's TCB level."""
    mismatches = []
    if qe.mrsigner != identity.mrsigner:
        mismatches.append(f"MRSIGNER {qe.mrsigner.hex()} != {identity.mrsigner.hex()}")
    if qe.isv_prod_id != identity.isv_prod_id:
        mismatches.append(f"ISVPRODID {qe.isv_prod_id} != {identity.isv_prod_id}")
    if qe.miscselect & identity.miscselect_mask != identity.miscselect & identity.miscselect_mask:
        mismatches.append(f"MISCSELECT {qe.miscselect:08x} under mask")
    mask = identity.attributes_mask
    if bytes(a & m for a, m in zip(qe.attributes, mask, strict=True)) != bytes(
        a & m for a, m in zip(identity.attributes, mask, strict=True)
    ):
        mismatches.append(f"ATTRIBUTES {qe.attributes.hex()} under mask {mask.hex()}")
    if mismatches:
        raise QeIdentityMismatch(
            f"the quoting enclave does not match Intel's {identity.id} identity: "
            + "; ".join(mismatches)
        )
    for level in identity.levels:
        if qe.isv_svn >= level.isv_svn:
            return level
    raise TcbLevelNotFound(
        f"the quoting enclave's ISVSVN {qe.isv_svn} is below every level of Intel's "
        f"{identity.id} identity (lowest {identity.levels[-1].isv_svn})"
    )


def _tdx_svn_matches(level: TcbLevel, td: TdReport) -> bool:
    assert level.tdx_components is not None
    # With a TDX module version (byte 1) above 0, bytes 0-1 describe the module, which is
    # judged by its module identity instead of the platform TCB level (QVL TcbLevelCheck).
    start = 2 if td.tee_tcb_svn[1] > 0 else 0
    return all(td.tee_tcb_svn[i] >= level.tdx_components[i] for i in range(start, 16))


def match_platform_level(info: TcbInfo, pck: PckExtensions, td: TdReport | None) -> TcbLevel:
    for level in info.levels:
        sgx_ok = pck.pce_svn >= level.pce_svn and all(
            have >= need
            for have, need in zip(pck.tcb_components, level.sgx_components, strict=True)
        )
        if not sgx_ok:
            continue
        if td is None:
            return level
        if level.tdx_components is not None and _tdx_svn_matches(level, td):
            return level
    svns = ",".join(map(str, pck.tcb_components))
    extra = f", TEE TCB SVN {td.tee_tcb_svn.hex()}" if td is not None else ""
    raise TcbLevelNotFound(
        f"no TCB level of FMSPC {info.fmspc.hex()} covers this platform "
        f"(SGX components {svns}, PCESVN {pck.pce_svn}{extra})"
    )


def match_tdx_module(info: TcbInfo, td: TdReport) -> QeTcbLevel | None:
    """Check the TDX module identity; return its TCB level when it has one of its own."""
    version = td.tee_tcb_svn[1]
    expected = info.tdx_module
    levels: tuple[QeTcbLevel, ...] = ()
    if version > 0:
        wanted = f"TDX_{version:02X}"
        found = [m for m in info.tdx_module_identities if m.id.upper() == wanted]
        if not found:
            raise TdxModuleMismatch(f"the TCB info has no identity for TDX module {wanted}")
        expected, levels = found[0], found[0].levels
    if expected is None:
        raise TdxModuleMismatch("the TCB info describes no TDX module")
    if td.mrsignerseam != expected.mrsigner:
        raise TdxModuleMismatch(
            f"the TDX module's MRSIGNERSEAM {td.mrsignerseam.hex()} is not the expected "
            f"{expected.mrsigner.hex()}"
        )
    mask = expected.attributes_mask
    if bytes(a & m for a, m in zip(td.seam_attributes, mask, strict=True)) != bytes(
        a & m for a, m in zip(expected.attributes, mask, strict=True)
    ):
        raise TdxModuleMismatch(
            f"the TDX module's SEAM attributes {td.seam_attributes.hex()} do not match "
            f"{expected.attributes.hex()} under mask {mask.hex()}"
        )
    if not levels:
        return None
    for level in levels:
        if td.tee_tcb_svn[0] >= level.isv_svn:
            return level
    raise TcbLevelNotFound(
        f"TDX module {version:02X} ISVSVN {td.tee_tcb_svn[0]} is below every level of its identity"
    )


def _converge(platform: str, other: str) -> str:
    # Intel QVL convergeTcbStatusWithQeTcbStatus / ...WithTdxModuleStatus: an out-of-date QE
    # or TDX module makes the whole platform out of date, keeping "configuration needed".
    if other == S.OUT_OF_DATE:
        if platform in (S.UP_TO_DATE, S.SW_HARDENING_NEEDED):
            return S.OUT_OF_DATE
        if platform in (S.CONFIGURATION_NEEDED, S.CONFIGURATION_AND_SW_HARDENING_NEEDED):
            return S.OUT_OF_DATE_CONFIGURATION_NEEDED
    if other == S.REVOKED:
        return S.REVOKED
    return platform


def evaluate_tcb(
    info: TcbInfo, pck: PckExtensions, qe_level: QeTcbLevel, td: TdReport | None
) -> TcbVerdict:
    level = match_platform_level(info, pck, td)
    status, advisories = level.status, list(level.advisory_ids)
    module = match_tdx_module(info, td) if td is not None else None
    if module is not None:
        status = _converge(status, module.status)
        advisories += module.advisory_ids
    status = _converge(status, qe_level.status)
    advisories += qe_level.advisory_ids
    return TcbVerdict(
        status=status,
        advisory_ids=tuple(dict.fromkeys(advisories)),
        platform_status=level.status,
        qe_status=qe_level.status,
        module_status=module.status if module is not None else None,
        tcb_date=level.tcb_date,
    )

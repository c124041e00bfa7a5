"""Intel TCB evaluation: which TCB level a platform, its TDX module and its QE are at.

Semantics follow Intel's Quote Verification Library (TcbLevelCheck, TdxModuleCheck and the
status convergence in QuoteVerifier), the reference implementation. Where Phala's dcap-qvl
differs, QVL is followed and docs/evidence.md says where.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustroom.evidence._dcap_identity import (
    QeIdentity,
    QeTcbLevel,
    TcbInfo,
    TcbLevel,
    TdxModuleIdentity,
)
from trustroom.evidence._dcap_quote import EnclaveReport, TdReport
from trustroom.evidence._errors import (
    ParseError,
    QeIdentityMismatch,
    TcbLevelNotFound,
    TdxModuleMismatch,
)
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


def match_platform_levels(
    info: TcbInfo, pck: PckExtensions, td: TdReport | None
) -> tuple[TcbLevel, TcbLevel]:
    """The SGX level (first the PCK's SVNs meet) and, for TDX, the first also meeting the TD's."""
    sgx_level: TcbLevel | None = None
    for level in info.levels:
        sgx_ok = pck.pce_svn >= level.pce_svn and all(
            have >= need
            for have, need in zip(pck.tcb_components, level.sgx_components, strict=True)
        )
        if not sgx_ok:
            continue
        sgx_level = sgx_level or level
        if td is None:
            return level, level
        if level.tdx_components is not None and _tdx_svn_matches(level, td):
            return sgx_level, level
    svns = ",".join(map(str, pck.tcb_components))
    extra = f", TEE TCB SVN {td.tee_tcb_svn.hex()}" if td is not None else ""
    raise TcbLevelNotFound(
        f"no TCB level of FMSPC {info.fmspc.hex()} covers this platform "
        f"(SGX components {svns}, PCESVN {pck.pce_svn}{extra})"
    )


def _module_identity(info: TcbInfo, version: int) -> TdxModuleIdentity:
    wanted = f"TDX_{version:02X}"
    for identity in info.tdx_module_identities:
        if identity.id.upper() == wanted:
            return identity
    raise TdxModuleMismatch(f"the TCB info has no identity for TDX module {wanted}")


def match_tdx_module(info: TcbInfo, td: TdReport) -> QeTcbLevel | None:
    """Check the TDX module identity (QVL 4.1.2.4.11); return its TCB level, if it has one."""
    version = td.tee_tcb_svn[1]
    identity = _module_identity(info, version) if version > 0 else info.tdx_module
    if identity is None:
        raise TdxModuleMismatch("the TCB info describes no TDX module")
    if td.mrsignerseam != identity.mrsigner:
        raise TdxModuleMismatch(
            f"the TDX module's MRSIGNERSEAM {td.mrsignerseam.hex()} is not the expected "
            f"{identity.mrsigner.hex()}"
        )
    # QVL 4.1.2.4.11.2 requires SEAMATTRIBUTES to be zero and equal to the published value,
    # without applying the mask.
    if any(td.seam_attributes) or td.seam_attributes != identity.attributes:
        raise TdxModuleMismatch(
            f"the TDX module's SEAM attributes {td.seam_attributes.hex()} must be zero and "
            f"equal to the published {identity.attributes.hex()}"
        )
    if version == 0:
        return None
    for level in identity.levels:
        if td.tee_tcb_svn[0] >= level.isv_svn:
            if level.status not in _MODULE_STATUSES:
                raise ParseError(
                    f"TDX module {identity.id} level status {level.status!r} is not a module "
                    f"status ({', '.join(_MODULE_STATUSES)})"
                )
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


def _relaunch(
    info: TcbInfo, svn2: bytes, sgx: str, tdx: str, module: str | None, qe: str
) -> str:  # fmt: skip
    """QVL checkForRelaunch (TD 1.5): is the out-of-date TDX module already fixed on the host?

    A TD 1.5 reports in TEE_TCB_SVN2 the module it would get if relaunched now. When only the
    module makes the TD out of date and that module meets the newest level, a relaunch fixes it.
    """
    if qe in (S.OUT_OF_DATE, S.REVOKED) or module != S.OUT_OF_DATE:
        return tdx
    if sgx not in _RELAUNCHABLE_SGX or tdx not in (
        S.OUT_OF_DATE,
        S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    ):
        return tdx
    latest = info.levels[0].tdx_components
    assert latest is not None
    if svn2[1] == 0:
        fixed = svn2[0] >= latest[0] and svn2[2] >= latest[2]
    else:
        levels = _module_identity(info, svn2[1]).levels
        if not levels:
            raise TcbLevelNotFound(f"TDX module {svn2[1]:02X} identity lists no TCB level")
        fixed = svn2[0] >= levels[0].isv_svn and svn2[2] >= latest[2]
    if not fixed:
        return tdx
    if _CONFIGURATION_NEEDED & {sgx, tdx}:
        return S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
    return S.TD_RELAUNCH_ADVISED


_MODULE_STATUSES = (S.UP_TO_DATE, S.OUT_OF_DATE, S.REVOKED)
_RELAUNCHABLE_SGX = (
    S.UP_TO_DATE,
    S.SW_HARDENING_NEEDED,
    S.CONFIGURATION_NEEDED,
    S.CONFIGURATION_AND_SW_HARDENING_NEEDED,
)
_CONFIGURATION_NEEDED = {
    S.CONFIGURATION_NEEDED,
    S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    S.CONFIGURATION_AND_SW_HARDENING_NEEDED,
}


def evaluate_tcb(
    info: TcbInfo, pck: PckExtensions, qe_level: QeTcbLevel, td: TdReport | None
) -> TcbVerdict:
    """QVL checkTcbLevel: platform level, TDX module, TD 1.5 relaunch, then the QE."""
    sgx_level, level = match_platform_levels(info, pck, td)
    status, advisories = level.status, list(level.advisory_ids)
    module = match_tdx_module(info, td) if td is not None else None
    if module is not None:
        status = _converge(status, module.status)
        advisories += module.advisory_ids
    if td is not None and td.tee_tcb_svn2 is not None and status != S.REVOKED:
        module_status = module.status if module is not None else S.UP_TO_DATE
        status = _relaunch(
            info, td.tee_tcb_svn2, sgx_level.status, status, module_status, qe_level.status
        )
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

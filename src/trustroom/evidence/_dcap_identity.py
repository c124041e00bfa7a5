"""Intel's signed collateral documents: TCB info (v2, v3) and enclave identity (v2).

Field names follow Intel's PCS API v4 specification. Parsing happens only after the
signature over the exact text was checked, so a ParseError here means Intel (or whoever holds
its signing key) published something trustroom does not understand, not that it was altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from trustroom.evidence._errors import ParseError, UnsupportedFormat
from trustroom.evidence._json import JsonObject, load_object
from trustroom.evidence._result import TcbStatus

__all__ = ["QeIdentity", "QeTcbLevel", "TcbInfo", "TcbLevel", "TdxModuleIdentity"]


def _status(obj: JsonObject, allowed: tuple[str, ...] = TcbStatus.ALL) -> str:
    status = obj.string("tcbStatus")
    if status not in allowed:
        raise ParseError(
            f"{obj.path}.tcbStatus {status!r} is not a status this document may hold "
            f"({', '.join(allowed)})"
        )
    return status


# The statuses QVL's enclave identity parser knows; other statuses are a malformed document.
_QE_STATUSES = (
    TcbStatus.UP_TO_DATE,
    TcbStatus.CONFIGURATION_NEEDED,
    TcbStatus.OUT_OF_DATE,
    TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
    TcbStatus.REVOKED,
)


@dataclass(frozen=True, slots=True)
class TcbLevel:
    sgx_components: tuple[int, ...]
    pce_svn: int
    tdx_components: tuple[int, ...] | None
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]

    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        return (self.sgx_components, self.pce_svn, self.tdx_components or ())


@dataclass(frozen=True, slots=True)
class QeTcbLevel:
    """A level of a QE identity or of a TDX module identity: one ISVSVN threshold."""

    isv_svn: int
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]


def _qe_levels(obj: JsonObject, allowed: tuple[str, ...]) -> tuple[QeTcbLevel, ...]:
    return tuple(
        QeTcbLevel(
            level.obj("tcb").integer("isvsvn"),
            level.string("tcbDate"),
            _status(level, allowed),
            level.strings("advisoryIDs"),
        )
        for level in obj.objects("tcbLevels")
    )


@dataclass(frozen=True, slots=True)
class TdxModuleIdentity:
    id: str
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    levels: tuple[QeTcbLevel, ...]


def _module(obj: JsonObject, with_levels: bool) -> TdxModuleIdentity:
    return TdxModuleIdentity(
        id=obj.string("id") if with_levels else "",
        mrsigner=obj.hex_bytes("mrsigner", 48),
        attributes=obj.hex_bytes("attributes", 8),
        attributes_mask=obj.hex_bytes("attributesMask", 8),
        # QVL keeps module levels sorted by ISVSVN (a std::set), highest first.
        levels=tuple(
            sorted(_qe_levels(obj, TcbStatus.ALL), key=lambda lv: lv.isv_svn, reverse=True)
        )
        if with_levels
        else (),
    )


_SVN = itemgetter("svn")
_V2_COMPONENTS = itemgetter(*(f"sgxtcbcomp{i:02d}svn" for i in range(1, 17)))


def _tcb_levels(obj: JsonObject, version: int, tdx: bool) -> list[TcbLevel]:
    # TCB info holds hundreds of numbers and is parsed on every cold verification, so levels
    # are read straight from the decoded JSON; a wrong shape surfaces as KeyError/TypeError and
    # is reported once, naming the level, and the values are type-checked in bulk below.
    levels = []
    for index, raw in enumerate(obj.items("tcbLevels")):
        where = f"{obj.path}.tcbLevels[{index}]"
        try:
            tcb = raw["tcb"]
            if version >= 3:
                sgx = tuple(map(_SVN, tcb["sgxtcbcomponents"]))
                tdx_components = tuple(map(_SVN, tcb["tdxtcbcomponents"])) if tdx else None
            else:
                sgx, tdx_components = _V2_COMPONENTS(tcb), None
            level = TcbLevel(
                sgx, tcb["pcesvn"], tdx_components, raw["tcbDate"], raw["tcbStatus"],
                tuple(raw.get("advisoryIDs", ())),
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ParseError(f"{where} lacks or mistypes {exc}", structure=where) from exc
        numbers = (*sgx, *(tdx_components or ()), level.pce_svn)
        if (
            len(sgx) != 16
            or (tdx_components is not None and len(tdx_components) != 16)
            or not set(map(type, numbers)) <= {int}
            or not isinstance(level.tcb_date, str)
            or not set(map(type, level.advisory_ids)) <= {str}
        ):
            raise ParseError(f"{where} is malformed: 16 integer SVNs per component list expected")
        if level.status not in TcbStatus.ALL:
            raise ParseError(f"{where}.tcbStatus {level.status!r} is not a known TCB status")
        levels.append(level)
    return levels


@dataclass(frozen=True, slots=True)
class TcbInfo:
    """TCB info for one FMSPC; ``levels`` sorted newest (highest SVNs) first, as QVL does."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_evaluation_data_number: int
    tdx_module: TdxModuleIdentity | None
    tdx_module_identities: tuple[TdxModuleIdentity, ...]
    levels: tuple[TcbLevel, ...]

    @classmethod
    def from_json(cls, text: str) -> TcbInfo:
        obj = load_object(text, "tcbInfo")
        version = obj.integer("version")
        # Version 2 documents have no "id" and describe SGX only.
        tee_id = obj.string("id") if version >= 3 else "SGX"
        if version not in (2, 3) or tee_id not in ("SGX", "TDX"):
            raise ParseError(f"TCB info {tee_id} version {version} is not supported (2, 3)")
        tdx = tee_id == "TDX"
        if obj.integer("tcbType", 0) != 0:
            # Type 0 (16 SVN components compared one by one) is the only one Intel defines.
            raise UnsupportedFormat(f"TCB info tcbType {obj.value['tcbType']} is not supported")
        levels = _tcb_levels(obj, version, tdx)
        if not levels:
            raise ParseError("TCB info lists no TCB levels")
        return cls(
            id=tee_id,
            version=version,
            issue_date=obj.time("issueDate"),
            next_update=obj.time("nextUpdate"),
            fmspc=obj.hex_bytes("fmspc", 6),
            pce_id=obj.hex_bytes("pceId", 2),
            tcb_evaluation_data_number=obj.integer("tcbEvaluationDataNumber"),
            tdx_module=_module(obj.obj("tdxModule"), False) if tdx else None,
            tdx_module_identities=tuple(
                _module(m, True) for m in obj.objects("tdxModuleIdentities", [])
            ),
            levels=tuple(sorted(levels, key=TcbLevel.sort_key, reverse=True)),
        )


@dataclass(frozen=True, slots=True)
class QeIdentity:
    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isv_prod_id: int
    levels: tuple[QeTcbLevel, ...]

    @classmethod
    def from_json(cls, text: str) -> QeIdentity:
        obj = load_object(text, "enclaveIdentity")
        version = obj.integer("version")
        if version != 2:
            raise ParseError(f"enclave identity version {version} is not supported (2)")
        # QVL takes QE identity levels in document order (Intel publishes them sorted).
        levels = _qe_levels(obj, _QE_STATUSES)
        if not levels:
            raise ParseError("enclave identity lists no TCB levels")
        return cls(
            id=obj.string("id"),
            version=version,
            issue_date=obj.time("issueDate"),
            next_update=obj.time("nextUpdate"),
            tcb_evaluation_data_number=obj.integer("tcbEvaluationDataNumber"),
            miscselect=int.from_bytes(obj.hex_bytes("miscselect", 4), "little"),
            miscselect_mask=int.from_bytes(obj.hex_bytes("miscselectMask", 4), "little"),
            attributes=obj.hex_bytes("attributes", 16),
            attributes_mask=obj.hex_bytes("attributesMask", 16),
            mrsigner=obj.hex_bytes("mrsigner", 32),
            isv_prod_id=obj.integer("isvprodid"),
            levels=levels,
        )

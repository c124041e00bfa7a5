"""Intel's signed collateral documents: TCB info (v2, v3) and enclave identity (v2).

Field names follow Intel's PCS API v4 specification. Parsing happens only after the
signature over the exact text was checked, so a ParseError here means Intel (or whoever holds
its signing key) published something trustroom does not understand, not that it was altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trustroom.evidence._errors import ParseError
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


def _components(obj: JsonObject, key: str) -> tuple[int, ...]:
    values = obj.field_of_each(key, "svn")
    if len(values) != 16:
        raise ParseError(f"{obj.path}.{key} must list 16 components, not {len(values)}")
    return values


def _tcb_level(obj: JsonObject, version: int, tdx: bool) -> TcbLevel:
    tcb = obj.obj("tcb")
    if version >= 3:
        sgx = _components(tcb, "sgxtcbcomponents")
        tdx_components = _components(tcb, "tdxtcbcomponents") if tdx else None
    else:
        sgx = tuple(tcb.integer(f"sgxtcbcomp{i:02d}svn") for i in range(1, 17))
        tdx_components = None
    return TcbLevel(
        sgx, tcb.integer("pcesvn"), tdx_components, obj.string("tcbDate"), _status(obj),
        obj.strings("advisoryIDs"),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TcbInfo:
    """TCB info for one FMSPC; ``levels`` sorted newest (highest SVNs) first, as QVL does."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
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
        levels = [_tcb_level(level, version, tdx) for level in obj.objects("tcbLevels")]
        if not levels:
            raise ParseError("TCB info lists no TCB levels")
        return cls(
            id=tee_id,
            version=version,
            issue_date=obj.time("issueDate"),
            next_update=obj.time("nextUpdate"),
            fmspc=obj.hex_bytes("fmspc", 6),
            pce_id=obj.hex_bytes("pceId", 2),
            tcb_type=obj.integer("tcbType", 0),
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

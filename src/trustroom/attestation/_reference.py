"""Reference values: what a relying party expects of one workload, typed and grouped.

Trustee's RVPS stores flat key -> list-of-values pairs and leaves numeric and TCB comparisons
to hand-written policy (trustee #350, #369, #637). Here one object describes one workload:
which TEEs may run it, which measurements it may have, minimum security versions and the
lowest acceptable TCB status, so the comparisons are done once, correctly, in code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trustroom.attestation._errors import ReferenceValuesInvalid

__all__ = ["TCB_STATUS_ORDER", "TEE_TYPES", "ReferenceValues", "tcb_rank"]

TEE_TYPES = frozenset({"sgx", "tdx", "snp", "sim"})

# Best first. ``Revoked`` is absent on purpose: it never passes.
TCB_STATUS_ORDER: tuple[str, ...] = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
)

# TD 1.5 relaunch statuses mean "the TDX module is out of date" and rank with OutOfDate.
_RANK_ALIASES = {
    "TDRelaunchAdvised": "OutOfDate",
    "TDRelaunchAdvisedConfigurationNeeded": "OutOfDateConfigurationNeeded",
}

_HEX = re.compile(r"[0-9a-f]+")
_KEYS = {"name", "tee", "measurements", "min_svn", "min_tcb_status", "allow_debug"}


def tcb_rank(status: str | None) -> int | None:
    """Position of a TCB status in :data:`TCB_STATUS_ORDER` (0 best); None if it never passes."""
    if status is None:
        return None
    status = _RANK_ALIASES.get(status, status)
    return TCB_STATUS_ORDER.index(status) if status in TCB_STATUS_ORDER else None


def _invalid(field_name: str, message: str) -> ReferenceValuesInvalid:
    return ReferenceValuesInvalid(f"reference values: {field_name}: {message}", field=field_name)


@dataclass(frozen=True)
class ReferenceValues:
    """Expected properties of one workload; every listed property must hold.

    ``tee`` lists the TEE types allowed to run the workload; the simulator (``"sim"``) is
    allowed only when listed. Every key in ``measurements`` must be present in the evidence
    with one of the listed lowercase hex values. ``min_svn`` maps an attribute of the
    evidence (``isv_svn``, ``guest_svn``, ...) to its minimum. ``min_tcb_status`` is the
    lowest acceptable Intel TCB status; SEV-SNP has none, so leave it None there.
    """

    name: str
    tee: frozenset[str]
    measurements: Mapping[str, frozenset[str]] = field(default_factory=dict)
    min_svn: Mapping[str, int] = field(default_factory=dict)
    min_tcb_status: str | None = None
    allow_debug: bool = False

    def __post_init__(self) -> None:
        # Validate constructor input as strictly as from_dict, then freeze the mappings so
        # that a stored policy cannot change under a running appraisal.
        if not isinstance(self.name, str) or not self.name.strip():
            raise _invalid("name", "must be a non-empty string")
        tee = self.tee
        if isinstance(tee, str) or not all(isinstance(t, str) for t in tee):
            raise _invalid("tee", "must be a set of TEE type names")
        if not tee:
            raise _invalid("tee", "must allow at least one TEE type")
        unknown = sorted(set(tee) - TEE_TYPES)
        if unknown:
            raise _invalid("tee", f"unknown TEE type(s) {unknown}; known: {sorted(TEE_TYPES)}")
        measurements: dict[str, frozenset[str]] = {}
        for key, values in self.measurements.items():
            where = f"measurements.{key}"
            if not isinstance(key, str) or not key:
                raise _invalid("measurements", "claim names must be non-empty strings")
            if isinstance(values, str) or not values:
                raise _invalid(where, "must be a non-empty list of hex values")
            for value in values:
                if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
                    raise _invalid(where, f"{value!r} is not lowercase hex of whole bytes")
            measurements[key] = frozenset(values)
        min_svn: dict[str, int] = {}
        for key, minimum in self.min_svn.items():
            where = f"min_svn.{key}"
            if not isinstance(key, str) or not key:
                raise _invalid("min_svn", "attribute names must be non-empty strings")
            if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
                raise _invalid(where, f"{minimum!r} is not a non-negative integer")
            min_svn[key] = minimum
        if self.min_tcb_status is not None and self.min_tcb_status not in TCB_STATUS_ORDER:
            raise _invalid(
                "min_tcb_status",
                f"{self.min_tcb_status!r} is not one of {list(TCB_STATUS_ORDER)}",
            )
        if not isinstance(self.allow_debug, bool):
            raise _invalid("allow_debug", "must be true or false")
        object.__setattr__(self, "tee", frozenset(tee))
        object.__setattr__(self, "measurements", MappingProxyType(measurements))
        object.__setattr__(self, "min_svn", MappingProxyType(min_svn))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceValues:
        """Reference values from their JSON form (see :meth:`to_dict`); unknown keys are refused,
        so a misspelt field fails loudly instead of silently not being enforced."""
        if not isinstance(data, Mapping):
            raise _invalid("(top)", "must be a JSON object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise _invalid(unknown[0], f"unknown field; known: {sorted(_KEYS)}")
        for required in ("name", "tee"):
            if required not in data:
                raise _invalid(required, "is required")
        tee = data["tee"]
        if not isinstance(tee, list):
            raise _invalid("tee", "must be a list")
        measurements = data.get("measurements", {})
        if not isinstance(measurements, Mapping):
            raise _invalid("measurements", "must be an object")
        for key, values in measurements.items():
            if not isinstance(values, list):
                raise _invalid(f"measurements.{key}", "must be a list")
        min_svn = data.get("min_svn", {})
        if not isinstance(min_svn, Mapping):
            raise _invalid("min_svn", "must be an object")
        min_tcb = data.get("min_tcb_status")
        if min_tcb is not None and not isinstance(min_tcb, str):
            raise _invalid("min_tcb_status", "must be a string or null")
        return cls(
            name=data["name"],
            tee=frozenset(tee),
            measurements={k: frozenset(v) for k, v in measurements.items()},
            min_svn=dict(min_svn),
            min_tcb_status=min_tcb,
            allow_debug=data.get("allow_debug", False),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, sorted so that equal reference values serialise identically."""
        return {
            "name": self.name,
            "tee": sorted(self.tee),
            "measurements": {k: sorted(v) for k, v in sorted(self.measurements.items())},
            "min_svn": dict(sorted(self.min_svn.items())),
            "min_tcb_status": self.min_tcb_status,
            "allow_debug": self.allow_debug,
        }

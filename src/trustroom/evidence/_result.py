"""The one result type every TEE's verification returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trustroom._core.timeutil import format_time
from trustroom.evidence._errors import EvidenceError
from trustroom.evidence._window import Window

__all__ = ["TcbStatus", "VerificationResult"]


class TcbStatus:
    """Intel's TCB status names.

    ``ALL`` are the statuses a TCB level may carry; the two ``TD_RELAUNCH_*`` statuses are
    results only: a TD 1.5 whose TDX module is out of date, on a platform whose firmware already
    has the newest module, can be fixed by relaunching the TD.
    """

    UP_TO_DATE = "UpToDate"
    SW_HARDENING_NEEDED = "SWHardeningNeeded"
    CONFIGURATION_NEEDED = "ConfigurationNeeded"
    CONFIGURATION_AND_SW_HARDENING_NEEDED = "ConfigurationAndSWHardeningNeeded"
    OUT_OF_DATE = "OutOfDate"
    OUT_OF_DATE_CONFIGURATION_NEEDED = "OutOfDateConfigurationNeeded"
    REVOKED = "Revoked"

    TD_RELAUNCH_ADVISED = "TDRelaunchAdvised"
    TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED = "TDRelaunchAdvisedConfigurationNeeded"

    ALL = (
        UP_TO_DATE,
        SW_HARDENING_NEEDED,
        CONFIGURATION_NEEDED,
        CONFIGURATION_AND_SW_HARDENING_NEEDED,
        OUT_OF_DATE,
        OUT_OF_DATE_CONFIGURATION_NEEDED,
        REVOKED,
    )


@dataclass(frozen=True)
class VerificationResult:
    """What verification found out about one piece of evidence.

    ``verified`` is true only when every check passed; then ``errors`` is empty. Fields that
    could be read from the evidence (measurements, report data, platform ids) are filled in
    even when verification failed, so a caller can say *which* evidence failed. Nothing in a
    failed result is attested: never base a decision on it.

    ``tcb_status`` is Intel's status for SGX/TDX (``UpToDate``, ``OutOfDate``, ...). SEV-SNP
    has no vendor-published status; it is ``None`` there and the reported TCB is in
    ``platform``. Which statuses to accept is the appraisal policy's decision, not this one's:
    only ``Revoked`` fails verification.
    """

    verified: bool
    tee: str
    format: str
    evaluated_at: datetime
    tcb_status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    measurements: Mapping[str, str] = field(default_factory=dict)
    report_data: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    platform: Mapping[str, Any] = field(default_factory=dict)
    collateral: tuple[Window, ...] = ()
    errors: tuple[EvidenceError, ...] = ()

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; keys are stable and named as in the vendors' specifications."""
        return {
            "verified": self.verified,
            "tee": self.tee,
            "format": self.format,
            "evaluated_at": format_time(self.evaluated_at),
            "tcb_status": self.tcb_status,
            "advisory_ids": list(self.advisory_ids),
            "measurements": dict(self.measurements),
            "report_data": self.report_data,
            "attributes": dict(self.attributes),
            "platform": dict(self.platform),
            "collateral": [
                {
                    "item": w.item,
                    "valid_from": format_time(w.not_before),
                    "valid_until": format_time(w.not_after),
                }
                for w in self.collateral
            ],
            "errors": [e.to_dict() for e in self.errors],
        }

"""What inspecting an RA-TLS certificate found out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trustroom._core.errors import TrustroomError
from trustroom._core.timeutil import format_time
from trustroom.evidence import VerificationResult

__all__ = ["RaTlsResult"]


@dataclass(frozen=True)
class RaTlsResult:
    """The verdict on one RA-TLS certificate, and what was read from it on the way.

    ``verified`` is true only when every check passed: the certificate is valid at
    ``evaluated_at``, its evidence is bound to its public key (``pubkey_bound``), the evidence
    verified to a trusted root, and the expectation (if any) was met; ``errors`` is then empty.
    Otherwise ``errors`` lists every problem found, each with a stable ``code``. As with
    evidence, what a failed result shows (measurements, TEE type) is not attested.

    ``evidence_format`` is the extension that was checked (``tcg-dice``, ``gramine-legacy``,
    ``intel-legacy``, or ``none``); ``formats`` lists every one the certificate carries.
    """

    verified: bool
    evidence_format: str
    tee: str
    pubkey_bound: bool
    evaluated_at: datetime
    measurements: Mapping[str, str] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    subject: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    public_key_sha256: str = ""
    evidence: VerificationResult | None = None
    errors: tuple[TrustroomError, ...] = ()

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys; ``evidence`` is the evidence verification's own."""
        return {
            "verified": self.verified,
            "evidence_format": self.evidence_format,
            "formats": list(self.formats),
            "tee": self.tee,
            "pubkey_bound": self.pubkey_bound,
            "measurements": dict(self.measurements),
            "tcb_status": self.evidence.tcb_status if self.evidence else None,
            "evaluated_at": format_time(self.evaluated_at),
            "certificate": {
                "subject": self.subject,
                "not_before": format_time(self.not_before) if self.not_before else None,
                "not_after": format_time(self.not_after) if self.not_after else None,
                "public_key_sha256": self.public_key_sha256,
            },
            "evidence": self.evidence.to_dict() if self.evidence else None,
            "errors": [e.to_dict() for e in self.errors],
        }

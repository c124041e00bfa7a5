"""What a TEE backend's verify step fills in; the Verifier turns it into a result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trustroom.evidence._errors import EvidenceError
from trustroom.evidence._window import Window

__all__ = ["Outcome"]


@dataclass
class Outcome:
    """Accumulates windows, soft errors and verdicts while a backend verifies.

    Backends raise an EvidenceError for a failure that stops verification (a bad signature,
    an untrusted root) and call :meth:`fail` for one that does not (a revoked TCB level still
    lets the remaining checks run, so the user sees every problem at once). Time windows are
    only recorded here; the Verifier checks them all against the evaluation time.
    """

    windows: list[Window] = field(default_factory=list)
    errors: list[EvidenceError] = field(default_factory=list)
    tcb_status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    platform: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False

    def fail(self, error: EvidenceError) -> None:
        self.errors.append(error)

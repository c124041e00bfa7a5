"""Validity windows: every time-dependent check of verification, kept apart from the crypto.

Signatures and chains are verified once and may be cached; what depends on the evaluation
time is reduced to a list of windows that is checked on every call. That is what lets a reused
:class:`~trustroom.evidence.Verifier` be fast and still exactly as strict as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trustroom._core.timeutil import format_time
from trustroom.evidence._errors import Expired

__all__ = ["Window"]


@dataclass(frozen=True, slots=True)
class Window:
    """``item`` is usable from ``not_before`` to ``not_after``, both inclusive."""

    item: str
    error: type[Expired]
    not_before: datetime
    not_after: datetime

    def check(self, at: datetime) -> Expired | None:
        """The error to report at ``at``, or None when ``at`` is inside the window."""
        if self.not_before <= at <= self.not_after:
            return None
        state = "not yet valid" if at < self.not_before else "expired"
        return self.error(
            f"{self.item} is {state}: valid from {format_time(self.not_before)} until "
            f"{format_time(self.not_after)}, evaluated at {format_time(at)}",
            item=self.item,
            valid_from=format_time(self.not_before),
            valid_until=format_time(self.not_after),
        )

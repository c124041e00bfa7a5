"""Validity windows: every time-dependent check of verification, kept apart from the crypto.

Signatures and chains are verified once and may be cached; what depends on the evaluation
time is reduced to a list of windows that is checked on every call. That is what lets a reused
:class:`~trustroom.evidence.Verifier` be fast and still exactly as strict as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from trustroom._core.timeutil import format_time
from trustroom.evidence._errors import Expired

__all__ = ["Window", "cert_name"]


def cert_name(cert: x509.Certificate) -> str:
    """The certificate's common name, or its whole subject when it has none."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


@dataclass(frozen=True, slots=True)
class Window:
    """An item usable from ``not_before`` to ``not_after``, both inclusive.

    The item is named by ``label``, or for a certificate by its subject, which is only worked
    out when someone reads :attr:`item` (decoding names costs more than checking the time).
    """

    error: type[Expired]
    not_before: datetime
    not_after: datetime
    label: str = ""
    cert: x509.Certificate | None = None

    @property
    def item(self) -> str:
        if self.cert is not None:
            return f"certificate '{cert_name(self.cert)}'"
        return self.label

    def check(self, at: datetime) -> Expired | None:
        """The error to report at ``at``, or None when ``at`` is inside the window."""
        if self.not_before <= at <= self.not_after:
            return None
        state = "not yet valid" if at < self.not_before else "expired"
        item = self.item
        return self.error(
            f"{item} is {state}: valid from {format_time(self.not_before)} until "
            f"{format_time(self.not_after)}, evaluated at {format_time(at)}",
            item=item,
            valid_from=format_time(self.not_before),
            valid_until=format_time(self.not_after),
        )

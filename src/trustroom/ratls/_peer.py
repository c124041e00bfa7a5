"""The check both TLS faces run on the peer's certificate right after the handshake.

RA-TLS certificates are self-signed, so TLS libraries' chain validation can only fail on them,
and it would prove nothing anyway: the handshake already proves that the peer holds the
certificate's key, and the evidence proves where that key lives. Both faces therefore accept
any certificate during the handshake and run this check before any application data moves; a
peer that fails it is disconnected and :class:`PeerRejected` raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustroom.evidence import Collateral, Verifier
from trustroom.ratls._errors import PeerRejected
from trustroom.ratls._expectation import Expectation
from trustroom.ratls._inspect import inspect_certificate
from trustroom.ratls._result import RaTlsResult

__all__ = ["PeerCheck"]


@dataclass(frozen=True)
class PeerCheck:
    expect: Expectation
    verifier: Verifier
    collateral: Collateral | None

    def __call__(self, certificate: bytes | None, peer: str) -> RaTlsResult:
        """The verified result for the peer's DER certificate; raises PeerRejected."""
        # No certificate reads as an unreadable one; TLS settings make it unreachable anyway.
        result = inspect_certificate(
            certificate or b"",
            verifier=self.verifier,
            collateral=self.collateral,
            expect=self.expect,
        )
        if not result.verified:
            reasons = (
                "; ".join(e.message for e in result.errors)
                if certificate is not None
                else "it presented no certificate"
            )
            raise PeerRejected(
                f"the {peer} was rejected: {reasons}",
                result=result,
                codes=list(result.error_codes),
            )
        return result

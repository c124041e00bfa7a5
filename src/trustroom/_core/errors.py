"""The root of trustroom's error tree.

Every error trustroom raises on purpose is a :class:`TrustroomError`. Each subclass carries a
stable machine code (``code``), which never changes once released and is what programs should
match on, and a remediation ``hint`` that tells a person what to do. Messages are for humans
and may be reworded at any time.

::

    TrustroomError
    └── EvidenceError                (trustroom.evidence)
        ├── ParseError               parse_error
        ├── UnsupportedFormat        unsupported_format
        ├── SignatureInvalid         signature_invalid
        ├── ChainInvalid             chain_invalid
        ├── UntrustedRoot            untrusted_root
        ├── Expired                  (a time window does not contain the evaluation time)
        │   ├── CertificateExpired   certificate_expired
        │   ├── CrlExpired           crl_expired
        │   └── CollateralExpired    collateral_expired
        ├── Revoked                  revoked
        ├── CollateralMissing        collateral_missing
        ├── CollateralMismatch       collateral_mismatch
        ├── CollateralUnavailable    collateral_unavailable
        ├── TcbLevelNotFound         tcb_level_not_found
        ├── TcbMismatch              tcb_mismatch
        ├── QeIdentityMismatch       qe_identity_mismatch
        ├── TdxModuleMismatch        tdx_module_mismatch
        ├── ExpectationFailed        expectation_failed
        └── InternalError            internal_error
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["TrustroomError"]


class TrustroomError(Exception):
    """Base class of all deliberate trustroom errors: a stable ``code`` and a ``hint``."""

    code: ClassVar[str] = "error"
    default_hint: ClassVar[str] = "See the trustroom documentation for this error code."
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: ``code``, ``message``, ``hint`` and any details."""
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"

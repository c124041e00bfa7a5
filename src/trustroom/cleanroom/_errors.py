"""Typed errors of clean-room jobs, each with a stable code and a hint."""

from __future__ import annotations

from trustroom._core.errors import TrustroomError

__all__ = ["ApprovalRefused", "CleanroomError", "SpecInvalid"]


class CleanroomError(TrustroomError):
    """A clean-room job could not go on."""

    code = "cleanroom_error"
    default_hint = "The message says which step of the job failed and why (docs/cleanroom.md)."


class SpecInvalid(CleanroomError):
    """A job spec that cannot be used as it is."""

    code = "cleanroom_spec_invalid"
    default_hint = "Fix the job spec as the message says (docs/cleanroom.md shows a whole one)."


class ApprovalRefused(CleanroomError):
    """An approval that does not count: not from the input's owner, not for this job, or
    not signed by the key the consortium lists."""

    code = "cleanroom_approval_refused"
    default_hint = (
        "Each owner approves the exact spec it read, with its own member key: "
        "trustroom cleanroom approve SPEC --key OWNER.key."
    )

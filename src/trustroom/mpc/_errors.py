"""Typed errors of the MPC engine, each with a stable code and a hint."""

from __future__ import annotations

from typing import ClassVar

from trustroom._core.errors import TrustroomError

__all__ = ["InputOutOfRange", "MpcError", "PeerLost", "PeerTimeout", "ProtocolError"]


class MpcError(TrustroomError):
    """A joint computation could not go on."""

    code: ClassVar[str] = "mpc_error"


class PeerLost(MpcError):
    """A party's connection closed or broke before the computation ended."""

    code: ClassVar[str] = "mpc_peer_lost"
    default_hint: ClassVar[str] = (
        "Another party stopped (crashed, was killed, or failed on its own): its log says why. "
        "Every party must run the same script to its end."
    )


class PeerTimeout(MpcError):
    """A party sent nothing within the timeout while this one waited for it."""

    code: ClassVar[str] = "mpc_peer_timeout"
    default_hint: ClassVar[str] = (
        "The party may be stalled, overloaded or unreachable; raise the timeout for long local "
        "steps, or check the network between the parties."
    )


class ProtocolError(MpcError):
    """The parties disagree about the computation (different scripts, shapes or protocols)."""

    code: ClassVar[str] = "mpc_protocol_error"
    default_hint: ClassVar[str] = (
        "Every party must run the same script with the same protocol and configuration."
    )


class InputOutOfRange(MpcError):
    """An input cannot be represented in the ring as asked."""

    code: ClassVar[str] = "mpc_input_out_of_range"
    default_hint: ClassVar[str] = (
        "Scale the data into the range the message gives, or use fewer fractional bits."
    )


class JobInvalid(MpcError):
    """A job file that cannot be used as it is."""

    code: ClassVar[str] = "mpc_job_invalid"
    default_hint: ClassVar[str] = (
        'A job file lists protocol = "aby3" | "semi2k" and one [[parties]] table per '
        "process (host, port, certificate), the dealer last for semi2k; see docs/mpc.md."
    )


class PeerRejected(MpcError):
    """A party whose certificate does not attest what the job expects of it."""

    code: ClassVar[str] = "mpc_peer_rejected"
    default_hint: ClassVar[str] = (
        "The party's RA-TLS certificate must come from the TEE and code the job file's "
        "'expect' table names; make a fresh one there (trustroom mpc keygen --attested) or "
        "correct the expectation."
    )

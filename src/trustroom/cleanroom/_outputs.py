"""A recipient opening a job's output: the enclave's sealed envelope, with a member key.

Outputs leave a job's enclave (or its MPC parties) sealed to each recipient the spec names
(``trustroom.enclave``'s sealed outputs: HPKE to the member's Ed25519 key), bound to the
job's name (not the spec's digest: the program's image names the recipients and is measured,
and the spec holds that measurement). Receipts name outputs by their envelopes' digests,
never the plaintext's: a low-entropy result (an accuracy, a yes or no) must not be guessable
from a public log.
"""

from __future__ import annotations

from typing import Any

from trustroom.enclave import OutputUnreadable
from trustroom.enclave import open_output as _open
from trustroom.ledger import MemberKey

__all__ = ["open_output"]


def open_output(envelope: bytes, member: MemberKey, *, job: str) -> tuple[str, bytes]:
    """The output's name and content, for ``member``, if it is an output of the job named
    ``job``; OutputUnreadable otherwise."""
    header: dict[str, Any]
    header, data = _open(envelope, member.name, member.private)
    if header["context"] != job:
        raise OutputUnreadable(f"this output belongs to job {header['context']}, not to {job}")
    return str(header["output"]), data

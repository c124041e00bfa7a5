"""Owners' approvals of a job: a member's signature on the spec's digest.

A job runs only when every owner of its inputs has approved that exact spec, with the key
the consortium lists for it; the approvals are logged, so anyone can check later who agreed
to what.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from trustroom.cleanroom._errors import ApprovalRefused
from trustroom.cleanroom._spec import JobSpec
from trustroom.ledger import Consortium, GovernanceRefused, MemberKey

__all__ = ["approve", "check_approval", "check_approvals"]


def approve(member: MemberKey, spec: JobSpec, *, at: int) -> dict[str, Any]:
    """``member``'s signed approval of ``spec`` (made at unix time ``at``)."""
    return member.sign(
        {"type": "approval", "party": member.name, "job": spec.digest, "name": spec.name,
         "created_at": at}
    )  # fmt: skip


def check_approval(spec: JobSpec, message: Mapping[str, Any], consortium: Consortium) -> str:
    """The owner whose approval of ``spec`` ``message`` is; ApprovalRefused for a bad
    signature, an approval of another spec, or a party that owns no input."""
    try:
        document = consortium.signed_by_member(message, "approval", signer="party")
    except GovernanceRefused as exc:
        raise ApprovalRefused(f"an approval does not count: {exc.message}") from exc
    party = str(document["party"])
    if document.get("job") != spec.digest:
        raise ApprovalRefused(
            f"{party}'s approval is of job {document.get('job')}, not of this spec ({spec.digest})"
        )
    if party not in spec.owners:
        raise ApprovalRefused(f"{party} approved, but owns no input of {spec.name}")
    return party


def check_approvals(
    spec: JobSpec, approvals: Iterable[Mapping[str, Any]], consortium: Consortium
) -> dict[str, dict[str, Any]]:
    """The approval of each owner of ``spec``'s inputs, by owner; ApprovalRefused for one
    that does not count (:func:`check_approval`) or an owner who has not approved."""
    found = {check_approval(spec, message, consortium): dict(message) for message in approvals}
    missing = [owner for owner in spec.owners if owner not in found]
    if missing:
        raise ApprovalRefused(f"{', '.join(missing)} has not approved job {spec.name}")
    return found

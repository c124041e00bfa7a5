"""Consortium governance, in CCF's spirit but declarative: members, proposals, ballots.

The consortium is a set of members, each with an Ed25519 key, and a constitution: how many
yes ballots a proposal needs (``threshold``), with stricter or looser counts per action type
(``rules``). A proposal is a list of typed actions signed by a member; a ballot is a member's
signed yes or no on a proposal's digest. A proposal is accepted the moment its yes ballots
reach the count its strictest action needs, rejected the moment enough members said no that
it never can, and applied when accepted. No code runs in a vote (CCF's JavaScript ballots
are a sandbox to defend; a yes or no on a digest is not).

Every genesis, proposal, ballot and outcome is a ``governance`` record in the log, so
:func:`replay` recomputes the whole history offline from the records alone, checking every
signature and rule and that each logged outcome is the one the rules give.

Documents are RFC 8785 canonical JSON; signatures are Ed25519 over those bytes, base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from trustroom.ledger._errors import GovernanceRefused
from trustroom.ledger._records import Record, digest_of

__all__ = [
    "ACTIONS",
    "Consortium",
    "MemberKey",
    "genesis",
    "governance_record",
    "proposal_id",
    "replay",
]

# Each action type and the fields it needs (their meaning is in docs/ledger.md).
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "add_member": ("name", "key"),
    "remove_member": ("name",),
    "set_policy": ("name", "digest"),
    "allow_measurement": ("tee", "measurement"),
    "revoke_measurement": ("tee", "measurement"),
    "rotate_log_key": ("vkey",),
    "set_witnesses": ("vkeys", "threshold"),
    "set_constitution": ("threshold", "rules"),
}


def _canonical(document: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(dict(document))


def _public_key(text: Any, who: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(str(text), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise GovernanceRefused(f"{who}'s key is not a base64 Ed25519 public key") from exc


@dataclass(frozen=True)
class MemberKey:
    """A member's signing key: signs proposals and ballots."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> MemberKey:
        return cls(name, Ed25519PrivateKey.generate())

    def to_text(self) -> str:
        """``MEMBER+KEY+<name>+<hex seed>``: the key file's content (keep it private)."""
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"MEMBER+KEY+{self.name}+{seed.hex()}"

    @classmethod
    def from_text(cls, text: str) -> MemberKey:
        prefix, _, rest = text.strip().partition("MEMBER+KEY+")
        name, _, seed = rest.rpartition("+")
        try:
            if prefix or not name:
                raise ValueError("not MEMBER+KEY+<name>+<seed>")
            return cls(name, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))
        except ValueError as exc:
            raise GovernanceRefused(
                f"not a member key: {exc}",
                hint="A member key file holds MEMBER+KEY+<name>+<hex Ed25519 seed>, as "
                "trustroom ledger member-key writes it.",
            ) from exc

    @property
    def public(self) -> str:
        """The public key as members and actions write it: base64 of its 32 bytes."""
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A signed message: the document and the signature over its canonical bytes."""
        signature = self.private.sign(_canonical(document))
        return {"document": dict(document), "signature": base64.b64encode(signature).decode()}

    def propose(
        self, actions: Sequence[Mapping[str, Any]], *, at: int, nonce: str
    ) -> dict[str, Any]:
        return self.sign(
            {"type": "proposal", "proposer": self.name, "actions": list(actions),
             "created_at": at, "nonce": nonce}
        )  # fmt: skip

    def submission(
        self, records: Sequence[Mapping[str, Any]], *, at: int, nonce: str
    ) -> dict[str, Any]:
        """Records to append, signed: what a member sends a log's ``POST /entries``."""
        return self.sign(
            {"type": "submission", "submitter": self.name, "records": list(records),
             "created_at": at, "nonce": nonce}
        )  # fmt: skip

    def ballot(self, proposal: str, vote: bool, *, at: int) -> dict[str, Any]:
        return self.sign(
            {"type": "ballot", "proposal": proposal, "member": self.name,
             "vote": "yes" if vote else "no", "created_at": at}
        )  # fmt: skip


@dataclass
class _Proposal:
    document: dict[str, Any]
    needed: int
    yes: set[str] = field(default_factory=set)
    no: set[str] = field(default_factory=set)
    state: str = "open"


@dataclass
class Consortium:
    """The governed state: members, constitution and what accepted proposals set."""

    members: dict[str, str]
    threshold: int
    rules: dict[str, int] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    measurements: set[tuple[str, str]] = field(default_factory=set)
    witnesses: tuple[list[str], int] = field(default_factory=lambda: ([], 0))
    log_keys: list[str] = field(default_factory=list)
    proposals: dict[str, _Proposal] = field(default_factory=dict)

    # -- the messages ----------------------------------------------------------------------

    @classmethod
    def genesis(cls, message: Mapping[str, Any]) -> Consortium:
        """The founding document ``{"type": "genesis", "members", "threshold", "rules"}``,
        signed by every founding member (``signatures``: name to signature)."""
        document = _document(message, "genesis")
        members = document.get("members")
        if not isinstance(members, dict) or not members:
            raise GovernanceRefused("genesis needs members: {name: base64 public key}")
        signatures = message.get("signatures")
        if not isinstance(signatures, dict) or set(signatures) != set(members):
            raise GovernanceRefused("every founding member signs the genesis, and only they")
        for name, key in members.items():
            _verify(_public_key(key, name), signatures[name], document, name)
        consortium = cls({str(k): str(v) for k, v in members.items()}, 0)
        consortium._set_constitution(document.get("threshold"), document.get("rules", {}))
        return consortium

    def propose(self, message: Mapping[str, Any]) -> str:
        """Check a signed proposal; its id (the digest of its document)."""
        document = _document(message, "proposal")
        proposer = document.get("proposer")
        self._verify_member(proposer, message, document)
        actions = document.get("actions")
        if not isinstance(actions, list) or not actions:
            raise GovernanceRefused("a proposal has a non-empty list of actions")
        for action in actions:
            _check_action(action)
        identity = proposal_id(message)
        if identity in self.proposals:
            raise GovernanceRefused(f"proposal {identity} was made already (a replay)")
        needed = max(self.rules.get(a["type"], self.threshold) for a in actions)
        self.proposals[identity] = _Proposal(document, needed)
        return identity

    def vote(self, message: Mapping[str, Any]) -> dict[str, Any] | None:
        """Count a signed ballot; the outcome if it decided the proposal."""
        document = _document(message, "ballot")
        member = document.get("member")
        self._verify_member(member, message, document)
        proposal = self.proposals.get(str(document.get("proposal")))
        if proposal is None:
            raise GovernanceRefused(f"no proposal {document.get('proposal')!r}")
        if proposal.state != "open":
            raise GovernanceRefused(f"the proposal is {proposal.state} already")
        if member in proposal.yes or member in proposal.no:
            raise GovernanceRefused(f"{member} has voted on this proposal already (a replay)")
        vote = document.get("vote")
        if vote not in ("yes", "no"):
            raise GovernanceRefused("a ballot's vote is 'yes' or 'no'")
        (proposal.yes if vote == "yes" else proposal.no).add(str(member))
        if len(proposal.yes) >= proposal.needed:
            proposal.state = "accepted"
            for action in proposal.document["actions"]:
                self._apply(action)
        elif len(self.members) - len(proposal.no) < proposal.needed:
            proposal.state = "rejected"
        else:
            return None
        return {
            "type": "outcome",
            "proposal": document["proposal"],
            "state": proposal.state,
            "yes": sorted(proposal.yes),
            "no": sorted(proposal.no),
        }

    def signed_by_member(
        self, message: Mapping[str, Any], kind: str, *, signer: str = "submitter"
    ) -> dict[str, Any]:
        """The document of ``message``, a ``kind`` signed by a member of the consortium
        (named in its field ``signer``); GovernanceRefused otherwise."""
        document = _document(message, kind)
        self._verify_member(document.get(signer), message, document)
        return document

    # -- rules -----------------------------------------------------------------------------

    def _verify_member(self, name: Any, message: Mapping[str, Any], document: Any) -> None:
        key = self.members.get(str(name))
        if key is None:
            raise GovernanceRefused(f"{name!r} is not a member of the consortium")
        _verify(_public_key(key, str(name)), message.get("signature"), document, str(name))

    def _set_constitution(self, threshold: Any, rules: Any) -> None:
        if not isinstance(rules, dict):
            raise GovernanceRefused("the constitution's rules map action types to vote counts")
        for name, count in {"threshold": threshold, **rules}.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise GovernanceRefused(f"the constitution's {name} must be a count of at least 1")
            if count > len(self.members):
                raise GovernanceRefused(
                    f"the constitution asks {count} votes of {len(self.members)} members"
                )
        unknown = set(rules) - set(ACTIONS)
        if unknown:
            raise GovernanceRefused(
                f"the constitution has rules for unknown actions {sorted(unknown)}"
            )
        self.threshold, self.rules = threshold, dict(rules)

    def _apply(self, action: Mapping[str, Any]) -> None:
        kind = action["type"]
        if kind == "add_member":
            _public_key(action["key"], str(action["name"]))
            self.members[str(action["name"])] = str(action["key"])
        elif kind == "remove_member":
            self.members.pop(str(action["name"]), None)
        elif kind == "set_policy":
            self.policies[str(action["name"])] = str(action["digest"])
        elif kind == "allow_measurement":
            self.measurements.add((str(action["tee"]), str(action["measurement"])))
        elif kind == "revoke_measurement":
            self.measurements.discard((str(action["tee"]), str(action["measurement"])))
        elif kind == "rotate_log_key":
            self.log_keys.append(str(action["vkey"]))
        elif kind == "set_witnesses":
            self.witnesses = ([str(v) for v in action["vkeys"]], int(action["threshold"]))
        elif kind == "set_constitution":
            self._set_constitution(action["threshold"], action["rules"])


def _document(message: Mapping[str, Any], kind: str) -> dict[str, Any]:
    document = message.get("document") if isinstance(message, Mapping) else None
    if not isinstance(document, dict) or document.get("type") != kind:
        raise GovernanceRefused(f"expected a signed {kind} document")
    return document


def _verify(key: Ed25519PublicKey, signature: Any, document: Mapping[str, Any], who: str) -> None:
    try:
        key.verify(base64.b64decode(str(signature), validate=True), _canonical(document))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise GovernanceRefused(f"the signature of {who} does not verify") from exc


def _check_action(action: Any) -> None:
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        raise GovernanceRefused(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    missing = [f for f in ACTIONS[action["type"]] if f not in action]
    if missing:
        raise GovernanceRefused(f"a {action['type']} action needs {', '.join(missing)}")


def proposal_id(message: Mapping[str, Any]) -> str:
    """The id ballots name a proposal by: the digest of its signed document."""
    return digest_of(_canonical(_document(message, "proposal")))


def genesis(
    founders: Sequence[MemberKey], threshold: int, rules: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The genesis message, signed by every founder (all of whose keys are at hand)."""
    document = {
        "type": "genesis",
        "members": {key.name: key.public for key in founders},
        "threshold": threshold,
        "rules": dict(rules or {}),
    }
    return {
        "document": document,
        "signatures": {key.name: key.sign(document)["signature"] for key in founders},
    }


def governance_record(message: Mapping[str, Any]) -> Record:
    """The log entry of a governance message (genesis, proposal, ballot or outcome)."""
    document = message.get("document", message)
    return Record("governance", {"action": str(document.get("type")), "message": dict(message)})


def replay(records: Iterable[Record]) -> Consortium:
    """Recompute the consortium from its log records, checking every signature, every
    rule and every logged outcome; GovernanceRefused at the first that does not hold."""
    consortium: Consortium | None = None
    expected: dict[str, Any] | None = None
    for record in records:
        if record.kind != "governance":
            continue
        message = record.fields["message"]
        action = record.fields["action"]
        if expected is not None:
            if action != "outcome" or message != expected:
                raise GovernanceRefused("a decided proposal's outcome is missing or altered")
            expected = None
            continue
        if action == "genesis":
            if consortium is not None:
                raise GovernanceRefused("a second genesis")
            consortium = Consortium.genesis(message)
        elif consortium is None:
            raise GovernanceRefused("governance before the genesis")
        elif action == "proposal":
            consortium.propose(message)
        elif action == "ballot":
            expected = consortium.vote(message)
        else:
            raise GovernanceRefused(f"an outcome no ballot decided, or unknown {action!r}")
    if expected is not None:
        raise GovernanceRefused("the last decided proposal's outcome is missing")
    if consortium is None:
        raise GovernanceRefused("the log has no governance genesis")
    return consortium

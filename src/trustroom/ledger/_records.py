"""Evidence records: what one log entry says, canonical and versioned, digests only.

A record is a JSON object serialised as RFC 8785 canonical JSON, so that anyone re-encoding
the same content gets the same bytes, hence the same leaf hash. Every record has ``v`` (the
record format version, 1) and ``kind``; each kind names the fields it requires. Digests are
written ``"sha256:<64 hex>"``: a record says *which* data, code and policy took part, never
the data itself (that stays with its owner, addressed by digest), so the log can be public
while the data is not. Records are capped at 65535 bytes to keep it that way.

::

    record = Record("job-result", {
        "job": "churn-2026-11",
        "program": {"measurement": "sha256:…"},
        "inputs": [{"name": "bank.csv", "digest": "sha256:…"}],
        "outputs": [{"name": "model.json", "digest": "sha256:…"}],
        "policy": "sha256:…",
        "attestation": "sha256:…",
    })
    leaf = record.canonical()          # the bytes the log stores and hashes
    Record.parse(leaf) == record
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import rfc8785

from trustroom.ledger._errors import RecordInvalid

__all__ = ["KINDS", "MAX_RECORD_SIZE", "RECORD_VERSION", "Record", "digest_of"]

RECORD_VERSION = 1
# Every entry fits a tlog-tiles entry bundle, which prefixes each with a uint16 length.
MAX_RECORD_SIZE = 0xFFFF
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

# The fields each kind requires (beyond v and kind); others may be added freely.
KINDS: Mapping[str, tuple[str, ...]] = {
    # Entry 0: the log's signing key and the TEE evidence that binds it to the log's code.
    "log-key": ("origin", "vkey", "tee", "evidence"),
    # A data owner's signed approval of a clean-room job spec (trustroom.cleanroom).
    "job-approval": ("job", "spec", "party", "approval"),
    # A clean-room job handed to its runner, once every owner approved it.
    "job-start": ("job", "spec", "mode"),
    # A confidential computation: which code ran on which inputs under which policy.
    "job-result": ("job", "program", "inputs", "outputs", "policy", "attestation"),
    # A key broker released a secret to an attested workload.
    "key-release": ("resource", "tee", "measurement", "policy", "attestation"),
    # An attestation result (an EAR token), by digest.
    "attestation-result": ("tee", "status", "token"),
    # A governance proposal, ballot or outcome (trustroom.ledger governance).
    "governance": ("action",),
}


def digest_of(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``: how records name data, code and documents."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


_SAFE_INT = 2**53 - 1


def _check(value: Any) -> bool:
    """Check that every field named ``digest`` or ending in ``_digest`` holds a sha256
    digest; whether ``value`` is plain JSON (no floats, integers that are exact as IEEE
    doubles, ASCII keys), which orjson with sorted keys writes exactly as RFC 8785 does.
    A loop over a stack, strings skipped where they are met: this walk is on the path of
    every record appended from outside."""
    plain = True
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict or (kind is not list and kind is not tuple and isinstance(item, Mapping)):
            for key, child in item.items():
                if type(key) is not str:
                    raise RecordInvalid(f"the record has a key that is not a string: {key!r}")
                if not key.isascii():
                    plain = False
                if key.endswith("digest") and (key == "digest" or key.endswith("_digest")):
                    if type(child) is not str or not _DIGEST.fullmatch(child):
                        raise RecordInvalid(
                            f"{key!r} must be 'sha256:' and 64 lowercase hex digits"
                        )
                elif type(child) is not str:
                    stack.append(child)
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                plain = False
        elif not (kind is bool or item is None or isinstance(item, str)):
            plain = False  # floats and the rest: rfc8785 writes them, or refuses
    return plain


@dataclass(frozen=True)
class Record:
    """One entry's content: a ``kind`` and its fields (``v`` is added on encoding)."""

    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    _plain: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        required = KINDS.get(self.kind)
        if required is None:
            raise RecordInvalid(
                f"unknown record kind {self.kind!r}", hint=f"Use one of: {', '.join(KINDS)}."
            )
        if "v" in self.fields or "kind" in self.fields:
            raise RecordInvalid("'v' and 'kind' are set by the record, not among its fields")
        missing = [name for name in required if name not in self.fields]
        if missing:
            raise RecordInvalid(f"a {self.kind} record needs {', '.join(missing)}")
        # Frozen: the check's verdict is set once, here, for canonical().
        object.__setattr__(self, "_plain", _check(self.fields) and self.kind.isascii())

    def to_dict(self) -> dict[str, Any]:
        return {"v": RECORD_VERSION, "kind": self.kind, **self.fields}

    @functools.cached_property
    def _canonical(self) -> bytes:
        # orjson where it writes RFC 8785 exactly (a differential test holds it to that):
        # the pure-Python encoder cost more than everything else an append does.
        try:
            if self._plain:
                data = orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)
            else:
                data = rfc8785.dumps(self.to_dict())
        except (rfc8785.CanonicalizationError, orjson.JSONEncodeError, TypeError) as exc:
            raise RecordInvalid(f"the record is not canonical JSON: {exc}") from exc
        if len(data) > MAX_RECORD_SIZE:
            raise RecordInvalid(
                f"the record is {len(data)} bytes, more than {MAX_RECORD_SIZE}",
                hint="Records hold digests of data, never the data itself.",
            )
        return data

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON: the entry's bytes, whose hash is the Merkle leaf."""
        return self._canonical

    @classmethod
    def from_dict(cls, value: Any) -> Record:
        if not isinstance(value, Mapping):
            raise RecordInvalid("a record is a JSON object")
        if value.get("v") != RECORD_VERSION:
            raise RecordInvalid(
                f"record version {value.get('v')!r} is not supported (this is version "
                f"{RECORD_VERSION})"
            )
        kind = value.get("kind")
        if not isinstance(kind, str):
            raise RecordInvalid("a record needs a 'kind' string")
        return cls(kind, {k: v for k, v in value.items() if k not in ("v", "kind")})

    @classmethod
    def parse(cls, data: bytes) -> Record:
        """The record in ``data``, which must be its canonical encoding exactly (so that one
        record has one leaf hash)."""
        if len(data) > MAX_RECORD_SIZE:
            raise RecordInvalid(f"the record is {len(data)} bytes, more than {MAX_RECORD_SIZE}")
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RecordInvalid(f"the record is not JSON: {exc}") from exc
        record = cls.from_dict(value)
        if record.canonical() != data:
            raise RecordInvalid(
                "the record is not in RFC 8785 canonical form",
                hint="Append records through trustroom (it canonicalises them), or encode "
                "them with an RFC 8785 (JCS) library.",
            )
        return record

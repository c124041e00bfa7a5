"""Evidence records: canonical bytes (RFC 8785), digests only, one encoding per record."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom.ledger import MAX_RECORD_SIZE, Record, RecordInvalid, digest_of

DIGEST = digest_of(b"x")
# Keys that records reserve for digests are checked on their own below.
keys = st.text(max_size=8).filter(lambda k: not (k == "digest" or k.endswith("_digest")))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    # Beyond 2**53 an integral float is written as an integer, which RFC 8785 (as rfc8785
    # implements it) then refuses to read back: such records cannot round-trip.
    | st.floats(
        allow_nan=False,
        allow_infinity=False,
        min_value=-(2.0**53),
        max_value=2.0**53,
        exclude_min=True,
        exclude_max=True,
    )
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(keys.filter(lambda k: k not in ("v", "kind")), json_values,
                              max_size=6))  # fmt: skip
def test_canonical_bytes_are_rfc8785_whatever_the_content(fields: dict[str, object]) -> None:
    """The fast encoder (orjson) is used only where it writes what RFC 8785 writes."""
    try:
        expected = rfc8785.dumps({"v": 1, "kind": "governance", "action": "x", **fields})
    except (rfc8785.CanonicalizationError, ValueError):
        with pytest.raises(RecordInvalid):
            Record("governance", {"action": "x", **fields}).canonical()
        return
    record = Record("governance", {"action": "x", **fields})
    if len(expected) <= MAX_RECORD_SIZE:
        assert record.canonical() == expected
        assert Record.parse(expected) == record


def test_non_canonical_encodings_of_a_record_are_refused() -> None:
    record = Record("attestation-result", {"tee": "sgx", "status": "affirming", "token": "t"})
    assert Record.parse(record.canonical()) == record
    spaced = json.dumps(record.to_dict(), indent=1).encode()
    with pytest.raises(RecordInvalid, match="canonical"):
        Record.parse(spaced)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tee": "sgx", "status": "x"}, "needs token"),
        ({"tee": "sgx", "status": "x", "token": "t", "token_digest": "md5:00"}, "sha256"),
        ({"tee": "sgx", "status": "x", "token": "t", "kind": "job-result"}, "set by the record"),
        ({"tee": "sgx", "status": "x", "token": "t", "blob": "a" * MAX_RECORD_SIZE}, "bytes"),
    ],
)
def test_invalid_records_say_why(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RecordInvalid, match=message):
        Record("attestation-result", fields).canonical()


def test_unknown_kinds_and_versions_are_refused() -> None:
    with pytest.raises(RecordInvalid, match="unknown record kind"):
        Record("secret-dump", {})
    with pytest.raises(RecordInvalid, match="version"):
        Record.parse(b'{"kind":"governance","v":2}')
    with pytest.raises(RecordInvalid, match="not JSON"):
        Record.parse(b"\xff")
    assert Record("governance", {"action": "a", "digest": DIGEST}).fields["digest"] == DIGEST

"""Private set intersection: the group against RFC 9497's vectors, then the protocol between
two parties, in process and over real TCP with TLS, against Python's own set intersection."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom import mpc
from trustroom.mpc import ProtocolError, psi
from trustroom.mpc._group import hash_to_group, scalar_mult
from trustroom.mpc._tcp import connect, local_parties
from trustroom.mpc._transport import MemoryNetwork, Transport

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "psi" / "rfc9497-ristretto255-sha512.json").read_text()
)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["Input"][:4])
def test_hash_to_group_meets_rfc9497(vector: dict[str, str]) -> None:
    element = hash_to_group(VECTORS["dst"].encode())(bytes.fromhex(vector["Input"]))
    blinded = scalar_mult(bytes.fromhex(vector["Blind"]), element)
    assert blinded.hex() == vector["BlindedElement"]
    evaluated = scalar_mult(bytes.fromhex(VECTORS["skSm"]), blinded)
    assert evaluated.hex() == vector["EvaluationElement"]


def test_hash_to_group_separates_domains() -> None:
    assert hash_to_group(b"one")(b"x") != hash_to_group(b"two")(b"x")
    assert hash_to_group(b"one")(b"x") != hash_to_group(b"one")(b"y")


def _pair(
    first: Callable[[Transport], Any], second: Callable[[Transport], Any], timeout: float = 20.0
) -> tuple[Any, Any]:
    """Run two parties as threads over the in-process transport; their results, or the
    exception each raised."""
    network = MemoryNetwork(2, timeout=timeout)
    results: list[Any] = [None, None]

    def run(rank: int, party: Callable[[Transport], Any]) -> None:
        transport = network.endpoint(rank)
        try:
            results[rank] = party(transport)
        except BaseException as exc:
            results[rank] = exc
        finally:
            transport.close()

    threads = [threading.Thread(target=run, args=(r, p)) for r, p in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 10)
        assert not thread.is_alive(), "a party hung"
    return results[0], results[1]


def _psi(a: Sequence[Any], b: Sequence[Any]) -> tuple[psi.Intersection[Any], ...]:
    left, right = _pair(
        lambda t: psi.intersect(t, 1, a, workers=2), lambda t: psi.intersect(t, 0, b, workers=1)
    )
    for result in (left, right):
        if isinstance(result, BaseException):
            raise result
    return left, right


def _check(a: Sequence[Any], b: Sequence[Any]) -> tuple[psi.Intersection[Any], ...]:
    left, right = _psi(a, b)
    expected = tuple(sorted(set(a) & set(b)))
    assert left.items == right.items == expected
    assert [a[i] for i in left.rows] == [b[i] for i in right.rows] == list(expected)
    assert left.positions == tuple(i for i, x in enumerate(a) if x in set(b))
    assert right.positions == tuple(i for i, x in enumerate(b) if x in set(a))
    assert (left.peer_size, right.peer_size) == (len(set(b)), len(set(a)))
    return left, right


def test_known_overlap_with_duplicates() -> None:
    bank = [f"cust-{i:05d}" for i in range(0, 3000)] + ["cust-00007", "cust-02999"]
    retailer = [f"cust-{i:05d}" for i in range(2000, 6000, 2)] + ["cust-02000"] * 3
    left, right = _check(bank, retailer)
    assert len(left.items) == 500
    # The first row of an item that occurs more than once, every position in `positions`.
    assert right.rows[0] == 0 and right.positions.count(0) == 1
    assert len(right.positions) == 500 + 3


@pytest.mark.parametrize(
    ("a", "b"),
    [([], []), ([], ["x"]), (["x", "y"], []), (["a", "b"], ["c"]), (["a", "a"], ["a"])],
    ids=["both-empty", "left-empty", "right-empty", "disjoint", "duplicates-only"],
)
def test_edge_cases(a: list[str], b: list[str]) -> None:
    _check(a, b)


def test_bytes_items_and_unicode() -> None:
    _check([b"\x00", b"\xff" * 40, b""], [b"", b"\x00\x00", b"\xff" * 40])
    left, _ = _check(["Zürich", "東京", "a"], ["東京", "Zürich", "b"])
    assert left.items == ("Zürich", "東京")  # code point order at both parties


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(st.text(max_size=5), max_size=30),
    b=st.lists(st.text(max_size=5), max_size=30),
)
def test_any_two_sets(a: list[str], b: list[str]) -> None:
    _check(a, b)


def test_mixed_item_types_are_refused() -> None:
    with pytest.raises(TypeError, match="all str or all bytes"):
        psi.intersect(MemoryNetwork(2).endpoint(0), 1, ["a", b"a"])  # type: ignore[list-item]


def test_over_tcp_with_tls() -> None:
    parties, keys = local_parties(2)
    a = [str(i) for i in range(20_000)]
    b = [str(i) for i in range(15_000, 40_000)]
    results: dict[int, Any] = {}
    transports: dict[int, Transport] = {}

    def run(rank: int, items: list[str]) -> None:
        try:
            transports[rank] = connect(rank, parties, keys[rank], timeout=60, connect_timeout=20)
            results[rank] = psi.intersect(transports[rank], 1 - rank, items)
        except BaseException as exc:
            results[rank] = exc

    threads = [threading.Thread(target=run, args=(r, x)) for r, x in enumerate((a, b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for transport in transports.values():
        transport.close()
    assert results[0].items == results[1].items == tuple(sorted(set(a) & set(b)))
    assert len(results[0].items) == 5000
    # What crossed the network: 32 bytes per own distinct item, 16 per the other's.
    assert transports[0].bytes_sent == 32 * len(a) + 16 * len(b)


def _liar(messages: list[bytes]) -> Callable[[Transport], None]:
    """A party that sends ``messages`` in turn, whatever it receives."""

    def run(transport: Transport) -> None:
        for message in messages:
            transport.send(0, message)
            transport.recv(0)

    return run


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([b"\x01" * 33], "not a whole number of group elements"),
        ([b"\xff" * 32], "not a ristretto255 element"),
        ([b"", b"\x00" * 15], "sent back 15 bytes for 2 items"),
    ],
    ids=["ragged", "not-an-element", "short-answer"],
)
def test_a_misbehaving_peer_is_refused_with_a_reason(messages: list[bytes], match: str) -> None:
    honest, _ = _pair(lambda t: psi.intersect(t, 1, ["a", "b"]), _liar(messages), timeout=5)
    assert isinstance(honest, ProtocolError)
    assert match in honest.message


def _joined_total(ctx: mpc.Context) -> tuple[tuple[str, ...], float]:
    own = {"c1": 2.0, "c2": 3.0, "c3": 5.0} if ctx.rank == 0 else {"c3": 7.0, "c1": 11.0}
    ids = list(own)
    shared = ctx.intersect(ids, peer=1 - ctx.rank)
    values = np.array([own[ids[row]] for row in shared.rows])
    left = ctx.input(0, values if ctx.rank == 0 else None)
    right = ctx.input(1, values if ctx.rank == 1 else None)
    return shared.items, float(ctx.reveal((left * right).sum()))


def test_a_program_joins_on_the_intersection() -> None:
    results = mpc.launch(_joined_total, protocol="semi2k", parties=2, transport="mem")
    assert results[0] == results[1] == (("c1", "c3"), 2.0 * 11.0 + 5.0 * 7.0)

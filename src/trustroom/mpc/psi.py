"""Private set intersection: two parties learn which items they share, and nothing else.

ECDH-PSI (Huberman, Franklin and Hogg, 1999; SecretFlow's ``ECDH_PSI_2PC``) in ristretto255,
a prime-order group, with RFC 9380 hash-to-group. Each party hashes its distinct items to the
group and raises them to its own secret scalar, ``a * H(x)``; the parties swap those (sorted,
which shuffles them), each raises the other's by its own scalar and sends them back in the
order received, so each holds ``a * b * H(x)`` of its own items and of the other's: equal
exactly for shared items. Both learn the intersection; neither learns anything about the
other's other items but their number (under the decisional Diffie-Hellman assumption, with
parties that follow the protocol: semi-honest, as in SecretFlow). The doubly raised values
go back truncated to 16 bytes: a false match among a billion items each has probability
below 2^-68. ::

    from trustroom.mpc import psi

    shared = psi.intersect(transport, peer=1, items=customer_ids)
    shared.items          # the shared items, sorted: both parties hold the same list
    shared.rows           # this party's first row of each, in that order: the join

Each party runs :func:`intersect` with its own transport (``trustroom.mpc``'s TCP transport
between organisations, with pinned certificates; the in-process one for tests).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from trustroom.mpc._errors import ProtocolError
from trustroom.mpc._group import ELEMENT_SIZE, hash_to_group, map_batches, random_scalar
from trustroom.mpc._group import scalar_mult as _scalar_mult
from trustroom.mpc._transport import Transport

__all__ = ["DST", "Intersection", "intersect"]

DST = b"trustroom-psi-v1-ristretto255_XMD:SHA-512_R255MAP_RO_"
"""The domain separation tag items are hashed to the group with."""

_MATCH = 16  # bytes of a doubly raised element sent back and compared

Item = TypeVar("Item", str, bytes)


@dataclass(frozen=True)
class Intersection(Generic[Item]):
    """What one party learns: the shared items, where they are in its own input, and how
    many distinct items the other party brought."""

    items: tuple[Item, ...]
    """The shared items, sorted (str by code point, bytes by value): the same list, in the
    same order, at both parties."""
    rows: tuple[int, ...]
    """This party's first position of each shared item in its input, in ``items``' order."""
    positions: tuple[int, ...]
    """Every position of this party's input holding a shared item (duplicates too), ascending."""
    peer_size: int
    """The number of distinct items the other party brought."""


def intersect(
    transport: Transport, peer: int, items: Sequence[Item], *, workers: int | None = None
) -> Intersection[Item]:
    """Run ECDH-PSI with party ``peer`` over ``transport``, which must call this too with its
    own items; ``items`` are all str or all bytes (str are hashed as UTF-8), duplicates
    allowed. ``workers`` threads do the group arithmetic (default: one per CPU)."""
    workers = workers or os.cpu_count() or 1
    encoded = _encoded(items)
    distinct = sorted(set(encoded))
    secret = random_scalar()
    hash_one = hash_to_group(DST)

    def raise_own(item: bytes) -> bytes:
        return _scalar_mult(secret, hash_one(item))

    mine = map_batches(raise_own, distinct, workers)
    # Sorting the raised values orders them by nothing the other party knows.
    order = sorted(range(len(mine)), key=mine.__getitem__)
    transport.send(peer, b"".join(mine[i] for i in order))

    theirs = _elements(transport.recv(peer), peer)

    def raise_theirs(element: bytes) -> bytes:
        try:
            return _scalar_mult(secret, element)[:_MATCH]
        except ValueError:
            raise ProtocolError(
                f"party {peer} sent a value that is not a ristretto255 element",
                hint="Both parties must run trustroom's PSI on the same version.",
            ) from None

    doubled_theirs = map_batches(raise_theirs, theirs, workers)
    transport.send(peer, b"".join(doubled_theirs))

    back = transport.recv(peer)
    if len(back) != _MATCH * len(mine):
        raise ProtocolError(
            f"party {peer} sent back {len(back)} bytes for {len(mine)} items "
            f"({_MATCH} expected per item)"
        )
    view = bytes(back)
    theirs_set = set(doubled_theirs)
    shared = sorted(
        distinct[i]
        for k, i in enumerate(order)
        if view[k * _MATCH : (k + 1) * _MATCH] in theirs_set
    )
    first: dict[bytes, int] = {}
    for position, item in enumerate(encoded):
        first.setdefault(item, position)
    shared_set = set(shared)
    return Intersection(
        items=tuple(_decoded(item, items) for item in shared),
        rows=tuple(first[item] for item in shared),
        positions=tuple(p for p, item in enumerate(encoded) if item in shared_set),
        peer_size=len(theirs),
    )


def _encoded(items: Sequence[str | bytes]) -> list[bytes]:
    if all(isinstance(item, str) for item in items):
        return [item.encode() for item in items]  # type: ignore[union-attr]
    if all(isinstance(item, bytes) for item in items):
        return list(items)  # type: ignore[arg-type]
    raise TypeError("PSI items are all str or all bytes")


def _decoded(item: bytes, like: Sequence[Item]) -> Item:
    return item.decode() if like and isinstance(like[0], str) else item  # type: ignore[return-value]


def _elements(message: bytes | bytearray | memoryview, peer: int) -> list[bytes]:
    data = bytes(message)
    if len(data) % ELEMENT_SIZE:
        raise ProtocolError(
            f"party {peer} sent {len(data)} bytes, not a whole number of group elements"
        )
    return [data[i : i + ELEMENT_SIZE] for i in range(0, len(data), ELEMENT_SIZE)]

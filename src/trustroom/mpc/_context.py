"""What a party's program sees: its rank, secret inputs, reveal, and the traffic counters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from trustroom.mpc._array import SecretArray
from trustroom.mpc._errors import ProtocolError
from trustroom.mpc._ring import Ring, decode, encode
from trustroom.mpc._transport import Transport
from trustroom.mpc.psi import Intersection, Item, intersect

__all__ = ["Context", "SharingProtocol"]


class SharingProtocol(Protocol):
    """What a secret-sharing protocol offers the arrays (see ``_aby3.Aby3``)."""

    name: str
    parties: int
    rounds: int
    transport: Transport

    def share(self, owner: int, value: Ring | None, shape: tuple[int, ...]) -> np.ndarray: ...
    def reveal(self, x: np.ndarray) -> Ring: ...
    def add_public(self, x: np.ndarray, c: Ring) -> np.ndarray: ...
    def mul(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...
    def mul_trunc(self, x: np.ndarray, y: np.ndarray, bits: int) -> np.ndarray: ...
    def matmul(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...
    def matmul_trunc(self, x: np.ndarray, y: np.ndarray, bits: int) -> np.ndarray: ...
    def trunc(self, x: np.ndarray, bits: int) -> np.ndarray: ...
    def msb(self, x: np.ndarray) -> np.ndarray: ...
    def bits(self, x: np.ndarray) -> np.ndarray: ...
    def prefix_or(self, b: np.ndarray) -> np.ndarray: ...
    def b2a(self, b: np.ndarray) -> np.ndarray: ...
    def bit_to_arithmetic(self, b: np.ndarray) -> np.ndarray: ...


class Context:
    """One party's handle on the joint computation; every party calls the same methods in
    the same order."""

    def __init__(self, protocol: SharingProtocol, frac_bits: int = 18) -> None:
        self.protocol = protocol
        self.frac_bits = frac_bits
        self.rank = protocol.transport.rank
        self.parties = protocol.parties

    def input(self, owner: int, value: npt.ArrayLike | None) -> SecretArray:
        """Secret-share ``owner``'s array: the owner passes it, every other party None.
        Floats become fixed point, integers and booleans stay integers."""
        transport = self.protocol.transport
        if not 0 <= owner < self.parties:
            raise ProtocolError(
                f"there is no party {owner} to own an input: "
                f"this computation has parties 0 to {self.parties - 1}"
            )
        if self.rank == owner:
            if value is None:
                raise ProtocolError(f"party {owner} owns this input and must pass its array")
            array = np.asarray(value)
            fixed = array.dtype.kind == "f"
            ring = encode(array, self.frac_bits if fixed else 0)
            header = json.dumps({"shape": list(array.shape), "fixed": fixed}).encode()
            for other in range(self.parties):
                if other != owner:
                    transport.send(other, header)
            shape: tuple[int, ...] = array.shape
        else:
            if value is not None:
                raise ProtocolError(f"party {self.rank} passed a value for party {owner}'s input")
            described = json.loads(bytes(transport.recv(owner)))
            shape, fixed, ring = tuple(described["shape"]), bool(described["fixed"]), None
        return SecretArray(self, self.protocol.share(owner, ring, shape), fixed)

    def reveal(self, x: SecretArray) -> npt.NDArray[Any]:
        """Open ``x`` to every party: float64 for fixed point, int64 for integers."""
        return decode(self.protocol.reveal(x.shares), self.frac_bits if x.fixed else 0)

    def intersect(self, items: Sequence[Item], *, peer: int) -> Intersection[Item]:
        """The items this party shares with party ``peer``, found by private set intersection
        (``trustroom.mpc.psi``): both learn the shared items and nothing else of each other's.
        Its ``rows`` line up the two parties' records for :meth:`input`."""
        intersection = intersect(self.protocol.transport, peer, items)
        self.protocol.rounds += 2
        return intersection

    def barrier(self) -> None:
        """Return once every party has reached this point."""
        transport = self.protocol.transport
        for other in range(self.parties):
            if other != self.rank:
                transport.send(other, b"")
        for other in range(self.parties):
            if other != self.rank:
                transport.recv(other)
        self.protocol.rounds += 1

    def stats(self) -> dict[str, Any]:
        """What this party has sent so far: ``bytes_sent``, ``messages``, ``rounds``."""
        transport = self.protocol.transport
        return {
            "bytes_sent": transport.bytes_sent,
            "messages": transport.messages_sent,
            "rounds": self.protocol.rounds,
        }

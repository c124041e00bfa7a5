"""Moving bytes between parties: the interface every transport offers, and the in-process one.

A transport delivers whole messages, in order, between every pair of parties, and counts
what this party sent. The protocols count rounds themselves (a round is one exchange in
which every party sends before it receives).
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from trustroom.mpc._errors import PeerLost, PeerTimeout, ProtocolError
from trustroom.mpc._ring import Ring

__all__ = ["MemoryNetwork", "Transport"]

Buffer = bytes | bytearray | memoryview


class Transport(ABC):
    """Messages between ``parties`` parties, from the point of view of party ``rank``."""

    def __init__(self, rank: int, parties: int, timeout: float) -> None:
        self.rank = rank
        self.parties = parties
        self.timeout = timeout
        self.bytes_sent = 0
        self.messages_sent = 0

    def send(self, to: int, data: Buffer) -> None:
        """Queue ``data`` for party ``to``; never blocks on the receiver."""
        self.bytes_sent += memoryview(data).nbytes
        self.messages_sent += 1
        self._send(to, data)

    @abstractmethod
    def _send(self, to: int, data: Buffer) -> None: ...

    def send_ring(self, to: int, array: Ring) -> None:
        """Send ring elements (their bytes; the receiver knows the shape)."""
        self.send(to, np.ascontiguousarray(array).data.cast("B"))

    def recv_ring(self, frm: int, shape: tuple[int, ...]) -> Ring:
        """Ring elements of ``shape`` from party ``frm``; ProtocolError if it sent another
        number of them (the parties are then not running the same computation)."""
        ring = np.frombuffer(self.recv(frm), dtype=np.uint64)
        if ring.size != int(np.prod(shape, dtype=np.int64)):
            raise ProtocolError(
                f"party {frm} sent {ring.size} elements where {shape} were expected: "
                "the parties are not running the same computation"
            )
        return ring.reshape(shape)

    @abstractmethod
    def recv(self, frm: int) -> Buffer:
        """The next message from party ``frm``; PeerLost if it is gone, PeerTimeout if it
        sent nothing within the timeout."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections (idempotent); the other parties see this one gone."""


_CLOSED = object()


class _MemoryTransport(Transport):
    def __init__(self, network: MemoryNetwork, rank: int) -> None:
        super().__init__(rank, network.parties, network.timeout)
        self._network = network

    def _send(self, to: int, data: Buffer) -> None:
        self._network.queues[self.rank][to].put(bytes(data))

    def recv(self, frm: int) -> Buffer:
        try:
            message = self._network.queues[frm][self.rank].get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {frm} sent nothing to party {self.rank} in {self.timeout:g} s"
            ) from None
        if message is _CLOSED:
            raise PeerLost(f"party {frm} stopped before party {self.rank} was done")
        assert isinstance(message, bytes)
        return message

    def close(self) -> None:
        self._network.leave(self.rank)


class MemoryNetwork:
    """Parties as threads of one process, for tests and notebooks: ``endpoint(rank)`` is
    party ``rank``'s transport. A party that closes its transport looks gone to the others."""

    def __init__(self, parties: int, timeout: float = 60.0) -> None:
        self.parties = parties
        self.timeout = timeout
        self.queues: Sequence[Sequence[queue.SimpleQueue[object]]] = [
            [queue.SimpleQueue() for _ in range(parties)] for _ in range(parties)
        ]
        self._left: set[int] = set()
        self._lock = threading.Lock()

    def endpoint(self, rank: int) -> Transport:
        return _MemoryTransport(self, rank)

    def leave(self, rank: int) -> None:
        with self._lock:
            if rank in self._left:
                return
            self._left.add(rank)
        for other in range(self.parties):
            if other != rank:
                self.queues[rank][other].put(_CLOSED)

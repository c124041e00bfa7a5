"""Two-party additive secret sharing over Z_2^64 with a dealer (SEMI2K, as SPU's protocol of
that name and CrypTen's trusted-third-party mode).

A secret x is x_0 + x_1 modulo 2^64 and party i holds x_i, as a ``(1, *shape)`` array (one
component, so that the arrays' code serves both protocols). A third process, the dealer,
hands out correlated randomness: Beaver triples for products (ring and matrix), AND triples
for boolean gates, and masks for truncation. It never holds a share of an input or a result:
it learns the shapes of the computation, nothing else.

Whatever the dealer gives party 0 comes from a seed the two share, so it costs no message;
party 1 draws its a and b from its own seed with the dealer, and the dealer sends it the part
that depends on both (c - c_0 of a triple). Party 0 names each item it needs (kind and
shapes); the dealer's answer travels to party 1 while the parties exchange their own
messages, so it adds no round. The two parties share a seed too, for masks of values one of
them knows already (an input is shared without a message).

Costs per element, per party: input 0 rounds; reveal 1 round, 1 element; integer
multiplication 1 round, 2 elements (and 1 from the dealer to party 1); fixed-point
multiplication 2 rounds, 3 elements; the top bit (comparisons) 8 rounds, 26 elements.

Security: semi-honest, and the dealer must collude with neither party (with party 0 it knows
all of party 0's masks; with party 1, party 1's). Truncation uses the dealt-pair method of the
three-party protocol: the result is floor(v / 2^d) or one more for every element, never a
rare large error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np

from trustroom.mpc import _ring
from trustroom.mpc._circuits import BooleanCircuits, wrapping
from trustroom.mpc._errors import PeerLost, PeerTimeout, ProtocolError
from trustroom.mpc._prg import SEED_BYTES, Stream
from trustroom.mpc._ring import Ring
from trustroom.mpc._transport import Transport

__all__ = ["DEALER", "Semi2k", "serve_dealer"]

Shares = Ring  # (1, *shape): this party's term
DEALER = 2  # the dealer's rank on the network of the two parties and itself


class Semi2k(BooleanCircuits):
    """The protocol as seen by party 0 or 1; every method is called by both in step."""

    name = "semi2k"
    parties = 2

    def __init__(self, transport: Transport) -> None:
        if transport.parties != 3 or transport.rank not in (0, 1):
            raise ProtocolError("SEMI2K runs two parties (ranks 0 and 1) and a dealer (rank 2)")
        self.transport = transport
        self.rank = transport.rank
        self.other = 1 - self.rank
        self.rounds = 0
        if self.rank == 0:
            pair_seed = os.urandom(SEED_BYTES)
            transport.send(1, pair_seed)
        else:
            pair_seed = bytes(transport.recv(0))
        self._pair = Stream(pair_seed)  # known to both parties
        self._dealt = Stream(bytes(transport.recv(DEALER)))  # known to this party and the dealer
        self._own = Stream(os.urandom(SEED_BYTES))  # this party's alone
        self.rounds += 1

    def _exchange(self, array: Ring) -> Ring:
        """Send this party's ``array``, receive the other's of the same shape."""
        self.transport.send_ring(self.other, array)
        return self.transport.recv_ring(self.other, array.shape)

    def _ask(self, kind: str, *shapes: tuple[int, ...], bits: int = 0) -> None:
        if self.rank == 0:
            self.transport.send(
                DEALER, json.dumps([kind, [list(s) for s in shapes], bits]).encode()
            )

    def _dealt_term(self, shape: tuple[int, ...]) -> Ring:
        """This party's term of the dealer's value: from the seed for party 0, sent to 1."""
        if self.rank == 0:
            return self._dealt.ring(shape)
        return self.transport.recv_ring(DEALER, shape)

    # -- moving values in and out ---------------------------------------------------------

    def _input(
        self, owner: int, value: Ring | None, shape: tuple[int, ...], *, boolean: bool
    ) -> Shares:
        """The non-owner's term is a mask from the parties' common seed, the owner's is the
        value less it (XOR, for a boolean sharing): no message."""
        mask = self._pair.ring(shape)
        if self.rank != owner:
            return mask[None]
        assert value is not None
        return (value ^ mask if boolean else value - mask)[None]

    @wrapping
    def share(self, owner: int, value: Ring | None, shape: tuple[int, ...]) -> Shares:
        """Secret-share ``value``, known to ``owner`` only (the other passes None)."""
        return self._input(owner, value, shape, boolean=False)

    @wrapping
    def reveal(self, x: Shares) -> Ring:
        """Open ``x`` to both parties."""
        self.rounds += 1
        opened: Ring = x[0] + self._exchange(x[0])
        return opened

    @wrapping
    def add_public(self, x: Shares, c: Ring) -> Shares:
        out = x + np.zeros_like(c)
        if self.rank == 0:
            out[0] += c
        return out

    # -- products ---------------------------------------------------------------------------

    def _beaver(self, kind: str, x: Ring, y: Ring) -> Ring:
        """This party's term of x * y (``kind`` "mul") or x @ y ("matmul") with a triple:
        e = x - a and f = y - b are opened, then z = c + e b + a f (+ e f, party 0)."""
        product: Callable[[Ring, Ring], Ring]
        if kind == "mul":
            product, out_shape = np.multiply, np.broadcast_shapes(x.shape, y.shape)
        else:
            product, out_shape = _ring.matmul, (x.shape[0], y.shape[1])
        self._ask(kind, x.shape, y.shape)
        a, b = self._dealt.ring(x.shape), self._dealt.ring(y.shape)
        opened = self._exchange(np.concatenate(((x - a).ravel(), (y - b).ravel())))
        e = (x - a) + opened[: x.size].reshape(x.shape)
        f = (y - b) + opened[x.size :].reshape(y.shape)
        c = self._dealt_term(out_shape)  # after the exchange: the dealer's message meanwhile
        self.rounds += 1
        z: Ring = c + product(e, b) + product(a, f)
        if self.rank == 0:
            z += product(e, f)
        return z

    @wrapping
    def mul(self, x: Shares, y: Shares) -> Shares:
        """x * y element-wise (broadcasting), exact in the ring."""
        return self._beaver("mul", x[0], y[0])[None]

    @wrapping
    def matmul(self, x: Shares, y: Shares) -> Shares:
        """x @ y for 2-D operands, exact in the ring."""
        return self._beaver("matmul", x[0], y[0])[None]

    @wrapping
    def mul_trunc(self, x: Shares, y: Shares, bits: int) -> Shares:
        return self._truncate(self._beaver("mul", x[0], y[0]), bits)

    @wrapping
    def matmul_trunc(self, x: Shares, y: Shares, bits: int) -> Shares:
        return self._truncate(self._beaver("matmul", x[0], y[0]), bits)

    @wrapping
    def trunc(self, x: Shares, bits: int) -> Shares:
        return self._truncate(x[0], bits)

    def _truncate(self, z: Ring, bits: int) -> Shares:
        """v / 2^bits from this party's term z of v: the dealer shares a random r, its low
        bits shifted and its top bit; the parties open c = v + 2^62 + r and correct c's
        shift with them (see ``_ring.truncation_term``). 1 round."""
        if not 0 < bits < _ring.OFFSET_BITS:
            raise ValueError(f"truncation by {bits} bits is out of range")
        shape = z.shape
        self._ask("trunc", shape, bits=bits)
        r = self._dealt.ring(shape)
        offset = np.uint64(1 << _ring.OFFSET_BITS if self.rank == 0 else 0)
        opened = z + r + offset + self._exchange(z + r + offset)
        if self.rank == 0:
            low, msb = self._dealt.ring(shape), self._dealt.ring(shape)
        else:
            low, msb = self.transport.recv_ring(DEALER, (2, *shape))
        self.rounds += 1
        return _ring.truncation_term(opened, low, msb, bits, lead=self.rank == 0)[None]

    # -- boolean circuits -------------------------------------------------------------------

    def _ands(self, *pairs: tuple[Shares, Shares]) -> list[Shares]:
        """Bitwise ANDs with AND triples, all in one round: e = x ^ a and f = y ^ b are
        opened, z = c ^ (e & b) ^ (a & f) (^ e & f, party 0)."""
        x = np.stack([p[0][0] for p in pairs])
        y = np.stack([p[1][0] for p in pairs])
        self._ask("and", x.shape)
        a, b = self._dealt.ring(x.shape), self._dealt.ring(x.shape)
        opened = self._exchange(np.stack((x ^ a, y ^ b)))
        e, f = (x ^ a) ^ opened[0], (y ^ b) ^ opened[1]
        c = self._dealt_term(x.shape)
        self.rounds += 1
        z = c ^ (e & b) ^ (a & f)
        if self.rank == 0:
            z ^= e & f
        return [z[k][None] for k in range(len(pairs))]

    @wrapping
    def bits(self, x: Shares) -> Shares:
        """x's 64 bits as a boolean sharing: each party shares its own term as bits (no
        message) and the adder sums them. 7 rounds."""
        shape = x.shape[1:]
        mine = x[0]
        first = self._input(0, mine if self.rank == 0 else None, shape, boolean=True)
        second = self._input(1, mine if self.rank == 1 else None, shape, boolean=True)
        return self._add_words(first, second)

    @wrapping
    def b2a(self, b: Shares) -> Shares:
        """Boolean sharings of words to arithmetic ones: party 1 draws a random r of its own,
        x - r is added in the boolean domain and opened to party 0 alone, whose term it
        becomes; party 1's is r. 8 rounds."""
        shape = b.shape[1:]
        r = self._own.ring(shape) if self.rank == 1 else np.zeros(shape, np.uint64)
        minus_r = self._input(1, np.uint64(0) - r if self.rank == 1 else None, shape, boolean=True)
        total = self._add_words(b, minus_r)
        self.rounds += 1
        if self.rank == 1:
            self.transport.send_ring(0, total[0])
            return r[None]
        opened: Ring = total[0] ^ self.transport.recv_ring(1, shape)
        return opened[None]

    @wrapping
    def bit_to_arithmetic(self, b: Shares) -> Shares:
        """Boolean shares of 0/1 words to arithmetic shares: b = u_0 XOR u_1 = u_0 + u_1
        - 2 u_0 u_1, each party's bit shared by it (no message), then one product."""
        shape = b.shape[1:]
        bit = b[0] & np.uint64(1)
        first = self.share(0, bit if self.rank == 0 else None, shape)
        second = self.share(1, bit if self.rank == 1 else None, shape)
        return first + second - np.uint64(2) * self.mul(first, second)


def serve_dealer(transport: Transport) -> None:
    """The dealer's loop: answer party 0's requests until it ends or goes away."""
    if transport.rank != DEALER:
        raise ProtocolError(f"the dealer runs as rank {DEALER}, not {transport.rank}")
    seeds = [os.urandom(SEED_BYTES) for _ in range(2)]
    for party, seed in enumerate(seeds):
        transport.send(party, seed)
    first, second = Stream(seeds[0]), Stream(seeds[1])
    with np.errstate(over="ignore"):
        while True:
            try:
                request = bytes(transport.recv(0))
            except PeerTimeout:
                continue  # party 0 is busy with work of its own
            except PeerLost:
                return  # party 0 has finished (or failed, which it reports itself)
            kind, shapes, bits = json.loads(request)
            shapes = [tuple(s) for s in shapes]
            if kind in ("mul", "matmul"):
                product = np.multiply if kind == "mul" else _ring.matmul
                a0, b0 = first.ring(shapes[0]), first.ring(shapes[1])
                a1, b1 = second.ring(shapes[0]), second.ring(shapes[1])
                c = product(a0 + a1, b0 + b1)
                transport.send_ring(1, c - first.ring(c.shape))
            elif kind == "and":
                a0, b0 = first.ring(shapes[0]), first.ring(shapes[0])
                a1, b1 = second.ring(shapes[0]), second.ring(shapes[0])
                c = (a0 ^ a1) & (b0 ^ b1)
                transport.send_ring(1, c ^ first.ring(c.shape))
            elif kind == "trunc":
                r0, r1 = first.ring(shapes[0]), second.ring(shapes[0])
                low0, msb0 = first.ring(shapes[0]), first.ring(shapes[0])
                low, msb = _ring.truncation_mask(r0 + r1, bits)
                transport.send_ring(1, np.stack((low - low0, msb - msb0)))
            else:
                raise ProtocolError(f"the dealer got an unknown request {kind!r}")

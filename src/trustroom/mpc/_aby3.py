"""Three-party replicated secret sharing over Z_2^64 (ABY3, semi-honest, honest majority).

A secret x is split as x = x_0 + x_1 + x_2; party i holds the pair (x_i, x_{i+1}), indices
modulo 3, as a ``(2, *shape)`` array. One party's pair is uniformly random and says nothing
about x; any two parties together can open it. Security holds while no two parties collude
and every party follows the protocol (semi-honest): a party that deviates can falsify the
result without being detected.

Randomness that parties must agree on comes from seeds: seed K_j is known to parties j-1 and
j, so party i holds K_i and K_{i+1} and draws them in step with its neighbours. From them, a
zero-sharing (alpha_i = F(K_i) - F(K_{i+1})) and random sharings cost no messages.

Costs per element, per party: input 1 round, the owner sends 2 elements; reveal 1 round, 1
element; integer multiplication 1 round, 1 element; fixed-point multiplication (with
truncation) 2 rounds, 2 elements (the truncation's dealer too: a role that rotates); the
top bit (comparisons) 10 rounds, 17 words from party 0 and 13 from the others.

Truncation (ABY3 section 5.1.2 with a known most significant bit, as in Escudero et al.,
"Improved primitives for MPC over mixed arithmetic-binary circuits", CRYPTO 2020): one party
deals a random r with shares of its top bit and of its lower 63 bits shifted right, the
other two open c = v + 2^62 + r, and the shift of c is corrected by the dealt shares and by
the top bit of c. The dealer's own term of v is folded into r (r = r_1 + r_2 - z_dealer, r_1
and r_2 from seeds), so it sends the second opener two words and nothing else. With
|v| < 2^62 the result is floor(v / 2^d) or one more (the borrow between the low bits of c and
r is not computed): it differs from v / 2^d by at most one unit in the last place, for every
element. There is no rare large error.
"""

from __future__ import annotations

import os

import numpy as np

from trustroom.mpc import _ring
from trustroom.mpc._circuits import BooleanCircuits, wrapping
from trustroom.mpc._errors import ProtocolError
from trustroom.mpc._prg import SEED_BYTES, Stream
from trustroom.mpc._ring import Ring
from trustroom.mpc._transport import Transport

__all__ = ["Aby3"]

Shares = Ring  # (2, *shape): this party's pair


class Aby3(BooleanCircuits):
    """The protocol as seen by one party; every method is called by all three in step."""

    name = "aby3"
    parties = 3

    def __init__(self, transport: Transport) -> None:
        if transport.parties != 3:
            raise ProtocolError(f"ABY3 runs with 3 parties, not {transport.parties}")
        self.transport = transport
        self.rank = transport.rank
        self.next = (self.rank + 1) % 3
        self.prev = (self.rank - 1) % 3
        self.rounds = 0
        self._truncations = 0
        own = os.urandom(SEED_BYTES)  # K_rank, shared with the previous party
        transport.send(self.prev, own)
        theirs = bytes(transport.recv(self.next))
        self._rounds(1)
        self._own = Stream(own)  # K_rank
        self._next = Stream(theirs)  # K_{rank+1}

    def _rounds(self, count: int) -> None:
        self.rounds += count

    def _key(self, j: int) -> Stream:
        """Seed K_j's stream (this party holds K_rank and K_{rank+1})."""
        return self._own if j % 3 == self.rank else self._next

    def zero(self, shape: tuple[int, ...]) -> Ring:
        """This party's term of a fresh additive sharing of zero."""
        return self._own.ring(shape) - self._next.ring(shape)

    # -- moving values in and out ---------------------------------------------------------

    @wrapping
    def share(self, owner: int, value: Ring | None, shape: tuple[int, ...]) -> Shares:
        """Secret-share ``value``, known to ``owner`` only (the others pass None)."""
        return self._input(owner, value, shape, boolean=False)

    def _input(
        self, owner: int, value: Ring | None, shape: tuple[int, ...], *, boolean: bool
    ) -> Shares:
        """The owner's components x_owner and x_owner+1 come from the seeds it shares with
        its neighbours; it sends both the third, so that the sum (or XOR, for a boolean
        sharing) is ``value``."""
        if self.rank == owner:
            assert value is not None
            first = self._key(owner).ring(shape)
            second = self._key(owner + 1).ring(shape)
            last = value ^ first ^ second if boolean else value - first - second
            self.transport.send_ring(self.next, last)
            self.transport.send_ring(self.prev, last)
            pair = (first, second)
        elif self.rank == (owner + 1) % 3:
            pair = (self._key(owner + 1).ring(shape), self.transport.recv_ring(owner, shape))
        else:
            pair = (self.transport.recv_ring(owner, shape), self._key(owner).ring(shape))
        self._rounds(1)
        return np.stack(pair)

    @wrapping
    def reveal(self, x: Shares) -> Ring:
        """Open ``x`` to every party."""
        self.transport.send_ring(self.next, x[0])
        missing = self.transport.recv_ring(self.prev, x.shape[1:])
        self._rounds(1)
        opened: Ring = x[0] + x[1] + missing
        return opened

    # -- linear operations (local) ----------------------------------------------------------

    @wrapping
    def add_public(self, x: Shares, c: Ring) -> Shares:
        """x + c: the public c goes into component x_0 (held by parties 0 and 2)."""
        out = x + np.zeros_like(c)  # broadcast to the result's shape, as a fresh array
        if self.rank == 0:
            out[0] += c
        elif self.rank == 2:
            out[1] += c
        return out

    # -- multiplication ---------------------------------------------------------------------

    @staticmethod
    def _pair(shape: tuple[int, ...]) -> Shares:
        return np.empty((2, *shape), dtype=np.uint64)

    def _reshare(self, out: Shares) -> Shares:
        """From an additive 3-of-3 sharing (this party's term in ``out[0]``) to the replicated
        one: ``out[1]`` receives the next party's term."""
        self.transport.send_ring(self.prev, out[0])
        out[1] = self.transport.recv_ring(self.next, out.shape[1:])
        self._rounds(1)
        return out

    def _product_term(self, x: Shares, y: Shares, out: Ring) -> Ring:
        """This party's masked term of x * y: x_i y_i + x_i y_{i+1} + x_{i+1} y_i + alpha_i."""
        np.multiply(x[0], y[0] + y[1], out=out)
        out += x[1] * y[0]
        out += self.zero(out.shape)
        return out

    @wrapping
    def mul(self, x: Shares, y: Shares) -> Shares:
        """x * y element-wise (broadcasting), exact in the ring."""
        out = self._pair(np.broadcast_shapes(x.shape[1:], y.shape[1:]))
        self._product_term(x, y, out[0, ...])
        return self._reshare(out)

    def _matmul_term(self, x: Shares, y: Shares) -> Ring:
        """This party's masked term of x @ y (as :meth:`_product_term`, for matrices)."""
        z = _ring.matmul(x[0], y[0] + y[1]) + _ring.matmul(x[1], y[0])
        z += self.zero(z.shape)
        return z

    @wrapping
    def matmul(self, x: Shares, y: Shares) -> Shares:
        """x @ y for 2-D operands, exact in the ring; one element per output per party."""
        z = self._matmul_term(x, y)
        out = self._pair(z.shape)
        out[0] = z
        return self._reshare(out)

    @wrapping
    def mul_trunc(self, x: Shares, y: Shares, bits: int) -> Shares:
        """x * y / 2^bits (fixed-point multiplication)."""
        shape = np.broadcast_shapes(x.shape[1:], y.shape[1:])
        return self._truncate(self._product_term(x, y, self._pair(shape)[0, ...]), bits)

    @wrapping
    def matmul_trunc(self, x: Shares, y: Shares, bits: int) -> Shares:
        """x @ y / 2^bits (fixed-point matrix product)."""
        return self._truncate(self._matmul_term(x, y), bits)

    @wrapping
    def trunc(self, x: Shares, bits: int) -> Shares:
        """x / 2^bits (after a product with a public fixed-point number)."""
        return self._truncate(x[0] + self.zero(x.shape[1:]), bits)

    def _truncate(self, z: Ring, bits: int) -> Shares:
        """v / 2^bits as a replicated sharing, from this party's masked term z of an additive
        sharing of v; see the module documentation. The dealer changes from one call to the
        next: every party sends two words either way, but the dealer's come at the start."""
        if not 0 < bits < _ring.OFFSET_BITS:
            raise ValueError(f"truncation by {bits} bits is out of range")
        shape = z.shape
        dealer = self._truncations % 3
        self._truncations += 1
        first, second = (dealer + 1) % 3, (dealer + 2) % 3  # they open v + 2^62 + r
        # Seeds: K_first is the dealer's and the first opener's, K_dealer the dealer's and the
        # second opener's, K_second the two openers' (unknown to the dealer).
        if self.rank == dealer:
            # r = r_first + r_second - z: the dealer's own term vanishes into the mask, so
            # it sends only the second opener's shares of r's low bits and top bit.
            r_first = self._key(first).ring(shape)
            low0, msb0 = self._key(first).ring(shape), self._key(first).ring(shape)
            r = r_first + self._key(dealer).ring(shape) - z
            low, msb = _ring.truncation_mask(r, bits)
            self.transport.send_ring(second, np.stack((low - low0, msb - msb0)))
            mine_next = self.transport.recv_ring(second, shape)
            following = self.transport.recv_ring(first, shape)
            self._rounds(2)
            return np.stack((mine_next, following))
        if self.rank == first:
            r_share = self._key(first).ring(shape)
            low, msb = self._key(first).ring(shape), self._key(first).ring(shape)
            mine = z + r_share + np.uint64(1 << _ring.OFFSET_BITS)
            self.transport.send_ring(second, mine)
            opened = mine + self.transport.recv_ring(second, shape)
        else:
            mine = z + self._key(dealer).ring(shape)
            self.transport.send_ring(first, mine)
            opened = mine + self.transport.recv_ring(first, shape)
            low, msb = self.transport.recv_ring(dealer, (2, *shape))
        u = _ring.truncation_term(opened, low, msb, bits, lead=self.rank == first)
        m, n = self._key(second).ring(shape), self._key(second).ring(shape)
        if self.rank == first:
            self.transport.send_ring(dealer, u - m)
            pair = (u - m, m + n)
        else:
            self.transport.send_ring(dealer, u - n)
            pair = (m + n, u - n)
        self._rounds(2)
        return np.stack(pair)

    # -- comparison: the top bit through a boolean adder -------------------------------------

    def _component(self, x: Shares, j: int) -> Shares:
        """A sharing of x's component j alone (known to parties j-1 and j), the others 0:
        free, for arithmetic and boolean sharings alike."""
        only = np.zeros_like(x)
        position = {j % 3: 0, (j - 1) % 3: 1}.get(self.rank)
        if position is not None:
            only[position] = x[position]
        return only

    def _ands(self, *pairs: tuple[Shares, Shares]) -> list[Shares]:
        """Bitwise ANDs of boolean (XOR) sharings of one shape, all in one round and one
        message: a word per party per AND."""
        shape = pairs[0][0].shape[1:]
        out = self._pair((len(pairs), *shape))
        for k, (x, y) in enumerate(pairs):
            term = out[0, k : k + 1].reshape(shape)  # a view, 0-d arrays included
            np.bitwise_xor(y[0], y[1], out=term)
            term &= x[0]
            term ^= x[1] & y[0]
            term ^= self._own.ring(shape)
            term ^= self._next.ring(shape)
        self._reshare(out)
        return [out[:, k] for k in range(len(pairs))]

    @wrapping
    def bits(self, x: Shares) -> Shares:
        """x's 64 bits as a boolean sharing (one word per element): party 0 knows
        u = x_0 + x_1 and shares it as bits, and x = u + x_2 is added in the boolean domain.
        8 rounds."""
        shape = x.shape[1:]
        u = self._input(0, x[0] + x[1] if self.rank == 0 else None, shape, boolean=True)
        return self._add_words(u, self._component(x, 2))

    @wrapping
    def b2a(self, b: Shares) -> Shares:
        """Boolean sharings of words to arithmetic sharings of the same values.

        Random r1 (seed K_1: parties 0 and 1) and r2 (K_2: parties 1 and 2) are subtracted in
        the boolean domain (a carry-save step, then the adder) and c = x - r1 - r2 is opened
        to parties 0 and 2 only; (c, r1, r2) are then the components of x. Party 1, which
        knows r1 and r2, never sees c. 9 rounds.
        """
        shape = b.shape[1:]
        r1, r2 = np.zeros_like(b), np.zeros_like(b)  # boolean components 1 and 2
        if self.rank in (0, 1):
            r1[1 - self.rank] = self._key(1).ring(shape)
        if self.rank in (1, 2):
            r2[2 - self.rank] = self._key(2).ring(shape)
        # ~r = -r - 1, so x + ~r1 + ~r2 = x - r1 - r2 - 2; a component is negated by its
        # holders alone (the other components stay 0).
        ones = np.uint64(2**64 - 1)
        n1, n2 = r1.copy(), r2.copy()
        if self.rank in (0, 1):
            n1[1 - self.rank] ^= ones
        if self.rank in (1, 2):
            n2[2 - self.rank] ^= ones
        (majority,) = self._ands((b ^ n2, n1 ^ n2))  # carry-save: three words to two
        total = self._add_words(b ^ n1 ^ n2, (majority ^ n2) << np.uint64(1))
        out = self._pair(shape)
        if self.rank == 0:  # holds c_0 and c_1 of the opened word, needs c_2
            self.transport.send_ring(2, total[1])
            c = total[0] ^ total[1] ^ self.transport.recv_ring(2, shape)
            out[0], out[1] = c + np.uint64(2), r1[1]
        elif self.rank == 2:  # holds c_2 and c_0, needs c_1
            self.transport.send_ring(0, total[0])
            c = total[0] ^ total[1] ^ self.transport.recv_ring(0, shape)
            out[0], out[1] = r2[0], c + np.uint64(2)
        else:
            out[0], out[1] = r1[0], r2[1]
        self._rounds(1)
        return out

    @wrapping
    def bit_to_arithmetic(self, b: Shares) -> Shares:
        """Boolean shares of one bit (0/1 words) to arithmetic shares: b = t XOR b_2 with
        t = b_0 XOR b_1 known to party 0, so b = t + b_2 - 2 t b_2. 2 rounds."""
        shape = b.shape[1:]
        t = self.share(0, (b[0] ^ b[1]) if self.rank == 0 else None, shape)
        b2 = self._component(b, 2)
        return t + b2 - np.uint64(2) * self.mul(t, b2)

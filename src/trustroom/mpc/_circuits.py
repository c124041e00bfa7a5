"""Boolean circuits that every protocol builds the same way from its own AND gate: adding two
boolean-shared words, the prefix OR, and the top bit as an arithmetic 0/1 value.

Boolean sharings hold 64-bit words (every element's 64 bit positions at once); a protocol
provides ``_ands`` (a batch of bitwise ANDs in one round), ``bits`` (its arithmetic-to-boolean
start) and ``bit_to_arithmetic``.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from trustroom.mpc._ring import Ring

__all__ = ["BooleanCircuits", "wrapping"]

F = TypeVar("F", bound=Callable[..., Any])


def wrapping(method: F) -> F:
    """Ring arithmetic wraps by design: keep numpy from warning about it on 0-d values."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore"):
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class BooleanCircuits(ABC):
    """The circuits shared by the protocols; see the module documentation."""

    @abstractmethod
    def _ands(self, *pairs: tuple[Ring, Ring]) -> list[Ring]:
        """Bitwise ANDs of boolean sharings of one shape, all in one round."""

    @abstractmethod
    def bits(self, x: Ring) -> Ring:
        """x's 64 bits as a boolean sharing (one word per element)."""

    @abstractmethod
    def bit_to_arithmetic(self, b: Ring) -> Ring:
        """Boolean shares of 0/1 words to arithmetic shares of the same bits."""

    def _add_words(self, u: Ring, v: Ring) -> Ring:
        """u + v modulo 2^64 for boolean sharings: a Kogge-Stone carry tree. One AND round for
        the generate bits, six for the prefix (the last needs no propagate bits): 7 rounds,
        12 words per party."""
        first_propagate = propagate = u ^ v
        (generate,) = self._ands((u, v))
        for k in (1, 2, 4, 8, 16, 32):
            shift = np.uint64(k)
            if k < 32:
                carried, propagate = self._ands(
                    (propagate, generate << shift), (propagate, propagate << shift)
                )
            else:
                (carried,) = self._ands((propagate, generate << shift))
            generate = generate ^ carried
        return first_propagate ^ (generate << np.uint64(1))

    @wrapping
    def msb(self, x: Ring) -> Ring:
        """The top bit of x (1 where x is negative), as an integer 0/1 sharing: x's bits,
        then the top one back to arithmetic shares."""
        return self.bit_to_arithmetic(self.bits(x) >> np.uint64(63))

    @wrapping
    def prefix_or(self, b: Ring) -> Ring:
        """Each bit ORed with every bit above it (boolean sharing): from a word's highest set
        bit down, all ones. Six rounds of one word (a | b = a ^ b ^ ab)."""
        for k in (1, 2, 4, 8, 16, 32):
            shifted = b >> np.uint64(k)
            (both,) = self._ands((b, shifted))
            b = b ^ shifted ^ both
        return b

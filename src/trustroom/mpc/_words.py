"""Bit manipulation of 64-bit words that is linear over XOR, so that each share of a boolean
sharing is transformed on its own, without a message: reversing, picking and gathering bits.
"""

from __future__ import annotations

import numpy as np

from trustroom.mpc._ring import Ring

__all__ = ["compress_even_bits", "parity", "position_bits", "reverse_bits", "top_bit"]

_BYTE_REVERSED = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=np.uint8)
# Gathering the even bits of a word into its low half (a Morton decode); each step merges
# groups that never overlap, so XOR does what OR does in the usual form.
_GATHER = (
    (1, 0x3333333333333333),
    (2, 0x0F0F0F0F0F0F0F0F),
    (4, 0x00FF00FF00FF00FF),
    (8, 0x0000FFFF0000FFFF),
    (16, 0x00000000FFFFFFFF),
)


def reverse_bits(words: Ring) -> Ring:
    """Bit i of each word moved to bit 63 - i."""
    as_bytes = np.ascontiguousarray(words).view(np.uint8)
    return _BYTE_REVERSED[as_bytes].view(np.uint64).byteswap()


def top_bit(prefix: Ring) -> Ring:
    """From a prefix-OR word (all ones from the highest set bit down), that bit alone."""
    return prefix ^ (prefix >> np.uint64(1))


def compress_even_bits(words: Ring) -> Ring:
    """Bit 2j of each word moved to bit j (the odd bits are dropped)."""
    out = words & np.uint64(0x5555555555555555)
    for shift, mask in _GATHER:
        out = (out ^ (out >> np.uint64(shift))) & np.uint64(mask)
    return out


def parity(words: Ring) -> Ring:
    """The XOR of each word's 64 bits, as 0 or 1."""
    out = words.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        out ^= out >> np.uint64(shift)
    return out & np.uint64(1)


# Bit i of a position 0-63 is set at the positions this mask selects.
_POSITION_MASKS = tuple(np.uint64(sum(1 << j for j in range(64) if j >> i & 1)) for i in range(6))


def position_bits(one_hot: Ring) -> Ring:
    """For a word with one bit set, the index of that bit (0-63), from the parities of the
    positions whose index has bit i set."""
    out = np.zeros_like(one_hot)
    for i, mask in enumerate(_POSITION_MASKS):
        out |= parity(one_hot & mask) << np.uint64(i)
    return out

"""Arithmetic in the ring Z_2^64 on numpy arrays, and fixed-point numbers in it.

Shares are ``uint64`` arrays: numpy's unsigned arithmetic wraps modulo 2^64, which is the
ring's own arithmetic. A fixed-point number with ``f`` fractional bits is the integer
``round(v * 2^f)`` in two's complement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from trustroom.mpc._errors import InputOutOfRange

__all__ = [
    "OFFSET_BITS",
    "Ring",
    "decode",
    "encode",
    "fixed_point",
    "matmul",
    "truncation_mask",
    "truncation_term",
]

Ring = npt.NDArray[np.uint64]

# Largest magnitude an encoded input may have: products of two inputs must stay below 2^62
# (see the truncation protocol), so inputs keep to 2^31 in the ring.
_INPUT_LIMIT = 2.0**31


def encode(values: npt.ArrayLike, frac_bits: int) -> Ring:
    """``values`` (floats, integers or booleans) as ring elements in fixed point with
    ``frac_bits`` fractional bits (0: integers as they are)."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiub":
        raise InputOutOfRange(f"inputs must be numbers, not {array.dtype}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputOutOfRange("an input holds NaN or infinity, which fixed point cannot")
    limit = _INPUT_LIMIT / 2**frac_bits
    largest = float(np.max(np.abs(array.astype(np.float64)))) if array.size else 0.0
    if largest >= limit:
        raise InputOutOfRange(
            f"an input has magnitude {largest:g}; "
            f"with {frac_bits} fractional bits inputs must stay below {limit:g}"
        )
    return fixed_point(array, frac_bits)


def fixed_point(values: npt.ArrayLike, frac_bits: int) -> Ring:
    """``values`` as ring elements with ``frac_bits`` fractional bits, unchecked: for public
    constants the protocols choose, which may exceed the range inputs are held to."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return np.rint(array * float(2**frac_bits)).astype(np.int64).view(np.uint64)
    return (array.astype(np.int64) << np.int64(frac_bits)).view(np.uint64)


def decode(ring: Ring, frac_bits: int) -> npt.NDArray[Any]:
    """Ring elements as signed numbers: float64 when ``frac_bits`` > 0, else int64."""
    signed = ring.view(np.int64)
    if frac_bits:
        return signed / float(2**frac_bits)
    return signed.copy()


# Matrix products modulo 2^64 through float64 GEMMs, whose integer results are exact below
# 2^53. Each operand is cut into three limbs, at bits 0, 22 and 43: balanced digits (a 22-bit
# one in [-2^21, 2^21], a 21-bit one in [-2^20, 2^20]) and a top one of 21 bits, so a limb
# product stays within 2^42. Modulo 2^64 only limb pairs whose shifts add up to less than
# 64 matter: six products, in four GEMMs; two of them sum two products per term, so an inner
# dimension up to 1023 stays exact, and longer ones are cut in halves.
_EXACT_INNER = 1023
_MASK21 = np.uint64((1 << 21) - 1)


def _balanced(value: Ring, width: int) -> tuple[Ring, Ring]:
    """The centred remainder of ``value`` modulo 2^width, and what is left above it."""
    half = np.uint64(1 << (width - 1))
    digit = ((value + half) & np.uint64((1 << width) - 1)) - half
    return digit, (value - digit) >> np.uint64(width)


def _limbs(a: Ring) -> tuple[npt.NDArray[np.float64], ...]:
    l0, rest = _balanced(a, 22)
    l1, rest = _balanced(rest, 21)
    l2 = rest & _MASK21
    return tuple(limb.view(np.int64).astype(np.float64) for limb in (l0, l1, l2))


def _exact(product: npt.NDArray[np.float64], shift: int) -> Ring:
    return product.astype(np.int64).view(np.uint64) << np.uint64(shift)


def matmul(a: Ring, b: Ring) -> Ring:
    """``a @ b`` modulo 2^64 for 2-D ring matrices, through BLAS (numpy's integer matrix
    product runs no BLAS and is about 30 times slower)."""
    inner = a.shape[1]
    if inner > _EXACT_INNER:
        middle = inner // 2
        return matmul(a[:, :middle], b[:middle]) + matmul(a[:, middle:], b[middle:])
    x0, x1, x2 = _limbs(a)
    y0, y1, y2 = _limbs(b)
    out = _exact(x0 @ y0, 0)
    out += _exact(np.hstack((x0, x1)) @ np.vstack((y1, y0)), 22)
    out += _exact(np.hstack((x0, x2)) @ np.vstack((y2, y0)), 43)
    out += _exact(x1 @ y1, 44)
    return out


OFFSET_BITS = 62  # v + 2^62 is positive with a zero top bit while |v| < 2^62


def truncation_mask(r: Ring, bits: int) -> tuple[Ring, Ring]:
    """What the dealer of a truncation shares besides r itself: r's lower 63 bits shifted
    right by ``bits``, and r's top bit."""
    return (r & np.uint64((1 << 63) - 1)) >> np.uint64(bits), r >> np.uint64(63)


def truncation_term(opened: Ring, low: Ring, msb: Ring, bits: int, *, lead: bool) -> Ring:
    """One party's additive term of v / 2^bits in the dealt-pair truncation.

    ``opened`` is c = v + 2^62 + r, public to the parties that compute this; ``low`` and
    ``msb`` are this party's shares of r's lower 63 bits shifted right by ``bits`` and of r's
    top bit. The wrap of c past 2^64 happened iff r's top bit is set and c's is not; the
    ``lead`` party adds c's shift and takes the offset back out. The terms sum to
    floor(v / 2^bits) or one more.
    """
    d = np.uint64(bits)
    wrapped = (np.uint64(1) - (opened >> np.uint64(63))) << (np.uint64(64) - d)
    term: Ring = msb * (wrapped - (np.uint64(1) << (np.uint64(63) - d))) - low
    if lead:
        term += (opened >> d) - np.uint64(1 << (OFFSET_BITS - bits))
    return term

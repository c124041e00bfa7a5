"""Functions on secret arrays, named as numpy names them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from trustroom.mpc._array import Public, SecretArray
from trustroom.mpc._ordering import max as _max
from trustroom.mpc._ring import fixed_point
from trustroom.mpc._words import compress_even_bits, position_bits, reverse_bits, top_bit

__all__ = [
    "exp",
    "log",
    "maximum",
    "minimum",
    "reciprocal",
    "relu",
    "rsqrt",
    "sigmoid",
    "softmax",
    "sqrt",
    "tanh",
    "where",
]


def where(condition: SecretArray, x: SecretArray | Public, y: SecretArray | Public) -> SecretArray:
    """``x`` where ``condition`` (a secret 0/1 array, as comparisons give) is 1, else ``y``:
    one multiplication."""
    return condition * (x - y) + y


def relu(x: SecretArray) -> SecretArray:
    """max(x, 0), exact."""
    return x * (1 - (x < 0))


def maximum(x: SecretArray, y: SecretArray) -> SecretArray:
    """The element-wise larger of x and y, exact."""
    return where(x < y, y, x)


def minimum(x: SecretArray, y: SecretArray) -> SecretArray:
    """The element-wise smaller of x and y, exact."""
    return where(x < y, x, y)


_EXP_HALVINGS = 5  # e^x = (e^(x/32))^32
# e^y on |y| <= 1/2: degree-4 interpolation at Chebyshev points, relative error below 2.5e-5.
_EXP: list[float] = (
    Chebyshev.interpolate(np.exp, 4, domain=[-0.5, 0.5]).convert(kind=Polynomial).coef.tolist()
)
# The polynomial is taken in x itself, its coefficients divided by 32^i: they are carried with
# 24 more fractional bits, so that the smallest (about 4e-8) keeps 17 bits.
_EXP_EXTRA_BITS = 24


def exp(x: SecretArray) -> SecretArray:
    """e^x for x in [-16, 16] (beyond 17 the result overflows the fixed-point range).

    e^(x/32) by a degree-4 polynomial (relative error below 2.5e-5 for |x/32| <= 1/2; its
    powers of x in two rounds of products, the terms summed before one truncation), squared
    five times; each squaring doubles the relative error, so the result is within 2e-3
    relative where e^x is above 2^-8, and within 4 units in the last place below. 16 rounds.
    """
    x = _fixed(x)
    scaled = [c / 2 ** (_EXP_HALVINGS * i) for i, c in enumerate(_EXP)]
    p = _polynomial(x, scaled, extra_bits=_EXP_EXTRA_BITS)
    for _ in range(_EXP_HALVINGS):
        p = p * p
    return p


def _reciprocal_1_to_2(d: SecretArray) -> SecretArray:
    """1/d for d in [1, 2]: Newton's iteration from the linear start 24/17 - 8/17 d (relative
    error at most 1/17), three steps (error squared each step: below 1e-10, so the result
    is within a few units in the last place). 12 rounds."""
    w = d * (-8.0 / 17) + 24.0 / 17
    for _ in range(3):
        w = w * (2 - d * w)
    return w


def _sign_and_magnitude(x: SecretArray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean sharings of x's sign bit and of |x| (|x| - 1 where x is negative: its bits
    inverted, which needs no carry), from one bit decomposition (8 rounds)."""
    bits = x.ctx.protocol.bits(x.shares)
    sign = bits >> np.uint64(63)
    return sign, bits ^ (np.uint64(0) - sign)


def _sign_and_reach(x: SecretArray, reach_bits: int) -> tuple[SecretArray, SecretArray]:
    """1 where x is negative, and 1 where |x| reaches 2^reach_bits (for negative x: exceeds
    it), both from x's bits: one decomposition, a prefix OR, one conversion. 16 rounds."""
    protocol = x.ctx.protocol
    sign, magnitude = _sign_and_magnitude(x)
    reach = x.ctx.frac_bits + reach_bits
    within = magnitude & np.uint64(2**63 - 1)  # the sign bit is not part of the magnitude
    beyond = (protocol.prefix_or(within) >> np.uint64(reach)) & np.uint64(1)
    flags = protocol.bit_to_arithmetic(np.stack((sign, beyond), axis=1))
    return SecretArray(x.ctx, flags[:, 0], False), SecretArray(x.ctx, flags[:, 1], False)


def sigmoid(x: SecretArray) -> SecretArray:
    """1 / (1 + e^-x) for any x in the input range, within 3e-4 absolute (measured: 1.2e-4):
    from e^-|x| in (0, 1], |x| held at 16 (e^-16 is below one unit in the last place, and
    exp's polynomial is out of its range further on), then 1/(1 + e^-|x|) in [1/2, 1)
    mirrored for negative x. About 50 rounds."""
    x = _fixed(x)
    negative, beyond = _sign_and_reach(x, 4)
    magnitude = where(beyond, 16.0, x * (1 - 2 * negative))
    s = _reciprocal_1_to_2(exp(-magnitude) + 1)
    return where(negative, 1 - s, s)


def tanh(x: SecretArray) -> SecretArray:
    """tanh x = 2 sigmoid(2x) - 1, within 6e-4 absolute. About 50 rounds."""
    return 2 * sigmoid(2 * x) - 1


# -- through the position of the top bit: reciprocal, rsqrt, sqrt, log --------------------------


def _fixed(x: SecretArray) -> SecretArray:
    return x if x.fixed else SecretArray(x.ctx, x._scaled(), True)


def _top_bits(x: SecretArray, word: np.ndarray | None = None) -> np.ndarray:
    """A boolean sharing of the word with only the top set bit of ``word`` (default: x's
    bits). 14 rounds for x's bits and the prefix OR."""
    protocol = x.ctx.protocol
    bits = protocol.bits(x.shares) if word is None else word
    return top_bit(protocol.prefix_or(bits))


def _arithmetic(x: SecretArray, *words: np.ndarray) -> list[np.ndarray]:
    """Boolean-shared words back to arithmetic shares, all in one conversion (9 rounds)."""
    shares = x.ctx.protocol.b2a(np.stack(words, axis=1))
    return [shares[:, i] for i in range(len(words))]


def _check_frac_bits(x: SecretArray) -> int:
    bits = x.ctx.frac_bits
    if 2 * bits > 62:
        raise ValueError(f"this function needs at most 31 fractional bits, not {bits}")
    return bits


def reciprocal(x: SecretArray) -> SecretArray:
    """1/x, within 2^-14 relative or one unit in the last place, whichever is larger, for
    |x| from two units in the last place up (0 gives 0).

    |x| = d 2^(k-f) with d in [1, 2] and 2^k the top bit of |x| in the ring (of |x| - 1 for
    negative x, whose bits are x's inverted: a power of two then gives d = 2). k comes from
    x's bits and a prefix OR; 2^(f-k) is that one-hot word reversed and shifted, turned back
    into arithmetic shares with the sign; then 1/d by Newton's iteration and
    1/x = ±(1/d) 2^(f-k). About 50 rounds.
    """
    x = _fixed(x)
    f = _check_frac_bits(x)
    sign, magnitude = _sign_and_magnitude(x)
    one_hot = _top_bits(x, magnitude)
    scale, negative = _arithmetic(x, reverse_bits(one_hot) >> np.uint64(63 - 2 * f), sign)
    signed = SecretArray(x.ctx, scale, True) * (1 - 2 * SecretArray(x.ctx, negative, False))
    return _reciprocal_1_to_2(x * signed) * signed


def _rsqrt_1_to_4(d: SecretArray) -> SecretArray:
    """1/sqrt(d) for d in [1, 4]: Newton's iteration y (3 - d y^2) / 2 from the line
    1.066 - 0.152 d (relative error at most 0.087), three steps (below 1e-7). 18 rounds."""
    y = d * -0.152 + 1.066
    for _ in range(3):
        y = y * (1.5 - (d * 0.5) * (y * y))
    return y


def _root_scales(x: SecretArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For x = d 2^-e with d in [1, 4) and e even (e is f - k for the top bit 2^k of x,
    rounded up to even): 2^e, 2^(e/2) and 2^(-e/2) as fixed-point arithmetic shares, moved
    from the one-hot top bit by local bit operations and converted together."""
    f = _check_frac_bits(x)
    one_hot = _top_bits(x)
    odd = one_hot & np.uint64(sum(1 << k for k in range(64) if (f - k) % 2))
    normal = (reverse_bits(one_hot ^ odd) >> np.uint64(63 - 2 * f)) ^ (
        reverse_bits(odd) >> np.uint64(62 - 2 * f)
    )  # bit f + e
    half = compress_even_bits(normal >> np.uint64(f % 2)) << np.uint64((f + f % 2) // 2)
    # bit f - e/2 = floor((f + k) / 2): pair bits 2j and 2j + 1 of 2^(k + f mod 2) into j
    shifted = one_hot << np.uint64(f % 2)
    paired = shifted ^ (shifted >> np.uint64(1))
    inverse = compress_even_bits(paired) << np.uint64((f - f % 2) // 2)
    scale, root, inverse_root = _arithmetic(x, normal, half, inverse)
    return scale, root, inverse_root


def rsqrt(x: SecretArray) -> SecretArray:
    """1/sqrt(x) for x > 0, within 2^-14 relative plus one unit in the last place:
    (1/sqrt(d)) 2^(e/2) for x = d 2^-e (see :func:`_root_scales`). About 55 rounds."""
    x = _fixed(x)
    scale, root, _ = _root_scales(x)
    return _rsqrt_1_to_4(x * SecretArray(x.ctx, scale, True)) * SecretArray(x.ctx, root, True)


def sqrt(x: SecretArray) -> SecretArray:
    """sqrt(x) for x >= 0, within 2^-16 relative plus one unit in the last place:
    d (1/sqrt(d)) 2^(-e/2) for x = d 2^-e (see :func:`_root_scales`). About 57 rounds."""
    x = _fixed(x)
    scale, _, inverse_root = _root_scales(x)
    d = x * SecretArray(x.ctx, scale, True)
    return (d * _rsqrt_1_to_4(d)) * SecretArray(x.ctx, inverse_root, True)


# ln(1 + t) on [0, 1]: degree-7 interpolation at Chebyshev points, error below 3e-7.
_LOG1P: list[float] = (
    Chebyshev.interpolate(np.log1p, 7, domain=[0, 1]).convert(kind=Polynomial).coef.tolist()
)


def _polynomial(
    t: SecretArray, coefficients: Sequence[float], *, extra_bits: int = 0
) -> SecretArray:
    """sum c_i t^i: the powers in ceil(log2 n) rounds of multiplications, the products with
    the coefficients (carried with ``extra_bits`` more fractional bits) summed before a
    single truncation. Every term times 2^(2f + extra_bits) must stay below 2^61."""
    protocol, f = t.ctx.protocol, t.ctx.frac_bits
    powers = [t.shares]
    while len(powers) < len(coefficients) - 1:
        take = min(len(powers), len(coefficients) - 1 - len(powers))
        left = np.stack([powers[-1]] * take, axis=1)
        right = np.stack(powers[:take], axis=1)
        products = protocol.mul_trunc(left, right, f)
        powers.extend(products[:, i] for i in range(take))
    bits = f + extra_bits
    ring = fixed_point(np.asarray(coefficients[1:], dtype=np.float64), bits)
    total = sum((p * c for p, c in zip(powers, ring, strict=True)), start=np.zeros_like(t.shares))
    return SecretArray(t.ctx, protocol.trunc(total, bits), True) + float(coefficients[0])


def log(x: SecretArray) -> SecretArray:
    """ln x for x > 0 (from one unit in the last place up), within 1e-4 absolute.

    x = (1 + t) 2^(k-f) with t in [0, 1), 2^k the top bit of x: k and 2^(f-k) come from the
    one-hot top bit (its position's bits are parities of its bits), ln(1 + t) from a
    polynomial, and ln x = ln(1 + t) + (k - f) ln 2. About 40 rounds.
    """
    x = _fixed(x)
    f = _check_frac_bits(x)
    one_hot = _top_bits(x)
    scale, position = _arithmetic(
        x, reverse_bits(one_hot) >> np.uint64(63 - 2 * f), position_bits(one_hot)
    )
    t = x * SecretArray(x.ctx, scale, True) - 1.0
    exponent = SecretArray(x.ctx, position, False) - f
    return _polynomial(t, _LOG1P) + exponent * math.log(2)


def softmax(x: SecretArray, axis: int = -1) -> SecretArray:
    """e^x / sum(e^x) along ``axis``, within 1e-3 absolute, for any x in the input range: the
    largest value is subtracted first (every exponent is then at most 0, held at -16, and
    the sum between 1 and the length)."""

    below = _fixed(x) - _max(x, axis, keepdims=True)
    _, beyond = _sign_and_reach(below, 4)
    e = exp(where(beyond, -16.0, below))
    return e * reciprocal(e.sum(axis, keepdims=True))

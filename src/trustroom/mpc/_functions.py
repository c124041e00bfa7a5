"""Functions on secret arrays, named as numpy names them."""

from __future__ import annotations

from trustroom.mpc._array import Public, SecretArray

__all__ = ["exp", "maximum", "minimum", "relu", "sigmoid", "where"]


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


_EXP_HALVINGS = 6  # e^x = (e^(x/64))^64


def exp(x: SecretArray) -> SecretArray:
    """e^x for x in [-16, 16] (beyond 17 the result overflows the fixed-point range).

    e^(x/64) by its degree-4 Taylor polynomial (error below 3e-7 for |x/64| <= 1/4), squared
    six times; each squaring doubles the relative error, so the result is within 2e-3
    relative (measured: 1.2e-3) where e^x is above 2^-8, and within 4 units in the last place
    below. 22 rounds.
    """
    y = x * (1.0 / 2**_EXP_HALVINGS)
    p: SecretArray = y * (1.0 / 24) + 1.0 / 6
    for constant in (0.5, 1.0, 1.0):
        p = p * y + constant
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


def sigmoid(x: SecretArray) -> SecretArray:
    """1 / (1 + e^-x) for any x in the input range, within 3e-4 absolute (measured: 1.2e-4):
    from e^-|x| in (0, 1], so nothing overflows, then 1/(1 + e^-|x|) in [1/2, 1) mirrored
    for negative x. About 48 rounds."""
    negative = x < 0
    magnitude = x * (1 - 2 * negative)
    s = _reciprocal_1_to_2(exp(-magnitude) + 1)
    return where(negative, 1 - s, s)

"""Secret arrays: numpy-style operators over the active protocol's shares.

A :class:`SecretArray` is this party's shares of an array nobody holds in the clear, and
whether it is a fixed-point array (``ctx.frac_bits`` fractional bits) or an integer one.
Floats given as public operands are fixed point too; a product of two fixed-point values is
truncated back at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from trustroom.mpc._ring import encode

if TYPE_CHECKING:
    from trustroom.mpc._context import Context

__all__ = ["SecretArray"]

Public = int | float | npt.NDArray[Any]
_MAX_EXTRA_BITS = 24


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two share arrays (leading axis: the share pair) with their value axes right-aligned,
    so that numpy broadcasting applies to the values and not to the pair axis."""
    if a.ndim < b.ndim:
        a = a.reshape((a.shape[0],) + (1,) * (b.ndim - a.ndim) + a.shape[1:])
    elif b.ndim < a.ndim:
        b = b.reshape((b.shape[0],) + (1,) * (a.ndim - b.ndim) + b.shape[1:])
    return a, b


def _extra_bits(value: npt.NDArray[Any]) -> int:
    largest = float(np.max(np.abs(value))) if value.size else 0.0
    if largest == 0.0 or largest >= 1.0:
        return 0
    return min(_MAX_EXTRA_BITS, int(np.ceil(-np.log2(largest))))


class SecretArray:
    """A secret-shared array; reveal it with ``ctx.reveal``."""

    __array_priority__ = 1000  # numpy operands on the left defer to these operators

    def __init__(self, ctx: Context, shares: np.ndarray, fixed: bool) -> None:
        self.ctx = ctx
        self.shares = shares
        self.fixed = fixed

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.shares.shape[1:])

    @property
    def ndim(self) -> int:
        return self.shares.ndim - 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        kind = "fixed point" if self.fixed else "integer"
        return f"SecretArray(shape={self.shape}, {kind}, party {self.ctx.rank})"

    def _new(self, shares: np.ndarray, fixed: bool) -> SecretArray:
        return SecretArray(self.ctx, shares, fixed)

    def _scaled(self) -> np.ndarray:
        """The shares as fixed point (integers shifted up, which is local)."""
        if self.fixed:
            return self.shares
        return self.shares << np.uint64(self.ctx.frac_bits)

    # -- addition ---------------------------------------------------------------------------

    def __add__(self, other: SecretArray | Public) -> SecretArray:
        protocol = self.ctx.protocol
        if isinstance(other, SecretArray):
            fixed = self.fixed or other.fixed
            a, b = (self._scaled(), other._scaled()) if fixed else (self.shares, other.shares)
            a, b = _aligned(a, b)
            return self._new(a + b, fixed)
        value = np.asarray(other)
        fixed = self.fixed or value.dtype.kind == "f"
        mine = self._scaled() if fixed else self.shares
        return self._new(protocol.add_public(mine, encode(value, self._bits(fixed))), fixed)

    __radd__ = __add__

    def __neg__(self) -> SecretArray:
        return self._new(np.uint64(0) - self.shares, self.fixed)

    def __sub__(self, other: SecretArray | Public) -> SecretArray:
        return self + (-other if isinstance(other, SecretArray) else -np.asarray(other))

    def __rsub__(self, other: Public) -> SecretArray:
        return (-self) + other

    def _bits(self, fixed: bool) -> int:
        return self.ctx.frac_bits if fixed else 0

    # -- multiplication ---------------------------------------------------------------------

    def __mul__(self, other: SecretArray | Public) -> SecretArray:
        protocol = self.ctx.protocol
        if isinstance(other, SecretArray):
            a, b = _aligned(self.shares, other.shares)
            if self.fixed and other.fixed:
                return self._new(protocol.mul_trunc(a, b, self.ctx.frac_bits), True)
            return self._new(protocol.mul(a, b), self.fixed or other.fixed)
        value = np.asarray(other)
        if value.dtype.kind != "f":
            return self._new(self.shares * encode(value, 0), self.fixed)
        # Small public factors (1/n for a mean) get more fractional bits, truncated away
        # after the product, so that they keep their relative precision.
        extra = _extra_bits(value)
        product = self.shares * encode(value, self.ctx.frac_bits + extra)
        bits = extra + (self.ctx.frac_bits if self.fixed else 0)
        return self._new(protocol.trunc(product, bits) if bits else product, True)

    __rmul__ = __mul__

    def __truediv__(self, other: SecretArray | Public) -> SecretArray:
        """Division: by a public number, a product with its reciprocal; by a secret one,
        with :func:`trustroom.mpc.reciprocal` (its error and range)."""
        if isinstance(other, SecretArray):
            from trustroom.mpc._functions import reciprocal

            return self * reciprocal(other)
        return self * (1.0 / np.asarray(other, dtype=np.float64))

    def __rtruediv__(self, other: Public) -> SecretArray:
        from trustroom.mpc._functions import reciprocal

        return reciprocal(self) * np.asarray(other, dtype=np.float64)

    def __matmul__(self, other: SecretArray) -> SecretArray:
        if not isinstance(other, SecretArray):
            return NotImplemented
        if self.ndim not in (1, 2) or other.ndim not in (1, 2):
            raise ValueError("matmul takes 1-D and 2-D secret arrays")
        left = self.shares if self.ndim == 2 else self.shares[:, None, :]
        right = other.shares if other.ndim == 2 else other.shares[:, :, None]
        if left.shape[2] != right.shape[1]:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} do not align")
        protocol = self.ctx.protocol
        if self.fixed and other.fixed:
            out = protocol.matmul_trunc(left, right, self.ctx.frac_bits)
        else:
            out = protocol.matmul(left, right)
        shape = self.shape[:-1] + other.shape[1:]
        return self._new(out.reshape((out.shape[0], *shape)), self.fixed or other.fixed)

    # -- comparison ---------------------------------------------------------------------------

    def _negative(self, value: SecretArray) -> SecretArray:
        """1 where ``value`` is negative, else 0 (its top bit)."""
        return self._new(self.ctx.protocol.msb(value.shares), False)

    # numpy arrays on the other side define the reflected operators too (mypy: overlapping).
    def __lt__(self, other: SecretArray | Public) -> SecretArray:  # type: ignore[misc]
        return self._negative(self - other)

    def __gt__(self, other: SecretArray | Public) -> SecretArray:  # type: ignore[misc]
        return self._negative(other - self)

    def __le__(self, other: SecretArray | Public) -> SecretArray:  # type: ignore[misc]
        return 1 - (self > other)

    def __ge__(self, other: SecretArray | Public) -> SecretArray:  # type: ignore[misc]
        return 1 - (self < other)

    def __eq__(self, other: object) -> SecretArray:  # type: ignore[override]
        if not isinstance(other, SecretArray | int | float | np.ndarray):
            return NotImplemented
        difference = self - other
        both = np.concatenate((difference.shares[:, None], (-difference).shares[:, None]), axis=1)
        signs = self.ctx.protocol.msb(both)
        return 1 - (self._new(signs[:, 0], False) + self._new(signs[:, 1], False))

    __hash__ = None  # type: ignore[assignment]

    def __abs__(self) -> SecretArray:
        return self * (1 - 2 * (self < 0))

    # -- shape --------------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> SecretArray:
        key = index if isinstance(index, tuple) else (index,)
        return self._new(self.shares[(slice(None), *key)], self.fixed)

    def reshape(self, *shape: Any) -> SecretArray:
        dims = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
        return self._new(self.shares.reshape((self.shares.shape[0], *dims)), self.fixed)

    def ravel(self) -> SecretArray:
        return self.reshape(-1)

    def transpose(self) -> SecretArray:
        return self._new(np.swapaxes(self.shares, 1, -1) if self.ndim >= 2 else self.shares,
                         self.fixed)  # fmt: skip

    @property
    def T(self) -> SecretArray:
        return self.transpose()

    def sum(self, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
        axes = tuple(range(1, self.shares.ndim)) if axis is None else axis % self.ndim + 1
        total = self.shares.sum(axis=axes, dtype=np.uint64, keepdims=keepdims)
        return self._new(total, self.fixed)

    def mean(self, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
        """The mean, within two units in the last place while the sum stays below 2^25
        (1/n is taken with extra fractional bits, then truncated away)."""
        count = self.size if axis is None else self.shape[axis]
        return self.sum(axis, keepdims=keepdims) * (1.0 / count)

    def var(self, axis: int | None = None) -> SecretArray:
        """The population variance (numpy's default), the mean of squared deviations: within
        a few units in the last place while the squares stay below 2^25. 6 rounds."""
        deviation = self - self.mean(axis, keepdims=True)
        return (deviation * deviation).mean(axis)

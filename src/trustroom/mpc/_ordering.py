"""Order along an axis: max, min, their positions, sort and argsort, all exact.

Reductions pair neighbours (0 with 1, 2 with 3, ...) level by level: one comparison and one
multiplication per level, so ceil(log2 n) levels of 11 rounds. Sorting runs Batcher's
bitonic network: log2 n (log2 n + 1) / 2 stages of a comparison and a multiplication, values
and positions moved together.
"""

from __future__ import annotations

import builtins

import numpy as np

from trustroom.mpc._array import SecretArray
from trustroom.mpc._ring import encode

__all__ = ["argmax", "argmin", "argsort", "max", "min", "sort"]

# Padding for sorting a length that is not a power of two: above every value a sort is
# defined for (the ring keeps products of inputs below 2^62).
_PAD = 2**61


def _last(x: SecretArray, axis: int | None) -> np.ndarray:
    """x's shares with ``axis`` last (all of x flattened for None)."""
    if axis is None:
        return x.shares.reshape(x.shares.shape[0], -1)
    if x.ndim == 0:
        raise ValueError("a 0-d array has no axis to order along")
    return np.moveaxis(x.shares, axis % x.ndim + 1, -1)


def _back(shares: np.ndarray, x: SecretArray, axis: int | None) -> np.ndarray:
    if axis is None:
        return shares.reshape(x.shares.shape)
    return np.moveaxis(shares, -1, axis % x.ndim + 1)


def _positions(x: SecretArray, shape: tuple[int, ...]) -> np.ndarray:
    """Shares of 0, 1, 2, ... along the last axis of ``shape`` (a public value: no message)."""
    count = np.arange(shape[-1], dtype=np.int64)
    zeros = np.zeros((x.shares.shape[0], *shape), dtype=np.uint64)
    return x.ctx.protocol.add_public(zeros, encode(count, 0))


def _reduce(
    x: SecretArray, axis: int | None, smallest: bool, positions: bool, keepdims: bool
) -> SecretArray:
    protocol = x.ctx.protocol
    values = _last(x, axis)
    if values.shape[-1] == 0:
        raise ValueError("a reduction over an empty axis has no result")
    index = _positions(x, values.shape[1:])
    while values.shape[-1] > 1:
        pairs = values.shape[-1] // 2
        a, b = values[..., 0 : 2 * pairs : 2], values[..., 1 : 2 * pairs : 2]
        # the later element wins only where strictly better, so ties keep the first
        wins = protocol.msb((b - a) if smallest else (a - b))
        ia, ib = index[..., 0 : 2 * pairs : 2], index[..., 1 : 2 * pairs : 2]
        moved = protocol.mul(wins[:, None], np.stack((b - a, ib - ia), axis=1))
        chosen, chosen_index = a + moved[:, 0], ia + moved[:, 1]
        if values.shape[-1] % 2:  # the odd one out goes up a level as it is
            chosen = np.concatenate((chosen, values[..., -1:]), axis=-1)
            chosen_index = np.concatenate((chosen_index, index[..., -1:]), axis=-1)
        values, index = chosen, chosen_index
    result = (index if positions else values)[..., :1]  # the reduced axis kept, last
    if not keepdims:
        result = result[..., 0]
    elif axis is None:
        result = result.reshape((result.shape[0],) + (1,) * x.ndim)
    else:
        result = _back(result, x, axis)
    return SecretArray(x.ctx, result, x.fixed and not positions)


def max(x: SecretArray, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
    """The largest value along ``axis`` (of all, for None), exact."""
    return _reduce(x, axis, smallest=False, positions=False, keepdims=keepdims)


def min(x: SecretArray, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
    """The smallest value along ``axis`` (of all, for None), exact."""
    return _reduce(x, axis, smallest=True, positions=False, keepdims=keepdims)


def argmax(x: SecretArray, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
    """The position of the largest value along ``axis`` (in the flattened array, for None),
    the first one on ties, as numpy's; a secret integer array."""
    return _reduce(x, axis, smallest=False, positions=True, keepdims=keepdims)


def argmin(x: SecretArray, axis: int | None = None, *, keepdims: bool = False) -> SecretArray:
    """The position of the smallest value along ``axis``, the first one on ties."""
    return _reduce(x, axis, smallest=True, positions=True, keepdims=keepdims)


def _bitonic(x: SecretArray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted shares along ``axis`` (now last) and the positions they came from."""
    protocol = x.ctx.protocol
    values = _last(x, axis)
    length = values.shape[-1]
    size = 1 << builtins.max(length - 1, 0).bit_length()
    if size > length:
        padding = np.zeros((*values.shape[:-1], size - length), dtype=np.uint64)
        padding = protocol.add_public(padding, np.full(padding.shape[1:], _PAD, np.uint64))
        values = np.concatenate((values, padding), axis=-1)
    index = _positions(x, values.shape[1:])
    k = 2
    while k <= size:
        j = k // 2
        while j >= 1:
            shape = (*values.shape[:-1], size // (2 * j), 2, j)
            v, i = values.reshape(shape), index.reshape(shape)
            first, second = v[..., 0, :], v[..., 1, :]
            # ascending where bit k of the pair's first position is clear
            starts = np.arange(size // (2 * j))[:, None] * 2 * j + np.arange(j)
            ascending = encode(((starts & k) == 0).astype(np.int64), 0)
            below = protocol.msb(second - first)  # second < first
            # swap where out of order: below when ascending, not below when descending
            swap = below * (np.uint64(2) * ascending - np.uint64(1))
            swap = protocol.add_public(swap, np.uint64(1) - ascending)
            moved = protocol.mul(
                swap[:, None],
                np.stack((second - first, i[..., 1, :] - i[..., 0, :]), axis=1),
            )
            out_v, out_i = v.copy(), i.copy()
            out_v[..., 0, :] += moved[:, 0]
            out_v[..., 1, :] -= moved[:, 0]
            out_i[..., 0, :] += moved[:, 1]
            out_i[..., 1, :] -= moved[:, 1]
            values, index = out_v.reshape(values.shape), out_i.reshape(index.shape)
            j //= 2
        k *= 2
    return values[..., :length], index[..., :length]


def sort(x: SecretArray, axis: int = -1) -> SecretArray:
    """x sorted ascending along ``axis``, exact, for values below 2^61 units in the last
    place in magnitude."""
    values, _ = _bitonic(x, axis)
    return SecretArray(x.ctx, _back(values, x, axis), x.fixed)


def argsort(x: SecretArray, axis: int = -1) -> SecretArray:
    """The positions that sort x along ``axis`` (a secret integer array); equal values in
    any order."""
    _, index = _bitonic(x, axis)
    return SecretArray(x.ctx, _back(index, x, axis), False)

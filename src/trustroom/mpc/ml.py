"""Models trained and applied on secret data: logistic regression and linear (ridge)
regression, shaped like scikit-learn's (``fit``, ``predict``) on :class:`SecretArray` inputs.

The learned coefficients stay secret until the parties choose to reveal them; nothing about
the data decides the control flow (batches are taken in order, iteration counts are fixed),
so every party runs the same steps::

    def main(ctx):
        x = ctx.input(0, features if ctx.rank == 0 else None)  # standardised by their owner
        y = ctx.input(1, labels if ctx.rank == 1 else None)
        model = LogisticRegression().fit(x, y)
        return ctx.reveal(model.predict(x))

Features should be standardised (zero mean, unit variance) by their owners before sharing, as
for any gradient method; fixed point then has ample range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trustroom.mpc._array import SecretArray
from trustroom.mpc._functions import reciprocal, sigmoid

__all__ = ["LinearRegression", "LogisticRegression"]


def _check(x: SecretArray, y: SecretArray) -> None:
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"fit takes x (n, d) and y (n,), not {x.shape} and {y.shape}")


def _fitted(coefficients: SecretArray | None) -> SecretArray:
    if coefficients is None:
        raise ValueError("the model is not fitted: call fit(x, y) first")
    return coefficients


@dataclass
class LogisticRegression:
    """Binary logistic regression, P(y = 1 | x) = sigmoid(x w + b), trained by mini-batch
    gradient descent on the log loss: ``epochs`` passes over the rows in batches of
    ``batch_size``, step ``learning_rate``, L2 penalty ``l2`` on w.

    ``predict_proba`` carries :func:`trustroom.mpc.sigmoid`'s error (3e-4 absolute);
    ``predict`` compares the score with 0, exactly.
    """

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.5
    l2: float = 0.0
    weights: SecretArray | None = field(default=None, init=False)
    bias: SecretArray | None = field(default=None, init=False)

    def fit(self, x: SecretArray, y: SecretArray) -> LogisticRegression:
        """Fit on rows ``x`` (n, d) and 0/1 labels ``y`` (n,); returns the model."""
        _check(x, y)
        weights = x[0] * 0  # secret zeros of shape (d,), without a message
        bias = weights.sum()
        for _ in range(self.epochs):
            for start in range(0, x.shape[0], self.batch_size):
                rows = x[start : start + self.batch_size]
                error = sigmoid(rows @ weights + bias) - y[start : start + self.batch_size]
                step = self.learning_rate / rows.shape[0]
                gradient = rows.T @ error
                if self.l2:
                    gradient = gradient + weights * (self.l2 * rows.shape[0])
                weights = weights - gradient * step
                bias = bias - error.sum() * step
        self.weights, self.bias = weights, bias
        return self

    def decision_function(self, x: SecretArray) -> SecretArray:
        """The score x w + b of each row."""
        return x @ _fitted(self.weights) + _fitted(self.bias)

    def predict_proba(self, x: SecretArray) -> SecretArray:
        """P(y = 1) for each row of ``x``."""
        return sigmoid(self.decision_function(x))

    def predict(self, x: SecretArray) -> SecretArray:
        """The predicted class of each row (a secret 0/1 integer array)."""
        return self.decision_function(x) > 0


@dataclass
class LinearRegression:
    """Least squares with an intercept and an L2 penalty ``alpha`` on the weights (ridge
    regression, as scikit-learn's ``Ridge(alpha)``; 0 is ordinary least squares).

    The normal equations C [w; b] = r, with C = [x 1]^T [x 1] / n, are solved by
    Newton-Schulz iteration for C's inverse, from 1/trace(C) times the identity: the error
    shrinks slowly for about log2(cond C) steps, then squares at each. ``iterations`` (30)
    suits condition numbers up to about 10^6 within fixed point's precision; each step is
    two products of (d + 1)-square matrices.
    """

    alpha: float = 0.0
    iterations: int = 30
    weights: SecretArray | None = field(default=None, init=False)
    bias: SecretArray | None = field(default=None, init=False)

    def fit(self, x: SecretArray, y: SecretArray) -> LinearRegression:
        """Fit on rows ``x`` (n, d) and targets ``y`` (n,); returns the model."""
        _check(x, y)
        rows, columns = x.shape
        scale = 1.0 / rows
        gram = (x.T @ x) * scale + np.eye(columns) * (self.alpha * scale)
        sums = x.sum(axis=0) * scale
        c = _blocks(gram, sums, 1.0)
        r = _concatenate((x.T @ y) * scale, (y.sum() * scale).reshape(1))
        trace = sum((c[i, i] for i in range(columns + 1)), start=c[0, 0] * 0)
        inverse = _diagonal(reciprocal(trace), columns + 1)
        identity2 = np.eye(columns + 1) * 2.0
        for _ in range(self.iterations):
            inverse = inverse @ (identity2 - c @ inverse)
        solution = inverse @ r
        self.weights, self.bias = solution[:columns], solution[columns]
        return self

    def predict(self, x: SecretArray) -> SecretArray:
        """x w + b for each row of ``x``."""
        return x @ _fitted(self.weights) + _fitted(self.bias)


def _concatenate(*parts: SecretArray) -> SecretArray:
    """Secret arrays joined along their first axis (local)."""
    fixed = any(p.fixed for p in parts)
    shares = np.concatenate([p._scaled() if fixed else p.shares for p in parts], axis=1)
    return SecretArray(parts[0].ctx, shares, fixed)


def _blocks(gram: SecretArray, sums: SecretArray, corner: float) -> SecretArray:
    """[[gram, sums^T], [sums, corner]] (local: the corner is public)."""
    column = sums.reshape(-1, 1)
    top = SecretArray(gram.ctx, np.concatenate((gram.shares, column.shares), axis=2), True)
    bottom = _concatenate(sums, sums[:1] * 0 + corner).reshape(1, -1)
    return _concatenate(top, bottom)


def _diagonal(value: SecretArray, size: int) -> SecretArray:
    """``value`` (a secret scalar) times the identity (local)."""
    identity = np.eye(size, dtype=np.uint64)
    return SecretArray(value.ctx, value.shares[:, None, None] * identity, True)

"""The algorithm provider's model: a logistic-regression default-risk score trained on the
bank's and the retailer's customers joined on customer id.

This is the one definition of the algorithm. ``train_tee.py`` runs it whole inside the
enclave; ``train_mpc.py`` runs its per-party parts (the split, the standardisation) at each
owner and the same gradient descent on secret shares, with trustroom.mpc.ml's
LogisticRegression, which takes the same steps as :func:`fit` here. Only the Python standard
library is used: the enclave has nothing else.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

FEATURES_BANK = ("age", "income", "balance", "debt_ratio")
FEATURES_RETAILER = ("monthly_spend", "visits", "returns_ratio", "online_share")
LABEL = "defaulted"

# trustroom.mpc.ml.LogisticRegression's defaults: both runs must take the very same steps.
EPOCHS = 20
BATCH = 64
LEARNING_RATE = 0.5

Row = Mapping[str, str | float]


def is_test(customer_id: str) -> bool:
    """Whether a customer is held back for evaluation (about a quarter are). A hash of the id
    rather than a random draw, so that every party, and the enclave, split alike without
    talking to each other."""
    return hashlib.sha256(customer_id.encode()).digest()[0] < 64


def standardise(columns: Sequence[Sequence[float]], train_rows: Sequence[int]) -> list[list[float]]:
    """Each column shifted and scaled to mean 0 and (population) standard deviation 1 over
    the rows ``train_rows``, and the same shift and scale applied to every row: the test
    rows must not inform the model, not even through its scaling."""
    scaled = []
    for column in columns:
        train = [float(column[row]) for row in train_rows]
        mean = math.fsum(train) / len(train)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in train) / len(train)) or 1.0
        scaled.append([(float(v) - mean) / std for v in column])
    return scaled


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # for z < 0, so that exp cannot overflow
    return e / (1.0 + e)


def fit(
    x: Sequence[Sequence[float]],
    y: Sequence[float],
    *,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    learning_rate: float = LEARNING_RATE,
) -> tuple[list[float], float]:
    """Weights and bias of a logistic regression on rows ``x`` and 0/1 labels ``y``, by
    mini-batch gradient descent on the log loss: the rows in their order, in batches of
    ``batch_size``, each step ``learning_rate / rows in the batch`` times the batch's summed
    gradient. These are trustroom.mpc.ml.LogisticRegression's steps, so that the enclave's
    model and the parties' agree to fixed point's precision."""
    width = len(x[0])
    weights = [0.0] * width
    bias = 0.0
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            rows = x[start : start + batch_size]
            labels = y[start : start + batch_size]
            errors = [
                _sigmoid(sum(w * v for w, v in zip(weights, row, strict=True)) + bias) - label
                for row, label in zip(rows, labels, strict=True)
            ]
            step = learning_rate / len(rows)
            gradient = [
                sum(row[j] * e for row, e in zip(rows, errors, strict=True)) for j in range(width)
            ]
            weights = [w - g * step for w, g in zip(weights, gradient, strict=True)]
            bias -= sum(errors) * step
    return weights, bias


def scores(x: Sequence[Sequence[float]], weights: Sequence[float], bias: float) -> list[float]:
    """Each row's score x w + b (the log-odds of default)."""
    return [sum(w * v for w, v in zip(weights, row, strict=True)) + bias for row in x]


def accuracy(labels: Sequence[float], scores: Sequence[float]) -> float:
    """The share of rows whose class (1 where the score is above 0) is their label."""
    right = sum((s > 0) == (label == 1) for label, s in zip(labels, scores, strict=True))
    return right / len(labels)


def auc(labels: Sequence[float], scores: Sequence[float]) -> float:
    """The area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half), from the ranks of the scores, tied scores sharing theirs."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(1 for label in labels if label == 1)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("AUC needs both classes among the labels")
    ranked = math.fsum(r for r, label in zip(ranks, labels, strict=True) if label == 1)
    return (ranked - positives * (positives + 1) / 2) / (positives * negatives)


def split(ids: Sequence[str]) -> tuple[list[int], list[int]]:
    """The positions of the training rows and of the test rows among ``ids``."""
    test = [is_test(customer_id) for customer_id in ids]
    return [r for r, t in enumerate(test) if not t], [r for r, t in enumerate(test) if t]


def train_columns(
    features: Sequence[str],
    columns: Sequence[Sequence[float]],
    labels: Sequence[float],
    ids: Sequence[str],
) -> dict[str, object]:
    """Fit on the training rows of ``columns`` (one per feature, aligned to ``ids``) and
    evaluate on the test rows."""
    train_rows, test_rows = split(ids)
    scaled = standardise(columns, train_rows)
    rows = [list(row) for row in zip(*scaled, strict=True)]
    weights, bias = fit([rows[r] for r in train_rows], [labels[r] for r in train_rows])
    test_labels = [labels[r] for r in test_rows]
    test_scores = scores([rows[r] for r in test_rows], weights, bias)
    return {
        "features": list(features),
        "weights": weights,
        "bias": bias,
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
        "accuracy": accuracy(test_labels, test_scores),
        "auc": auc(test_labels, test_scores),
    }


def train(
    rows_by_id_bank: Mapping[str, Row], rows_by_id_retailer: Mapping[str, Row]
) -> dict[str, object]:
    """The model on the customers both know, their rows joined on customer id (each table:
    customer id to its row, column name to value), with its accuracy and AUC on the held-back
    customers. The shared ids are taken in sorted order, as the MPC parties take them."""
    ids = sorted(set(rows_by_id_bank) & set(rows_by_id_retailer))
    columns = [[float(rows_by_id_bank[i][f]) for i in ids] for f in FEATURES_BANK]
    columns += [[float(rows_by_id_retailer[i][f]) for i in ids] for f in FEATURES_RETAILER]
    labels = [float(rows_by_id_bank[i][LABEL]) for i in ids]
    return train_columns(FEATURES_BANK + FEATURES_RETAILER, columns, labels, ids)

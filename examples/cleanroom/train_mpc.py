"""The MPC job's script: the risk model of model.py, trained on secret shares by the bank
(party 0) and the retailer (party 1), neither seeing the other's customers' values.

Each owner's party runs ``main(ctx, ids, columns)`` on its own table, after private set
intersection has lined up the customers both know (``ids``, sorted, the same at both
parties). Each standardises its own features over the training rows, both input them, and
trustroom.mpc.ml's LogisticRegression takes the very steps model.fit takes in the enclave.
The outputs stay secret shares: the recipients alone add them up, and compute the model's
accuracy and AUC from the held-back customers' scores and labels with model.py's functions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from trustroom.mpc import Context, SecretArray
from trustroom.mpc.ml import LogisticRegression


def _load_model() -> ModuleType:
    """model.py from beside this file: the program folder the owners approved by its digest
    (trustroom.cleanroom's program_digest covers every file in it)."""
    path = Path(__file__).resolve().parent / "model.py"
    spec = importlib.util.spec_from_file_location("cleanroom_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model = _load_model()


def _followed_by(weights: SecretArray, bias: SecretArray) -> SecretArray:
    """One vector: the weights, then the bias. Each is placed by a product with a public 0/1
    integer matrix, which is exact and costs no message."""
    width = weights.shape[0]
    placed = (weights.reshape(width, 1) * np.eye(width, width + 1, dtype=np.int64)).sum(axis=0)
    return placed + bias.reshape(1) * np.eye(1, width + 1, width, dtype=np.int64)[0]


def main(ctx: Context, ids: list[str], columns: dict[str, np.ndarray]) -> dict[str, SecretArray]:
    train_rows, test_rows = model.split(ids)
    own, first = (
        (model.FEATURES_BANK, 0)
        if ctx.rank == 0
        else (model.FEATURES_RETAILER, len(model.FEATURES_BANK))
    )
    # Each party places its standardised features in its own columns of the joint matrix and
    # zeros in the other's: the sum of the two inputs is the joined table, at no cost.
    block = np.zeros((len(ids), len(model.FEATURES_BANK) + len(model.FEATURES_RETAILER)))
    scaled = model.standardise([columns[name].tolist() for name in own], train_rows)
    block[:, first : first + len(own)] = np.array(scaled).T
    x = ctx.input(0, block if ctx.rank == 0 else None)
    x = x + ctx.input(1, block if ctx.rank == 1 else None)
    y = ctx.input(0, columns[model.LABEL] if ctx.rank == 0 else None)
    fitted = LogisticRegression(
        epochs=model.EPOCHS, batch_size=model.BATCH, learning_rate=model.LEARNING_RATE
    ).fit(x[train_rows], y[train_rows])
    return {
        "model": _followed_by(fitted.weights, fitted.bias),  # type: ignore[arg-type]
        "test_scores": fitted.decision_function(x[test_rows]),
        "test_labels": y[test_rows],
    }

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

import hashlib
from pathlib import Path
from types import ModuleType

import numpy as np

from trustroom.mpc import Context, SecretArray
from trustroom.mpc.ml import LogisticRegression

# The owners approve this script by its digest, and it runs model.py from beside it: pinning
# model.py's digest here makes that approval cover the model's code too.
MODEL_SHA256 = "26faafa1f88f5f45a0702e6dd5bb3a3f6fef4e0d204aa96065225175de721409"


def _load_model() -> ModuleType:
    path = Path(__file__).resolve().parent / "model.py"
    code = path.read_bytes()  # run what was checked, not the file read again
    if hashlib.sha256(code).hexdigest() != MODEL_SHA256:
        raise RuntimeError(f"{path} is not the model.py this script was approved with")
    module = ModuleType("cleanroom_model")
    module.__file__ = str(path)
    exec(compile(code, str(path), "exec"), module.__dict__)
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

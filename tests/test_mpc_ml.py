"""trustroom.mpc.ml against scikit-learn on the datasets it ships: the same split, the same
standardisation by the features' owner, then training on secret shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression as SklearnLinear
from sklearn.linear_model import LogisticRegression as SklearnLogistic
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from trustroom import mpc
from trustroom.mpc import Context
from trustroom.mpc.ml import LinearRegression, LogisticRegression


def split(x: Any, y: Any, **kw: Any) -> tuple[Any, Any, Any, Any]:
    train, test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, **kw)
    scaler = StandardScaler().fit(train)  # the features' owner standardises them
    return scaler.transform(train), scaler.transform(test), y_train, y_test


def test_logistic_regression_is_within_a_point_of_scikit_learn() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    train, test, y_train, y_test = split(x, y, stratify=y)

    def main(ctx: Context) -> Any:
        features = ctx.input(0, train if ctx.rank == 0 else None)
        labels = ctx.input(1, y_train.astype(float) if ctx.rank == 1 else None)
        unseen = ctx.input(0, test if ctx.rank == 0 else None)
        model = LogisticRegression().fit(features, labels)
        return ctx.reveal(model.predict(unseen)), ctx.reveal(model.predict_proba(unseen))

    predicted, probability = mpc.launch(main, protocol="aby3", transport="mem")[0]
    ours = np.mean(predicted == y_test)
    theirs = SklearnLogistic().fit(train, y_train).score(test, y_test)
    assert ours >= theirs - 0.01, (ours, theirs)
    assert np.array_equal(predicted, probability > 0.5)


def test_linear_and_ridge_regression_match_scikit_learn() -> None:
    x, y = load_diabetes(return_X_y=True)
    train, test, y_train, _ = split(x, y)
    mean, std = y_train.mean(), y_train.std()  # the targets' owner scales them

    def main(ctx: Context) -> Any:
        features = ctx.input(0, train if ctx.rank == 0 else None)
        targets = ctx.input(1, (y_train - mean) / std if ctx.rank == 1 else None)
        unseen = ctx.input(0, test if ctx.rank == 0 else None)
        return [
            ctx.reveal(LinearRegression(alpha=alpha).fit(features, targets).predict(unseen))
            for alpha in (0.0, 10.0)
        ]

    plain, ridge = (p * std + mean for p in mpc.launch(main, protocol="aby3", transport="mem")[0])
    for ours, reference in ((plain, SklearnLinear()), (ridge, Ridge(alpha=10.0))):
        expected = reference.fit(train, y_train).predict(test)
        # targets 25 to 346 (standard deviation 77); the inverse's fixed-point noise: < 0.03
        assert np.max(np.abs(ours - expected)) < 0.1


def test_an_unfitted_model_or_a_wrong_shape_is_refused() -> None:
    def main(ctx: Context) -> Any:
        x = ctx.input(0, np.zeros((4, 2)) if ctx.rank == 0 else None)
        with pytest.raises(ValueError, match="not fitted"):
            LogisticRegression().predict(x)
        with pytest.raises(ValueError, match=r"x \(n, d\) and y \(n,\)"):
            LinearRegression().fit(x, x)
        return True

    assert mpc.launch(main, protocol="aby3", transport="mem") == [True] * 3

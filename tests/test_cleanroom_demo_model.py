"""The clean-room demo's model (examples/cleanroom): its synthetic customers, and the one
algorithm trained in the enclave and by MPC, which must agree with each other and with
trustroom.mpc.ml's logistic regression."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trustroom import mpc
from trustroom.mpc.ml import LogisticRegression

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cleanroom"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cleanroom_demo_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


data = _load("data")
model = _load("model")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _by_id(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["customer_id"]: row for row in rows}


@pytest.fixture(scope="module")
def tables() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    bank, retailer = data.customers()
    return _rows(bank), _rows(retailer)


def test_the_data_is_deterministic_and_shaped_as_promised(
    tables: tuple[list[dict[str, str]], list[dict[str, str]]],
) -> None:
    assert data.customers() == data.customers(7)
    assert data.customers(8) != data.customers(7)
    bank_text, retailer_text = data.customers()
    assert bank_text.splitlines()[0] == "customer_id,age,income,balance,debt_ratio,defaulted"
    assert retailer_text.splitlines()[0] == (
        "customer_id,monthly_spend,visits,returns_ratio,online_share"
    )
    bank, retailer = tables
    assert (len(bank), len(retailer)) == (3000, 2500)
    bank_ids, retailer_ids = [r["customer_id"] for r in bank], [r["customer_id"] for r in retailer]
    for ids in (bank_ids, retailer_ids):
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"C\d{7}", i) for i in ids)
        assert ids != sorted(ids)  # rows must be joined by id, not by position
    shared = set(bank_ids) & set(retailer_ids)
    assert len(shared) == 1800
    defaulted = [float(r["defaulted"]) for r in bank if r["customer_id"] in shared]
    assert set(defaulted) == {0.0, 1.0}
    assert 0.2 <= sum(defaulted) / len(defaulted) <= 0.35
    for rows in tables:
        for row in rows:
            for name, value in row.items():
                if name != "customer_id":
                    assert re.fullmatch(r"\d+(\.\d{1,2})?", value), (name, value)
    assert all(18 <= float(r["age"]) <= 80 for r in bank)
    assert all(5 <= float(r["income"]) <= 300 for r in bank)  # thousands
    for name in ("debt_ratio",):
        assert all(0 <= float(r[name]) <= 1 for r in bank)
    for name in ("returns_ratio", "online_share"):
        assert all(0 <= float(r[name]) <= 1 for r in retailer)


def test_data_writes_both_tables(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(EXAMPLE / "data.py"), str(tmp_path)], check=True)
    bank, retailer = data.customers()
    assert (tmp_path / "bank.csv").read_text() == bank
    assert (tmp_path / "retailer.csv").read_text() == retailer


def test_the_split_holds_back_about_a_quarter() -> None:
    ids = [f"C{n:07d}" for n in range(4000)]
    held = sum(map(model.is_test, ids)) / len(ids)
    assert 0.22 < held < 0.28


def test_auc_and_accuracy() -> None:
    labels = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0]
    scores = [-1.0, 2.0, 0.5, 0.5, -0.2, -3.0, 0.5, 1.0, 0.5, 0.1]  # ties across classes
    assert model.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert model.accuracy(labels, scores) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="both classes"):
        model.auc([1, 1], [0.0, 1.0])


def _joined(
    bank: list[dict[str, str]], retailer: list[dict[str, str]]
) -> tuple[list[list[float]], list[float]]:
    """The standardised training rows and their labels, as model.train takes them."""
    bank_by_id, retailer_by_id = _by_id(bank), _by_id(retailer)
    ids = sorted(set(bank_by_id) & set(retailer_by_id))
    columns = [[float(bank_by_id[i][f]) for i in ids] for f in model.FEATURES_BANK]
    columns += [[float(retailer_by_id[i][f]) for i in ids] for f in model.FEATURES_RETAILER]
    train_rows, _ = model.split(ids)
    rows = list(zip(*model.standardise(columns, train_rows), strict=True))
    return [list(rows[r]) for r in train_rows], [
        float(bank_by_id[ids[r]]["defaulted"]) for r in train_rows
    ]


def test_fit_takes_the_steps_of_the_mpc_logistic_regression(
    tables: tuple[list[dict[str, str]], list[dict[str, str]]],
) -> None:
    x, y = _joined(*tables)
    x, y = x[:300], y[:300]
    weights, bias = model.fit(x, y)

    def main(ctx: mpc.Context) -> np.ndarray:
        features = ctx.input(0, np.array(x) if ctx.rank == 0 else None)
        labels = ctx.input(1, np.array(y) if ctx.rank == 1 else None)
        fitted = LogisticRegression().fit(features, labels)
        assert fitted.weights is not None and fitted.bias is not None
        return np.append(ctx.reveal(fitted.weights), ctx.reveal(fitted.bias))

    secret = mpc.launch(main, protocol="semi2k", transport="mem")[0]
    assert LogisticRegression().epochs == model.EPOCHS
    assert LogisticRegression().batch_size == model.BATCH
    assert LogisticRegression().learning_rate == model.LEARNING_RATE
    assert np.max(np.abs(secret - np.append(weights, bias))) < 1e-2
    assert np.max(np.abs(np.append(weights, bias))) > 0.3  # it learnt something


def _train_tee(bank: str, retailer: str, folder: Path) -> dict[str, Any]:
    for dataset, text in (("bank-customers", bank), ("retail-customers", retailer)):
        (folder / "inputs" / dataset).mkdir(parents=True)
        (folder / "inputs" / dataset / "data.csv").write_text(text)
    environment = {
        **os.environ,
        "CLEANROOM_INPUTS": str(folder / "inputs"),
        "CLEANROOM_OUTPUTS": str(folder / "outputs"),
    }
    # As bare as the enclave's interpreter: no site packages (-S), so the standard library
    # only, and no script folder on the path (-I), so train_tee.py must find model.py itself.
    command = [sys.executable, "-I", "-S", str(EXAMPLE / "train_tee.py")]
    subprocess.run(command, env=environment, check=True, capture_output=True)
    trained: dict[str, Any] = json.loads((folder / "outputs" / "model.json").read_text())
    return trained


def test_the_enclave_program_trains_a_model_that_joining_improves(tmp_path: Path) -> None:
    bank, retailer = data.customers()
    trained = _train_tee(bank, retailer, tmp_path)
    assert trained["features"] == [*model.FEATURES_BANK, *model.FEATURES_RETAILER]
    assert len(trained["weights"]) == 8
    assert trained["train_rows"] + trained["test_rows"] == 1800
    assert trained["accuracy"] > 0.6 and trained["auc"] > 0.65
    assert trained == model.train(_by_id(_rows(bank)), _by_id(_rows(retailer)))

    # The bank alone, on the same customers and split, ranks them worse.
    bank_by_id = _by_id(_rows(bank))
    ids = sorted(set(bank_by_id) & {r["customer_id"] for r in _rows(retailer)})
    columns = [[float(bank_by_id[i][f]) for i in ids] for f in model.FEATURES_BANK]
    labels = [float(bank_by_id[i][model.LABEL]) for i in ids]
    alone = model.train_columns(model.FEATURES_BANK, columns, labels, ids)
    assert trained["auc"] > alone["auc"] + 0.05


def _table(rows: list[dict[str, str]]) -> tuple[list[str], dict[str, np.ndarray]]:
    """A party's table as the clean room hands it over: ids, and other columns as floats."""
    columns = {
        name: np.array([float(row[name]) for row in rows])
        for name in rows[0]
        if name != "customer_id"
    }
    return [row["customer_id"] for row in rows], columns


def test_the_mpc_script_reproduces_the_enclave_model(
    tables: tuple[list[dict[str, str]], list[dict[str, str]]],
) -> None:
    # A quarter of each table (by id) keeps the secret training to about 120 steps.
    def kept(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if int(r["customer_id"][1:]) % 4 == 0]

    bank, retailer = kept(tables[0]), kept(tables[1])
    expected = model.train(_by_id(bank), _by_id(retailer))
    parties = [_table(bank), _table(retailer)]
    script = runpy.run_path(str(EXAMPLE / "train_mpc.py"), run_name="__cleanroom_party__")

    def party(ctx: mpc.Context) -> dict[str, np.ndarray]:
        # As the clean room runs the script: rows aligned by PSI on customer id.
        ids, columns = parties[ctx.rank]
        shared = ctx.intersect(ids, peer=1 - ctx.rank)
        rows = np.array(shared.rows, dtype=np.int64)
        aligned = {name: values[rows] for name, values in columns.items()}
        outputs = script["main"](ctx, list(shared.items), aligned)
        assert sorted(outputs) == ["model", "test_labels", "test_scores"]
        return {name: ctx.reveal(value) for name, value in outputs.items()}

    outputs = mpc.launch(party, protocol="semi2k", transport="mem")[0]
    assert outputs["model"].shape == (9,)
    assert np.max(np.abs(outputs["model"] - [*expected["weights"], expected["bias"]])) < 2e-2
    labels, scores = outputs["test_labels"].tolist(), outputs["test_scores"].tolist()
    assert len(labels) == expected["test_rows"]
    assert model.accuracy(labels, scores) == pytest.approx(expected["accuracy"], abs=0.02)
    assert model.auc(labels, scores) == pytest.approx(expected["auc"], abs=0.02)

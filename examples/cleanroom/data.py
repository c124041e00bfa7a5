"""Synthetic customers of a bank and a retailer, many of them customers of both.

Whether a customer defaulted depends on what the bank knows (income, balance, debt) and on
what only the retailer knows (spending, returned purchases): neither table alone predicts it
as well as the two joined on customer id, which is the point of the clean room.

Run: ``python examples/cleanroom/data.py FOLDER`` writes FOLDER/bank.csv and
FOLDER/retailer.csv.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

SHARED = 1800  # customers of both
BANK_ONLY = 1200  # the bank's 3000 customers in all
RETAILER_ONLY = 700  # the retailer's 2500

BANK_HEADER = ("customer_id", "age", "income", "balance", "debt_ratio", "defaulted")
RETAILER_HEADER = ("customer_id", "monthly_spend", "visits", "returns_ratio", "online_share")

# How default depends on the features, each taken as (value - centre) / spread. The intercept
# puts about a quarter of customers in default.
_RISK = {
    "income": (-0.9, 45.0, 20.0),
    "balance": (-0.6, 15.0, 15.0),
    "debt_ratio": (1.1, 0.35, 0.17),
    "monthly_spend": (0.9, 450.0, 220.0),
    "returns_ratio": (1.2, 0.12, 0.08),
}
_INTERCEPT = -1.7


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _customer(rng: random.Random) -> dict[str, float]:
    """One customer's every attribute, the bank's and the retailer's alike."""
    age = round(_clip(rng.gauss(45.0, 14.0), 18.0, 80.0))
    # Income (thousands a year) rises with age into the fifties.
    income = _clip(math.exp(rng.gauss(math.log(40.0), 0.4)) * (1 + 0.015 * (min(age, 55) - 40)),
                   8.0, 250.0)  # fmt: skip
    balance = _clip(income * math.exp(rng.gauss(-1.3, 0.9)), 0.0, 400.0)  # thousands
    debt_ratio = _clip(rng.gauss(0.35, 0.17), 0.0, 0.98)
    # Monthly spend (currency units) follows income, with a large personal part.
    monthly_spend = _clip(income * 1000 / 12 * rng.gauss(0.13, 0.06), 15.0, 3000.0)
    visits = round(_clip(rng.gauss(8.0, 4.0), 0.0, 40.0))
    returns_ratio = _clip(rng.gauss(0.12, 0.08), 0.0, 0.9)
    online_share = _clip(rng.gauss(0.9 - 0.01 * (age - 18), 0.15), 0.0, 1.0)
    values = {
        "age": float(age),
        "income": round(income, 2),
        "balance": round(balance, 2),
        "debt_ratio": round(debt_ratio, 2),
        "monthly_spend": round(monthly_spend, 2),
        "visits": float(visits),
        "returns_ratio": round(returns_ratio, 2),
        "online_share": round(online_share, 2),
    }
    logit = _INTERCEPT + rng.gauss(0.0, 0.5)
    for name, (weight, centre, spread) in _RISK.items():
        logit += weight * (values[name] - centre) / spread
    values["defaulted"] = float(rng.random() < 1 / (1 + math.exp(-logit)))
    return values


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def _csv(header: tuple[str, ...], rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [",".join(header)]
    for customer_id, values in rows:
        lines.append(",".join([customer_id, *(_number(values[name]) for name in header[1:])]))
    return "\n".join(lines) + "\n"


def customers(seed: int = 7) -> tuple[str, str]:
    """The bank's and the retailer's tables as CSV text, the same for the same ``seed``."""
    rng = random.Random(seed)
    total = SHARED + BANK_ONLY + RETAILER_ONLY
    ids = [f"C{number:07d}" for number in rng.sample(range(1, 10_000_000), total)]
    people = [(customer_id, _customer(rng)) for customer_id in ids]
    bank = people[: SHARED + BANK_ONLY]
    retailer = people[:SHARED] + people[SHARED + BANK_ONLY :]
    # Each owner's file lists its customers in its own order: rows must be joined by id.
    rng.shuffle(bank)
    rng.shuffle(retailer)
    return _csv(BANK_HEADER, bank), _csv(RETAILER_HEADER, retailer)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: data.py FOLDER")
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    bank_csv, retailer_csv = customers()
    (folder / "bank.csv").write_text(bank_csv)
    (folder / "retailer.csv").write_text(retailer_csv)

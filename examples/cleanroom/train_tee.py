"""The enclave's program: train the risk model on the bank's and the retailer's tables.

Inside the enclave each owner's dataset appears, decrypted, as INPUTS/<dataset>/data.csv, and
what the program writes into OUTPUTS leaves only sealed to the job's recipients. The folders
default to the enclave's /inputs and /outputs; CLEANROOM_INPUTS and CLEANROOM_OUTPUTS move
them, to try the program outside an enclave.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

# model.py is packaged next to this file; the interpreter may not put this folder on its path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import model

INPUTS = Path(os.environ.get("CLEANROOM_INPUTS", "/inputs"))
OUTPUTS = Path(os.environ.get("CLEANROOM_OUTPUTS", "/outputs"))
BANK = INPUTS / "bank-customers" / "data.csv"
RETAILER = INPUTS / "retail-customers" / "data.csv"
MODEL = OUTPUTS / "model.json"


def _rows_by_id(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as file:
        return {row["customer_id"]: row for row in csv.DictReader(file)}


def main() -> None:
    trained = model.train(_rows_by_id(BANK), _rows_by_id(RETAILER))
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    with MODEL.open("w") as file:
        json.dump(trained, file, sort_keys=True, indent=2)
        file.write("\n")
    print(
        f"trained on {trained['train_rows']} shared customers; on {trained['test_rows']} held "
        f"back: accuracy {trained['accuracy']:.3f}, AUC {trained['auc']:.3f}"
    )


if __name__ == "__main__":
    main()

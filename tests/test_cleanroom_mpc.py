"""MPC mode: two owners, each on its own table, aligned by PSI, compute the provider's script;
only the recipients, adding the two parties' sealed shares, learn the outputs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from test_cleanroom_parts import keys

from trustroom.cleanroom import CleanroomError, JobSpec
from trustroom.cleanroom._mpc import _columns, open_shares, program_digest, run_mpc_party
from trustroom.enclave import OutputUnreadable
from trustroom.ledger import digest_of
from trustroom.mpc import Job
from trustroom.mpc._tcp import local_parties

BANK = b"id,balance\nc1,2.5\nc2,3\nc3,5\nc4,7\n"
RETAILER = b"id,purchases,visits\nc3,10,1\nc9,1,1\nc1,4,2\n"
SCRIPT = b"""
def main(ctx, ids, columns):
    assert ids == ["c1", "c3"]
    mine = columns["balance"] if ctx.rank == 0 else columns["purchases"]
    balance = ctx.input(0, mine if ctx.rank == 0 else None)
    purchases = ctx.input(1, mine if ctx.rank == 1 else None)
    return {"total": (balance * purchases).sum(), "rows": balance * 0 + 1}
"""


def spec_for(tmp_path: Path, script: bytes = SCRIPT) -> tuple[JobSpec, Path, Path, Path]:
    (tmp_path / "bank.csv").write_bytes(BANK)
    (tmp_path / "retailer.csv").write_bytes(RETAILER)
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "main.py").write_bytes(script)
    spec = JobSpec.from_dict(
        {
            "name": "joint-total",
            "mode": "mpc",
            "join": "id",
            "program": {"provider": "algo", "script": program_digest(tmp_path / "program")},
            "inputs": [
                {"dataset": "accounts", "owner": "bank", "digest": digest_of(BANK)},
                {"dataset": "baskets", "owner": "retailer", "digest": digest_of(RETAILER)},
            ],
            "outputs": [
                {"name": "total", "recipients": ["algo"]},
                {"name": "rows", "recipients": ["algo", "bank"]},
            ],
        }
    )
    return spec, tmp_path / "program", tmp_path / "bank.csv", tmp_path / "retailer.csv"


def run_parties(spec: JobSpec, script: Path, tables: list[Path | None], outputs: Path) -> list[Any]:
    parties, pems = local_parties(3)
    key_files = []
    for rank, pem in enumerate(pems):
        path = outputs.parent / f"party{rank}.key"
        path.write_bytes(pem)
        key_files.append(path)
    job = Job("semi2k", tuple(parties), timeout=30, connect_timeout=30, keys=tuple(key_files))
    members = {name: key.public for name, key in keys().items()}
    results: list[Any] = [None] * 3

    def party(rank: int) -> None:
        try:
            results[rank] = run_mpc_party(
                spec, job, rank, program=script, table=tables[rank], members=members,
                outputs=outputs,
            )  # fmt: skip
        except BaseException as exc:
            results[rank] = exc

    threads = [threading.Thread(target=party, args=(rank,)) for rank in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_only_recipients_learn_the_outputs(tmp_path: Path) -> None:
    spec, script, bank, retailer = spec_for(tmp_path)
    outputs = tmp_path / "out"
    results = run_parties(spec, script, [bank, retailer, None], outputs)
    assert not any(isinstance(r, BaseException) for r in results), results
    sealed = sorted(p.name for p in outputs.iterdir())
    assert sealed == sorted(
        f"{name}.share{rank}.{recipient}.sealed"
        for name, recipients in (("total", ["algo"]), ("rows", ["algo", "bank"]))
        for recipient in recipients
        for rank in (0, 1)
    )
    assert results[0][("total.share0", "algo")] == digest_of((outputs / sealed[-2]).read_bytes())
    algo = open_shares(
        [p.read_bytes() for p in outputs.glob("*.algo.sealed")], keys()["algo"], job=spec.name
    )
    # c1 and c3 are shared: 2.5 * 4 + 5 * 10.
    assert algo["total"] == pytest.approx(60.0, abs=1e-3)
    assert list(algo["rows"]) == pytest.approx([1.0, 1.0])
    bank_view = open_shares(
        [p.read_bytes() for p in outputs.glob("*.bank.sealed")], keys()["bank"], job=spec.name
    )
    assert set(bank_view) == {"rows"}
    with pytest.raises(OutputUnreadable, match="sealed to 'algo', not to 'bank'"):
        open_shares([(outputs / "total.share0.algo.sealed").read_bytes()], keys()["bank"],
                    job=spec.name)  # fmt: skip
    with pytest.raises(OutputUnreadable, match="the shares of parties \\[0\\] only"):
        open_shares([(outputs / "total.share0.algo.sealed").read_bytes()], keys()["algo"],
                    job=spec.name)  # fmt: skip


def test_a_changed_script_or_table_is_refused_before_anything_runs(tmp_path: Path) -> None:
    spec, program, bank, _ = spec_for(tmp_path)
    (program / "helper.py").write_text("# a module beside main.py is part of the program\n")
    with pytest.raises(CleanroomError, match="not the program the owners approved"):
        run_mpc_party(spec, Job("semi2k", ()), 0, program=program, table=bank, members={},
                      outputs=tmp_path)  # fmt: skip
    (program / "helper.py").unlink()
    bank.write_bytes(BANK.replace(b"2.5", b"2.6"))
    with pytest.raises(CleanroomError, match="is not dataset accounts as approved"):
        run_mpc_party(spec, Job("semi2k", ()), 0, program=program, table=bank, members={},
                      outputs=tmp_path)  # fmt: skip


def test_a_parquet_table_is_read_as_its_csv_twin(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(
        pa.table({"id": ["c1", "c2", "c3", "c4"], "balance": [2.5, 3.0, 5.0, 7.0]}),
        tmp_path / "bank.parquet",
    )
    parquet = _columns((tmp_path / "bank.parquet").read_bytes(), "id", tmp_path / "bank.parquet")
    csv = _columns(BANK, "id", tmp_path / "bank.csv")
    assert parquet[0] == csv[0] == ["c1", "c2", "c3", "c4"]
    assert list(parquet[1]) == ["balance"] and list(parquet[1]["balance"]) == [2.5, 3, 5, 7]
    assert list(csv[1]["balance"]) == list(parquet[1]["balance"])
    with pytest.raises(CleanroomError, match="no column 'customer'"):
        _columns(BANK, "customer", tmp_path / "bank.csv")

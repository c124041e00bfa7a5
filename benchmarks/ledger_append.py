"""Durable appends to the ledger against plain batched inserts into the same SQLite.

Both sides write the same canonical job-result records (about 570 bytes each) in batches of
``--batch`` into a SQLite file on the same disk, with the same settings (WAL, synchronous=FULL:
each batch's commit is fsynced), one transaction per batch. The plain side inserts the records
into a table of (index, data) with the sqlite3 driver's executemany and nothing else: the
limit the log cannot beat. The log also hashes every record, integrates it into the Merkle
tree from the stored right edge and rewrites the touched hash tiles. The log is fed twice:
:class:`Record` objects (built, hence checked, by the program that appends them, as an
in-process coordinator does: the log's own work), and the records' bytes, which the log
parses and checks (RFC 8785 form, kind, fields, digests) as it must for anything arriving
from outside. Reported: entries
per second, medians of ``--rounds`` interleaved rounds, and the ratios. Then a log of
``--proof-size`` entries (default one million) answers ``--proofs`` random inclusion proofs:
p50 and p99 latency of ``Ledger.inclusion_proof`` (reading the tiles from SQLite and building
the proof).

Targets: the log at least 50% of the plain inserts and at least 5,000 entries/s; inclusion
proofs at a million entries p50 under 1 ms.

Run: ``.venv/bin/python benchmarks/ledger_append.py [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from trustroom.ledger import Ledger, Record, digest_of
from trustroom.tee import SimAttester, SimWorkload

WORKLOAD = SimWorkload(hashlib.sha256(b"ledger benchmark").digest(), b"\x01" * 32)


def records(start: int, count: int) -> list[bytes]:
    return [
        Record(
            "job-result",
            {
                "job": f"job-{n}",
                "program": {"measurement": digest_of(b"program")},
                "inputs": [{"name": "bank.csv", "digest": digest_of(n.to_bytes(8, "big"))}],
                "outputs": [{"name": "model.json", "digest": digest_of(b"o%d" % n)}],
                "policy": {"digest": digest_of(b"policy")},
                "attestation": {"digest": digest_of(b"token%d" % n)},
            },
        ).canonical()
        for n in range(start, start + count)
    ]


def plain_round(path: Path, data: list[bytes], batch: int) -> float:
    """The limit: each batch inserted by the SQLite driver's executemany, nothing else."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    start = time.perf_counter()
    for first in range(0, len(data), batch):
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO entries (idx, data) VALUES (?, ?)",
            [(first + i, d) for i, d in enumerate(data[first : first + batch])],
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return len(data) / elapsed


def ledger_round(path: Path, data: list[bytes], batch: int) -> float:
    ledger = Ledger.init(
        "bench.example/ledger", f"sqlite:///{path}", attester=SimAttester(WORKLOAD)
    )
    start = time.perf_counter()
    for first in range(0, len(data), batch):
        ledger.append(data[first : first + batch])
    elapsed = time.perf_counter() - start
    ledger.store.engine.dispose()
    return len(data) / elapsed


def proof_latency(path: Path, size: int, proofs: int) -> tuple[float, float]:
    ledger = Ledger.init(
        "bench.example/ledger", f"sqlite:///{path}", attester=SimAttester(WORKLOAD)
    )
    step = 20_000
    while ledger.size < size:
        n = ledger.size
        ledger.append(records(n, min(step, size - n)))
    rng = random.Random(1)
    latencies = []
    for _ in range(proofs):
        index = rng.randrange(size)
        start = time.perf_counter()
        ledger.inclusion_proof(index, size)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    return statistics.median(latencies) * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    data = records(0, args.entries)
    built = [Record.parse(d) for d in data]
    plain: list[float] = []
    logged: list[float] = []
    checked: list[float] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in range(args.rounds):
            plain.append(plain_round(Path(tmp) / f"plain{n}.db", data, args.batch))
            logged.append(ledger_round(Path(tmp) / f"ledger{n}.db", built, args.batch))
            checked.append(ledger_round(Path(tmp) / f"checked{n}.db", data, args.batch))
        p50, p99 = proof_latency(Path(tmp) / "proofs.db", args.proof_size, args.proofs)
    size = statistics.mean(len(d) for d in data)
    print(f"{args.entries} records of {size:.0f} bytes in batches of {args.batch}")
    print(f"medians of {args.rounds} interleaved rounds")
    print("| | entries/s |")
    print("|---|---:|")
    print(f"| plain batched inserts | {statistics.median(plain):.0f} |")
    print(f"| ledger appends of records | {statistics.median(logged):.0f} |")
    print(f"| ledger appends of bytes, each checked | {statistics.median(checked):.0f} |")
    print(f"ledger / plain: {statistics.median(logged) / statistics.median(plain):.2f}")
    ratio = statistics.median(checked) / statistics.median(plain)
    print(f"ledger checking bytes / plain: {ratio:.2f}")
    print(f"inclusion proofs at {args.proof_size} entries: p50 {p50:.3f} ms, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()

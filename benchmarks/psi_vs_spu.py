"""trustroom's ECDH-PSI side by side with SecretFlow SPU 0.9.5's bundled psi (ECDH, Curve25519).

Two parties, each with ``n`` ids (strings, as a CSV column), half of them shared, for ``n`` in
``--sizes`` (default 2^16 and 2^20). trustroom runs two party processes over loopback TCP
with mutual TLS (ristretto255, RFC 9380 hash-to-group; ``trustroom.mpc.psi``); SPU runs
``spu.psi.psi_execute`` (``ECDH_PSI_2PC`` on ``CURVE_25519``) in two processes linked by its
own TCP channel, through ``benchmarks/_spu_psi_side.py`` in its own virtual environment
(``scripts/spu-venv`` makes it). Both sides are timed as a user sees a run once the parties
are connected: reading the ids from the CSV file, the protocol, and writing the shared ids
to a CSV file; the slower party's time counts. Medians of ``--repeat`` runs. Bytes: what each
party sent. Both sides must find the same intersection, or the run fails.

Run: ``.venv/bin/python benchmarks/psi_vs_spu.py [--sizes 16,20] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from trustroom.mpc import psi
from trustroom.mpc._tcp import Party, connect, local_parties

ROOT = Path(__file__).resolve().parent.parent


def make_inputs(directory: Path, n: int) -> tuple[Path, Path, int]:
    """Two CSV files of ``n`` ids each, ``n // 2`` shared, in random order; the overlap."""
    rng = random.Random(n)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(n + n // 2)]
    alice, bob = ids[:n], ids[n // 2 :]
    rng.shuffle(alice)
    rng.shuffle(bob)
    paths = directory / f"alice-{n}.csv", directory / f"bob-{n}.csv"
    for path, column in zip(paths, (alice, bob), strict=True):
        path.write_text("id\n" + "\n".join(column) + "\n")
    return paths[0], paths[1], len(set(alice) & set(bob))


def _party(
    rank: int, parties: list[Party], key: bytes, source: str, out: str, results: Any
) -> None:
    transport = connect(rank, parties, key, timeout=3600, connect_timeout=60)
    try:
        transport.send(1 - rank, b"ready")  # both connected before either clock starts
        transport.recv(1 - rank)
        sent_before = transport.bytes_sent
        start = time.perf_counter()
        with open(source, newline="") as file:
            ids = [row["id"] for row in csv.DictReader(file)]
        shared = psi.intersect(transport, 1 - rank, ids)
        with open(out, "w", newline="") as file:
            file.write("id\n" + "\n".join(shared.items) + "\n")
        elapsed = time.perf_counter() - start
        results.put((rank, elapsed, transport.bytes_sent - sent_before, len(shared.items)))
    finally:
        transport.close()


def trustroom_run(alice: Path, bob: Path, directory: Path) -> dict[str, Any]:
    parties, keys = local_parties(2)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(
            target=_party,
            args=(rank, parties, keys[rank], str(src), str(directory / f"out{rank}.csv"), results),
        )
        for rank, src in enumerate((alice, bob))
    ]
    for process in processes:
        process.start()
    got = sorted(results.get(timeout=3600) for _ in processes)
    for process in processes:
        process.join()
    return {
        "seconds": max(r[1] for r in got),
        "bytes_per_party": [r[2] for r in got],
        "intersection": got[0][3],
    }


def spu_side(alice: Path, bob: Path, directory: Path, repeat: int) -> dict[str, Any]:
    python = (
        subprocess.run(
            [str(ROOT / "scripts" / "spu-venv")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    done = subprocess.run(
        [python, str(ROOT / "benchmarks" / "_spu_psi_side.py"), "--alice", str(alice),
         "--bob", str(bob), "--outdir", str(directory / "spu"), "--repeat", str(repeat)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,20", help="log2 of the items per party")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-spu", action="store_true", help="trustroom's side only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for log2 in (int(s) for s in args.sizes.split(",")):
            n = 1 << log2
            alice, bob, overlap = make_inputs(directory, n)
            runs = [trustroom_run(alice, bob, directory) for _ in range(args.repeat)]
            for run in runs:
                assert run["intersection"] == overlap, (run["intersection"], overlap)
            theirs = {} if args.no_spu else spu_side(alice, bob, directory, args.repeat)
            if theirs:
                assert theirs["intersection"] == overlap, (theirs["intersection"], overlap)
            rows.append((log2, runs, theirs))
    print("trustroom ECDH-PSI (ristretto255, 2 processes, TCP+TLS) vs SPU 0.9.5 ECDH_PSI_2PC")
    print(f"medians of {args.repeat} runs; each party holds n ids, n/2 shared")
    print("| n | trustroom s | SPU s | time ratio | trustroom MB sent per party | "
          "SPU MB sent per party |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for log2, runs, theirs in rows:
        mine = statistics.median(r["seconds"] for r in runs)
        spu = theirs.get("median_s")
        ratio = f"{mine / spu:.2f}" if spu else "-"
        ours_mb = "/".join(f"{b / 1e6:.1f}" for b in runs[0]["bytes_per_party"])
        spu_bytes = theirs.get("bytes_per_party")
        spu_mb = "/".join(f"{b / 1e6:.1f}" for b in spu_bytes) if spu_bytes else "-"
        spu_s = f"{spu:.2f}" if spu else "-"
        print(f"| 2^{log2} | {mine:.2f} | {spu_s} | {ratio} | {ours_mb} | {spu_mb} |")


if __name__ == "__main__":
    main()

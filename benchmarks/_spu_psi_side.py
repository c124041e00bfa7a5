"""SecretFlow SPU's side of a PSI benchmark: two-party ECDH-PSI, SPU 0.9.5's bundled psi library.

Alice (rank 0, the receiver) and Bob (rank 1, the sender) are two OS processes (multiprocessing,
'spawn'), joined by SPU's own link layer (``spu.libspu.link.create_brpc``: brpc over loopback TCP,
no TLS). Each calls ``spu.psi.psi_execute`` with PROTOCOL_ECDH (psi v2's two-party ECDH-PSI, the
legacy ECDH_PSI_2PC) on the chosen curve (libsodium for Curve25519), ``broadcast_result=True`` so
that both parties get the intersection, an inner join on the ``id`` column, and
``keys_unique=False`` because ids may repeat. Each party writes its result CSV into ``--outdir``.

Timing: each party process starts, imports SPU and connects the link once; none of that is
timed. Then, for each of ``--repeat`` runs, both parties pass a link barrier and time
``psi_execute`` alone with ``time.perf_counter`` (CLOCK_MONOTONIC, one clock for the machine). A
run's time is from the earlier party's start to the later party's return, so it covers all of
``psi_execute`` on both sides: reading the CSV, sorting it by id and counting duplicates (psi
shells out to ``sort`` whenever keys may repeat), the ECDH protocol, sorting the intersection
indices and writing the result CSV. Process start-up, link set-up and input generation are not
included. The median of the runs is reported.

Duplicates: psi deduplicates ids before the protocol, so ``intersection`` is the number of
distinct ids common to both files, ``len(set(alice) & set(bob))`` (the report's
``intersection_unique_count``; both parties and all runs must agree). ``notes`` adds the
report's ``intersection_count`` per party (that party's input rows whose id is common) and the
rows of each result file: the inner join, so an id that Alice has a times and Bob b times fills
a * b rows in both files.

Bytes: SPU 0.9.5's Python link API has no statistics (yacl's ``GetStats()`` is not bound), so
each party reads the kernel's TCP counters (``TCP_INFO``, ``tcpi_bytes_acked``) of its own
loopback sockets to the other party before and after each run. ``bytes_per_party`` is [Alice,
Bob]: TCP payload bytes that party sent in a run (median over runs), which includes brpc framing
and one link barrier (a few hundred bytes) besides psi's messages; null if the sockets can't be
read. psi also leaves a small perfetto trace file per run and party in the system temp folder.

Run with the SPU virtualenv (``scripts/spu-venv`` makes it and prints its python); it does not
import trustroom. One JSON object goes to stdout, logs (SPU's included) to stderr:

    .bench/spu/bin/python benchmarks/_spu_psi_side.py --alice A.csv --bob B.csv --outdir DIR \
        [--repeat 3] [--curve CURVE_25519]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import socket
import statistics
import struct
import sys
import time
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import spu
import spu.libspu.link as link
import spu.psi as psi

CURVES = [c for c in psi.EllipticCurveType.__members__ if c != "CURVE_INVALID_TYPE"]
NAMES = ("alice", "bob")
TCPI_BYTES_ACKED = 120  # offset of tcpi_bytes_acked (u64) in Linux's struct tcp_info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_bytes_sent(ports: list[int], rank: int) -> int | None:
    """TCP payload bytes this process has sent so far on its sockets to the other party.

    Counts sockets connected to the peer's port (our brpc channel) and sockets accepted on our
    port (the peer's channel, on which we answer its RPCs). The descriptors are brpc's; they are
    read through duplicates.
    """
    total, found = 0, False
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(fd))) as s:
                if s.family != socket.AF_INET or s.type != socket.SOCK_STREAM:
                    continue
                local, peer = s.getsockname()[1], s.getpeername()[1]
                if local == ports[rank] or peer == ports[1 - rank]:
                    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
                    total += struct.unpack_from("Q", info, TCPI_BYTES_ACKED)[0]
                    found = True
        except OSError:  # gone meanwhile, or not connected (the listening socket)
            continue
    return total if found else None


def party(
    rank: int, link_id: str, ports: list[int], inputs: list[str], outdir: str, curve: str,
    repeat: int, results: Queue[tuple[int, list[dict[str, Any]]]],
) -> None:  # fmt: skip
    os.dup2(2, 1)  # SPU logs to the C-level stdout; keep stdout for the JSON
    desc = link.Desc()
    desc.id = link_id
    desc.recv_timeout_ms = 300_000  # a party may wait while the other sorts a large file
    for r, port in enumerate(ports):
        desc.add_party(f"party_{r}", f"127.0.0.1:{port}")
    lctx = link.create_brpc(desc, rank)
    config = psi.PsiExecuteConfig(
        protocol_conf=psi.PsiProtocolConfig(
            protocol=psi.PsiProtocol.PROTOCOL_ECDH,
            receiver_rank=0,
            broadcast_result=True,
            ecdh_params=psi.EcdhParams(curve=psi.EllipticCurveType.__members__[curve]),
        ),
        input_params=psi.InputParams(
            type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=inputs[rank], selected_keys=["id"],
            keys_unique=False,
        ),
        output_params=psi.OutputParams(
            type=psi.SourceType.SOURCE_TYPE_FILE_CSV,
            path=str(Path(outdir) / f"{NAMES[rank]}_psi_out.csv"),
            disable_alignment=True,  # no extra sort (psi only re-sorts unique-key outputs)
        ),
    )  # fmt: skip
    runs = []
    for _ in range(repeat):
        lctx.barrier()
        before = tcp_bytes_sent(ports, rank)
        start = time.perf_counter()
        report = psi.psi_execute(config, lctx)
        end = time.perf_counter()
        lctx.barrier()  # the peer has received all we sent, so our TCP counters are settled
        after = tcp_bytes_sent(ports, rank)
        runs.append({
            "start": start, "end": end,
            "sent": None if before is None or after is None else after - before,
            "unique": report.intersection_unique_count, "rows": report.intersection_count,
        })  # fmt: skip
    lctx.stop_link()
    results.put((rank, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alice", required=True, help="CSV of rank 0 (receiver), header id")
    parser.add_argument("--bob", required=True, help="CSV of rank 1 (sender), header id")
    parser.add_argument("--outdir", required=True, help="where both parties write their result")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--curve", default="CURVE_25519", choices=CURVES)
    args = parser.parse_args()
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    inputs = [str(Path(args.alice).resolve()), str(Path(args.bob).resolve())]
    ports = [free_port(), free_port()]
    link_id = str(time.time_ns())  # the same for both parties
    ctx = mp.get_context("spawn")
    results: Queue[tuple[int, list[dict[str, Any]]]] = ctx.Queue()
    procs = [
        ctx.Process(
            target=party,
            args=(rank, link_id, ports, inputs, str(outdir), args.curve, args.repeat, results),
        )
        for rank in range(2)
    ]
    for p in procs:
        p.start()
    runs: dict[int, list[dict[str, Any]]] = {}
    while len(runs) < 2:
        try:
            rank, party_runs = results.get(timeout=1)
            runs[rank] = party_runs
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                sys.exit(f"a party failed: exit codes {[p.exitcode for p in procs]}")
    for p in procs:
        p.join()

    times = [
        max(a["end"], b["end"]) - min(a["start"], b["start"])
        for a, b in zip(runs[0], runs[1], strict=True)
    ]
    unique = {run["unique"] for rank in (0, 1) for run in runs[rank]}
    if len(unique) != 1:
        sys.exit(f"parties or runs disagree on the intersection: {sorted(unique)}")
    sent = [[run["sent"] for run in runs[rank]] for rank in (0, 1)]
    bytes_per_party = (
        None
        if None in sent[0] + sent[1]
        else [int(statistics.median(party_sent)) for party_sent in sent]
    )
    file_rows = []
    for name in NAMES:
        with open(outdir / f"{name}_psi_out.csv", "rb") as f:
            file_rows.append(sum(1 for _ in f) - 1)  # less the header
    notes = (
        f"spu {spu.__version__} psi_execute PROTOCOL_ECDH, two processes over brpc on loopback "
        "TCP, both parties get the result; time per run: earliest psi_execute start to latest "
        "return, input sort/dedup and result CSV included; intersection: distinct common ids; "
        f"input rows with a common id (report intersection_count): alice {runs[0][-1]['rows']}, "
        f"bob {runs[1][-1]['rows']}; result file rows (inner join, a*b per id): alice "
        f"{file_rows[0]}, bob {file_rows[1]}; bytes_per_party: TCP payload each party sent per "
        "run from kernel TCP_INFO (brpc framing and one barrier included), median over runs"
    )
    print(json.dumps({
        "protocol": "ECDH_PSI_2PC",
        "curve": args.curve,
        "times_s": times,
        "median_s": statistics.median(times),
        "intersection": unique.pop(),
        "bytes_per_party": bytes_per_party,
        "notes": notes,
    }))  # fmt: skip


if __name__ == "__main__":
    main()

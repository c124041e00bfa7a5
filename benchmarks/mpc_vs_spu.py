"""trustroom's ABY3 engine side by side with SecretFlow SPU 0.9.5 (ABY3, FM64), same inputs.

Each operation is timed as a user sees it: secret-sharing the inputs, the operation, and
revealing the result. trustroom runs three party processes over loopback TCP with mutual TLS
(timed inside the parties, from a barrier to the reveal, party 0's clock; bytes include the
input sharing and the reveal); SPU runs in its
simulator (threads and in-memory links, so the comparison favours SPU), through
`benchmarks/_spu_side.py` in its own virtual environment (`scripts/spu-venv` makes it). Medians
of ``--repeat`` runs after a warm-up. Errors: max |out - ref| / max |ref| against float64
numpy on the same inputs (for less-than: the number of wrong answers).

Run: ``.venv/bin/python benchmarks/mpc_vs_spu.py [--repeat 3] [--transport tcp]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trustroom import mpc

ROOT = Path(__file__).resolve().parent.parent
MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 32),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 36),
    "MALLOC_TOP_PAD_": str(1 << 30),
}


def make_inputs(path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261127)
    n = 1 << 20
    inputs = {
        "mul_x": rng.normal(size=n), "mul_y": rng.normal(size=n),
        "less_x": rng.normal(size=n), "less_y": rng.normal(size=n),
        "matmul_a": rng.normal(size=(1000, 1000)), "matmul_b": rng.normal(size=(1000, 1000)),
        "exp_x": rng.uniform(-4, 4, size=n), "sigmoid_x": rng.uniform(-4, 4, size=n),
        "div_x": rng.normal(size=n), "div_y": rng.normal(size=n),
        "sort_x": rng.normal(size=1 << 16),
    }  # fmt: skip
    np.savez(path, **inputs)
    return inputs


# name: (input keys, operation on secret arrays, reference on numpy arrays)
OPERATIONS: dict[str, tuple[tuple[str, ...], Callable[..., Any], Callable[..., Any]]] = {
    "mul": (("mul_x", "mul_y"), lambda x, y: x * y, lambda x, y: x * y),
    "less": (("less_x", "less_y"), lambda x, y: x < y, lambda x, y: x < y),
    "matmul": (("matmul_a", "matmul_b"), lambda a, b: a @ b, lambda a, b: a @ b),
    "exp": (("exp_x",), mpc.exp, np.exp),
    "sigmoid": (("sigmoid_x",), mpc.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    # the divisor kept away from zero, as on SPU's side
    "division": (
        ("div_x", "div_y"),
        lambda x, y: x / (abs(y) + 1),
        lambda x, y: x / (np.abs(y) + 1),
    ),
    "sort": (("sort_x",), mpc.sort, np.sort),
}


def party(ctx: mpc.Context, inputs_path: str, repeat: int) -> dict[str, Any]:
    """Every operation ``repeat`` times after a warm-up; party i owns the i-th input."""
    inputs = dict(np.load(inputs_path))
    out: dict[str, Any] = {}
    for name, (keys, operation, _) in OPERATIONS.items():
        times, sent = [], 0
        for run in range(repeat + 1):
            ctx.barrier()
            before = ctx.stats()["bytes_sent"]
            start = time.perf_counter()
            shared = [
                ctx.input(owner, inputs[key] if ctx.rank == owner else None)
                for owner, key in enumerate(keys)
            ]
            result = ctx.reveal(operation(*shared))
            if run:
                times.append(time.perf_counter() - start)
                sent = ctx.stats()["bytes_sent"] - before
        out[name] = {"median_s": statistics.median(times), "bytes": sent, "result": result}
    return out


def errors(name: str, got: np.ndarray, inputs: dict[str, np.ndarray]) -> float:
    keys, _, reference = OPERATIONS[name]
    expected = reference(*(inputs[k] for k in keys))
    if expected.dtype == bool:
        return float(np.sum(got.astype(bool) != expected))
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def spu_side(inputs_path: Path, repeat: int) -> dict[str, Any]:
    python = (
        subprocess.run(
            [str(ROOT / "scripts" / "spu-venv")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        # SPU's own environment: the one-BLAS-thread setting is for trustroom's three parties.
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        subprocess.run(
            [python, str(ROOT / "benchmarks" / "_spu_side.py"), "--inputs", str(inputs_path),
             "--out", out.name, "--repeat", str(repeat)],
            check=True, env=env,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--transport", default="tcp", choices=("tcp", "mem"))
    parser.add_argument("--no-spu", action="store_true", help="trustroom's side only")
    args = parser.parse_args()
    # Three parties share the cores: one BLAS thread each instead of each taking them all.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Both engines, their processes started from here: glibc keeps freed memory instead of
    # returning each large buffer to the kernel, whose page faults are costly on this VM (a
    # third of SPU's CPU for a product was system time; with this, 2%).
    os.environ.update(MALLOC_SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        inputs_path = Path(tmp) / "inputs.npz"
        inputs = make_inputs(inputs_path)
        ours = mpc.launch(
            _bound(str(inputs_path), args.repeat), protocol="aby3", parties=3,
            transport=args.transport, timeout=600,
        )[0]  # fmt: skip
        theirs = {} if args.no_spu else spu_side(inputs_path, args.repeat)["ops"]
    print(f"trustroom ABY3 ({args.transport}, 3 processes) vs SPU 0.9.5 ABY3 FM64 simulator")
    print("| operation | trustroom s | SPU s | time ratio | trustroom error | SPU error |"
          " trustroom MB sent by party 0 | SPU MB sent by its busiest party |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, mine in ours.items():
        spu = theirs.get(name, {})
        spu_s = spu.get("median_s")
        ratio = f"{mine['median_s'] / spu_s:.2f}" if spu_s else "-"
        spu_err = spu.get("wrong", spu.get("max_rel_err"))
        print(
            f"| {name} | {mine['median_s']:.3f} | {_number(spu_s, '.3f')} | {ratio} | "
            f"{errors(name, mine['result'], inputs):.2g} | {_number(spu_err, '.2g')} | "
            f"{mine['bytes'] / 1e6:.1f} | {_megabytes(spu.get('bytes_per_party'))} |"
        )


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _megabytes(per_party: list[int] | None) -> str:
    return f"{max(per_party) / 1e6:.1f}" if per_party else "-"


class _bound:
    """``party`` with its arguments, picklable for the party processes."""

    def __init__(self, inputs_path: str, repeat: int) -> None:
        self.inputs_path, self.repeat = inputs_path, repeat

    def __call__(self, ctx: mpc.Context) -> dict[str, Any]:
        return party(ctx, self.inputs_path, self.repeat)


if __name__ == "__main__":
    sys.exit(main())

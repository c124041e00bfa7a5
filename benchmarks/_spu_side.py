"""SecretFlow SPU's side of benchmarks/mpc_vs_spu.py: seven operations in SPU 0.9.5's simulator.

Each operation runs with ABY3 on the 64-bit ring (FM64, default config otherwise: 18 fraction
bits, SIGMOID_REAL, Goldschmidt division, Taylor exp) among 3 parties of
``spu.utils.simulation.Simulator`` (threads and in-memory links in this one process). It is timed
as SPU users experience it: one ``sim_jax(sim, fn)(*inputs)`` call end to end, which converts the
inputs to float32, secret-shares them, compiles the function to PPHLO (SPU's compile cache is
disabled, so every call compiles), runs the three parties and reconstructs the output. One
warm-up call, then ``--repeat`` timed calls; median and min seconds are reported.

Errors are against float64 numpy on the same inputs: max |out - ref| and max |out - ref| / max
|ref|; for less-than, the number of wrong booleans (``wrong``). Communication: SPU 0.9.5 has no
Python API for link statistics, but its runtime logs "Link details: total send bytes ..." after a
run when ``enable_pphlo_profile`` is on. One extra, untimed, profiled run gives
``bytes_per_party`` (bytes each party sent during the run) and ``send_actions_per_party``
(messages sent), largest first: the log does not say which party is which. The simulator shares
inputs and reconstructs outputs outside the links, so these bytes cover the computation only,
not input sharing or reveal.

Run with the SPU virtualenv (``scripts/spu-venv`` makes it and prints its python); it does not
import trustroom:

    .bench/spu/bin/python benchmarks/_spu_side.py --inputs FILE.npz --out FILE.json [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import spu
import spu.api as spu_api
import spu.libspu as libspu
import spu.utils.frontend as spu_fe
import spu.utils.simulation as spsim

# name: (npz keys, SPU function, numpy float64 reference)
OPS = {
    "mul": (("mul_x", "mul_y"), lambda x, y: x * y, lambda x, y: x * y),
    "less": (("less_x", "less_y"), lambda x, y: x < y, lambda x, y: x < y),
    "matmul": (("matmul_a", "matmul_b"), lambda a, b: a @ b, lambda a, b: a @ b),
    "exp": (("exp_x",), jnp.exp, np.exp),
    "sigmoid": (("sigmoid_x",), jax.nn.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "division": (
        ("div_x", "div_y"),
        lambda x, y: x / (jnp.abs(y) + 1),
        lambda x, y: x / (np.abs(y) + 1),
    ),
    "sort": (("sort_x",), jnp.sort, np.sort),
}

LINK_DETAILS = re.compile(
    rb"Link details: total send bytes (\d+), recv bytes \d+, send actions (\d+)"
)


def new_simulator() -> spsim.Simulator:
    return spsim.Simulator.simple(3, libspu.ProtocolKind.ABY3, libspu.FieldType.FM64)


def party_traffic(fn, args: list[np.ndarray]) -> tuple[list[int] | None, list[int] | None]:
    """Bytes and messages each party sends while running ``fn``, largest first.

    The steps of ``Simulator.__call__``, with profiling on for every rank (the simulator keeps it
    for rank 0 only, and in 0.9.5 the trace flag is shared by the three ranks, so one profiled
    rank logs the line of whichever rank ends last). The log lines do not name the rank.
    """
    sim = new_simulator()
    names = [f"in{i}" for i in range(len(args))]
    executable, _ = spu_fe.compile(
        spu_fe.Kind.JAX, fn, args, {}, names, [libspu.Visibility.VIS_SECRET] * len(args),
        lambda outs: [f"out{i}" for i in range(len(outs))],
    )  # fmt: skip
    secret = libspu.Visibility.VIS_SECRET
    shares = [sim.io.make_shares(np.asarray(jnp.array(a)), secret) for a in args]
    desc = libspu.link.Desc()
    for rank in range(3):
        desc.add_party(f"id_{rank}", f"thread_{rank}")

    def party(rank: int) -> None:
        config = libspu.RuntimeConfig(sim.rt_config)
        config.enable_pphlo_profile = True
        rt = spu_api.Runtime(libspu.link.create_mem(desc, rank), config)
        for name, share in zip(names, shares, strict=True):
            rt.set_var(name, share[rank])
        rt.run(executable)

    with tempfile.TemporaryFile() as log:  # SPU logs to the C-level stdout
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            threads = [spsim.PropagatingThread(target=party, args=(r,)) for r in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        found = sorted(
            ((int(b), int(a)) for b, a in LINK_DETAILS.findall(log.read())), reverse=True
        )
    if len(found) != 3:
        return None, None
    return [b for b, _ in found], [a for _, a in found]


def measure(name: str, inputs: np.lib.npyio.NpzFile, repeat: int) -> dict:
    keys, fn, reference = OPS[name]
    args = [inputs[k] for k in keys]
    sim = new_simulator()
    call = spsim.sim_jax(sim, fn)
    out = np.asarray(call(*args))  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = np.asarray(call(*args))
        times.append(time.perf_counter() - start)
    ref = reference(*args)
    result = {"median_s": statistics.median(times), "min_s": min(times)}
    if ref.dtype == bool:
        result.update(
            wrong=int(np.sum(out.astype(bool) != ref)), max_abs_err=None, max_rel_err=None
        )
    else:
        err = float(np.max(np.abs(out.astype(np.float64) - ref)))
        result.update(max_abs_err=err, max_rel_err=err / float(np.max(np.abs(ref))))
    result["bytes_per_party"], result["send_actions_per_party"] = party_traffic(fn, args)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", required=True, help="npz with the benchmark inputs")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    inputs = np.load(args.inputs)
    ops = {}
    for name in OPS:
        ops[name] = measure(name, inputs, args.repeat)
        print(f"{name}: {ops[name]}", file=sys.stderr, flush=True)
    result = {"spu_version": spu.__version__, "protocol": "ABY3", "field": "FM64", "ops": ops}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()

"""trustroom's DCAP verifier side by side with Phala's dcap-qvl (Rust, via its PyPI wheel).

Both verify the same real quotes with the same collateral at the same instant, in one process,
interleaved round by round so that machine noise hits both alike. Reported per quote:

- dcap-qvl: ``dcap_qvl.verify(quote, collateral, now)``; its collateral object is built once,
  outside the timing, exactly as trustroom's is.
- trustroom warm: one ``Verifier`` reused for every call (what a key broker or relying party
  does); it skips signature checks of collateral and chains it has already verified, and still
  checks every validity window and the quote's own signature on each call.
- trustroom cold: a new ``Verifier`` for every call: all signatures checked every time.

Ratios: warm throughput / dcap-qvl throughput (target >= 2), and cold time / dcap-qvl time
(target <= 3). Medians over rounds. Run: ``make bench`` or
``.venv/bin/python benchmarks/evidence_vs_dcap_qvl.py [--rounds 15] [--calls 200]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dcap_qvl

from trustroom.evidence import DcapCollateral, Verifier

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "intel"
SAMPLES = {
    "sgx_v3_dcapqvl": datetime(2025, 7, 19, 10, 1, 17, tzinfo=UTC),
    "tdx_v4_dcapqvl": datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC),
}


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def bench(name: str, at: datetime, rounds: int, calls: int) -> dict[str, float]:
    quote = (VECTORS / f"{name}.quote").read_bytes()
    text = (VECTORS / f"{name}.collateral.json").read_text()
    ours = DcapCollateral.from_dcap_qvl_json(text)
    theirs = dcap_qvl.QuoteCollateralV3.from_json(text)
    now = int(at.timestamp())

    reference = dcap_qvl.verify(quote, theirs, now)
    warm = Verifier()
    result = warm.verify(quote, collateral=ours, at=at)
    assert result.verified and result.tcb_status == reference.status, (result, reference.status)
    assert sorted(result.advisory_ids) == sorted(reference.advisory_ids)

    times: dict[str, list[float]] = {"dcap-qvl": [], "warm": [], "cold": []}
    for _ in range(rounds):
        times["dcap-qvl"].append(per_call(lambda: dcap_qvl.verify(quote, theirs, now), calls))
        times["warm"].append(per_call(lambda: warm.verify(quote, collateral=ours, at=at), calls))
        times["cold"].append(
            per_call(lambda: Verifier().verify(quote, collateral=ours, at=at), calls // 4 or 1)
        )
    return {key: statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    print(f"dcap-qvl {dcap_qvl.__version__}, {args.rounds} rounds of {args.calls} calls")
    print(
        "| quote | dcap-qvl ms/verify | trustroom warm ms | trustroom cold ms "
        "| warm throughput vs dcap-qvl | cold time vs dcap-qvl |"
    )
    print("|---|---|---|---|---|---|")
    for name, at in SAMPLES.items():
        m = bench(name, at, args.rounds, args.calls)
        print(
            f"| {name} | {m['dcap-qvl'] * 1e3:.3f} | {m['warm'] * 1e3:.3f} | "
            f"{m['cold'] * 1e3:.3f} | {m['dcap-qvl'] / m['warm']:.2f}x | "
            f"{m['cold'] / m['dcap-qvl']:.2f}x |"
        )


if __name__ == "__main__":
    main()

"""Load on one key broker: concurrent clients each doing auth, attest and fetch.

A `trustroom kbs serve` process on loopback (``--workers`` uvicorn workers, default one),
with SQLite and then with PostgreSQL (the server `scripts/test-postgres` starts), receives
``--clients`` concurrent clients for ``--exchanges`` complete exchanges in all (bounded in
count, and in time by ``--timeout``). Each exchange is the whole protocol a workload runs at
start-up: POST auth, POST attest with simulated-TEE evidence bound to a fresh P-256 key, GET a
resource and decrypt its JWE. Reported per database: errors, p50/p99 latency of the exchange,
and throughput. By default the loop is closed (each client starts its next exchange when one
ends, which measures throughput); ``--rate N`` opens it (N exchanges start per second, each
timed from its arrival, which measures the latency a workload sees at that load).
Targets on 2 cores: zero errors, p50 at most 20 ms, at least 100 exchanges per second.

The load generator shares the 2 cores with the server (it makes the evidence and decrypts the
answers), so the figures are conservative. Its HTTP client is aiohttp on uvloop: httpx spent
about 18 ms of CPU per exchange here (aiohttp 4), which on shared cores was taken from the
server.
Run: ``.venv/bin/python benchmarks/kbs_load.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kbs_server import running_broker, sim_policy, write_keys

from trustroom.kbs import KbsAdmin, attestation_message, decrypt_response, new_tee_key
from trustroom.tee import SimAttester, SimWorkload

MRENCLAVE = hashlib.sha256(b"kbs load workload").digest()
POLICY = sim_policy(MRENCLAVE.hex())


async def exchange(
    http: aiohttp.ClientSession, url: str, attester: SimAttester, start: float
) -> float:
    async with http.post(f"{url}/kbs/v0/auth", json={"version": "0.4.0", "tee": "sim"}) as auth:
        auth.raise_for_status()
        nonce = (await auth.json())["nonce"]
        cookie = {"Cookie": f"kbs-session-id={auth.cookies['kbs-session-id'].value}"}
    key = new_tee_key()
    message = attestation_message(attester, nonce, key)
    async with http.post(f"{url}/kbs/v0/attest", json=message, headers=cookie) as attest:
        attest.raise_for_status()
        await attest.read()
    async with http.get(f"{url}/kbs/v0/resource/default/key/1", headers=cookie) as resource:
        resource.raise_for_status()
        jwe = await resource.json()
    if decrypt_response(key, jwe) != b"load-test secret":
        raise RuntimeError("wrong secret")
    return time.perf_counter() - start


async def load(
    url: str, clients: int, exchanges: int, timeout: float, rate: float = 0.0
) -> dict[str, float]:
    """Closed loop (``rate`` 0: each client starts its next exchange when one ends), or open
    loop: exchanges arrive at ``rate`` per second whether or not earlier ones are done, and
    each is timed from its arrival, so time spent waiting for a free client counts."""
    attester = SimAttester(SimWorkload(MRENCLAVE, b"\x02" * 32))
    latencies: list[float] = []
    errors = 0
    remaining = exchanges
    deadline = time.monotonic() + timeout
    origin = 0.0  # set when the clock starts

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            if rate:
                arrival = origin + (exchanges - remaining - 1) / rate
                await asyncio.sleep(max(0.0, arrival - time.perf_counter()))
            else:
                arrival = time.perf_counter()
            try:
                latencies.append(await exchange(http, url, attester, arrival))
            except (aiohttp.ClientError, RuntimeError, KeyError) as exc:
                errors += 1
                print(f"error: {exc!r}", file=sys.stderr)

    # One HTTP client (one connection) per simulated workload, made before the clock starts.
    # Idle connections are dropped before the server's 5 s keep-alive ends, as KbsClient does;
    # the session cookie is sent by hand, so no cookie jar carries one exchange's to the next.
    https = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=2.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        for _ in range(clients)
    ]
    try:
        origin = time.perf_counter()
        await asyncio.gather(*(client(http) for http in https))
        elapsed = time.perf_counter() - origin
    finally:
        await asyncio.gather(*(http.close() for http in https))
    latencies.sort()
    return {
        "exchanges": len(latencies),
        "errors": errors,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
        "per_second": len(latencies) / elapsed,
    }


def run(db_url: str, work: Path, args: argparse.Namespace) -> dict[str, float]:
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(work, admin_key)
    home = work / "home"
    os.environ["TRUSTROOM_HOME"] = str(home)  # the load generator's simulated TEE: the host's
    broker = running_broker(
        db_url, home, public, resource_key, workers=args.workers, threads=args.threads
    )
    with broker as url:
        with KbsAdmin(url, admin_key) as admin:
            admin.set_resource("default", "key", "1", b"load-test secret")
            admin.set_policy(POLICY)
            admin.set_reference_values(
                {"name": "load", "tee": ["sim"], "measurements": {"mrenclave": [MRENCLAVE.hex()]}}
            )
        uvloop.run(load(url, args.clients, args.clients, args.timeout))  # warm-up
        return uvloop.run(load(url, args.clients, args.exchanges, args.timeout, args.rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--exchanges", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--threads", type=int, default=2, help="server threads per worker")
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="open loop: exchanges started per second (default 0: closed loop)",
    )  # fmt: skip
    args = parser.parse_args()
    pg = subprocess.run(
        [str(Path(__file__).resolve().parent.parent / "scripts" / "test-postgres")],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    loop = f"open loop at {args.rate:g} exchanges/s" if args.rate else "closed loop"
    print(
        f"{args.clients} clients, {args.exchanges} exchanges per database, {loop}, "
        f"{args.workers} server worker(s) of {args.threads} threads"
    )
    print("| database | exchanges | errors | p50 ms | p99 ms | exchanges/s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in (("SQLite", f"sqlite:///{tmp}/kbs.db"), ("PostgreSQL", pg)):
            work = Path(tmp) / name
            work.mkdir()
            r = run(url, work, args)
            print(
                f"| {name} | {r['exchanges']:.0f} | {r['errors']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['per_second']:.0f} |"
            )


if __name__ == "__main__":
    main()

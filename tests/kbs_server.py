"""For broker tests and benchmarks: `trustroom kbs serve` as a real process on loopback, and
the development policy they install."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def sim_policy(mrenclave: str) -> str:
    """A dev policy: the sim TEE, this measurement (hex), every other appraisal rule held."""
    return f"""package policy
import rego.v1
default allow := false
cpu0 := input.submods.cpu0
allow if {{
    data.plugin == "resource"
    cpu0["ear.veraison.annotated-evidence"].sim.measurements.mrenclave == "{mrenclave}"
    every r in cpu0["trustroom.reasons"] {{ r.rule == "simulated_tee" }}
}}
reasons contains "measurement differs" if {{
    cpu0["ear.veraison.annotated-evidence"].sim.measurements.mrenclave != "{mrenclave}"
}}
"""


def write_keys(directory: Path, admin_key: ed25519.Ed25519PrivateKey) -> tuple[Path, Path]:
    """The admin public key and a resource key, as the operator would provide them."""
    public = directory / "admin.pub"
    public.write_bytes(
        admin_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    resource_key = directory / "resource.key"
    resource_key.write_text(os.urandom(32).hex())
    return public, resource_key


def free_port() -> int:
    """A loopback port nothing listens on (for a server to take, or to find closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_broker(
    db_url: str,
    home: Path,
    admin_public: Path,
    resource_key: Path,
    *,
    workers: int = 1,
    threads: int = 2,
) -> Iterator[str]:
    """A broker (``workers`` processes of ``threads`` threads) on a free loopback port; yields
    its URL, stops it."""
    port = free_port()
    env = {**os.environ, "TRUSTROOM_HOME": str(home)}
    command = [
        sys.executable, "-c", "from trustroom.cli.kbs import app; app()", "serve",
        "--db", db_url, "--port", str(port), "--admin-key", str(admin_public),
        "--resource-key", str(resource_key), "--trust-sim",
        "--workers", str(workers), "--threads", str(threads),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/healthz").is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the broker did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)

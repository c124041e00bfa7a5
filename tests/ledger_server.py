"""`trustroom ledger serve` as a real process on a loopback port, for the tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from kbs_server import free_port


@contextmanager
def serving(
    db_url: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """The server process on ``db_url`` (with ``env`` added to its environment) and a client
    of it, once it answers; stops it."""
    port = free_port()
    command = [sys.executable, "-m", "trustroom", "ledger", "serve",
               "--db", db_url, "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(150):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("the ledger server did not start")
            yield server, client
    finally:
        server.terminate()
        server.wait(timeout=10)

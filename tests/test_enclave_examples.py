"""The enclave examples, end to end as a user runs them: built, run under the sim runner with
a real key broker process releasing each one's secret, refused once their code changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from kbs_server import free_port, running_broker, sim_policy, write_keys

from trustroom.enclave import build
from trustroom.evidence import Verifier
from trustroom.kbs import KbsAdmin
from trustroom.tee import SimPlatform

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "enclave"

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
    pytest.mark.skipif(not Path("/usr/bin/python3.11").exists(), reason="Debian 12 paths"),
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KbsAdmin, Path]]:
    folder = tmp_path_factory.mktemp("broker")
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(folder, admin_key)
    home = folder / "home"  # the broker's and the runner's: one simulated platform
    database = f"sqlite:///{folder / 'kbs.db'}"
    with (
        running_broker(database, home, public, resource_key) as url,
        KbsAdmin(url, admin_key) as admin,
    ):
        admin.set_resource("default", "api-key", "1", b"k" * 24)
        admin.set_resource("default", "model-key", "1", b"m" * 16)
        admin.set_resource("default", "api-token", "1", b"t" * 40)
        yield url, admin, home


def prepared(name: str, tmp_path: Path, broker: tuple[str, KbsAdmin, Path]) -> Path:
    """A copy of the example, built, and the broker's policy accepting its measurement."""
    folder = Path(shutil.copytree(EXAMPLES / name, tmp_path / name))
    if (folder / "hello.c").exists():
        subprocess.run(["cc", "-O2", "-o", "hello", "hello.c"], cwd=folder, check=True)
    image = build(folder)
    image.save()
    _, admin, _ = broker
    measurement = image.measurement.hex()
    admin.set_policy(sim_policy(measurement))
    admin.set_reference_values(
        {"name": name, "tee": ["sim"], "measurements": {"mrenclave": [measurement]}}
    )
    return folder


def run(folder: Path, broker: tuple[str, KbsAdmin, Path]) -> subprocess.CompletedProcess[str]:
    url, _, home = broker
    environment = {**os.environ, "TRUSTROOM_HOME": str(home), "TRUSTROOM_KBS_URL": url}
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.fuse
def test_sealed_state_survives_restarts_as_ciphertext(
    tmp_path: Path, broker: tuple[str, KbsAdmin, Path]
) -> None:
    folder = prepared("sealed-state", tmp_path, broker)
    outputs = [run(folder, broker) for _ in range(2)]
    assert [o.stdout for o in outputs] == [
        "run 1; api key of 24 bytes; log has 1 lines\n",
        "run 2; api key of 24 bytes; log has 2 lines\n",
    ], outputs[-1].stderr
    stored = b"".join(p.read_bytes() for p in (folder / "state").rglob("*") if p.is_file())
    assert stored and b"confidential work" not in stored and b"kkkkkkkk" not in stored


def test_python_workers_and_children(tmp_path: Path, broker: tuple[str, KbsAdmin, Path]) -> None:
    folder = prepared("python-workers", tmp_path, broker)
    result = run(folder, broker)
    assert result.stdout == ("squares: [16, 17, 20, 25, 32]\nchild sees a key of 16 bytes\n"), (
        result.stderr
    )


def test_c_program_and_what_a_change_costs(
    tmp_path: Path, broker: tuple[str, KbsAdmin, Path]
) -> None:
    folder = prepared("c-program", tmp_path, broker)
    result = run(folder, broker)
    assert result.stdout == "hello from C; the token has 40 bytes\n", result.stderr
    before = build(folder).measurement
    (folder / "hello.c").write_text((folder / "hello.c").read_text().replace("hello", "bye"))
    subprocess.run(["cc", "-O2", "-o", "hello", "hello.c"], cwd=folder, check=True)
    refused = run(folder, broker)  # not rebuilt: the changed binary is named
    assert refused.returncode == 1 and "trusted_file_changed" in refused.stderr
    assert "/app/hello" in refused.stderr and refused.stdout == ""
    image = build(folder)
    image.save()
    assert image.measurement != before
    denied = run(folder, broker)  # rebuilt: the broker knows only the old measurement
    assert denied.returncode == 1 and "policy_denied" in denied.stderr and denied.stdout == ""


@pytest.mark.skipif(
    not Path("/usr/lib/python3/dist-packages/flask").exists(), reason="needs python3-flask"
)
def test_a_flask_service_answers_and_attests(
    tmp_path: Path, broker: tuple[str, KbsAdmin, Path]
) -> None:
    folder = prepared("flask-service", tmp_path, broker)
    url, admin, home = broker
    admin.set_resource("default", "session-secret", "1", b"s" * 32)
    port = free_port()
    environment = {
        **os.environ, "TRUSTROOM_HOME": str(home), "TRUSTROOM_KBS_URL": url, "PORT": str(port)
    }  # fmt: skip
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder)]
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as server:
        try:
            for _ in range(200):
                try:
                    reply = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, server.stderr.read() if server.stderr else ""
                    time.sleep(0.05)
            assert reply.json() == {"service": "flask in an enclave", "secret_bytes": 32}
            quote = httpx.get(f"http://127.0.0.1:{port}/evidence?nonce=abc", timeout=10).content
            collateral = SimPlatform(home / "sim").collateral()
            verified = Verifier(trust_sim=True).verify(quote, collateral=collateral)
            assert verified.measurements["mrenclave"] == build(folder).measurement.hex()
            nonce = hashlib.sha256(b"abc").hexdigest()[:32].encode()
            assert bytes.fromhex(verified.report_data) == nonce.ljust(64, b"\0")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

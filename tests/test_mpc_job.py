"""`trustroom mpc party`: each party a separate `trustroom` process started on its own, as on
separate hosts, meeting through a job file; and job files that cannot work, refused clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kbs_server import free_port
from typer.testing import CliRunner

from trustroom import mpc
from trustroom.cli import app

SCRIPT = """
import numpy as np

def main(ctx):
    x = ctx.input(0, np.array([3.0, -1.5]) if ctx.rank == 0 else None)
    y = ctx.input(1, np.array([0.5, 2.0]) if ctx.rank == 1 else None)
    return ctx.reveal(x * y + 1).tolist()
"""


def write_job(directory: Path, protocol: str, processes: int, *, keys: bool = True) -> Path:
    lines = [f'protocol = "{protocol}"', "timeout = 30", "connect_timeout = 60"]
    for rank in range(processes):
        result = CliRunner().invoke(
            app, ["mpc", "keygen", f"org{rank}", "--out-dir", str(directory)]
        )
        assert result.exit_code == 0, result.output
        lines += ["[[parties]]", 'host = "127.0.0.1"', f"port = {free_port()}",
                  f'certificate = "org{rank}.pem"']  # fmt: skip
        if keys:
            lines.append(f'key = "org{rank}.key"')
    path = directory / "job.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("protocol", "processes"), [("aby3", 3), ("semi2k", 3)])
def test_parties_started_separately_compute_together(
    tmp_path: Path, protocol: str, processes: int
) -> None:
    job = write_job(tmp_path, protocol, processes)
    script = tmp_path / "job_script.py"
    script.write_text(SCRIPT)
    command = [sys.executable, "-m", "trustroom", "mpc", "party", str(script), "--config", str(job)]
    started = [
        subprocess.Popen(
            [*command, "--rank", str(rank)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "COLUMNS": "200"},
        )
        for rank in reversed(range(processes))  # in any order
    ]  # fmt: skip
    outputs = [process.communicate(timeout=120) for process in started]
    for process, (_, err) in zip(started, outputs, strict=True):
        assert process.returncode == 0, err
    printed = sorted(out.strip() for out, _ in outputs)
    computing = processes if protocol == "aby3" else 2
    expected = [f"party {rank}: [2.5, -2.0]" for rank in range(computing)]
    assert printed == sorted(expected + ["party 2: done"] * (processes - computing))


def test_job_files_that_cannot_work_are_refused_with_the_reason(tmp_path: Path) -> None:
    job = write_job(tmp_path, "aby3", 3, keys=False)
    loaded = mpc.Job.load(job)
    with pytest.raises(mpc.JobInvalid, match="no private key for party 1"):
        mpc.run_job(lambda ctx: None, loaded, 1)
    with pytest.raises(mpc.JobInvalid, match="is not the key of party 1"):
        mpc.run_job(lambda ctx: None, loaded, 1, tmp_path / "org0.key")
    with pytest.raises(mpc.JobInvalid, match="rank 3 is not a party"):
        mpc.run_job(lambda ctx: None, loaded, 3, tmp_path / "org0.key")
    cases = {
        'protocol = "spdz"\n': "no protocol 'spdz'",
        'protocol = "semi2k"\n[[parties]]\nhost = "h"\nport = 1\ncertificate = "org0.pem"\n':
            "semi2k runs 3 processes",
        'protocol = "aby3"\n' + '[[parties]]\nhost = "h"\nport = 0\ncertificate = "org0.pem"\n' * 3:
            "'port' must be a TCP port number",
        'protocol = "aby3"\n' + '[[parties]]\nhost = "h"\nport = 9\ncertificate = "org0.key"\n' * 3:
            "is not a PEM certificate",
        "protocol = [": "is not valid TOML",
    }  # fmt: skip
    for text, message in cases.items():
        job.write_text(text)
        with pytest.raises(mpc.JobInvalid, match=message) as caught:
            mpc.Job.load(job)
        assert caught.value.code == "mpc_job_invalid"
    command = ["mpc", "party", str(job), "--config", str(job), "--rank", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "trustroom", *command], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "mpc_job_invalid" in result.stderr
    assert "Traceback" not in result.stderr


MRENCLAVE = "ab" * 32


def attested_job(directory: Path, mrenclave: str) -> Path:
    """A job whose party 2 made its key in the (simulated) TEE, expected to run MRENCLAVE."""
    job = write_job(directory, "aby3", 3)
    result = CliRunner().invoke(app, [
        "mpc", "keygen", "org2", "--out-dir", str(directory), "--attested", "--sim",
        "--mrenclave", MRENCLAVE, "--mrsigner", "cd" * 32,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    with job.open("a") as out:
        out.write(
            f'[parties.expect]\ntee = ["sim"]\nallow_sim = true\n'
            f'measurements = {{ mrenclave = ["{mrenclave}"] }}\n'
        )
    return job


def test_a_party_in_a_tee_is_checked_against_the_job_before_anyone_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))  # the simulated TEE's host
    script = tmp_path / "job_script.py"
    script.write_text(SCRIPT)
    job = attested_job(tmp_path, MRENCLAVE)
    command = [sys.executable, "-m", "trustroom", "mpc", "party", str(script), "--config", str(job)]
    started = [
        subprocess.Popen([*command, "--rank", str(rank)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for rank in range(3)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=120) for process in started]
    assert [p.returncode for p in started] == [0, 0, 0], outputs
    assert all(out.strip().endswith("[2.5, -2.0]") for out, _ in outputs)

    elsewhere = attested_job(tmp_path / "other", "ef" * 32)  # expects other code
    with pytest.raises(mpc.PeerRejected, match=r"party 2's certificate.*mrenclave is ab") as caught:
        mpc.run_job(lambda ctx: None, mpc.Job.load(elsewhere), 0)
    assert caught.value.code == "mpc_peer_rejected"
    plain = write_job(tmp_path / "plain", "aby3", 3)  # a certificate without evidence
    with plain.open("a") as out:
        out.write("[parties.expect]\nallow_sim = true\n")
    with pytest.raises(mpc.PeerRejected, match="party 2's certificate"):
        mpc.run_job(lambda ctx: None, mpc.Job.load(plain), 0)
    plain.write_text(plain.read_text().replace("allow_sim", "allow_simulation"))
    with pytest.raises(mpc.JobInvalid, match=r"unknown keys \['allow_simulation'\]"):
        mpc.Job.load(plain)

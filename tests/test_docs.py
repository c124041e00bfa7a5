"""The examples in the user docs run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kbs_server import free_port

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [
    pytest.param(block, id=f"{page.name}#{n}")
    for page in sorted(DOCS.glob("*.md"))
    for n, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


@pytest.mark.parametrize("code", BLOCKS)
def test_python_examples_run(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(DOCS.parent)
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    exec(compile(code, "<docs>", "exec"), {})


@pytest.mark.slow
def test_kbs_shell_walkthrough_runs(tmp_path: Path) -> None:
    """docs/kbs.md's shell session, with real processes: refused, then released."""
    (block,) = re.findall(r"```bash\n(openssl genpkey.*?)```", (DOCS / "kbs.md").read_text(), re.S)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TRUSTROOM_HOME": str(tmp_path / "home"),
    }
    # The trap stops the server if a step fails before the walkthrough's own kill.
    script = "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + block.replace("8080", str(port))
    result = subprocess.run(
        ["bash", "-euc", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "policy_denied" in result.stderr
    assert '"allow": false' in result.stdout  # admin explain, for another measurement
    assert result.stdout.strip().endswith("shhhhhhh")


@pytest.mark.fuse
def test_sealfs_shell_walkthrough_runs(tmp_path: Path) -> None:
    """docs/sealfs.md's shell session, mount included."""
    (block,) = re.findall(r"```bash\n(printf.*?)```", (DOCS / "sealfs.md").read_text(), re.S)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-euc", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout and '"version": 3' in result.stdout
    assert "1,cat" in result.stdout
    assert "unmounted" in result.stdout


def test_enclave_shell_walkthrough_runs(tmp_path: Path) -> None:
    """docs/enclave.md's quick start, as a user types it."""
    (block,) = re.findall(r"```bash\n(mkdir hello.*?)```", (DOCS / "enclave.md").read_text(), re.S)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TRUSTROOM_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        ["bash", "-euc", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    measurement = re.search(r"measurement ([0-9a-f]{64})", result.stdout)
    assert measurement is not None, result.stdout
    assert f"\n{measurement.group(1)}\n" in result.stdout  # `measure` agrees
    assert result.stdout.endswith("hello, world\n")  # `run`: the program, in its sandbox
    assert '"mrenclave"' in result.stdout and "signing key" in result.stderr

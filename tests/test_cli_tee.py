"""`trustroom tee` and `trustroom evidence verify --trust-sim`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trustroom.cli import app

runner = CliRunner()
SIM = ["--sim", "--mrenclave", "11" * 32, "--mrsigner", "22" * 32, "--isv-svn", "2"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _evidence(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "quote.bin"
    result = runner.invoke(
        app, ["tee", "evidence", "--report-data", "ab" * 64, "--out", str(out), *SIM, *extra]
    )
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.stdout
    return out


def test_sim_evidence_verifies_with_trust_sim_and_no_other_argument(tmp_path: Path) -> None:
    quote = _evidence(tmp_path)
    result = runner.invoke(app, ["evidence", "verify", str(quote), "--trust-sim", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["verified"] and out["tee"] == "sim"
    assert out["measurements"]["mrenclave"] == "11" * 32
    assert out["report_data"] == "ab" * 64


def test_sim_evidence_is_refused_without_trust_sim(tmp_path: Path, home: Path) -> None:
    quote = _evidence(tmp_path)
    collateral = home / "sim" / "collateral.json"
    result = runner.invoke(
        app, ["evidence", "verify", str(quote), "--collateral", str(collateral), "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["code"] == "untrusted_root"


def test_human_output_says_simulated(tmp_path: Path) -> None:
    quote = _evidence(tmp_path)
    result = runner.invoke(app, ["evidence", "verify", str(quote), "--trust-sim"])
    assert result.exit_code == 0
    assert "SIMULATED TEE" in result.stdout


def test_evidence_to_stdout_is_hex(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tee", "evidence", "--report-data", "00" * 64, *SIM])
    assert result.exit_code == 0
    assert bytes.fromhex(result.stdout.strip())[:2] == b"\x03\x00"


def test_seal_and_unseal_files(tmp_path: Path) -> None:
    plain, sealed, back = tmp_path / "plain.txt", tmp_path / "sealed.bin", tmp_path / "back.txt"
    plain.write_text("attack at dawn")
    assert runner.invoke(app, ["tee", "seal", str(plain), str(sealed), *SIM]).exit_code == 0
    assert b"attack" not in sealed.read_bytes()
    assert runner.invoke(app, ["tee", "unseal", str(sealed), str(back), *SIM]).exit_code == 0
    assert back.read_text() == "attack at dawn"
    other = ["--sim", "--mrenclave", "33" * 32, "--mrsigner", "22" * 32]
    result = runner.invoke(app, ["tee", "unseal", str(sealed), str(back), *other])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert getattr(result.exception, "code", None) == "sealed_data_invalid"


@pytest.mark.parametrize(
    "command",
    [
        ["tee", "evidence", "--report-data", "00" * 64, "--sim"],
        # The broker client chooses its TEE as the tee commands do, before any network call.
        ["kbs", "get-resource", "http://127.0.0.1:9", "default/key/1", "--sim"],
        ["kbs", "get-resource", "http://127.0.0.1:9", "default/key/1"],
    ],
)
def test_the_simulated_tee_needs_a_declared_workload(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trustroom.tee._local.detect_hardware", lambda: None)
    result = runner.invoke(app, command)
    assert getattr(result.exception, "code", None) == "tee_unavailable"


def test_detect(home: Path) -> None:
    result = runner.invoke(app, ["tee", "detect", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "SIMULATED" in out["sim"]["note"]
    assert Path(out["sim"]["root"]).exists()
    assert isinstance(out["hardware"], list)

"""The `trustroom ratls` command line, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from vector_loader import ROOT

from trustroom.cli.ratls import app

runner = CliRunner()
MRENCLAVE = "5e" * 32
GRAMINE = ROOT / "ratls" / "gramine-cert.pem"


@pytest.fixture(autouse=True)
def sim_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _cert(out: Path, *extra: str) -> dict:
    result = runner.invoke(
        app, ["cert", "--out-dir", str(out), "--tee", "sim", "--mrenclave", MRENCLAVE, *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in extra else {}


def _inspect(*args: str | Path) -> tuple[int, dict]:
    result = runner.invoke(app, ["inspect", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_cert_writes_key_and_certificate(tmp_path: Path) -> None:
    out = _cert(tmp_path / "id", "--json")
    assert out["tee"] == "sim" and out["measurements"]["mrenclave"] == MRENCLAVE
    assert (tmp_path / "id" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert out["certificate"] == str(tmp_path / "id" / "cert.pem")
    assert set(out) == {"key", "certificate", "tee", "measurements", "public_key_sha256",
                        "not_after"}  # fmt: skip


def test_cert_human_output_says_simulated(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["cert", "--out-dir", str(tmp_path), "--tee", "sim", "--mrenclave", MRENCLAVE]
    )
    assert result.exit_code == 0 and "SIMULATED" in result.output


def test_inspect_sim_certificate(tmp_path: Path) -> None:
    _cert(tmp_path)
    code, out = _inspect(tmp_path / "cert.pem", "--trust-sim")
    assert code == 0
    assert {"evidence_format", "tee", "pubkey_bound", "measurements", "verified",
            "errors"} <= set(out)  # fmt: skip
    assert (out["verified"], out["tee"], out["pubkey_bound"]) == (True, "sim", True)
    assert out["evidence_format"] == "tcg-dice" and out["errors"] == []
    assert out["measurements"]["mrenclave"] == MRENCLAVE


def test_inspect_sim_certificate_without_trust_sim(tmp_path: Path) -> None:
    _cert(tmp_path)
    code, out = _inspect(tmp_path / "cert.pem")
    assert code == 1 and out["verified"] is False
    assert [e["code"] for e in out["errors"]] == ["untrusted_root"]
    human = runner.invoke(app, ["inspect", str(tmp_path / "cert.pem")])
    assert human.exit_code == 1
    assert "not verified" in human.output and "untrusted_root" in human.output
    assert "SIMULATED" in human.output


def test_inspect_after_expiry(tmp_path: Path) -> None:
    _cert(tmp_path, "--days", "1")
    code, out = _inspect(tmp_path / "cert.pem", "--trust-sim", "--at", "2099-01-01T00:00:00Z")
    assert code == 1
    assert "ratls_certificate_expired" in [e["code"] for e in out["errors"]]


def test_inspect_gramine_certificate() -> None:
    code, out = _inspect(GRAMINE)
    assert code == 1
    assert (out["evidence_format"], out["tee"], out["pubkey_bound"]) == ("tcg-dice", "sgx", True)
    assert out["formats"] == ["tcg-dice", "gramine-legacy"]
    assert [e["code"] for e in out["errors"]] == ["collateral_missing"]
    code, legacy = _inspect(GRAMINE, "--format", "gramine-legacy")
    assert legacy["evidence_format"] == "gramine-legacy" and legacy["pubkey_bound"] is True
    human = runner.invoke(app, ["inspect", str(GRAMINE)])
    assert "debug" in human.output.lower() and "gramine-legacy" in human.output


def test_inspect_garbage(tmp_path: Path) -> None:
    path = tmp_path / "junk.pem"
    path.write_bytes(b"junk")
    code, out = _inspect(path)
    assert code == 1 and out["errors"][0]["code"] == "ratls_certificate_unreadable"

"""`trustroom attestation verify-token`, as a user runs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from trustroom.attestation import Appraisal, SigningKeys, TokenIssuer
from trustroom.cli.attestation import app

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
AT = "2026-01-01T00:01:00Z"


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    keys = SigningKeys.generate(at=T0)
    appraisal = Appraisal(
        status="contraindicated",
        trust_vector={"hardware": 97, "runtime-opaque": 96, "executables": 2},
        tee="sim",
        reasons=[],
        annotated_evidence={"tee": "sim", "report_data": ""},
    )
    token = tmp_path / "token.jwt"
    token.write_text(TokenIssuer(keys).issue({"cpu0": appraisal}, at=T0) + "\n")
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        keys.current(T0).public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(T0)))
    return token, pem, jwks


def test_verify_token_json(tmp_path: Path) -> None:
    token, pem, jwks = _setup(tmp_path)
    for key in (pem, jwks):
        result = runner.invoke(
            app, ["verify-token", str(token), "--key", str(key), "--at", AT, "--json"]
        )
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["valid"] is True and out["status"] == "contraindicated"
        assert out["submods"]["cpu0"]["tee"] == "sim"
        assert out["submods"]["cpu0"]["trust_vector"]["hardware"] == 97


def test_verify_token_human(tmp_path: Path) -> None:
    token, pem, _ = _setup(tmp_path)
    result = runner.invoke(app, ["verify-token", str(token), "--key", str(pem), "--at", AT])
    assert result.exit_code == 0, result.output
    assert "token valid" in result.stdout and "SIMULATED" in result.stdout
    assert "hardware" in result.stdout


def test_invalid_token_exits_1(tmp_path: Path) -> None:
    token, pem, _ = _setup(tmp_path)
    late = (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = runner.invoke(
        app, ["verify-token", str(token), "--key", str(pem), "--at", late, "--json"]
    )
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["valid"] is False and out["error"]["code"] == "token_expired"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(SigningKeys.generate(at=T0).jwks(T0)))
    result = runner.invoke(app, ["verify-token", str(token), "--key", str(other), "--at", AT])
    assert result.exit_code == 1 and "token_untrusted_issuer" in result.output


def test_a_trust_anchor_is_required(tmp_path: Path) -> None:
    token, _, _ = _setup(tmp_path)
    result = runner.invoke(app, ["verify-token", str(token)])
    assert result.exit_code == 2

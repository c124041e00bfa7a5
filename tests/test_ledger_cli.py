"""`trustroom ledger`, as the acceptance checks and users run it."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trustroom.ledger import CosignatureSigner, Ledger, Receipt, cosign

DOCS = Path(__file__).resolve().parent.parent / "docs"


def ledger(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trustroom", "ledger", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TRUSTROOM_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def test_the_documented_walkthrough_runs(tmp_path: Path, env: dict[str, str]) -> None:
    (block,) = re.findall(
        r"```bash\n(trustroom ledger init.*?)```", (DOCS / "ledger.md").read_text(), re.S
    )
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        ["bash", "-euc", block],
        cwd=tmp_path, env={**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "SIMULATED TEE" in result.stdout
    assert '"index": 1' in result.stdout and '"valid": true' in result.stdout


def test_receipts_verify_with_the_two_files_alone_and_tampering_fails(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert ledger("init", "--db", db, "--origin", "example.org/cli", env=env).returncode == 0
    record = tmp_path / "r.json"
    record.write_text(json.dumps({"v": 1, "kind": "attestation-result", "tee": "sim",
                                  "status": "none", "token": "t"}))  # fmt: skip
    appended = ledger("append", "--db", db, "--record-file", record, "--json", env=env)
    assert json.loads(appended.stdout)["index"] == 1
    signed = ledger("checkpoint", "--db", db, env=env)
    assert signed.stdout.startswith("example.org/cli\n2\n") and "SIMULATED" in signed.stderr
    receipt, key = tmp_path / "receipt", tmp_path / "log.pub"
    assert ledger("receipt", "--db", db, "--index", 1, "--out", receipt, env=env).returncode == 0
    assert ledger("public-key", "--db", db, "--out", key, env=env).returncode == 0

    elsewhere = tmp_path / "offline"
    elsewhere.mkdir()
    (elsewhere / "receipt").write_bytes(receipt.read_bytes())
    (elsewhere / "log.pub").write_bytes(key.read_bytes())
    checked = ledger("verify-receipt", elsewhere / "receipt", "--log-key", elsewhere / "log.pub",
                     "--json", env={**env, "TRUSTROOM_HOME": str(elsewhere)})  # fmt: skip
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"] is True

    original = Receipt.parse(receipt.read_text())
    forged = dataclasses.replace(original, extra=original.extra.replace(b"none", b"good"))
    (elsewhere / "forged").write_text(forged.to_text())
    refused = ledger("verify-receipt", elsewhere / "forged", "--log-key", key, "--json", env=env)
    assert refused.returncode == 1 and json.loads(refused.stdout)["valid"] is False
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe not a receipt")
    refused = ledger("verify-receipt", garbage, "--log-key", key, "--json", env=env)
    assert refused.returncode == 1 and json.loads(refused.stdout)["valid"] is False


def test_verify_inclusion_checks_any_rfc9162_proof(tmp_path: Path, env: dict[str, str]) -> None:
    # Leaf 0 of the two-leaf tree ["", "\x00"]: its proof is the hash of leaf 1.
    import hashlib

    leaf0, leaf1 = b"", b"\x00"
    h0 = hashlib.sha256(b"\x00" + leaf0).digest()
    h1 = hashlib.sha256(b"\x00" + leaf1).digest()
    root = hashlib.sha256(b"\x01" + h0 + h1).digest()
    (tmp_path / "leaf").write_bytes(leaf0)
    args = ["verify-inclusion", "--leaf-file", tmp_path / "leaf", "--index", 0, "--tree-size", 2,
            "--root", base64.b64encode(root).decode()]  # fmt: skip
    good = ledger(*args, "--proof", base64.b64encode(h1).decode(), env=env)
    assert good.returncode == 0, good.stderr
    bad = ledger(*args, "--proof", base64.b64encode(h0).decode(), env=env)
    assert bad.returncode == 1 and "ledger_proof_invalid" in bad.stdout


def test_errors_have_codes_and_hints(tmp_path: Path, env: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    result = ledger("checkpoint", "--db", db, env=env)
    assert result.returncode == 1 and "ledger_log_not_found" in result.stderr
    assert "trustroom ledger init" in result.stderr and "Traceback" not in result.stderr


def test_verify_receipt_applies_a_witness_policy(tmp_path: Path, env: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert ledger("init", "--db", db, "--origin", "example.org/w", env=env).returncode == 0
    note = ledger("checkpoint", "--db", db, env=env).stdout
    witness, stranger = (CosignatureSigner.generate(n) for n in ("w1.example", "w2.example"))
    for signer in (witness, stranger):
        (tmp_path / signer.name).write_text(signer.verifier().vkey + "\n")
    Ledger(db).add_cosignatures(cosign(note, witness, at=1764201600), [witness.verifier()])
    assert (
        ledger("receipt", "--db", db, "--index", 0, "--out", tmp_path / "r", env=env).returncode
        == 0
    )
    assert ledger("public-key", "--db", db, "--out", tmp_path / "k", env=env).returncode == 0
    common = ["verify-receipt", tmp_path / "r", "--log-key", tmp_path / "k", "--json"]
    ok = ledger(*common, "--witness-key", tmp_path / "w1.example", "--witnesses", 1, env=env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["witnesses"] == ["w1.example"]
    short = ledger(*common, "--witness-key", tmp_path / "w2.example", "--witnesses", 1, env=env)
    assert short.returncode == 1
    assert json.loads(short.stdout)["code"] == "ledger_witness_policy_unmet"


def test_a_consortium_governs_from_the_command_line(tmp_path: Path, env: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'g.db'}"
    assert ledger("init", "--db", db, "--origin", "example.org/gov", env=env).returncode == 0
    keys = {}
    for name in ("bank", "retailer", "auditor"):
        keys[name] = tmp_path / f"{name}.key"
        made = ledger("member-key", "--name", name, "--out", keys[name], env=env)
        assert made.returncode == 0 and len(base64.b64decode(made.stdout)) == 32
        assert keys[name].stat().st_mode & 0o077 == 0
    founded = ledger("found", "--db", db, "--threshold", 2, "--rule", "add_member=3",
                     *(a for k in keys.values() for a in ("--key", k)), env=env)  # fmt: skip
    assert founded.returncode == 0, founded.stderr
    actions = tmp_path / "actions.json"
    actions.write_text(
        json.dumps([{"type": "set_policy", "name": "release", "digest": "sha256:" + "c" * 64}])
    )
    proposed = ledger("propose", "--db", db, "--key", keys["bank"], "--actions", actions, env=env)
    proposal = proposed.stdout.strip()
    assert proposed.returncode == 0 and proposal.startswith("sha256:")
    first = ledger("vote", proposal, "--db", db, "--key", keys["bank"], "--yes", env=env)
    assert "still open" in first.stdout
    second = ledger("vote", proposal, "--db", db, "--key", keys["auditor"], "--yes", env=env)
    assert "accepted" in second.stdout
    assert Ledger(db).consortium().policies == {"release": "sha256:" + "c" * 64}
    again = ledger("vote", proposal, "--db", db, "--key", keys["retailer"], "--no", env=env)
    assert again.returncode == 1 and "ledger_governance_refused" in again.stderr
    proof = json.loads(ledger("prove", "--db", db, "--index", 1, env=env).stdout)
    assert proof["index"] == 1 and proof["size"] == Ledger(db).size
    (tmp_path / "bad.key").write_text("not a key")
    bad = ledger("vote", proposal, "--db", db, "--key", tmp_path / "bad.key", "--yes", env=env)
    assert bad.returncode == 1 and "MEMBER+KEY+" in bad.stderr and "Traceback" not in bad.stderr

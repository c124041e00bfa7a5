"""`trustroom sealfs`, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trustroom.cli import app

runner = CliRunner()


@pytest.fixture
def vol(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    result = runner.invoke(app, ["sealfs", "init", str(tmp_path / "vol"), "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    return tmp_path / "vol", key


def sealfs(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, ["sealfs", *map(str, args)])
    return result.exit_code, result.output


def in_process(*args: object) -> subprocess.CompletedProcess[str]:
    """The real command, whose entry point turns library errors into code and hint."""
    command = [sys.executable, "-m", "trustroom", "sealfs", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_put_ls_get_rm(vol: tuple[Path, Path], tmp_path: Path) -> None:
    volume, key = vol
    data = os.urandom(100_000)
    (tmp_path / "in").write_bytes(data)
    assert sealfs("put", volume, tmp_path / "in", "/data/in.bin", "-k", key)[0] == 0
    code, out = sealfs("ls", volume, "-r", "--json", "-k", key)
    assert code == 0
    listing = {item["path"]: item for item in json.loads(out)}
    assert listing["/data"]["is_dir"] and listing["/data/in.bin"]["size"] == len(data)
    assert sealfs("get", volume, "/data/in.bin", tmp_path / "out", "-k", key)[0] == 0
    assert (tmp_path / "out").read_bytes() == data
    code, out = sealfs("rm", volume, "/data", "-k", key)
    assert code != 0 and "--recursive" in out
    assert sealfs("rm", volume, "/data", "-r", "-k", key)[0] == 0
    failed = in_process("get", volume, "/data/in.bin", tmp_path / "again", "-k", key)
    assert failed.returncode == 1 and "sealfs_not_found" in failed.stderr
    assert not (tmp_path / "again").exists()


def test_check_json_reports_version_and_errors(vol: tuple[Path, Path], tmp_path: Path) -> None:
    volume, key = vol
    (tmp_path / "in").write_bytes(b"x" * 50_000)
    sealfs("put", volume, tmp_path / "in", "/f", "-k", key)
    code, out = sealfs("check", volume, "-k", key, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["errors"] == []
    version = report["version"]
    assert version >= 2
    code, out = sealfs("check", volume, "-k", key, "--json", "--trusted-version", version + 1)
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert report["errors"][0]["code"] == "sealfs_volume_rolled_back"
    (obj,) = [p for p in (volume / "objects").rglob("*") if p.is_file()]
    data = bytearray(obj.read_bytes())
    data[4096 + 32768 + 100] ^= 1  # in the first data node
    obj.write_bytes(bytes(data))
    code, out = sealfs("check", volume, "-k", key, "--json")
    report = json.loads(out)
    assert code == 1
    assert report["errors"] == [
        {"code": "sealfs_node_invalid", "path": "/f", "message": report["errors"][0]["message"]}
    ]
    failed = in_process("get", volume, "/f", tmp_path / "out", "-k", key)
    assert failed.returncode == 1
    assert "sealfs_node_invalid" in failed.stderr and "hint" in failed.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.part").exists()


def test_check_of_a_volume_that_does_not_open(vol: tuple[Path, Path], tmp_path: Path) -> None:
    volume, _ = vol
    (tmp_path / "other").write_text("wrong passphrase\n")
    code, out = sealfs("check", volume, "-k", tmp_path / "other", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["errors"][0]["code"] == "sealfs_wrong_key"


def test_passphrase_key_file_and_stdin(tmp_path: Path) -> None:
    key = tmp_path / "pass"
    key.write_text("correct horse battery staple\n")
    volume = tmp_path / "vol"
    assert sealfs("init", volume, "-k", key)[0] == 0
    result = runner.invoke(
        app, ["sealfs", "put", str(volume), "-", "/note", "-k", str(key)], input=b"from stdin"
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sealfs", "get", str(volume), "/note", "-", "-k", str(key)])
    assert result.stdout_bytes == b"from stdin"


def test_help_reads_well() -> None:
    code, out = sealfs("--help")
    assert code == 0
    for verb in ("init", "put", "get", "ls", "rm", "check"):
        assert verb in out
    code, out = sealfs("check", "--help")
    assert "--trusted-version" in out and "--key-file" in out

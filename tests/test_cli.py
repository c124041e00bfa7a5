"""The `trustroom evidence` command line, as a user runs it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner
from vector_loader import ROOT, recorded_replies

from trustroom.cli import app

runner = CliRunner()
SGX = ROOT / "intel" / "sgx_v3_dcapqvl.quote"
SGX_COLLATERAL = ROOT / "intel" / "sgx_v3_dcapqvl.collateral.json"
TDX = ROOT / "intel" / "tdx_v4_dcapqvl.quote"
TDX_COLLATERAL = ROOT / "intel" / "tdx_v4_dcapqvl.collateral.json"


def verify(*args: str | Path) -> tuple[int, dict]:
    result = runner.invoke(app, ["evidence", "verify", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_verify_json_keys_and_exit_code() -> None:
    code, out = verify(SGX, "--collateral", SGX_COLLATERAL, "--at", "2025-07-19T10:01:17Z")
    assert code == 0
    assert out["verified"] is True and out["tee"] == "sgx"
    assert out["tcb_status"] == "ConfigurationAndSWHardeningNeeded"
    assert out["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert out["measurements"]["mrenclave"].startswith("33d8736d")
    assert out["errors"] == []
    assert set(out) >= {
        "tee",
        "verified",
        "tcb_status",
        "advisory_ids",
        "measurements",
        "report_data",
        "errors",
    }


def test_verify_tdx_measurement_names() -> None:
    code, out = verify(TDX, "--collateral", TDX_COLLATERAL, "--at", "2025-07-19T10:00:34Z")
    assert code == 0
    assert {"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"} <= set(out["measurements"])
    assert all(v == v.lower() for v in out["measurements"].values())


def test_verify_failure_exits_1_with_typed_errors() -> None:
    code, out = verify(SGX, "--collateral", SGX_COLLATERAL, "--at", "2025-09-01T00:00:00Z")
    assert code == 1
    assert out["verified"] is False
    assert {"code", "message"} <= set(out["errors"][0])
    assert "collateral_expired" in {e["code"] for e in out["errors"]}


def test_verify_without_collateral() -> None:
    code, out = verify(SGX)
    assert code == 1 and out["errors"][0]["code"] == "collateral_missing"


def test_human_output_names_the_verdict_and_hint() -> None:
    result = runner.invoke(
        app,
        [
            "evidence",
            "verify",
            str(SGX),
            "--collateral",
            str(SGX_COLLATERAL),
            "--at",
            "2025-09-01T00:00:00Z",
        ],
    )
    assert result.exit_code == 1
    assert "not verified" in result.stdout and "hint" in result.stdout
    assert "TCB info is expired" in " ".join(result.stdout.split())


def test_bad_time_is_a_usage_error() -> None:
    result = runner.invoke(app, ["evidence", "verify", str(SGX), "--at", "yesterday"])
    assert result.exit_code == 2
    assert "RFC 3339" in result.output


def test_show_json() -> None:
    result = runner.invoke(app, ["evidence", "show", str(TDX), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["format"] == "intel-dcap-tdx-quote-v4"
    assert data["trailing_bytes"] == 70


def test_show_human() -> None:
    result = runner.invoke(app, ["evidence", "show", str(SGX)])
    assert result.exit_code == 0
    assert "not verified" in result.stdout and "mrenclave" in result.stdout


@pytest.mark.parametrize(
    "args", [["evidence", "--help"], ["evidence", "verify", "--help"], ["--help"]]
)
def test_help_reads_well(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_garbage_file_gives_a_clean_error_not_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a quote at all")
    proc = subprocess.run(
        [sys.executable, "-m", "trustroom", "evidence", "show", str(garbage)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "unsupported_format" in proc.stderr and "hint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evidence", "verify", str(tmp_path / "nope.quote")])
    assert result.exit_code == 2


class _Pccs(BaseHTTPRequestHandler):
    """A PCCS on loopback serving the recorded Intel responses, and the root CRL at its own path."""

    replies = recorded_replies("sgx")

    def do_GET(self) -> None:
        path = self.path.replace("/sgx/certification/v4/rootcacrl", "/IntelSGXRootCA.der")
        reply = self.replies.get(path)
        if reply is None:
            self.send_error(404)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pccs() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pccs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_verify_fetching_from_a_pccs_then_from_the_cache(
    pccs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    code, out = verify(SGX, "--pccs", pccs, "--at", "2025-07-19T10:01:17Z")
    assert code == 0 and out["tcb_status"] == "ConfigurationAndSWHardeningNeeded"
    assert list((tmp_path / "cache" / "collateral").iterdir())
    # The PCCS is gone; the cached collateral still verifies.
    code, out = verify(SGX, "--pccs", "http://127.0.0.1:9", "--at", "2025-07-19T10:01:17Z")
    assert code == 0


def test_fetch_collateral_writes_files_for_offline_verification(
    pccs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    result = runner.invoke(
        app,
        ["evidence", "fetch-collateral", str(SGX), "--pccs", pccs, "--out", str(tmp_path / "c")],
    )
    assert result.exit_code == 0, result.output
    code, _ = verify(
        SGX, "--collateral", tmp_path / "c" / "collateral.json", "--at", "2025-07-19T10:01:17Z"
    )
    assert code == 0


SNP_V2 = ROOT / "amd" / "snp_v2_milan_gosev.report.bin"
SNP_V2_VCEK = ROOT / "amd" / "snp_v2_milan_gosev.vcek.der"
SNP_V3 = ROOT / "amd" / "snp_v3_milan_vlek_trustee.report.bin"
SNP_V3_VLEK = ROOT / "amd" / "snp_v3_milan_vlek_trustee.vlek.der"


def test_verify_snp_with_a_vcek() -> None:
    code, out = verify(SNP_V2, "--cert", SNP_V2_VCEK, "--at", "2025-01-01T00:00:00Z")
    assert code == 0, out["errors"]
    assert out["tee"] == "snp" and out["tcb_status"] is None
    assert bytes.fromhex(out["report_data"]) == bytes.fromhex("0102030405").ljust(64, b"\0")
    assert out["attributes"]["debug"] is True
    assert len(out["measurements"]["measurement"]) == 96


def test_verify_snp_with_the_chain_given() -> None:
    chain = ROOT / "amd" / "milan_ask_ark.pem"
    code, _ = verify(
        SNP_V2, "--cert", SNP_V2_VCEK, "--chain", chain, "--at", "2025-01-01T00:00:00Z"
    )
    assert code == 0


def test_verify_snp_stepping_expectation() -> None:
    code, out = verify(
        SNP_V2, "--cert", SNP_V2_VCEK, "--stepping", "12", "--at", "2025-01-01T00:00:00Z"
    )
    assert code == 1
    [error] = out["errors"]
    assert error["code"] == "expectation_failed"
    assert "stepping 12" in error["message"] and "stepping 0" in error["message"]


def test_verify_snp_vlek_outside_its_window_names_it() -> None:
    code, out = verify(SNP_V3, "--cert", SNP_V3_VLEK, "--at", "2025-12-11T00:00:00Z")
    assert code == 1
    [error] = out["errors"]
    assert error["code"] == "certificate_expired"
    assert "SEV-VLEK" in error["item"] and error["valid_until"] == "2025-12-10T22:14:21Z"
    code, _ = verify(SNP_V3, "--cert", SNP_V3_VLEK, "--at", "2025-06-01T00:00:00Z")
    assert code == 0


@pytest.mark.parametrize("encode", ["hex", "base64", "base64url"])
def test_evidence_as_text_is_decoded(tmp_path: Path, encode: str) -> None:
    raw = SGX.read_bytes()
    text = {
        "hex": raw.hex(),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }[encode]
    path = tmp_path / "quote.txt"
    path.write_text(text + "\n")
    code, out = verify(path, "--collateral", SGX_COLLATERAL, "--at", "2025-07-19T10:01:17Z")
    assert code == 0 and out["tee"] == "sgx"


def test_verify_snp_with_the_chain_in_either_order(tmp_path: Path) -> None:
    ask, ark = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                          (ROOT / "amd" / "milan_ask_ark.pem").read_bytes(), re.S)  # fmt: skip
    reversed_chain = tmp_path / "ark_ask.pem"
    reversed_chain.write_bytes(ark + ask)
    code, out = verify(
        SNP_V2, "--cert", SNP_V2_VCEK, "--chain", reversed_chain, "--at", "2025-01-01T00:00:00Z"
    )
    assert code == 0, out["errors"]


def test_truncated_snp_report_is_named_as_such(tmp_path: Path) -> None:
    cut = tmp_path / "cut.bin"
    cut.write_bytes(SNP_V2.read_bytes()[:0x300])
    code, out = verify(cut, "--cert", SNP_V2_VCEK)
    assert code == 1 and out["errors"][0]["code"] == "parse_error"
    assert "truncated" in out["errors"][0]["message"]

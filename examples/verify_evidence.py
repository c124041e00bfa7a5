"""Verify the real TEE evidence trustroom ships, and show what a failure looks like.

Run it with ``make demo`` (or ``python examples/verify_evidence.py``). Every sample is real:
quotes made by Intel SGX and TDX machines, attestation reports made by AMD EPYC CPUs, with the
collateral Intel and AMD published for them. Each one is checked offline against the vendor
roots bundled with trustroom, at a time when its collateral was current. Two more rows show
that a stale collateral set and a single changed byte are refused, with the reason.

The program exits 0 only if every verdict is the one the sample's origin project expects.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from trustroom.evidence import Collateral, VerificationResult, Verifier

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


@dataclass
class Sample:
    title: str
    evidence: Path
    collateral: Collateral
    at: datetime
    expect_verified: bool
    expect: str  # the TCB status when verified ("-" for SEV-SNP, which has none), else the error
    tamper_at: int | None = None


def _intel(name: str) -> tuple[Path, Collateral]:
    quote = VECTORS / "intel" / f"{name}.quote"
    text = (VECTORS / "intel" / f"{name}.collateral.json").read_text()
    return quote, Collateral.from_dcap_qvl_json(text)


def _amd(name: str, cert: str, chain: str) -> tuple[Path, Collateral]:
    vek = (VECTORS / "amd" / f"{name}.{cert}.der").read_bytes()
    return VECTORS / "amd" / f"{name}.report.bin", Collateral.from_snp_certificates(
        vek, chain=(VECTORS / "amd" / chain).read_bytes()
    )


def samples() -> list[Sample]:
    sgx, tdx = _intel("sgx_v3_dcapqvl"), _intel("tdx_v4_dcapqvl")
    milan = _amd("snp_v2_milan_gosev", "vcek", "milan_ask_ark.pem")
    vlek = _amd("snp_v3_milan_vlek_trustee", "vlek", "milan_asvk_ark.pem")
    sgx_at = datetime(2025, 7, 19, 10, 1, 17, tzinfo=UTC)
    tdx_at = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
    return [
        Sample("Intel SGX quote v3", *sgx, sgx_at, True, "ConfigurationAndSWHardeningNeeded"),
        Sample("Intel TDX quote v4", *tdx, tdx_at, True, "UpToDate"),
        Sample("AMD SEV-SNP v2, Milan VCEK", *milan, datetime(2025, 1, 1, tzinfo=UTC), True, "-"),
        Sample("AMD SEV-SNP v3, Milan VLEK", *vlek, datetime(2025, 6, 1, tzinfo=UTC), True, "-"),
        Sample(
            "SGX quote, a month later", *sgx, datetime(2025, 8, 19, tzinfo=UTC), False,
            "collateral_expired",
        ),
        Sample(
            "TDX quote, one byte changed", *tdx, tdx_at, False, "signature_invalid",
            tamper_at=0x238,  # first byte of the TD's report data
        ),
    ]  # fmt: skip


def verify(verifier: Verifier, sample: Sample) -> VerificationResult:
    data = bytearray(sample.evidence.read_bytes())
    if sample.tamper_at is not None:
        data[sample.tamper_at] ^= 0x01
    return verifier.verify(bytes(data), collateral=sample.collateral, at=sample.at)


def main() -> int:
    console = Console(highlight=False)
    console.print("[bold]trustroom: real TEE evidence, verified offline[/]\n")
    verifier = Verifier()
    all_ok = True
    for sample in samples():
        result = verify(verifier, sample)
        got = (result.tcb_status or "-") if result.verified else result.error_codes[0]
        ok = result.verified == sample.expect_verified and got == sample.expect
        all_ok &= ok
        name, value = next(iter(result.measurements.items()))
        mark = "[green]✔ verified[/]" if result.verified else "[red]✘ refused[/]"
        expected = "as expected" if ok else "[bold red]NOT AS EXPECTED[/]"
        console.print(f"{mark}  [bold]{sample.title}[/]  ({expected})")
        if result.verified:
            status = f"TCB status {result.tcb_status}; " if result.tcb_status else ""
            console.print(f"    {status}{name} {value[:16]}…")
        else:
            console.print(f"    {result.errors[0].code}: {result.errors[0].message}")
    if all_ok:
        console.print("\nEvery verdict matches what the evidence's origin project expects.")
        return 0
    console.print("\n[bold red]Some verdicts differ from the expected outcomes.[/]")
    return 1


if __name__ == "__main__":
    sys.exit(main())

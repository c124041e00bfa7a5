"""``trustroom tee``: the local TEE: what is here, evidence, sealed files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer

from trustroom.cli._options import (
    MRENCLAVE,
    MRSIGNER,
    PROD_ID,
    SIGNER,
    SIM,
    SIM_NOTE,
    SVN,
    WORKLOAD,
    attester_for,
)
from trustroom.cli._output import console, print_json
from trustroom.tee import (
    SealPolicy,
    SimPlatform,
    describe,
    seal,
    unseal,
)

app = typer.Typer(
    help="The local TEE: detect it, produce evidence, seal and unseal files.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def detect(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Show which TEE interfaces this machine offers, and the simulated TEE's platform."""
    sim = SimPlatform.default()
    fingerprint = hashlib.sha256(sim.root.tbs_certificate_bytes).hexdigest()
    report: dict[str, Any] = {
        "hardware": describe(),
        "sim": {
            "directory": str(sim.directory),
            "root": str(sim.directory / "root.pem"),
            "root_fingerprint": fingerprint,
            "note": SIM_NOTE,
        },
    }
    if as_json:
        print_json(report)
        return
    for probe in report["hardware"]:
        mark = "[green]✔[/]" if probe.get("usable") else "[dim]✘[/]"
        console.print(f"{mark} {probe.get('name')}: {probe.get('detail', '')}")
    console.print(f"[yellow]✔ sim[/]: {SIM_NOTE}; state in {sim.directory}")


@app.command()
def evidence(
    report_data: str = typer.Option(..., "--report-data", help="64 bytes of hex to bind."),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of stdout (hex)."),
    workload: Path | None = WORKLOAD,
    mrenclave: str | None = MRENCLAVE,
    mrsigner: str | None = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    sim: bool = SIM,
) -> None:
    """Produce evidence (a quote or report) binding 64 bytes of report data."""
    try:
        data = bytes.fromhex(report_data)
    except ValueError as exc:
        raise typer.BadParameter("--report-data is hex") from exc
    attester = attester_for(workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=sim)
    blob = attester.evidence(data)
    if out is None:
        print(blob.hex())
    else:
        out.write_bytes(blob)
        note = f" ({SIM_NOTE})" if attester.tee == "sim" else ""
        console.print(f"wrote {attester.tee} evidence to {out}{note}")


@app.command("seal")
def seal_file(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="File to seal."),
    target: Path = typer.Argument(..., help="Where to write the sealed file."),
    policy: SealPolicy = typer.Option(SealPolicy.MEASUREMENT, "--policy", help="Who may unseal."),
    label: str = typer.Option("", "--label", help="Context bound into the key."),
    workload: Path | None = WORKLOAD,
    mrenclave: str | None = MRENCLAVE,
    mrsigner: str | None = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    sim: bool = SIM,
) -> None:
    """Encrypt a file so only this workload (or its signer's) on this platform can read it."""
    attester = attester_for(workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=sim)
    target.write_bytes(seal(attester, source.read_bytes(), policy=policy, label=label.encode()))
    console.print(f"sealed {source} to {target} ({policy.value} policy, {attester.tee})")


@app.command("unseal")
def unseal_file(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Sealed file."),
    target: Path = typer.Argument(..., help="Where to write the plaintext."),
    workload: Path | None = WORKLOAD,
    mrenclave: str | None = MRENCLAVE,
    mrsigner: str | None = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    sim: bool = SIM,
) -> None:
    """Decrypt a sealed file; fails without output if it was altered or sealed elsewhere."""
    attester = attester_for(workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=sim)
    data = unseal(attester, source.read_bytes())
    target.write_bytes(data)
    console.print(f"unsealed {source} to {target}")

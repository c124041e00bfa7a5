"""``trustroom ratls``: make RA-TLS certificates and inspect other peers' ones."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from rich.table import Table

from trustroom._core.timeutil import format_time
from trustroom.cli._options import (
    MRENCLAVE,
    MRSIGNER,
    PROD_ID,
    SIGNER,
    SIM_NOTE,
    SVN,
    WORKLOAD,
    attester_for,
    parse_at,
)
from trustroom.cli._output import console, print_errors, print_json
from trustroom.evidence import DcapCollateral, Verifier
from trustroom.ratls import RaTlsResult, create_certificate, inspect_certificate, write_identity

app = typer.Typer(
    help="Attested TLS: certificates carrying TEE evidence (interoperable RA-TLS format).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class TeeChoice(StrEnum):
    AUTO = "auto"
    SIM = "sim"


class FormatChoice(StrEnum):
    TCG_DICE = "tcg-dice"
    GRAMINE_LEGACY = "gramine-legacy"
    INTEL_LEGACY = "intel-legacy"


@app.command()
def cert(
    out_dir: Path = typer.Option(..., "--out-dir", file_okay=False, help="Directory to write."),
    tee: TeeChoice = typer.Option(
        TeeChoice.AUTO, "--tee", help="auto: the hardware TEE if found, else sim; sim: simulated."
    ),
    subject: str = typer.Option("trustroom RA-TLS", "--subject", help="Certificate common name."),
    days: int = typer.Option(7, "--days", min=1, help="Days the certificate stays valid."),
    workload: Path | None = WORKLOAD,
    mrenclave: str | None = MRENCLAVE,
    mrsigner: str | None = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Make a key and a self-signed RA-TLS certificate; write key.pem (0600) and cert.pem.

    The certificate carries evidence from this machine's TEE binding the key. The simulated TEE
    measures the workload you declare and protects nothing.
    """
    attester = attester_for(
        workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=tee is TeeChoice.SIM
    )
    key, certificate = create_certificate(attester, subject=subject, validity=timedelta(days=days))
    write_identity(out_dir, key, certificate)
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    report = {
        "key": str(out_dir / "key.pem"),
        "certificate": str(out_dir / "cert.pem"),
        "tee": attester.tee,
        "measurements": attester.measurements(),
        "public_key_sha256": hashlib.sha256(spki).hexdigest(),
        "not_after": format_time(certificate.not_valid_after_utc),
    }
    if as_json:
        print_json(report)
        return
    note = f" [yellow]({SIM_NOTE})[/]" if attester.tee == "sim" else ""
    console.print(f"wrote {report['key']} and {report['certificate']}: {attester.tee}{note}")


@app.command()
def inspect(
    certificate: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="Certificate, PEM or DER."
    ),
    trust_sim: bool = typer.Option(
        False, "--trust-sim", help="Accept the simulated TEE's evidence (it protects nothing)."
    ),
    collateral: Path | None = typer.Option(
        None,
        "--collateral",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Intel collateral for the certificate's quote, dcap-qvl QuoteCollateralV3 JSON.",
    ),
    at: str | None = typer.Option(None, "--at", help="Evaluate at this RFC 3339 time."),
    evidence_format: FormatChoice | None = typer.Option(
        None, "--format", help="Check this evidence extension instead of the preferred one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Verify an RA-TLS certificate: key binding, evidence, validity; exit 0 only if verified."""
    result = inspect_certificate(
        certificate.read_bytes(),
        verifier=Verifier(trust_sim=trust_sim),
        collateral=(
            DcapCollateral.from_dcap_qvl_json(collateral.read_bytes()) if collateral else None
        ),
        at=parse_at(at),
        evidence_format=evidence_format.value if evidence_format else None,
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_result(result)
    raise typer.Exit(0 if result.verified else 1)


def _print_result(result: RaTlsResult) -> None:
    when = result.to_dict()["evaluated_at"]
    if result.verified:
        console.print(f"[bold green]✔ verified[/]  RA-TLS certificate ({result.tee}) at {when}")
    else:
        console.print(f"[bold red]✘ not verified[/]  RA-TLS certificate at {when}")
    if result.tee == "sim":
        console.print(f"[bold yellow]warning[/]: {SIM_NOTE}")
    if result.evidence is not None and result.evidence.attributes.get("debug"):
        console.print(
            "[bold yellow]warning[/]: this TEE runs in debug mode; its memory is open to the host"
        )
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(overflow="fold")
    others = [f for f in result.formats if f != result.evidence_format]
    also = f" [dim](also carries {', '.join(others)})[/]" if others else ""
    table.add_row("evidence_format", result.evidence_format + also)
    table.add_row("tee", result.tee)
    table.add_row("pubkey_bound", "yes" if result.pubkey_bound else "[red]no[/]")
    if result.evidence is not None and result.evidence.tcb_status:
        table.add_row("tcb_status", result.evidence.tcb_status)
    table.add_row("subject", result.subject or "-")
    if result.not_before and result.not_after:
        valid = f"{result.not_before:%Y-%m-%d %H:%M} .. {result.not_after:%Y-%m-%d %H:%M} UTC"
        table.add_row("valid", valid)
    for name, value in result.measurements.items():
        table.add_row(name, value)
    console.print(table)
    print_errors(result.errors)

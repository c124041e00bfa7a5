"""``trustroom evidence``: parse and verify TEE evidence from files."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trustroom.cli._options import parse_at
from trustroom.cli._output import console, print_errors, print_json
from trustroom.evidence import (
    Collateral,
    DcapCollateral,
    SnpCollateral,
    VerificationResult,
    Verifier,
    is_evidence,
    is_sim_evidence,
    parse,
)
from trustroom.evidence.sources import (
    INTEL_PCS_URL,
    AmdKds,
    CachedSource,
    CollateralSource,
    DefaultSource,
    IntelPcs,
    default_cache_dir,
)
from trustroom.tee import sim_collateral

app = typer.Typer(
    help="Parse and verify TEE evidence: Intel SGX/TDX DCAP quotes, AMD SEV-SNP reports.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _file_argument(help_text: str) -> Any:
    return typer.Argument(..., exists=True, dir_okay=False, readable=True, help=help_text)


def _file_option(flag: str, help_text: str) -> Any:
    return typer.Option(None, flag, exists=True, dir_okay=False, readable=True, help=help_text)


_EVIDENCE_FILE = "Quote or attestation report: raw, hex or base64."
_NAMES = {
    "sgx": "Intel SGX",
    "tdx": "Intel TDX",
    "snp": "AMD SEV-SNP",
    "sim": "Simulated SGX",
    "unknown": "Evidence",
}


def _read_evidence(path: Path) -> bytes:
    """The evidence in ``path``: raw bytes, or the same as hex or base64 text.

    Quotes and reports travel as text as often as not (JSON fields, logs, cloud APIs); text is
    decoded only when the raw bytes are not evidence and the decoded bytes are.
    """
    data = path.read_bytes()
    if is_evidence(data):
        return data
    text = data.strip()
    for decode in (bytes.fromhex, _base64):
        try:
            decoded = decode(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            continue
        if is_evidence(decoded):
            return decoded
    return data


def _base64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "==", validate=False)


def _collateral(
    collateral: Path | None, cert: Path | None, chain: Path | None, crl: Path | None
) -> Collateral | None:
    if collateral is not None:
        return DcapCollateral.from_dcap_qvl_json(collateral.read_bytes())
    if cert is not None:
        return SnpCollateral(
            vek=cert.read_bytes(),
            chain=chain.read_bytes() if chain else None,
            crl=crl.read_bytes() if crl else None,
        )
    if chain is not None or crl is not None:
        raise typer.BadParameter("--chain and --crl go with --cert (the VCEK or VLEK)")
    return None


def _source(pccs: str | None, product: str | None) -> CollateralSource:
    return CachedSource(
        DefaultSource(IntelPcs(pccs or INTEL_PCS_URL), AmdKds(product=product)),
        default_cache_dir(),
    )


_PCCS = typer.Option(
    None, "--pccs", help="Fetch Intel collateral from this PCCS instead of Intel PCS."
)


@app.command()
def verify(
    file: Path = _file_argument(_EVIDENCE_FILE),
    collateral: Path | None = _file_option(
        "--collateral", "Intel collateral, dcap-qvl QuoteCollateralV3 JSON."
    ),
    cert: Path | None = _file_option(
        "--cert", "SEV-SNP: the VCEK or VLEK certificate (DER or PEM)."
    ),
    chain: Path | None = _file_option(
        "--chain", "SEV-SNP: ASK/ASVK + ARK PEM (default: bundled AMD roots)."
    ),
    crl: Path | None = _file_option("--crl", "SEV-SNP: AMD KDS CRL."),
    at: str | None = typer.Option(
        None, "--at", help="Evaluate at this RFC 3339 time instead of now."
    ),
    product: str | None = typer.Option(
        None, "--product", help="SEV-SNP: require this product (Milan, Genoa, Turin)."
    ),
    stepping: int | None = typer.Option(
        None, "--stepping", help="SEV-SNP: require this CPU stepping."
    ),
    fetch: bool = typer.Option(
        False, "--fetch", help="Fetch missing collateral from Intel PCS / AMD KDS (cached)."
    ),
    pccs: str | None = _PCCS,
    trust_sim: bool = typer.Option(
        False,
        "--trust-sim",
        help="Accept evidence of trustroom's SIMULATED TEE (development only: it protects "
        "nothing). Its collateral is found on the host that made it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Verify evidence against the vendor roots; exit 0 only if it verified.

    The TEE type is detected from the bytes. Nothing is fetched from the network unless you
    ask with --fetch or --pccs; otherwise pass the collateral files.
    """
    data = _read_evidence(file)
    when = parse_at(at)
    given = _collateral(collateral, cert, chain, crl)
    if given is None and trust_sim and is_sim_evidence(data):
        given = sim_collateral(when)
    if given is None and (fetch or pccs):
        given = _source(pccs, product).collateral_for(data)
    result = Verifier(trust_sim=trust_sim).verify(
        data,
        collateral=given,
        at=when,
        product=product,
        stepping=stepping,
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_result(result)
    raise typer.Exit(0 if result.verified else 1)


@app.command("fetch-collateral")
def fetch_collateral(
    file: Path = _file_argument(_EVIDENCE_FILE),
    out: Path = typer.Option(..., "--out", file_okay=False, help="Directory to write into."),
    pccs: str | None = _PCCS,
    product: str | None = typer.Option(
        None, "--product", help="SEV-SNP: product line for v2 reports (Milan, Genoa, Turin)."
    ),
) -> None:
    """Fetch the collateral for evidence from Intel PCS, a PCCS or AMD KDS, into --out.

    Writes collateral.json (Intel) or vek.der, chain.pem and crl.der (AMD), ready for
    `trustroom evidence verify` on a machine without network access. Nothing is verified here.
    """
    got = _source(pccs, product).collateral_for(_read_evidence(file))
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(got, DcapCollateral):
        (out / "collateral.json").write_text(got.to_dcap_qvl_json())
        console.print(f"wrote {out / 'collateral.json'}; verify with --collateral")
        return
    assert isinstance(got, SnpCollateral)
    files = {"vek.der": got.vek, "chain.pem": got.chain, "crl.der": got.crl}
    for name, content in files.items():
        if content is not None:
            (out / name).write_bytes(content)
    console.print(f"wrote {', '.join(n for n, c in files.items() if c)} into {out}; verify with "
                  "--cert vek.der --chain chain.pem")  # fmt: skip


@app.command()
def show(
    file: Path = _file_argument(_EVIDENCE_FILE),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print the parsed fields of evidence, without verifying anything."""
    evidence = parse(_read_evidence(file))
    data = evidence.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{_NAMES[evidence.tee]}[/] {evidence.format} [dim](not verified)[/]")
    _print_mapping(data)


def _print_mapping(data: dict[str, Any], title: str | None = None) -> None:
    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(overflow="fold")
    nested: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            table.add_row(key, _text(value))
    if table.row_count:
        console.print(table)
    for key, value in nested:
        console.print()
        _print_mapping(value, title=f"[bold]{key}[/]")


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, str) and len(value) > 8 and set(value) == {"0"}:
        return f"[dim]all zero ({len(value) // 2} bytes)[/]"
    return "-" if value is None or value == "" else str(value)


def _print_result(result: VerificationResult) -> None:
    name = _NAMES.get(result.tee, result.tee)
    when = result.to_dict()["evaluated_at"]
    if result.tee == "sim":
        console.print(
            "[bold yellow]SIMULATED TEE[/]: this evidence comes from trustroom's simulator, "
            "not from TEE hardware; it protects nothing."
        )
    if result.verified:
        console.print(f"[bold green]✔ verified[/]  {name} ({result.format}) at {when}")
    else:
        console.print(f"[bold red]✘ not verified[/]  {name} ({result.format}) at {when}")
        print_errors(result.errors)
    if result.tcb_status:
        advisories = ", ".join(result.advisory_ids) or "none"
        unattested = "" if result.verified else " [dim](not attested: verification failed)[/]"
        console.print(
            f"TCB status [bold]{result.tcb_status}[/]; advisories: {advisories}{unattested}"
        )
    if result.attributes.get("debug"):
        console.print(
            "[bold yellow]warning[/]: this TEE runs in debug mode; its memory is open to the host"
        )
    if result.measurements:
        console.print()
        _print_mapping({**result.measurements, "report_data": result.report_data}, "measurements")
    if result.platform:
        console.print()
        _print_mapping(dict(result.platform), "platform")

"""``trustroom attestation``: check attestation-result (EAR) tokens."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.table import Table

from trustroom.attestation import TokenClaims, TokenError, verify_token
from trustroom.attestation._jws import thumbprint
from trustroom.cli._options import parse_at
from trustroom.cli._output import console, print_error, print_json

app = typer.Typer(
    help="Attestation results: verify EAR tokens issued by trustroom, Trustee or Veraison.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.callback()
def _attestation() -> None:
    """Attestation results: verify EAR tokens issued by trustroom, Trustee or Veraison."""


_STYLE = {"affirming": "green", "warning": "yellow", "contraindicated": "red", "none": "dim"}


def _file_option(flag: str, help_text: str) -> Any:
    return typer.Option(None, flag, exists=True, dir_okay=False, readable=True, help=help_text)


def _load_ca(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not an X.509 certificate: {exc}") from exc


def _load_key(path: Path) -> Mapping[str, Any]:
    """A JWKS (JSON), or a public key or certificate (PEM) keyed by its RFC 7638 thumbprint."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        try:
            jwks = json.loads(data)
        except ValueError as exc:
            raise typer.BadParameter(f"{path} is not JSON: {exc}") from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise typer.BadParameter(f'{path} is not a JSON Web Key Set ({{"keys": [...]}})')
        return jwks
    try:
        if b"CERTIFICATE" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not a PEM public key or certificate: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise typer.BadParameter(f"{path} does not hold an EC public key (ES256 needs P-256)")
    return {thumbprint(key): key}


@app.command("verify-token")
def verify_token_command(
    token_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="File holding the EAR JWT."
    ),
    ca: Path | None = _file_option("--ca", "Trust keys certified by this CA (PEM or DER)."),
    key: Path | None = _file_option(
        "--key", "Trust this key: public key PEM, certificate PEM, or a JWKS JSON file."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Evaluate at this RFC 3339 time instead of now."
    ),
    audience: str | None = typer.Option(None, "--audience", help="Require this `aud`."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Verify an EAR attestation-result token; exit 0 only if it is valid.

    Valid means signed by a trusted key (--key) or through an x5c chain anchored at --ca, and
    within its lifetime. A valid token may still say `contraindicated`: read its status.
    """
    if ca is None and key is None:
        raise typer.BadParameter("pass --ca or --key: the key inside a token proves nothing")
    token = token_file.read_text().strip()
    try:
        claims = verify_token(
            token,
            keys=_load_key(key) if key is not None else None,
            ca=_load_ca(ca) if ca is not None else None,
            at=parse_at(at),
            audience=audience,
        )
    except TokenError as exc:
        if as_json:
            print_json({"valid": False, "status": None, "error": exc.to_dict()})
        else:
            console.print("[bold red]✘ token not valid[/]")
            print_error(exc)
        raise typer.Exit(1) from None
    if as_json:
        print_json({"valid": True, **claims.to_dict()})
    else:
        _print_claims(claims)


def _print_claims(claims: TokenClaims) -> None:
    style = _STYLE.get(claims.status, "bold")
    console.print(f"[bold green]✔ token valid[/]  status [{style}]{claims.status}[/]")
    console.print(
        f"issuer {claims.issuer or '-'}, key {claims.kid or '(no kid)'}, valid until "
        f"{claims.to_dict()['expires_at']}"
    )
    for name, submod in claims.submods.items():
        console.print()
        tee = submod.tee or "unknown TEE"
        sim = " [bold yellow](SIMULATED TEE: protects nothing)[/]" if submod.tee == "sim" else ""
        table = Table(
            title=f"[bold]{name}[/] {tee}: [{_STYLE.get(submod.status, 'bold')}]"
            f"{submod.status}[/]{sim}",
            show_header=False,
            box=None,
            pad_edge=False,
            title_justify="left",
        )
        table.add_column(style="cyan", no_wrap=True)
        table.add_column()
        for claim, value in submod.trust_vector.items():
            table.add_row(claim, str(value))
        console.print(table)

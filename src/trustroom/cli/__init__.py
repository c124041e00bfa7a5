"""The ``trustroom`` command line: argument parsing and printing, nothing else.

Each area of trustroom has one module here (``trustroom <area> <verb>``). Library errors are
caught once, in :func:`main`, and printed with their code and hint instead of a traceback.
"""

from __future__ import annotations

import sys

import typer

from trustroom import __version__
from trustroom._core.errors import TrustroomError
from trustroom.cli import attestation, enclave, evidence, kbs, ratls, sealfs, tee
from trustroom.cli._output import print_error

app = typer.Typer(
    name="trustroom",
    help="Confidential computing: verify TEE evidence, attest, seal, compute jointly, prove.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(evidence.app, name="evidence")
app.add_typer(tee.app, name="tee")
app.add_typer(ratls.app, name="ratls")
app.add_typer(attestation.app, name="attestation")
app.add_typer(kbs.app, name="kbs")
app.add_typer(sealfs.app, name="sealfs")
app.add_typer(enclave.app, name="enclave")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trustroom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """trustroom: protect data while it is computed on, and prove what touched it."""


def main() -> None:
    """Entry point of the ``trustroom`` command."""
    try:
        app()
    except TrustroomError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)

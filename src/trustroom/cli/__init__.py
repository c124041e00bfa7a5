"""The ``trustroom`` command line: argument parsing and printing, nothing else.

Each area of trustroom has one module here (``trustroom <area> <verb>``). Library errors are
caught once, in :func:`main`, and printed with their code and hint instead of a traceback.
A command imports only its own area, so that starting one (an enclave, say) does not pay for
every library trustroom has.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import typer

from trustroom import __version__
from trustroom._core.errors import TrustroomError
from trustroom.cli._output import print_error

__all__ = ["app", "main"]

_AREAS = ("evidence", "tee", "ratls", "attestation", "kbs", "sealfs", "enclave")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trustroom {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """trustroom: protect data while it is computed on, and prove what touched it."""


@functools.cache
def _application(*areas: str) -> typer.Typer:
    application = typer.Typer(
        name="trustroom",
        help="Confidential computing: verify TEE evidence, attest, seal, compute jointly, prove.",
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    application.callback()(_root)
    for area in areas:
        module = importlib.import_module(f"trustroom.cli.{area}")
        application.add_typer(module.app, name=area)
    return application


def __getattr__(name: str) -> Any:
    if name == "app":  # every area: what `trustroom --help` lists and the tests drive
        return _application(*_AREAS)
    raise AttributeError(name)


def main() -> None:
    """Entry point of the ``trustroom`` command."""
    chosen = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in _AREAS else None
    application = _application(chosen) if chosen else _application(*_AREAS)
    try:
        application()
    except TrustroomError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)

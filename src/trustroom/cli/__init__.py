"""The ``trustroom`` command line: argument parsing and printing, nothing else.

Each area of trustroom has one module here (``trustroom <area> <verb>``). Library errors are
caught once, in :func:`main`, and printed with their code and hint instead of a traceback.
A command imports only its own area, so that starting one does not pay for every library
trustroom has; ``trustroom enclave run`` skips the command-line framework too (see
:mod:`trustroom.cli._quick`), as it sits in front of every program start.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import TYPE_CHECKING, Any

from trustroom import __version__
from trustroom._core.errors import TrustroomError

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]

_AREAS = (
    "evidence", "tee", "ratls", "attestation", "kbs", "sealfs", "enclave", "mpc", "ledger",
    "cleanroom",
)  # fmt: skip


@functools.cache
def _application(*areas: str) -> typer.Typer:
    import typer

    def version(value: bool) -> None:
        if value:
            typer.echo(f"trustroom {__version__}")
            raise typer.Exit()

    application = typer.Typer(
        name="trustroom",
        help="Confidential computing: verify TEE evidence, attest, seal, compute jointly, prove.",
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @application.callback()
    def root(
        show_version: bool = typer.Option(
            False, "--version", callback=version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """trustroom: protect data while it is computed on, and prove what touched it."""

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
    arguments = sys.argv[1:]
    try:
        if arguments[:2] == ["enclave", "run"]:
            from trustroom.cli._quick import enclave_run

            status = enclave_run(arguments[2:])
            if status is not None:
                sys.exit(status)
        chosen = arguments[0] if arguments and arguments[0] in _AREAS else None
        (_application(chosen) if chosen else _application(*_AREAS))()
    except TrustroomError as exc:
        from trustroom.cli._output import print_error

        print_error(exc)
        sys.exit(exc.exit_code)

"""``trustroom mpc``: run a multi-party computation script."""

from __future__ import annotations

from pathlib import Path

import typer

from trustroom.cli._output import console

app = typer.Typer(
    help="Secret-sharing multi-party computation: parties compute on data none of them sees.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.callback()
def _mpc() -> None:
    """Secret-sharing multi-party computation: parties compute on data none of them sees.

    A script defines `main(ctx)`; every party runs it, `ctx.input` shares a party's array and
    `ctx.reveal` opens a result (docs/mpc.md).
    """


@app.command()
def run(
    script: Path = typer.Argument(..., exists=True, dir_okay=False,
                                  help="Python file with main(ctx)."),
    protocol: str = typer.Option(
        "aby3", "--protocol",
        help="aby3 (three parties, honest majority) or semi2k (two parties and a dealer).",
    ),
    parties: int = typer.Option(None, "--parties", min=2,
                                help="Number of parties (default: the protocol's)."),
    transport: str = typer.Option(
        "tcp", "--transport", help="tcp: a process per party over TLS; mem: threads of one process."
    ),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1,
                                  help="Seconds a party waits for another."),
) -> None:  # fmt: skip
    """Run every party of SCRIPT on this machine and print each party's result."""
    from trustroom.mpc import ScriptMain, launch

    results = launch(
        ScriptMain(str(script.resolve())), protocol, parties, transport, timeout=timeout
    )
    for rank, result in enumerate(results):
        console.print(f"party {rank}: {result}")

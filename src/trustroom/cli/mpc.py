"""``trustroom mpc``: run a multi-party computation script."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
from trustroom.cli._output import console, err_console

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


@app.command()
def party(
    script: Path = typer.Argument(..., exists=True, dir_okay=False,
                                  help="Python file with main(ctx), the same at every party."),
    config: Path = typer.Option(..., "--config", exists=True, dir_okay=False,
                                help="The job file: protocol, and every party's address and "
                                "certificate (docs/mpc.md)."),
    rank: int = typer.Option(..., "--rank", min=0, help="This party's place in the job file."),
    key: Path = typer.Option(None, "--key", exists=True, dir_okay=False,
                             help="This party's private key (default: the job file's 'key')."),
) -> None:  # fmt: skip
    """Run one party of a job whose parties are on different hosts, and print its result.

    Every organisation runs this with its own rank; the parties connect to each other (TLS
    with pinned certificates) in whatever order they start. For semi2k the last rank is the
    dealer, which runs no script.
    """
    from trustroom.mpc import Job, ScriptMain, run_job

    job = Job.load(config)
    result = run_job(ScriptMain(str(script.resolve())), job, rank, key)
    console.print(f"party {rank}: {result}" if result is not None else f"party {rank}: done")


@app.command()
def keygen(
    name: str = typer.Argument(..., help="The party's name: files NAME.pem and NAME.key."),
    out_dir: Path = typer.Option(Path("."), "--out-dir", file_okay=False,
                                 help="Where to write them."),
    days: int = typer.Option(365, "--days", min=1, help="How long the certificate is valid."),
    attested: bool = typer.Option(
        False, "--attested",
        help="Make the key in this TEE, in an RA-TLS certificate whose evidence binds it (the "
        "other parties then check it against the job file's 'expect').",
    ),
    workload: Path = WORKLOAD,
    mrenclave: str = MRENCLAVE,
    mrsigner: str = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    sim: bool = SIM,
) -> None:  # fmt: skip
    """Make a party's certificate (to share) and private key (to keep): self-signed, or with
    `--attested` an RA-TLS certificate from this TEE (hardware if found, else the simulated
    one running the declared workload)."""
    from cryptography.hazmat.primitives import serialization

    from trustroom._core.files import write_atomically
    from trustroom.mpc import new_identity
    from trustroom.ratls import create_certificate

    if attested:
        attester = attester_for(
            workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=sim
        )
        if attester.tee == "sim":
            err_console.print(f"[yellow]{SIM_NOTE}[/]")
        key, made = create_certificate(
            attester, subject=f"trustroom mpc {name}", validity=timedelta(days=days)
        )
        certificate = made.public_bytes(serialization.Encoding.PEM)
        private_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        certificate, private_key = new_identity(name, days=days)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / f"{name}.key", private_key, mode=0o600)
    write_atomically(out_dir / f"{name}.pem", certificate, mode=0o644)
    console.print(f"wrote {out_dir / (name + '.pem')} (give it to the other parties) and "
                  f"{out_dir / (name + '.key')} (keep it)")  # fmt: skip

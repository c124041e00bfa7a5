"""``trustroom cleanroom``: jobs several parties run on data none of them hands over."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustroom.cli._output import console, print_json

if TYPE_CHECKING:
    from trustroom.cleanroom._client import CoordinatorClient
    from trustroom.ledger import LedgerClient, MemberKey

app = typer.Typer(
    help="Clean-room jobs: owners' data, a provider's program, sealed results, receipts.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
job_app = typer.Typer(help="Submit and follow jobs.", no_args_is_help=True)
app.add_typer(job_app, name="job")


@app.callback()
def _cleanroom() -> None:
    """Clean-room jobs: owners' data, a provider's program, sealed results, receipts.

    Owners seal their tables and approve a job spec; the job runs in an attested enclave
    (tee) or by MPC between the owners (mpc); outputs leave sealed to their recipients; every
    step is a ledger entry, and each recipient checks its receipt offline. See
    docs/cleanroom.md.
    """


def _coordinator_option() -> Any:
    return typer.Option(
        "http://127.0.0.1:8095", "--coordinator", envvar="TRUSTROOM_COORDINATOR",
        help="The coordinator's URL.",
    )  # fmt: skip


def _ledger_option() -> Any:
    return typer.Option(
        "http://127.0.0.1:8090", "--ledger", envvar="TRUSTROOM_LEDGER_URL",
        help="The ledger's URL (trustroom ledger serve).",
    )  # fmt: skip


def _key_option(what: str) -> Any:
    return typer.Option(..., "--key", exists=True, dir_okay=False, help=f"Your member key {what}.")


def _member(path: Path) -> MemberKey:
    from trustroom.ledger import MemberKey

    return MemberKey.from_text(path.read_text())


def _client(url: str) -> CoordinatorClient:
    from trustroom.cleanroom._client import CoordinatorClient

    return CoordinatorClient(url)


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A progress display of a job's steps, each with its elapsed time, shown from the first
    step on; the callable that starts the next step."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(finished_text="✔"), TextColumn("{task.description}"),
               TimeElapsedColumn())  # fmt: skip
    progress = Progress(*columns, console=console)
    current: list[Any] = []

    def finish_current() -> None:
        if current:
            progress.update(current[0], completed=1, total=1)

    def start(step: str) -> None:
        if not current:
            progress.start()
        finish_current()
        current[:] = [progress.add_task(step, total=None)]

    try:
        yield start
        finish_current()
    finally:
        if current:
            progress.stop()


def _ledger(url: str, member: MemberKey | None = None) -> LedgerClient:
    from trustroom.ledger import LedgerClient

    return LedgerClient(url, member)


@app.command()
def coordinator(
    key: Path = _key_option("(the coordinator logs jobs as this member)"),
    ledger: str = _ledger_option(),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL (default: SQLite)."),
    kbs: str | None = typer.Option(None, "--kbs", help="The key broker TEE jobs get keys from."),
    kbs_admin_key: Path | None = typer.Option(
        None,
        "--kbs-admin-key",
        exists=True,
        dir_okay=False,
        help="The broker's admin key (Ed25519 PEM): the coordinator writes its release policy.",
    ),
    allow_sim: bool = typer.Option(
        False, "--allow-sim", help="Release keys to the simulated TEE (it protects nothing)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8095, "--port", help="Port to listen on."),
) -> None:
    """Serve the coordinator: datasets, jobs, approvals; work for workers and parties."""
    import uvicorn
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from trustroom.cleanroom._app import create_app
    from trustroom.cleanroom._coordinator import Coordinator
    from trustroom.kbs import KbsAdmin

    admin = None
    if kbs is not None and kbs_admin_key is not None:
        admin_key = load_pem_private_key(kbs_admin_key.read_bytes(), password=None)
        admin = KbsAdmin(kbs, admin_key)  # type: ignore[arg-type]
    service = Coordinator(db, ledger=_ledger(ledger, _member(key)), kbs=admin, allow_sim=allow_sim)
    console.print(f"coordinator on http://{host}:{port}, logging to {ledger}")
    if allow_sim:
        console.print("[bold yellow]SIMULATED TEE allowed[/]: keys go to sim enclaves too.")
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


@app.command()
def worker(
    kbs: str = typer.Option(..., "--kbs", help="The key broker enclaves attest to."),
    coordinator_url: str = _coordinator_option(),
    ledger: str = _ledger_option(),
    workdir: Path = typer.Option(Path("."), "--workdir", help="Where jobs are unpacked."),
    name: str = typer.Option("worker", "--name", help="This worker's name, for the logs."),
    once: bool = typer.Option(False, "--once", help="Run at most one job, then stop."),
) -> None:
    """Run approved TEE jobs in enclaves (the sim runner, here), one after the other."""
    from trustroom._core.errors import TrustroomError
    from trustroom.cleanroom._runner import work_once

    workdir.mkdir(parents=True, exist_ok=True)
    console.print(
        "[bold yellow]SIMULATED TEE[/]: this worker runs jobs with the sim runner, which "
        "protects nothing against this host."
    )
    with _client(coordinator_url) as client, _ledger(ledger) as log:
        while True:
            try:
                with _steps() as on_step:
                    done = work_once(
                        client, log, kbs=kbs, workdir=workdir, name=name, on_step=on_step
                    )
            except TrustroomError as exc:
                console.print(f"[red]job failed[/]: {exc.message}")
                done = "failed"
            if done:
                console.print(f"ran job {done}")
            if once and done:
                return
            if not done:
                time.sleep(0.3)


@app.command()
def dataset(
    table: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file to seal."),
    name: str = typer.Option(..., "--name", help="The dataset's name in job specs."),
    volume: Path = typer.Option(..., "--volume", help="Where to create the sealed volume."),
    key: Path = _key_option("(you are the dataset's owner)"),
    kbs: str = typer.Option(..., "--kbs", help="The key broker that will hold the data key."),
    kbs_admin_key: Path = typer.Option(
        ..., "--kbs-admin-key", exists=True, dir_okay=False, help="Its admin key (Ed25519 PEM)."
    ),
    coordinator_url: str = _coordinator_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for programs."),
) -> None:
    """Seal a CSV table under a fresh key, give the key to the broker, register the dataset."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from trustroom.cleanroom import seal_dataset
    from trustroom.kbs import KbsAdmin

    member = _member(key)
    with console.status(f"sealing {table}"):
        registration, data_key = seal_dataset(table, volume, owner=member.name, name=name)
    admin_key = load_pem_private_key(kbs_admin_key.read_bytes(), password=None)
    with KbsAdmin(kbs, admin_key) as admin:  # type: ignore[arg-type]
        repository, kind, tag = registration.resource.split("/")
        admin.set_resource(repository, kind, tag, data_key)
    with _client(coordinator_url) as client:
        client.register_dataset(member, registration, volume)
    if as_json:
        print_json(registration.to_dict())
        return
    console.print(
        f"dataset {name}: {registration.rows} rows, columns {', '.join(registration.columns)}; "
        f"{registration.digest}; key in the broker as {registration.resource}"
    )


@app.command()
def program(
    directory: Path = typer.Argument(..., file_okay=False, help="The program's folder."),
    mpc: bool = typer.Option(
        False, "--mpc", help="An MPC program (main.py and its modules): print its digest only."
    ),
    job: str = typer.Option("", "--job", help="The job's name (outputs are bound to it)."),
    command: str = typer.Option("", "--command", help="What runs, e.g. 'python3 train.py'."),
    trusted: list[str] = typer.Option(
        [], "--trusted", help="A file or folder the program needs (measured); repeat."
    ),
    inputs: list[str] = typer.Option(
        [], "--input", help="DATASET:OWNER, mounted at /inputs/DATASET; repeat."
    ),
    outputs: list[str] = typer.Option(
        [], "--output", help="NAME:RECIPIENT[,RECIPIENT...] written to /outputs/NAME; repeat."
    ),
    ledger: str = _ledger_option(),
) -> None:
    """Package a TEE job's program as an enclave image and print its measurement, or print
    an MPC program's digest (--mpc): what the job spec names the program by."""
    import shlex

    if mpc:
        from trustroom.cleanroom._mpc import program_digest

        print(program_digest(directory))
        return
    if not job or not command:
        raise typer.BadParameter("a TEE program needs --job and --command")

    from trustroom.cleanroom import Input, measurement_of, tee_program
    from trustroom.enclave._discover import needed_files

    members = _ledger(ledger).consortium().members
    recipients: dict[str, dict[str, str]] = {}
    for item in outputs:
        output, _, names = item.partition(":")
        recipients[output] = {r: members[r] for r in names.split(",") if r}
    arguments = shlex.split(command)
    files = list(dict.fromkeys([*trusted, *_program_files(arguments[0], needed_files)]))
    image = tee_program(
        directory, job=job, command=arguments, trusted=files,
        inputs=[Input(i.partition(":")[0], i.partition(":")[2], "") for i in inputs],
        recipients=recipients,
    )  # fmt: skip
    print(measurement_of(image))


def _program_files(program: str, needed_files: Any) -> list[str]:
    """The program's binary and the libraries it loads, when it is a system program (looked
    up where the enclave looks, not on this shell's PATH)."""
    import shutil

    from trustroom.enclave._image import SEARCH_PATH

    found = shutil.which(program, path=SEARCH_PATH) if "/" not in program else None
    return [found, *needed_files(found)] if found else []


@job_app.command("submit")
def job_submit(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="The job spec (TOML)."),
    program_path: Path = typer.Option(
        ...,
        "--program",
        exists=True,
        file_okay=False,
        help="The program's folder: the enclave image (tee) or the MPC program (mpc).",
    ),
    key: Path = _key_option("(you are the program's provider)"),
    coordinator_url: str = _coordinator_option(),
) -> None:
    """Submit a job spec with its program; print the job's id."""
    from trustroom.cleanroom import JobSpec
    from trustroom.cleanroom._archive import pack

    parsed = JobSpec.load(spec)
    with _client(coordinator_url) as client:
        print(client.submit_job(_member(key), parsed, pack(program_path)))


@job_app.command("show")
def job_show(
    job: str = typer.Argument(..., help="The job's id."),
    coordinator_url: str = _coordinator_option(),
) -> None:
    """Print a job's spec, state, approvals and result (JSON)."""
    with _client(coordinator_url) as client:
        found = client.job(job)
    found.pop("program", None)
    print_json(found)


@job_app.command("list")
def job_list(coordinator_url: str = _coordinator_option()) -> None:
    """List the jobs and their states."""
    with _client(coordinator_url) as client:
        for found in client.jobs():
            console.print(f"{found['id']}  {found['status']:8}  {found['mode']}  {found['name']}")


@app.command()
def approve(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="The spec you read."),
    key: Path = _key_option("(you own an input)"),
    coordinator_url: str = _coordinator_option(),
) -> None:
    """Approve the job spec you read (your signature on its digest); print the job's state."""
    from trustroom.cleanroom import JobSpec

    with _client(coordinator_url) as client:
        console.print(client.approve(_member(key), JobSpec.load(spec)))


@app.command()
def run(
    job: str = typer.Argument(..., help="The mpc job's id."),
    rank: int = typer.Option(
        ..., "--rank", help="0 or 1: the spec's first or second owner; 2: the dealer."
    ),
    table: Path | None = typer.Option(
        None, "--table", exists=True, dir_okay=False, help="Your table (owners only)."
    ),
    coordinator_url: str = _coordinator_option(),
    ledger: str = _ledger_option(),
) -> None:
    """Run your party of an mpc job on your own table (or the dealer, rank 2)."""
    from trustroom.cleanroom._runner import run_party

    with _client(coordinator_url) as client, _ledger(ledger) as log, _steps() as on_step:
        run_party(client, log, job, rank, table=table, on_step=on_step)
    console.print(f"party {rank} of job {job} done")


@app.command()
def result(
    job: str = typer.Argument(..., help="The job's id."),
    key: Path = _key_option("(you are a recipient)"),
    log_key: Path = typer.Option(
        ..., "--log-key", exists=True, dir_okay=False, help="The ledger's public key file."
    ),
    out: Path = typer.Option(Path("."), "--out", help="Where to write the outputs."),
    coordinator_url: str = _coordinator_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for programs."),
) -> None:
    """Fetch your outputs of a job, check them against its receipt offline, and open them."""
    from trustroom.cleanroom import check_result, open_output, open_shares

    member = _member(key)
    with _client(coordinator_url) as client:
        envelopes, receipt = client.outputs(job, member.name)
        found = client.job(job)
    vkey = log_key.read_text().strip()
    records = [
        check_result(envelope, receipt, vkey, job=job, recipient=member.name)
        for envelope in envelopes.values()
    ]
    simulated = any(record.get("tee") == "sim" for record in records)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}
    if found["mode"] == "mpc":
        for name, value in open_shares(list(envelopes.values()), member, job=found["name"]).items():
            (out / f"{name}.json").write_text(json.dumps(value.tolist()))
            written[name] = value.tolist()
    else:
        for envelope in envelopes.values():
            name, data = open_output(envelope, member, job=found["name"])
            (out / name).write_bytes(data)
            written[name] = len(data)
    (out / f"{found['name']}.tlog-proof").write_text(receipt)
    if as_json:
        print_json({"job": job, "receipt": "valid", "simulated": simulated, "outputs": written})
        return
    if simulated:
        console.print(
            "[bold yellow]SIMULATED TEE[/]: the receipt says this job ran in the simulated "
            "enclave, which protects nothing against its host."
        )
    console.print(f"receipt valid (offline, log key {vkey[:24]}…); outputs in {out}:")
    for name in written:
        console.print(f"  {name}")

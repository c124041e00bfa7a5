"""``trustroom kbs``: run the key broker, fetch a resource, administer a broker."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from trustroom.cli._output import err_console, print_json
from trustroom.kbs import KbsAdmin

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["app", "worker_app"]

app = typer.Typer(help="Key broker (Trustee KBS protocol 0.4.0): secrets for attested code.")
admin_app = typer.Typer(help="Administer a broker (EdDSA-signed admin calls).")
app.add_typer(admin_app, name="admin")

ADMIN_PRIVATE_KEY = typer.Option(
    ..., "--key", exists=True, help="Ed25519 private key (PEM) matching the broker's admin key."
)


# `serve --workers N` hands its settings to uvicorn's worker processes through the environment.
_SERVE_SETTINGS = "TRUSTROOM_KBS_SERVE"


@app.command()
def serve(
    db: str = typer.Option(None, "--db", help="SQLAlchemy URL (default: SQLite, home)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port"),
    admin_key: Path = typer.Option(None, "--admin-key", exists=True,
                                   help="Ed25519 public key (PEM) for admin calls."),
    resource_key: Path = typer.Option(None, "--resource-key", exists=True,
                                      help="32-byte key encrypting resources at rest."),
    trust_sim: bool = typer.Option(False, "--trust-sim",
                                   help="Verify simulated-TEE evidence (protects nothing)."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Worker processes (all state is in the database)."),
    threads: int = typer.Option(
        2, "--threads", min=0,
        help="Threads per worker for database and crypto work; 0 runs it on the event loop "
        "(least CPU, but a slow database stalls the worker).",
    ),
    access_log: bool = typer.Option(
        False, "--access-log",
        help="Log every HTTP request (off by default: it costs CPU on every exchange).",
    ),
) -> None:  # fmt: skip
    """Serve the broker over HTTP with uvicorn."""
    import uvicorn

    from trustroom.kbs._store import default_database_url

    settings = {
        "db": db or default_database_url(),
        "admin_key": str(admin_key.resolve()) if admin_key else None,
        "resource_key": str(resource_key.resolve()) if resource_key else None,
        "trust_sim": trust_sim,
        "threads": threads,
    }
    app = _app(settings)  # checks the keys and creates the tables once, before any worker
    if trust_sim:
        err_console.print(f"[yellow]--trust-sim[/]: {SIM_NOTE}")
    if admin_key is None:
        err_console.print("[yellow]no --admin-key[/]: every admin call will be refused")
    # httptools and uvloop: half the CPU of uvicorn's pure-Python defaults per request, and
    # uvloop turns Nagle off on every connection (asyncio leaves it on in worker processes,
    # uvicorn #3149: each keep-alive response would wait 40 ms for a delayed ACK).
    if workers == 1:
        uvicorn.run(
            app, host=host, port=port, http="httptools", loop="uvloop", access_log=access_log
        )
        return
    os.environ[_SERVE_SETTINGS] = json.dumps(settings)
    uvicorn.run(
        "trustroom.cli.kbs:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=access_log,
    )


def _app(settings: dict[str, Any]) -> Starlette:
    from trustroom.kbs import KeyBroker, ResourceCipher, create_app
    from trustroom.kbs._admin import load_admin_public_key

    resource_key, admin_key = settings["resource_key"], settings["admin_key"]
    cipher = ResourceCipher.from_file(Path(resource_key)) if resource_key else None
    broker = KeyBroker(settings["db"], resource_key=cipher, trust_sim=settings["trust_sim"])
    public = load_admin_public_key(Path(admin_key)) if admin_key else None
    return create_app(broker, admin_public_key=public, threads=settings["threads"])


def worker_app() -> Starlette:
    """The app in one of uvicorn's worker processes, made from the settings `serve` passed."""
    return _app(json.loads(os.environ[_SERVE_SETTINGS]))


def _split(path: str) -> tuple[str, str, str]:
    parts = path.strip("/").split("/")
    if len(parts) != 3:
        raise typer.BadParameter("the resource is REPO/TYPE/TAG")
    return parts[0], parts[1], parts[2]


@app.command("get-resource")
def get_resource(
    url: str = typer.Argument(..., help="The broker, e.g. http://127.0.0.1:8080"),
    resource: str = typer.Argument(..., help="REPO/TYPE/TAG"),
    out: Path = typer.Option(None, "--out", help="Write the secret here (default: stdout)."),
    workload: Path = WORKLOAD,
    mrenclave: str = MRENCLAVE,
    mrsigner: str = MRSIGNER,
    signer: str = SIGNER,
    isv_prod_id: int = PROD_ID,
    isv_svn: int = SVN,
    sim: bool = SIM,
) -> None:
    """Attest this TEE (hardware if found, else the simulated one running the declared
    workload) and fetch a resource."""
    from trustroom.kbs import KbsClient

    attester = attester_for(workload, mrenclave, mrsigner, signer, isv_prod_id, isv_svn, sim=sim)
    if attester.tee == "sim":
        err_console.print(f"[yellow]{SIM_NOTE}[/]")
    with KbsClient(url, attester) as client:
        data = client.get_resource(*_split(resource))
    if out is not None:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


def _admin(url: str, key: Path) -> KbsAdmin:
    from trustroom.kbs._admin import load_admin_private_key

    return KbsAdmin(url, load_admin_private_key(key))


@admin_app.command("set-resource")
def set_resource(
    url: str = typer.Argument(...),
    resource: str = typer.Argument(..., help="REPO/TYPE/TAG"),
    file: Path = typer.Argument(..., exists=True, help="The secret's bytes."),
    key: Path = ADMIN_PRIVATE_KEY,
) -> None:
    """Store a resource (encrypted at rest by the broker)."""
    _admin(url, key).set_resource(*_split(resource), file.read_bytes())


@admin_app.command("set-policy")
def set_policy(
    url: str = typer.Argument(...),
    policy: Path = typer.Argument(..., exists=True, help="Rego file, package policy."),
    key: Path = ADMIN_PRIVATE_KEY,
) -> None:
    """Install the resource policy."""
    _admin(url, key).set_policy(policy.read_text())


@admin_app.command("set-reference-values")
def set_reference_values(
    url: str = typer.Argument(...),
    document: Path = typer.Argument(..., exists=True, help="ReferenceValues JSON."),
    key: Path = ADMIN_PRIVATE_KEY,
) -> None:
    """Store a workload's reference values."""
    print_json(_admin(url, key).set_reference_values(json.loads(document.read_text())))


@admin_app.command("explain")
def explain(
    url: str = typer.Argument(...),
    claims: Path = typer.Option(None, "--claims", exists=True, help="Token claims JSON."),
    token: Path = typer.Option(None, "--token", exists=True, help="A token file."),
    resource: str = typer.Option("default/key/1", "--resource"),
    policy: Path = typer.Option(None, "--policy", exists=True, help="Try this Rego instead."),
    key: Path = ADMIN_PRIVATE_KEY,
) -> None:
    """Dry run: what the (given or installed) policy decides for these claims."""
    result = _admin(url, key).explain(
        claims=json.loads(claims.read_text()) if claims else None,
        token=token.read_text().strip() if token else None,
        resource_path=_split(resource),
        policy=policy.read_text() if policy else None,
    )
    print_json(result)
    if not result.get("allow"):
        raise typer.Exit(1)

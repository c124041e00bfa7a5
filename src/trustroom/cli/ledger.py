"""``trustroom ledger``: a transparency log of what ran, with receipts checked offline."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import typer

from trustroom.cli._output import console, print_json

app = typer.Typer(
    help="A verifiable log of which code ran on which inputs, with offline receipts.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.callback()
def _ledger() -> None:
    """A verifiable log of which code ran on which inputs, with offline receipts.

    Entries are canonical JSON records holding digests, never data. The log signs
    checkpoints (c2sp.org/tlog-checkpoint) with a key made inside its TEE, and hands out
    receipts (c2sp.org/tlog-proof) that anyone checks with the log's public key alone.
    """


def _db_option() -> Any:
    return typer.Option(
        None,
        "--db",
        envvar="TRUSTROOM_LEDGER_DB",
        help="SQLAlchemy URL of the log's database (default: SQLite under $TRUSTROOM_HOME).",
    )


def _json_option() -> Any:
    return typer.Option(False, "--json", help="Print JSON for programs.")


@app.command()
def init(
    origin: str = typer.Option(
        ..., "--origin", help="The log's name, a schema-less URL such as example.org/ledger."
    ),
    db: str | None = _db_option(),
    as_json: bool = _json_option(),
) -> None:
    """Create a log: its signing key (made and sealed in the TEE) and entry 0 attesting it."""
    from trustroom.ledger import Ledger

    ledger = Ledger.init(origin, db)
    entry0 = ledger.record(0)
    if as_json:
        print_json({"origin": origin, "vkey": ledger.verifier.vkey, "tee": entry0.fields["tee"]})
        return
    console.print(f"created log {origin!r}; its key: {ledger.verifier.vkey}")
    if entry0.fields.get("sim"):
        console.print(
            "[bold yellow]SIMULATED TEE[/]: no TEE hardware here, so the log key is sealed "
            "to the simulated TEE, which protects nothing; entry 0 says so."
        )


@app.command()
def append(
    record_file: list[Path] = typer.Option(
        ..., "--record-file", exists=True, dir_okay=False, help="JSON record(s) to append."
    ),
    db: str | None = _db_option(),
    as_json: bool = _json_option(),
) -> None:
    """Append records in one durable batch and print their indices."""
    from trustroom.ledger import Ledger, Record

    records = [Record.from_dict(_read_json(path)) for path in record_file]
    indices = Ledger(db).append(records)
    if as_json:
        payload: dict[str, Any] = {"indices": list(indices)}
        if len(indices) == 1:
            payload["index"] = indices[0]
        print_json(payload)
        return
    for index in indices:
        console.print(f"index {index}")


@app.command()
def serve(
    db: str | None = _db_option(),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", help="Port to listen on."),
) -> None:
    """Serve the log's read side: tlog-tiles paths (/checkpoint, /tile/...), proofs, receipts."""
    import uvicorn

    from trustroom.ledger import Ledger
    from trustroom.ledger._app import create_app

    ledger = Ledger(db)
    console.print(f"serving log {ledger.origin!r} on http://{host}:{port}")
    uvicorn.run(create_app(ledger), host=host, port=port, http="httptools", loop="uvloop")


@app.command()
def get(
    index: int = typer.Argument(..., help="The entry's index."),
    db: str | None = _db_option(),
) -> None:
    """Print an entry's record (canonical JSON)."""
    from trustroom.ledger import Ledger

    print(Ledger(db).entry(index).decode())


@app.command()
def checkpoint(db: str | None = _db_option()) -> None:
    """Sign a checkpoint of the log as it is now, after checking it extends the last one."""
    from trustroom.ledger import Ledger

    print(Ledger(db).checkpoint(), end="")


@app.command()
def receipt(
    index: int = typer.Option(..., "--index", help="The entry's index."),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the receipt."),
    db: str | None = _db_option(),
) -> None:
    """Write a receipt (c2sp.org/tlog-proof) of an entry under the latest checkpoint."""
    from trustroom.ledger import Ledger

    out.write_text(Ledger(db).receipt(index).to_text())
    console.print(f"wrote the receipt of entry {index} to {out}")


@app.command("public-key")
def public_key(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the key."),
    db: str | None = _db_option(),
) -> None:
    """Write the log's verifier key (c2sp.org/signed-note form) for receipt checkers."""
    from trustroom.ledger import Ledger

    out.write_text(Ledger(db).verifier.vkey + "\n")
    console.print(f"wrote the log's public key to {out}")


@app.command("verify-receipt")
def verify_receipt(
    receipt_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The receipt."),
    log_key: Path = typer.Option(
        ..., "--log-key", exists=True, dir_okay=False, help="The log's public key file."
    ),
    witness_key: list[Path] = typer.Option(
        [], "--witness-key", exists=True, dir_okay=False, help="A witness's public key file."
    ),
    witnesses: int = typer.Option(
        0, "--witnesses", help="How many of the witness keys must have cosigned (k of n)."
    ),
    as_json: bool = _json_option(),
) -> None:
    """Check a receipt offline: the record, its inclusion, the log's signature, witnesses.

    Exit status 0 if and only if it is valid.
    """
    from trustroom.ledger import (
        CosignatureVerifier,
        LedgerError,
        NoteVerifier,
        Receipt,
        verify_receipt,
    )

    report: dict[str, Any] = {"valid": False}
    try:
        parsed = Receipt.parse(receipt_file.read_text())
        verifier = NoteVerifier.from_vkey(log_key.read_text().strip())
        cosigners = [CosignatureVerifier.from_vkey(p.read_text().strip()) for p in witness_key]
        verified = verify_receipt(parsed, verifier, cosigners, witnesses)
        report = {
            "valid": True,
            "origin": verified.checkpoint.origin,
            "index": parsed.index,
            "tree_size": verified.checkpoint.size,
            "record": json.loads(parsed.extra),
            "witnesses": sorted(verified.witnesses),
        }
    except (LedgerError, UnicodeDecodeError, ValueError) as exc:
        code = getattr(exc, "code", "ledger_receipt_invalid")
        report = {"valid": False, "code": code, "message": str(exc)}
    if as_json:
        print_json(report)
    elif report["valid"]:
        console.print(
            f"[green]valid[/]: entry {report['index']} of {report['origin']} "
            f"(tree size {report['tree_size']})"
        )
    else:
        console.print(f"[bold red]invalid[/] ({report['code']}): {report['message']}")
    raise typer.Exit(0 if report["valid"] else 1)


@app.command("verify-inclusion")
def verify_inclusion(
    leaf_file: Path = typer.Option(
        ..., "--leaf-file", exists=True, dir_okay=False, help="The leaf's bytes (not hashed)."
    ),
    index: int = typer.Option(..., "--index", help="The leaf's index."),
    tree_size: int = typer.Option(..., "--tree-size", help="The tree's size."),
    root: str = typer.Option(..., "--root", help="The tree's root hash, base64."),
    proof: str = typer.Option("", "--proof", help="The proof's hashes, base64, comma-separated."),
) -> None:
    """Check an RFC 9162 inclusion proof from any RFC 9162 / RFC 6962 log.

    Exit status 0 if and only if the proof holds.
    """
    from trustroom.ledger import ProofInvalid, leaf_hash
    from trustroom.ledger import verify_inclusion as verify

    try:
        hashes = [_b64(p, "--proof") for p in proof.split(",") if p]
        verify(leaf_hash(leaf_file.read_bytes()), index, tree_size, hashes, _b64(root, "--root"))
    except ProofInvalid as exc:
        console.print(f"[bold red]invalid[/] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc
    console.print(f"[green]valid[/]: leaf {index} is in the tree of size {tree_size}")


def _b64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise typer.BadParameter(f"{name} must be base64: {exc}") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path} is not JSON: {exc}") from exc

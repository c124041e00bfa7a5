"""``trustroom ledger``: a transparency log of what ran, with receipts checked offline."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustroom.cli._output import console, err_console, print_json

if TYPE_CHECKING:
    from trustroom.ledger import Ledger, MemberKey

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
    url: str | None = typer.Option(
        None, "--url", help="Append through a log's HTTP service instead of its database."
    ),
    key: Path | None = typer.Option(
        None, "--key", exists=True, dir_okay=False, help="With --url: your member key."
    ),
    as_json: bool = _json_option(),
) -> None:
    """Append records in one durable batch and print their indices.

    With --url, the records go to `trustroom ledger serve` signed by your member key.
    """
    from trustroom.ledger import Ledger, Record

    documents = [_read_json(path) for path in record_file]
    if url is None:
        indices = list(Ledger(db).append([Record.from_dict(d) for d in documents]))
    elif key is None:
        raise typer.BadParameter("--url needs --key, the member key that signs the records")
    else:
        indices = _submit(url, key, documents)
    if as_json:
        payload: dict[str, Any] = {"indices": indices}
        if len(indices) == 1:
            payload["index"] = indices[0]
        print_json(payload)
        return
    for index in indices:
        console.print(f"index {index}")


def _submit(url: str, key: Path, documents: list[Any]) -> list[int]:
    from trustroom.ledger import LedgerClient

    with LedgerClient(url, _member(key)) as client:
        return client.submit(documents)


@app.command()
def serve(
    db: str | None = _db_option(),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", help="Port to listen on."),
    checkpoint_interval: float = typer.Option(
        1.0,
        "--checkpoint-interval",
        help="Sign a checkpoint this often (seconds) while the log grows; 0 never does.",
    ),
) -> None:
    """Serve the log over HTTP: tlog-tiles reads, proofs, receipts, members' appends and votes."""
    import uvicorn

    from trustroom.ledger import Ledger
    from trustroom.ledger._app import create_app

    ledger = Ledger(db)
    console.print(f"serving log {ledger.origin!r} on http://{host}:{port}")
    _say_if_simulated(ledger)
    uvicorn.run(
        create_app(ledger, checkpoint_interval=checkpoint_interval),
        host=host, port=port, http="httptools", loop="uvloop",
    )  # fmt: skip


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

    ledger = Ledger(db)
    print(ledger.checkpoint(), end="")
    _say_if_simulated(ledger)


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


@app.command()
def prove(
    index: int | None = typer.Option(None, "--index", help="Inclusion: the entry's index."),
    first: int | None = typer.Option(None, "--from", help="Consistency: the older tree size."),
    size: int | None = typer.Option(None, "--size", help="The tree size (default: the log's)."),
    db: str | None = _db_option(),
) -> None:
    """Print an RFC 9162 proof as JSON: inclusion of --index, or consistency from --from."""
    from trustroom.ledger import Ledger

    ledger = Ledger(db)
    size = ledger.size if size is None else size
    if (index is None) == (first is None):
        raise typer.BadParameter("give --index (inclusion) or --from (consistency)")
    if index is not None:
        proof, what = ledger.inclusion_proof(index, size), {"index": index}
    else:
        assert first is not None
        proof, what = ledger.consistency_proof(first, size), {"from": first}
    hashes = [base64.b64encode(h).decode() for h in proof]
    print_json({**what, "size": size, "proof": hashes})


@app.command("member-key")
def member_key(
    name: str = typer.Option(..., "--name", help="The member's name in the consortium."),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the key."),
) -> None:
    """Create a consortium member's signing key (written 0600) and print its public key."""
    from trustroom._core.files import create_exclusively
    from trustroom.ledger import MemberKey

    key = MemberKey.generate(name)
    if not create_exclusively(out, key.to_text().encode() + b"\n", mode=0o600):
        raise typer.BadParameter(f"{out} exists; choose another --out")
    print(key.public)


@app.command()
def found(
    key: list[Path] = typer.Option(
        ..., "--key", exists=True, dir_okay=False, help="A founding member's key file (each)."
    ),
    threshold: int = typer.Option(..., "--threshold", help="Yes votes a proposal needs."),
    rule: list[str] = typer.Option(
        [], "--rule", help="ACTION=COUNT: another count for one action type."
    ),
    db: str | None = _db_option(),
) -> None:
    """Log the consortium's genesis, signed by every founder (their key files at hand).

    Founders who keep their keys apart sign the genesis document each and submit it with
    the Python API (`trustroom.ledger.genesis`, `MemberKey.sign`).
    """
    from trustroom.ledger import Ledger, genesis

    rules: dict[str, int] = {}
    for item in rule:
        action, _, count = item.partition("=")
        if not count.isdigit():
            raise typer.BadParameter(f"--rule {item!r} is not ACTION=COUNT")
        rules[action] = int(count)
    (index,) = Ledger(db).govern(genesis([_member(k) for k in key], threshold, rules))
    console.print(f"the consortium's genesis is entry {index}")


@app.command()
def propose(
    key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="Your member key."),
    actions: Path = typer.Option(
        ..., "--actions", exists=True, dir_okay=False, help="JSON list of actions."
    ),
    db: str | None = _db_option(),
) -> None:
    """Propose actions (a JSON list such as [{"type": "allow_measurement", ...}])."""
    import secrets
    import time

    from trustroom.ledger import Ledger, proposal_id

    message = _member(key).propose(
        _read_json(actions), at=int(time.time()), nonce=secrets.token_hex(8)
    )
    Ledger(db).govern(message)
    print(proposal_id(message))


@app.command()
def vote(
    proposal: str = typer.Argument(..., help="The proposal's id (sha256:...)."),
    key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="Your member key."),
    yes: bool = typer.Option(..., "--yes/--no", help="Your vote."),
    db: str | None = _db_option(),
) -> None:
    """Vote on a proposal; prints its outcome once decided."""
    import time

    from trustroom.ledger import Ledger

    ledger = Ledger(db)
    indices = ledger.govern(_member(key).ballot(proposal, yes, at=int(time.time())))
    if len(indices) == 2:
        outcome = ledger.record(indices[-1]).fields["message"]
        console.print(f"proposal {outcome['state']} ({len(outcome['yes'])} yes)")
    else:
        console.print("vote recorded; the proposal is still open")


def _say_if_simulated(ledger: Ledger) -> None:
    if ledger.record(0).fields.get("sim"):
        err_console.print(
            "[bold yellow]SIMULATED TEE[/]: the log's key is sealed to the simulated TEE, "
            "which protects nothing (entry 0 says so)."
        )


def _member(path: Path) -> MemberKey:
    from trustroom.ledger import MemberKey

    return MemberKey.from_text(path.read_text())


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

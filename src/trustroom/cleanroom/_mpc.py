"""MPC mode: the two owners compute the job themselves, each on its own machine and data.

Each owner runs a party of a SEMI2K computation (``trustroom.mpc``; the third process is the
dealer, which sees no data) on its own table, after checking that the table and the program
are the ones the spec names. The program is a folder (the spec names it by
:func:`program_digest`) whose ``main.py`` may import the other modules beside it. The
parties first align their records by private set intersection on the spec's ``join``
column, then run the program's main::

    def main(ctx, ids, columns):   # ids: the shared ids, sorted (the same at both parties);
        ...                        # columns: this party's other columns, in that order, floats
        return {"model": secret_array}          # one secret array per output of the spec

Nobody opens the outputs inside the computation: each party seals its *share* of each output
to each recipient, so only a recipient, adding the two shares, learns the value; not even the
owners do, unless they are recipients.
"""

from __future__ import annotations

import base64
import binascii
import runpy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import rfc8785

from trustroom.cleanroom._datasets import read_columns
from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._spec import JobSpec
from trustroom.enclave import OutputUnreadable, open_output, seal_output
from trustroom.enclave._outputs import envelope_name
from trustroom.ledger import MemberKey, digest_of
from trustroom.mpc import Context, Job, SecretArray, run_job

__all__ = ["ENTRY", "open_shares", "program_digest", "run_mpc_party"]

_PARTIES = 2  # SEMI2K: the two owners; the dealer runs at rank 2
ENTRY = "main.py"


def program_digest(folder: Path) -> str:
    """``sha256:<hex>`` of an MPC program folder: of the RFC 8785 JSON mapping each file's
    path (relative, with /) to its SHA-256, so it changes with any byte of any file."""
    files = {
        path.relative_to(folder).as_posix(): digest_of(path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    return digest_of(rfc8785.dumps(files))


def run_mpc_party(
    spec: JobSpec,
    job: Job,
    rank: int,
    *,
    program: Path,
    table: Path | None,
    members: Mapping[str, str],
    outputs: Path,
    key: Path | None = None,
) -> dict[tuple[str, str], str]:
    """Run party ``rank`` of mpc job ``spec``'s ``program`` (a folder) over the parties of
    ``job`` (rank ``i`` < 2 is the spec's ``i``-th owner, with its own ``table``; rank 2 is
    the dealer, with none);
    write each output share sealed to each recipient (``members``: name to public key) into
    ``outputs``; the digests of those envelopes, by (envelope name, recipient)."""
    if spec.mode != "mpc" or spec.join is None:
        raise CleanroomError(f"job {spec.name} is not an mpc job")
    found = program_digest(program)
    if found != spec.program.script:
        raise CleanroomError(
            f"{program} is not the program the owners approved (its digest is {found}, the "
            f"spec names {spec.program.script})"
        )
    if rank == _PARTIES:
        run_job(lambda ctx: None, job, rank, key)  # the dealer runs no program
        return {}
    if table is None:
        raise CleanroomError(f"party {rank} ({spec.inputs[rank].owner}) computes on its table")
    data = table.read_bytes()
    expected = spec.inputs[rank]
    if digest_of(data) != expected.digest:
        raise CleanroomError(
            f"{table} is not dataset {expected.dataset} as approved (its digest is "
            f"{digest_of(data)}, the spec names {expected.digest})"
        )
    ids, columns = _columns(data, spec.join, table)
    main = runpy.run_path(str(program / ENTRY), run_name="__cleanroom_party__").get("main")
    if not callable(main):
        raise CleanroomError(f"{program / ENTRY} defines no main(ctx, ids, columns)")
    shares: dict[str, bytes] = run_job(_Party(spec, ids, columns, main), job, rank, key)
    outputs.mkdir(parents=True, exist_ok=True)
    digests: dict[tuple[str, str], str] = {}
    for output in spec.outputs:
        for recipient in output.recipients:
            name = f"{output.name}.share{rank}"
            envelope = seal_output(
                shares[output.name], context=spec.name, output=name, recipient=recipient,
                recipient_key=members[recipient],
            )  # fmt: skip
            (outputs / envelope_name(name, recipient)).write_bytes(envelope)
            digests[name, recipient] = digest_of(envelope)
    return digests


class _Party:
    """This party's computation: PSI on the join column, the script, the shares to export."""

    def __init__(
        self,
        spec: JobSpec,
        ids: list[str],
        columns: dict[str, npt.NDArray[np.float64]],
        main: Callable[..., Any],
    ) -> None:
        self.spec, self.ids, self.columns, self.main = spec, ids, columns, main

    def __call__(self, ctx: Context) -> dict[str, bytes]:
        shared = ctx.intersect(self.ids, peer=1 - ctx.rank)
        rows = np.array(shared.rows, dtype=np.int64)
        aligned = {name: values[rows] for name, values in self.columns.items()}
        results = self.main(ctx, list(shared.items), aligned)
        names = [o.name for o in self.spec.outputs]
        if not isinstance(results, Mapping) or sorted(results) != sorted(names):
            raise CleanroomError(
                "the script must return one secret array per output of the spec "
                f"({', '.join(names)}), by name"
            )
        return {name: _share(ctx, results[name]) for name in names}


def _share(ctx: Context, value: Any) -> bytes:
    if not isinstance(value, SecretArray):
        raise CleanroomError("the script returns secret arrays (ctx.input and what follows)")
    share = np.ascontiguousarray(value.shares[0], dtype=np.uint64)
    return orjson.dumps(
        {
            "rank": ctx.rank,
            "shape": list(value.shape),
            "frac_bits": ctx.frac_bits if value.fixed else 0,
            "share": base64.b64encode(share.astype("<u8").tobytes()).decode(),
        }
    )


def _columns(
    data: bytes, join: str, table: Path
) -> tuple[list[str], dict[str, npt.NDArray[np.float64]]]:
    """The join column's values (as text) and every other column as floats."""
    form = "parquet" if table.suffix.lower() == ".parquet" else "csv"
    columns = read_columns(data, form, str(table))
    if join not in columns:
        raise CleanroomError(f"{table} has no column {join!r} to join on")
    ids = [str(value) for value in columns.pop(join)]
    numbers: dict[str, npt.NDArray[np.float64]] = {}
    for name, values in columns.items():
        try:
            numbers[name] = np.array([float(value) for value in values])
        except (TypeError, ValueError) as exc:
            raise CleanroomError(f"{table}: column {name!r} is not numeric: {exc}") from exc
    return ids, numbers


def open_shares(
    envelopes: Sequence[bytes], member: MemberKey, *, job: str
) -> dict[str, npt.NDArray[Any]]:
    """Each output's value, from the two parties' shares sealed to ``member`` (envelopes in
    any order); OutputUnreadable if one does not open or a share is missing."""
    parts: dict[str, dict[int, dict[str, Any]]] = {}
    for envelope in envelopes:
        header, plain = open_output(envelope, member.name, member.private)
        if header["context"] != job:
            raise OutputUnreadable(f"a share belongs to job {header['context']}, not to {job}")
        name, _, rank = str(header["output"]).rpartition(".share")
        try:
            share = orjson.loads(plain)
            if str(share["rank"]) != rank:
                raise ValueError("its rank is not the one its name says")
            parts.setdefault(name, {})[int(rank)] = share
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OutputUnreadable(f"share {header['output']} is malformed: {exc}") from exc
    values: dict[str, npt.NDArray[Any]] = {}
    for name, shares in parts.items():
        if sorted(shares) != list(range(_PARTIES)):
            raise OutputUnreadable(f"output {name}: the shares of parties {sorted(shares)} only")
        first, second = (shares[r] for r in range(_PARTIES))
        if (first["shape"], first["frac_bits"]) != (second["shape"], second["frac_bits"]):
            raise OutputUnreadable(f"output {name}: the two shares disagree on its shape")
        try:
            a, b = (
                np.frombuffer(base64.b64decode(s["share"]), dtype="<u8") for s in shares.values()
            )
            signed = (a + b).view(np.int64).reshape(first["shape"])  # wraps modulo 2^64
        except (binascii.Error, ValueError) as exc:
            raise OutputUnreadable(f"output {name}: a share is malformed: {exc}") from exc
        bits = int(first["frac_bits"])
        values[name] = signed / float(2**bits) if bits else signed.copy()
    return values

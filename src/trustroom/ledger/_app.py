"""The log over HTTP: c2sp.org/tlog-tiles paths, proofs, receipts, and members' appends.

``/checkpoint`` (the latest signed checkpoint), ``/tile/<L>/<N>[.p/<W>]`` (hash tiles) and
``/tile/entries/<N>[.p/<W>]`` (entry bundles, each entry prefixed by its length as a
big-endian uint16) are laid out as tlog-tiles says, so existing tile clients and witnesses
read this log unchanged. Full tiles never change and are served as immutable; a partial
tile of width W is the first W hashes of its row, which never change either. Beside them,
for clients that would rather not walk tiles: ``/proof/inclusion``, ``/proof/consistency``
and ``/receipt/<index>``. ``POST /entries`` appends a submission a consortium member signed
(:meth:`Ledger.submit`), answered with the indices once the batch is committed;
``POST /governance`` takes members' proposals and ballots (:meth:`Ledger.govern`);
``/consortium`` is the consortium as the governance history makes it (members and their keys,
the constitution, what accepted proposals set). Every ``checkpoint_interval`` seconds the
server signs a checkpoint if the tree grew, so that receipts of new entries follow shortly.
"""

from __future__ import annotations

import base64
import contextlib
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from trustroom._core.errors import TrustroomError
from trustroom._core.web import json_object
from trustroom.ledger._errors import (
    EntryNotFound,
    GovernanceRefused,
    LedgerError,
    SubmissionRefused,
)
from trustroom.ledger._ledger import Ledger
from trustroom.ledger._store import TILE_WIDTH

__all__ = ["create_app"]

_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_TILE = re.compile(r"(entries|\d{1,2})/((?:x\d{3}/)*\d{3})(?:\.p/(\d{1,3}))?")
_HASH = 32
_MAX_SUBMISSION = 16 << 20
_STATUS: dict[type[LedgerError], int] = {
    EntryNotFound: 404,
    SubmissionRefused: 403,
    GovernanceRefused: 403,
}

Handler = Callable[[Request], Awaitable[Response]]


def _tile_index(text: str) -> int:
    """A tile index as tlog-tiles writes it: three-digit groups, all but the last prefixed
    with ``x`` (``x001/x234/067`` is 1234067)."""
    groups = text.split("/")
    if any(not g.startswith("x") for g in groups[:-1]) or groups[-1].startswith("x"):
        raise EntryNotFound(f"{text!r} is not a tile index")
    return int("".join(g.removeprefix("x") for g in groups))


def create_app(ledger: Ledger, *, checkpoint_interval: float = 0.0) -> Starlette:
    """The ASGI app serving ``ledger``; with ``checkpoint_interval`` > 0 it also signs a
    checkpoint that often while the tree grows."""

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            try:
                return await handler(request)
            except LedgerError as exc:
                status = _STATUS.get(type(exc), 400)
                return JSONResponse(exc.to_dict(), status_code=status)

        return wrapper

    async def checkpoint(request: Request) -> Response:
        last = await anyio.to_thread.run_sync(ledger.store.last_checkpoint)
        if last is None:
            raise EntryNotFound("the log has signed no checkpoint yet")
        return PlainTextResponse(last.note, headers={"Cache-Control": "no-cache"})

    async def tile(request: Request) -> Response:
        match = _TILE.fullmatch(request.path_params["path"])
        if match is None:
            raise EntryNotFound("not a tlog-tiles path: /tile/<L>/<N>[.p/<W>]")
        kind, index, partial = match.groups()
        width = int(partial) if partial else TILE_WIDTH
        if not 0 < width <= TILE_WIDTH or (partial and width == TILE_WIDTH):
            raise EntryNotFound(f"a partial tile's width is 1 to {TILE_WIDTH - 1}")
        n = _tile_index(index)
        if kind == "entries":
            data = await anyio.to_thread.run_sync(_bundle, ledger, n, width)
        else:
            data = await anyio.to_thread.run_sync(_hashes, ledger, int(kind), n, width)
        return Response(data, media_type="application/octet-stream",
                        headers=_IMMUTABLE)  # fmt: skip

    async def inclusion(request: Request) -> Response:
        index, size = _ints(request, "index", "size")
        proof = await anyio.to_thread.run_sync(ledger.inclusion_proof, index, size)
        return JSONResponse({"index": index, "size": size, "proof": _b64(proof)})

    async def consistency(request: Request) -> Response:
        first, second = _ints(request, "from", "to")
        proof = await anyio.to_thread.run_sync(ledger.consistency_proof, first, second)
        return JSONResponse({"from": first, "to": second, "proof": _b64(proof)})

    async def receipt(request: Request) -> Response:
        index = _int(request.path_params["index"], "index")
        found = await anyio.to_thread.run_sync(ledger.receipt, index)
        return PlainTextResponse(found.to_text())

    async def entries(request: Request) -> Response:
        message = await _signed_message(request)
        # Answered once the batch is committed: an acknowledged entry is durable.
        indices = await anyio.to_thread.run_sync(ledger.submit, message)
        return JSONResponse({"indices": list(indices)})

    async def governance(request: Request) -> Response:
        message = await _signed_message(request)
        kind = (
            message.get("document", {}).get("type")
            if isinstance(message.get("document"), dict)
            else None
        )
        if kind not in ("proposal", "ballot"):
            # A genesis over the network would let whoever comes first found the consortium.
            raise SubmissionRefused("proposals and ballots only; found the consortium on the host")
        indices = await anyio.to_thread.run_sync(ledger.govern, message)
        return JSONResponse({"indices": list(indices)})

    async def consortium(request: Request) -> Response:
        found = await anyio.to_thread.run_sync(ledger.consortium)
        return JSONResponse(
            {
                "members": found.members,
                "threshold": found.threshold,
                "rules": found.rules,
                "policies": found.policies,
                "measurements": sorted([tee, m] for tee, m in found.measurements),
                "witnesses": {"vkeys": found.witnesses[0], "threshold": found.witnesses[1]},
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "origin": ledger.origin})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if checkpoint_interval > 0:
                tasks.start_soon(_sign_checkpoints, ledger, checkpoint_interval)
            yield
            tasks.cancel_scope.cancel()

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/checkpoint", guarded(checkpoint)),
            Route("/tile/{path:path}", guarded(tile)),
            Route("/proof/inclusion", guarded(inclusion)),
            Route("/proof/consistency", guarded(consistency)),
            Route("/receipt/{index}", guarded(receipt)),
            Route("/entries", guarded(entries), methods=["POST"]),
            Route("/governance", guarded(governance), methods=["POST"]),
            Route("/consortium", guarded(consortium)),
            Route("/healthz", healthz),
        ],
    )


async def _sign_checkpoints(ledger: Ledger, interval: float) -> None:
    """Sign a checkpoint every ``interval`` seconds while the tree grows. A refusal (a tree
    that does not extend the last checkpoint, a log key this TEE cannot unseal) is printed
    and retried: the log must never sign such a tree, and an operator must see why it
    stopped, while the read side keeps serving."""
    signed = -1
    while True:
        await anyio.sleep(interval)
        try:
            size = await anyio.to_thread.run_sync(lambda: ledger.size)
            if size != signed:
                await anyio.to_thread.run_sync(ledger.checkpoint)
                signed = size
        except TrustroomError as exc:
            print(f"trustroom ledger: no checkpoint signed: {exc.message}", file=sys.stderr)


async def _signed_message(request: Request) -> dict[str, Any]:
    return await json_object(request, limit=_MAX_SUBMISSION, error=SubmissionRefused)


def _hashes(ledger: Ledger, level: int, index: int, width: int) -> bytes:
    _, found = ledger.store.tiles({(level, index)})
    stored = found.get((level, index))
    if stored is None or stored.width < width:
        raise EntryNotFound(f"the log has no tile {level}/{index} of width {width}")
    return stored.nodes[: width * _HASH]


def _bundle(ledger: Ledger, index: int, width: int) -> bytes:
    entries = ledger.store.entries(index * TILE_WIDTH, index * TILE_WIDTH + width)
    if len(entries) < width:
        raise EntryNotFound(f"the log has no entry bundle {index} of width {width}")
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def _b64(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in proof]


def _int(text: str | None, name: str) -> int:
    if text is None or not text.isdigit():
        raise EntryNotFound(f"{name} must be a non-negative integer")
    return int(text)


def _ints(request: Request, *names: str) -> tuple[int, int]:
    first, second = (_int(request.query_params.get(n), n) for n in names)
    return first, second

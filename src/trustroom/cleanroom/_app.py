"""The coordinator over HTTP (Starlette): JSON in and out, errors as RFC 9457 problems.

``POST /datasets`` (an owner's signed registration and its sealed volume, base64),
``GET /datasets``, ``POST /jobs`` (a provider's signed job and its program, base64),
``GET /jobs``, ``GET /jobs/{id}``, ``POST /jobs/{id}/approvals`` (an owner's signed approval),
``POST /claims`` (a worker takes the next approved TEE job), ``POST /jobs/{id}/parties``
and ``GET /jobs/{id}/parties`` (mpc parties say where they listen; all of them, once all
have), ``POST /jobs/{id}/result`` (sealed outputs back), ``POST /jobs/{id}/failure`` and
``GET /jobs/{id}/outputs/{recipient}`` (a recipient's envelopes and the receipt).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trustroom._core.errors import TrustroomError
from trustroom._core.web import json_object
from trustroom.cleanroom._coordinator import Coordinator, JobNotFound
from trustroom.cleanroom._errors import CleanroomError

__all__ = ["create_app"]

_MAX_BODY = 256 << 20
Handler = Callable[[Request], Awaitable[Response]]


def _problem(exc: TrustroomError) -> JSONResponse:
    status = 404 if isinstance(exc, JobNotFound) else 400
    body = {"type": f"urn:trustroom:error:{exc.code}", "status": status, **exc.to_dict()}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _bytes(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise CleanroomError(f"{what} must be base64") from exc


def create_app(coordinator: Coordinator) -> Starlette:
    """The ASGI app serving ``coordinator``."""

    def route(path: str, work: Callable[[Request, dict[str, Any]], Any], method: str) -> Route:
        async def handler(request: Request) -> Response:
            try:
                body = (
                    await json_object(request, limit=_MAX_BODY, error=CleanroomError)
                    if method == "POST"
                    else {}
                )
                result = await anyio.to_thread.run_sync(lambda: work(request, body))
            except TrustroomError as exc:
                return _problem(exc)
            return JSONResponse(result)

        return Route(path, handler, methods=[method])

    def job_id(request: Request) -> str:
        return str(request.path_params["job"])

    def register(request: Request, body: dict[str, Any]) -> Any:
        dataset = coordinator.register_dataset(
            body.get("message", {}), _bytes(body.get("volume"), "volume")
        )
        return dataset.to_dict()

    def submit(request: Request, body: dict[str, Any]) -> Any:
        spec = coordinator.submit_job(
            body.get("message", {}), _bytes(body.get("program"), "program")
        )
        return {"id": spec.digest, "name": spec.name}

    def approve(request: Request, body: dict[str, Any]) -> Any:
        return {"status": coordinator.approve(job_id(request), body)}

    def claim(request: Request, body: dict[str, Any]) -> Any:
        return {"job": coordinator.claim(str(body.get("worker", "worker")))}

    def join(request: Request, body: dict[str, Any]) -> Any:
        try:
            rank, host, port = int(body["rank"]), str(body["host"]), int(body["port"])
            certificate = str(body["certificate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CleanroomError(
                f"a party says its rank, host, port and certificate: {exc}"
            ) from exc
        coordinator.join_mpc(job_id(request), rank, host, port, certificate)
        return {"parties": coordinator.mpc_parties(job_id(request))}

    def result(request: Request, body: dict[str, Any]) -> Any:
        sent, party = body.get("envelopes"), body.get("party")
        if not isinstance(sent, dict) or not all(
            isinstance(item, dict) and isinstance(item.get("recipient"), str)
            for item in sent.values()
        ):
            raise CleanroomError("envelopes: {file: {recipient, envelope (base64)}}")
        if party is not None and (isinstance(party, bool) or not isinstance(party, int)):
            raise CleanroomError("party is the rank of the mpc party sending its shares")
        tee = body.get("tee")
        if tee is not None and not isinstance(tee, str):
            raise CleanroomError("tee names the TEE a job ran in")
        envelopes = {
            str(file): (item["recipient"], _bytes(item.get("envelope"), file))
            for file, item in sent.items()
        }
        status = coordinator.finish(
            job_id(request),
            envelopes=envelopes,
            attestation=str(body.get("attestation", "")),
            party=party,
            tee=tee,
        )
        return {"status": status}

    def failure(request: Request, body: dict[str, Any]) -> Any:
        coordinator.fail(job_id(request), str(body.get("error", "")))
        return {"status": "failed"}

    return Starlette(
        routes=[
            route("/datasets", register, "POST"),
            route("/datasets", lambda r, b: {"datasets": coordinator.datasets()}, "GET"),
            route("/jobs", submit, "POST"),
            route("/jobs", lambda r, b: {"jobs": coordinator.jobs()}, "GET"),
            route("/jobs/{job}", lambda r, b: coordinator.job(job_id(r)), "GET"),
            route("/jobs/{job}/approvals", approve, "POST"),
            route("/claims", claim, "POST"),
            route("/jobs/{job}/parties", join, "POST"),
            route(
                "/jobs/{job}/parties",
                lambda r, b: {"parties": coordinator.mpc_parties(job_id(r))},
                "GET",
            ),
            route("/jobs/{job}/result", result, "POST"),
            route("/jobs/{job}/failure", failure, "POST"),
            route(
                "/jobs/{job}/outputs/{recipient}",
                lambda r, b: coordinator.outputs_for(job_id(r), str(r.path_params["recipient"])),
                "GET",
            ),
            route("/healthz", lambda r, b: {"status": "ok"}, "GET"),
        ]
    )

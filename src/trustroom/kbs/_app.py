"""The broker's HTTP face: Trustee's ``/kbs/v0`` routes on Starlette, errors as RFC 9457.

Routing and (de)serialisation only; every decision is :class:`KeyBroker`'s. Every admin route
is wrapped by :func:`_admin`, so none can forget authentication (trustee PR #957).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trustroom._core.encoding import b64url_encode
from trustroom._core.errors import TrustroomError
from trustroom.kbs._admin import check_admin_token
from trustroom.kbs._broker import KeyBroker
from trustroom.kbs._errors import InvalidRequest, KbsError, SessionNotFound

__all__ = ["ADMIN_ROUTES", "SESSION_COOKIE", "create_app", "problem"]

SESSION_COOKIE = "kbs-session-id"
PROBLEM_BASE = "urn:trustroom:error:"
log = logging.getLogger("trustroom.kbs")

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


def problem(exc: TrustroomError) -> JSONResponse:
    """RFC 9457 problem details; ``type`` carries the stable code, ``code`` too for ease."""
    status = exc.status if isinstance(exc, KbsError) else 400
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + exc.code,
        "title": exc.code.replace("_", " "),
        "status": status,
        "detail": exc.message,
        "code": exc.code,
        "hint": exc.hint,
        **exc.details,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body(), parse_constant=_no_constant)
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not JSON: {exc}") from exc


def create_app(
    broker: KeyBroker, *, admin_public_key: ed25519.Ed25519PublicKey | None, threads: int = 2
) -> Starlette:
    """The ASGI app serving ``broker``; admin routes need EdDSA JWTs by ``admin_public_key``.

    The broker's blocking calls run on at most ``threads`` threads: they hold the GIL most of
    the time, so more threads than cores only add switching (40, anyio's default, halved the
    throughput on 2 cores); a few more than one hide database round trips. With ``threads``
    0 they run on the event loop itself: no hand-off between threads (a quarter less CPU per
    exchange), but a slow database stalls every connection of the process meanwhile.
    """
    limiter = anyio.CapacityLimiter(threads) if threads else None

    async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if limiter is None:
            return function(*args, **kwargs)
        return await anyio.to_thread.run_sync(
            functools.partial(function, *args, **kwargs), limiter=limiter
        )

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            try:
                return await handler(request)
            except TrustroomError as exc:
                return problem(exc)

        return wrapper

    def admin(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            check_admin_token(request.headers.get("authorization"), admin_public_key)
            return await handler(request)

        return guarded(wrapper)

    async def auth(request: Request) -> Response:
        challenge, session_id = await call(broker.auth, await _json(request))
        response = JSONResponse(challenge)
        response.set_cookie(
            SESSION_COOKIE, session_id, max_age=int(broker.session_timeout.total_seconds()),
            httponly=True, samesite="strict",
        )  # fmt: skip
        return response

    async def attest(request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise SessionNotFound("no kbs-session-id cookie; POST /kbs/v0/auth first")
        token = await call(broker.attest, session_id, await _json(request))
        response = JSONResponse({"token": token})
        response.set_cookie(
            SESSION_COOKIE, session_id, max_age=int(broker.session_timeout.total_seconds()),
            httponly=True, samesite="strict",
        )  # fmt: skip
        return response

    def _path(request: Request) -> tuple[str, str, str]:
        p = request.path_params
        return str(p["repo"]), str(p["type"]), str(p["tag"])

    async def get_resource(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        credential = (
            authorization.removeprefix("Bearer ").strip()
            if authorization.startswith("Bearer ")
            else request.cookies.get(SESSION_COOKIE, "")
        )
        if not credential:
            raise SessionNotFound("send the kbs-session-id cookie or 'Authorization: Bearer'")
        jwe = await call(broker.resource, credential, *_path(request))
        return JSONResponse(jwe)

    async def put_resource(request: Request) -> Response:
        await call(broker.set_resource, *_path(request), await request.body())
        return Response(status_code=200)

    async def delete_resource(request: Request) -> Response:
        await call(broker.delete_resource, *_path(request))
        return Response(status_code=200)

    async def set_policy(request: Request) -> Response:
        body = await _json(request)
        rego = _b64_text(body.get("policy") if isinstance(body, dict) else None, "policy")
        await call(broker.set_policy, rego)
        return Response(status_code=200)

    async def get_policy(request: Request) -> Response:
        return JSONResponse({"policy": b64url_encode(broker.policy())})

    async def set_reference_values(request: Request) -> Response:
        body = await _json(request)
        # Trustee's RVPS message {"version","type","payload": b64(json)} or the document.
        if isinstance(body, dict) and "payload" in body:
            try:
                body = json.loads(_b64_text(body["payload"], "payload"))
            except ValueError as exc:
                raise InvalidRequest(f"payload is not base64 of JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidRequest("reference values must be a JSON object")
        reference = await call(broker.set_reference_values, body)
        return JSONResponse(reference.to_dict())

    async def explain(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            raise InvalidRequest("explain takes {claims | token, resource-path?, policy?}")
        claims = body.get("claims")
        if isinstance(body.get("token"), str):
            claims = await call(broker.verify_token, body["token"])
        if not isinstance(claims, dict):
            raise InvalidRequest("explain needs 'claims' (an object) or 'token'")
        path = body.get("resource-path", ["default", "key", "1"])
        if not (
            isinstance(path, list) and len(path) == 3 and all(isinstance(p, str) for p in path)
        ):
            raise InvalidRequest("resource-path is [repo, type, tag]")
        policy = body.get("policy")
        rego = _b64_text(policy, "policy") if policy is not None else None
        decision = await call(broker.explain, claims, (path[0], path[1], path[2]), policy=rego)
        return JSONResponse(decision.to_dict())

    async def jwks(request: Request) -> Response:
        return JSONResponse(await call(broker.jwks))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    resource = "/kbs/v0/resource/{repo}/{type}/{tag}"
    routes = [
        Route("/kbs/v0/auth", guarded(auth), methods=["POST"]),
        Route("/kbs/v0/attest", guarded(attest), methods=["POST"]),
        Route(resource, guarded(get_resource), methods=["GET"]),
        Route(resource, admin(put_resource), methods=["POST", "PUT"]),
        Route(resource, admin(delete_resource), methods=["DELETE"]),
        Route("/kbs/v0/resource-policy", admin(set_policy), methods=["POST"]),
        Route("/kbs/v0/resource-policy", admin(get_policy), methods=["GET"]),
        Route("/kbs/v0/reference-value", admin(set_reference_values), methods=["POST"]),
        Route("/kbs/v0/explain", admin(explain), methods=["POST"]),
        Route("/.well-known/jwks.json", guarded(jwks), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes)


ADMIN_ROUTES = (
    ("POST", "/kbs/v0/resource/default/key/1"),
    ("PUT", "/kbs/v0/resource/default/key/1"),
    ("DELETE", "/kbs/v0/resource/default/key/1"),
    ("POST", "/kbs/v0/resource-policy"),
    ("GET", "/kbs/v0/resource-policy"),
    ("POST", "/kbs/v0/reference-value"),
    ("POST", "/kbs/v0/explain"),
)


def _b64_text(value: Any, name: str) -> str:
    """Trustee sends policies as base64url without padding; plain base64 is read too."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name!r} must be a base64 string")
    padded = value + "=" * (-len(value) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        return decoded.decode()
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{name!r} is not base64 of UTF-8 text: {exc}") from exc

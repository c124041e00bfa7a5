"""What the HTTP services share: reading a request's JSON object within a size limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request

from trustroom._core.errors import TrustroomError

__all__ = ["json_object"]


async def json_object(
    request: Request, *, limit: int, error: Callable[[str], TrustroomError]
) -> dict[str, Any]:
    """The request body, a JSON object of at most ``limit`` bytes; ``error(message)`` is
    raised otherwise."""
    body = await request.body()
    if len(body) > limit:
        raise error(f"a request is at most {limit} bytes")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise error(f"the request is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise error("the request is a JSON object")
    return value

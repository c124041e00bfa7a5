"""For a program inside an enclave: evidence about itself, the key broker's token and its
resources, through the attestation API the enclave serves on 127.0.0.1:8006 (Confidential
Containers' in-guest API, which ``trustroom enclave run`` provides).

Standard library only, so that a program needs nothing more than this package's folder among
its trusted files::

    from trustroom import guest

    quote = guest.evidence(hashlib.sha256(my_public_key).digest())
    password = guest.resource("kbs:///default/db-password/1")
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from trustroom._core.errors import TrustroomError

__all__ = ["API", "GuestApiError", "evidence", "info", "resource", "token"]

API = "http://127.0.0.1:8006"


class GuestApiError(TrustroomError):
    """The enclave's attestation API refused a request or is not there."""

    code = "guest_api_error"
    default_hint = (
        "Run the program with `trustroom enclave run` (or in a Confidential Containers pod), "
        "which serves the API; a key broker's refusal names its reason."
    )


def _get(path: str, api: str) -> bytes:
    try:
        with urllib.request.urlopen(api + path, timeout=60) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise GuestApiError(f"{path}: {error.code} {detail}", status=error.code) from None
    except OSError as error:
        raise GuestApiError(f"the attestation API at {api} cannot be reached: {error}") from None


def evidence(runtime_data: bytes, *, api: str = API) -> bytes:
    """Evidence (the TEE's quote or report) binding up to 64 bytes of ``runtime_data``."""
    encoded = urllib.parse.quote(base64.b64encode(runtime_data).decode())
    return _get(f"/aa/evidence?runtime_data={encoded}&encoding=base64", api)


def token(*, api: str = API) -> tuple[str, str]:
    """The key broker's attestation token and the TEE private key it is bound to (PEM)."""
    document = json.loads(_get("/aa/token?token_type=kbs", api))
    return str(document["token"]), str(document["tee_keypair"])


def resource(uri: str, *, api: str = API) -> bytes:
    """A key broker resource: ``kbs:///REPOSITORY/TYPE/TAG`` (as Confidential Containers
    writes it) or ``REPOSITORY/TYPE/TAG``."""
    path = uri.removeprefix("kbs://").lstrip("/")
    if path.count("/") != 2 or "" in path.split("/"):
        raise GuestApiError(f"{uri!r} is not a resource: give kbs:///REPOSITORY/TYPE/TAG")
    return _get("/cdh/resource/" + path, api)


def info(*, api: str = API) -> dict[str, Any]:
    """What serves the API: ``version``, ``tee`` and ``additional_tees``."""
    document: dict[str, Any] = json.loads(_get("/info", api))
    return document

"""Clients of a broker over HTTP: :class:`KbsClient` (attest, fetch) and :class:`KbsAdmin`.

Refusals come back as :class:`KbsRemoteError` carrying the broker's code, detail, hint and
explanation, never collapsed into a generic "handshake failed" (guest-components #564).
"""

from __future__ import annotations

import json
from typing import Any, Self

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519

from trustroom._core.encoding import b64url_encode
from trustroom.kbs._admin import mint_admin_token
from trustroom.kbs._attest import attestation_message, new_tee_key
from trustroom.kbs._broker import PROTOCOL_VERSION
from trustroom.kbs._errors import KbsRemoteError
from trustroom.kbs._jwe import decrypt_response
from trustroom.tee import Attester

__all__ = ["KbsAdmin", "KbsClient"]


def _default_http() -> httpx.Client:
    """The HTTP client the broker's clients make when given none."""
    # Idle connections are dropped before a server would (uvicorn's keep-alive is 5 s, as is
    # httpx's own default): reusing one the server is closing loses the request in flight.
    return httpx.Client(timeout=30, limits=httpx.Limits(keepalive_expiry=2.0))


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    code = str(body.get("code") or body.get("type") or f"http_{response.status_code}")
    error = KbsRemoteError(
        f"{code}: {body.get('detail', response.reason_phrase)}",
        hint=body.get("hint") or None,
        remote_code=code,
        status=response.status_code,
        **{k: v for k, v in body.items() if k in ("reasons", "appraisal", "claims", "errors")},
    )
    raise error


class KbsClient:
    """Attests ``attester`` to the broker at ``url`` and fetches resources for it.

    A fresh TEE key pair is made per client; the resource is decrypted with it, so only this
    process (inside the TEE) ever holds the plaintext.
    """

    def __init__(self, url: str, attester: Attester, *, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.attester = attester
        self._owns_http = http is None
        self._http = http or _default_http()
        self._key = new_tee_key()
        self.token: str | None = None

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def attest(self) -> str:
        """Run auth and attest; returns (and keeps) the attestation token."""
        request = {"version": PROTOCOL_VERSION, "tee": self.attester.tee, "extra-params": {}}
        response = _check(self._http.post(f"{self.url}/kbs/v0/auth", json=request))
        nonce = response.json()["nonce"]
        # An explicit header, not the client's cookie jar: a shared httpx.Client may talk to
        # several brokers, and each handshake must carry its own session.
        session = response.cookies["kbs-session-id"]
        message = attestation_message(self.attester, nonce, self._key)
        response = _check(
            self._http.post(
                f"{self.url}/kbs/v0/attest",
                json=message,
                headers={"Cookie": f"kbs-session-id={session}"},
            )
        )
        self.token = str(response.json()["token"])
        return self.token

    def tee_key_pem(self) -> str:
        """The private TEE key the token is bound to, as PEM: what Confidential Containers'
        ``/aa/token`` returns beside the token, so that a program can use the token itself."""
        pem: bytes = self._key.export_to_pem(private_key=True, password=None)
        return pem.decode()

    def get_resource(self, repo: str, type_: str, tag: str) -> bytes:
        """The resource's plaintext, attesting first if this client has no token yet."""
        token = self.token or self.attest()
        response = _check(
            self._http.get(
                f"{self.url}/kbs/v0/resource/{repo}/{type_}/{tag}",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        return decrypt_response(self._key, response.json())


class KbsAdmin:
    """Admin calls, each with a fresh short-lived EdDSA JWT signed by ``private_key``."""

    def __init__(
        self, url: str, private_key: ed25519.Ed25519PrivateKey, *, http: httpx.Client | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._key = private_key
        self._owns_http = http is None
        self._http = http or _default_http()

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_admin_token(self._key)}"}

    def set_resource(self, repo: str, type_: str, tag: str, data: bytes) -> None:
        url = f"{self.url}/kbs/v0/resource/{repo}/{type_}/{tag}"
        _check(self._http.post(url, content=data, headers=self._headers()))

    def delete_resource(self, repo: str, type_: str, tag: str) -> None:
        url = f"{self.url}/kbs/v0/resource/{repo}/{type_}/{tag}"
        _check(self._http.delete(url, headers=self._headers()))

    def set_policy(self, rego: str) -> None:
        body = {"policy": b64url_encode(rego)}
        _check(self._http.post(f"{self.url}/kbs/v0/resource-policy", json=body,
                               headers=self._headers()))  # fmt: skip

    def set_reference_values(self, document: dict[str, Any]) -> dict[str, Any]:
        response = _check(
            self._http.post(
                f"{self.url}/kbs/v0/reference-value", json=document, headers=self._headers()
            )
        )
        result: dict[str, Any] = response.json()
        return result

    def explain(
        self,
        *,
        claims: dict[str, Any] | None = None,
        token: str | None = None,
        resource_path: tuple[str, str, str] = ("default", "key", "1"),
        policy: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"resource-path": list(resource_path)}
        if claims is not None:
            body["claims"] = claims
        if token is not None:
            body["token"] = token
        if policy is not None:
            body["policy"] = b64url_encode(policy)
        response = _check(
            self._http.post(
                f"{self.url}/kbs/v0/explain", content=json.dumps(body), headers=self._headers()
            )
        )
        result: dict[str, Any] = response.json()
        return result

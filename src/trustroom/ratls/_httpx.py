"""An httpx transport that talks only to attested HTTPS services.

>>> client = httpx.Client(transport=RaTlsTransport(expect=Expectation(measurements=...)))
>>> client.get("https://service.internal/").extensions["ratls"].measurements

httpcore opens each connection through a network backend; this one wraps the standard backend
so that, right after the TLS handshake of a new connection and before httpcore writes the
request, the server's certificate is verified as RA-TLS. Python's ``ssl`` is enough on the
client side: it runs the handshake without chain validation (which RA-TLS certificates cannot
pass) and hands over the peer certificate for the check.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from trustroom.evidence import Collateral, Verifier
from trustroom.ratls._errors import HttpsRequired
from trustroom.ratls._expectation import Expectation
from trustroom.ratls._peer import PeerCheck
from trustroom.ratls._result import RaTlsResult

__all__ = ["RaTlsTransport"]

_RESULT = "ratls"


class RaTlsTransport(httpx.HTTPTransport):
    """HTTPS to RA-TLS servers only; each new connection's server is verified before use.

    The server's certificate must carry evidence ``verifier`` accepts (default: hardware roots
    only) that meets ``expect``; otherwise the connection is closed before the request is
    written and :class:`PeerRejected` raised (not an httpx error: it is a verdict, not a network
    failure). Plain ``http://`` URLs raise :class:`HttpsRequired`. Each response carries the
    verification result as ``response.extensions["ratls"]``.
    """

    def __init__(
        self,
        *,
        expect: Expectation,
        verifier: Verifier | None = None,
        collateral: Collateral | None = None,
        limits: httpx.Limits | None = None,
        retries: int = 0,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Chain and name checks cannot pass for self-signed RA-TLS certificates; the RA-TLS
        # check below replaces them and runs before any request byte is written.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(verify=context, trust_env=False, limits=limits, retries=retries)
        # HTTPTransport has no parameter for httpcore's network backend: replace its pool with
        # one built the same way, plus the verifying backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_VerifyingBackend(
                PeerCheck(expect, verifier or Verifier(), collateral)
            ),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            raise HttpsRequired(f"refusing {request.url}: attested connections need https://")
        response = super().handle_request(request)
        stream = response.extensions.get("network_stream")
        response.extensions[_RESULT] = stream.get_extra_info(_RESULT) if stream else None
        return response


class _VerifyingBackend(httpcore.NetworkBackend):
    def __init__(self, check: PeerCheck) -> None:
        self._inner = httpcore.SyncBackend()
        self._check = check

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _VerifyingStream(stream, self._check)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, timeout, socket_options)
        return _VerifyingStream(stream, self._check)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _VerifyingStream(httpcore.NetworkStream):
    """A stream whose TLS upgrade verifies the server; it then reports the result."""

    def __init__(
        self, inner: httpcore.NetworkStream, check: PeerCheck, result: RaTlsResult | None = None
    ) -> None:
        self._inner = inner
        self._check = check
        self._result = result

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        try:
            # httpcore hands out the internal _ssl object, whose getpeercert is positional-only.
            certificate = tls.get_extra_info("ssl_object").getpeercert(True)
            result = self._check(certificate, "server")
        except BaseException:
            tls.close()
            raise
        return _VerifyingStream(tls, self._check, result)

    def get_extra_info(self, info: str) -> Any:
        return self._result if info == _RESULT else self._inner.get_extra_info(info)

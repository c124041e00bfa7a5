"""The attestation API a program finds inside its enclave, as Confidential Containers' in-guest
REST API (api-server-rest) serves it on 127.0.0.1:8006, so that programs written for CoCo run
unchanged:

- ``GET /aa/evidence?runtime_data=TEXT[&encoding=base64]``: evidence binding up to 64 bytes
  (zero-padded report data), as ``application/octet-stream``;
- ``GET /aa/token?token_type=kbs``: ``{"token", "tee_keypair"}``, the key broker's attestation
  token and the TEE key it is bound to (PEM);
- ``GET /cdh/resource/REPOSITORY/TYPE/TAG``: a key broker resource, in plaintext;
- ``GET /info``: ``{"version", "tee", "additional_tees"}``.

The runner serves it from outside the sandbox on a socket it opens inside the sandbox's network
namespace (or on the host's loopback when the image shares the host's network), with the
standard library's threaded HTTP server: a loopback API with a handful of requests per run.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import select
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trustroom import __version__
from trustroom._core.errors import TrustroomError

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from trustroom.tee import Attester

__all__ = ["GUEST_PORT", "GuestApi"]

GUEST_PORT = 8006
_CLONE_NEWNET = 0x40000000
_POLL = 0.02  # seconds: how soon the server notices the run has ended
_RESOURCE = re.compile(r"/cdh/resource/([^/]+)/([^/]+)/([^/]+)")


class GuestApi:
    """The API for one run: evidence from ``attester()`` (made on first use); tokens and
    resources through ``broker`` (``fetch(resource)`` and ``token()``), which says what to do
    when no key broker was given."""

    def __init__(self, attester: Callable[[], Attester], broker: Any) -> None:
        self.attester = attester
        self.broker = broker
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, network_of: int | None) -> None:
        """Listen on 127.0.0.1:8006 in the network namespace of process ``network_of`` (None:
        this process's own) and serve on a thread until :meth:`close`. The HTTP server is
        loaded when the first request comes: a program that never asks costs nothing."""
        self._listening = _listen_in(network_of)
        self._stopping = threading.Event()
        self._wake_up, self._waker = os.pipe()  # ends the wait for a first request at once
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="guest-api", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        ready = select.select([self._listening.fileno(), self._wake_up], [], [])[0]
        if self._wake_up in ready:
            return
        from http.server import ThreadingHTTPServer

        with self._lock:
            if self._stopping.is_set():
                return
            server = ThreadingHTTPServer(("127.0.0.1", GUEST_PORT), _handler(self), False)
            server.socket.close()
            server.socket = self._listening
            server.daemon_threads = True
            self._server = server
        server.serve_forever(poll_interval=_POLL)

    def close(self) -> None:
        if self._thread is None:
            return
        with self._lock:
            self._stopping.set()
            server = self._server
        if server is not None:
            server.shutdown()
        else:
            os.write(self._waker, b"x")
        self._thread.join()
        self._listening.close()
        os.close(self._wake_up)
        os.close(self._waker)
        self._thread = None

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of ``path``."""
        import base64
        from urllib.parse import parse_qs, urlsplit

        url = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path == "/info":
            tee = getattr(self.attester(), "tee", "unknown")
            document: dict[str, Any] = {"version": __version__, "tee": tee, "additional_tees": []}
            return 200, "application/json", json.dumps(document).encode()
        if url.path == "/aa/evidence":
            from trustroom.tee import REPORT_DATA_SIZE

            data = query.get("runtime_data", "").encode()
            if query.get("encoding") == "base64":
                data = base64.b64decode(data + b"==", validate=False)
            if len(data) > REPORT_DATA_SIZE:
                return _error(
                    400, "runtime_too_long", f"runtime_data is over {REPORT_DATA_SIZE} bytes"
                )
            evidence = self.attester().evidence(data.ljust(REPORT_DATA_SIZE, b"\0"))
            return 200, "application/octet-stream", evidence
        if url.path == "/aa/token":
            if query.get("token_type") != "kbs":
                return _error(400, "token_type_unknown", "token_type must be kbs")
            token, key = self.broker.token()
            document = {"token": token, "tee_keypair": key}
            return 200, "application/json", json.dumps(document).encode()
        match = _RESOURCE.fullmatch(url.path)
        if match:
            return 200, "application/octet-stream", self.broker.fetch("/".join(match.groups()))
        return _error(404, "not_found", f"no such endpoint: {url.path}")


def _error(status: int, code: str, message: str) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps({"code": code, "message": message}).encode()


def _handler(api: GuestApi) -> Callable[..., BaseHTTPRequestHandler]:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            try:
                status, kind, body = api.answer(self.path)
            except TrustroomError as exc:
                status, kind, body = _error(502, exc.code, exc.message)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the program's requests are its own business

    return Handler


def _listen_in(pid: int | None) -> socket.socket:
    """A listening socket on 127.0.0.1:8006 in the network namespace of ``pid``. A socket
    stays in the namespace it was made in, so a helper thread enters it, makes the socket,
    and ends; this process's other threads never leave their own namespace."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            if pid is not None:
                with open(f"/proc/{pid}/ns/net", "rb") as namespace:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(namespace.fileno(), _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the sandbox's network")
            listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", GUEST_PORT))
            listening.listen(16)
            made.append(listening)
        except BaseException as exc:
            failed.append(exc)

    helper = threading.Thread(target=make, name="guest-api-socket")
    helper.start()
    helper.join()
    if failed:
        raise failed[0]
    return made[0]

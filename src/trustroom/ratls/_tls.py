"""Attested TLS over plain sockets, both directions, mutual when asked.

Built on pyOpenSSL because Python's ``ssl`` module cannot accept a client certificate that
does not chain to a configured CA: a server could not ask clients for their (self-signed)
RA-TLS certificates at all. With pyOpenSSL the handshake accepts any certificate, and
:class:`~trustroom.ratls._peer.PeerCheck` verifies the peer's before the connection is handed
to the caller, so no application data is ever sent to, or read from, an unverified peer.

In TLS 1.3 the client finishes its handshake before the server has judged the client's
certificate, so a client may send its first bytes to a server that then rejects it; those
bytes reach only the server the client itself has verified.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

from OpenSSL import SSL, crypto

from trustroom.evidence import Collateral, Verifier
from trustroom.ratls._certificate import Identity
from trustroom.ratls._errors import InvalidExpectation, TlsError
from trustroom.ratls._expectation import Expectation
from trustroom.ratls._peer import PeerCheck
from trustroom.ratls._result import RaTlsResult

__all__ = ["RaTlsConnection", "RaTlsServer", "connect"]

_T = TypeVar("_T")
# SysCallError numbers meaning the peer is gone: unexpected EOF (-1), broken pipe, reset.
_CLOSED = (-1, errno.EPIPE, errno.ECONNRESET)


def _accept_any(conn: SSL.Connection, cert: crypto.X509, error: int, depth: int, ok: int) -> bool:
    # Chain validation cannot succeed for self-signed RA-TLS certificates and proves nothing
    # for them; PeerCheck replaces it once the handshake is done (see the module docstring).
    return True


def _context(identity: Identity | None, *, verify_peer: bool, server: bool) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    if identity is not None:
        key, certificate = identity
        context.use_privatekey(key)
        context.use_certificate(certificate)
        context.check_privatekey()
    if verify_peer:
        # A server asks for the client's certificate only in VERIFY_PEER mode, and must refuse
        # a client that sends none.
        mode = SSL.VERIFY_PEER | (SSL.VERIFY_FAIL_IF_NO_PEER_CERT if server else 0)
        context.set_verify(mode, _accept_any)
    return context


class RaTlsConnection:
    """An established TLS connection whose peer passed RA-TLS verification.

    ``peer`` is that verification's result; it is None only on a server that does not ask
    clients to attest. Socket-like: :meth:`sendall`, :meth:`recv` (``b""`` once the peer has
    closed), :meth:`settimeout`, :meth:`close`, and a context manager. Not for use by two
    threads at once.
    """

    def __init__(
        self,
        connection: SSL.Connection,
        sock: socket.socket,
        peer: RaTlsResult | None,
        timeout: float | None,
    ) -> None:
        self._connection = connection
        self._sock = sock
        self._selector = selectors.DefaultSelector()
        self._timeout = timeout
        self.peer = peer

    def settimeout(self, timeout: float | None) -> None:
        """Seconds each :meth:`recv` or :meth:`sendall` may wait; None waits forever."""
        self._timeout = timeout

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(view):
                # A retried write must offer the same bytes again: bind this chunk once.
                sent += self._retry(partial(self._connection.send, view[sent:]), "send")
        except SSL.Error as exc:
            raise _tls_error("send", exc) from exc

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` when the peer has closed the connection."""
        try:
            return self._retry(lambda: self._connection.recv(size), "receive")
        except SSL.ZeroReturnError:
            return b""
        except SSL.SysCallError as exc:
            # A close without TLS's close_notify ends reads like a clean close, as Python's
            # ssl does by default (suppress_ragged_eofs); callers that must tell a truncated
            # stream from a complete one frame their messages.
            if exc.args and exc.args[0] == -1:
                return b""
            raise _tls_error("receive", exc) from exc
        except SSL.Error as exc:
            raise _tls_error("receive", exc) from exc

    def close(self) -> None:
        # Tell the peer this is an orderly close, without waiting for its answer; if the
        # connection is already broken, closing the socket is all that is left to do.
        with contextlib.suppress(SSL.Error, OSError):
            self._connection.shutdown()
        self._selector.close()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _retry(self, operation: Callable[[], _T], what: str) -> _T:
        return _retry(operation, self._sock, self._selector, _deadline(self._timeout), what)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _retry(
    operation: Callable[[], _T],
    sock: socket.socket,
    selector: selectors.BaseSelector,
    deadline: float | None,
    what: str,
) -> _T:
    """Run a non-blocking TLS operation until it completes, waiting on the socket between tries.

    The socket is non-blocking (pyOpenSSL cannot apply Python socket timeouts), so OpenSSL says
    which way it is waiting and this waits for exactly that, up to the deadline. Other
    ``SSL.Error`` exceptions pass through for the caller to translate.
    """
    while True:
        try:
            return operation()
        except SSL.WantReadError:
            events = selectors.EVENT_READ
        except SSL.WantWriteError:
            events = selectors.EVENT_WRITE
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TlsError(f"TLS {what} timed out")
        try:
            selector.modify(sock, events)
        except KeyError:
            selector.register(sock, events)
        if not selector.select(remaining):
            raise TlsError(f"TLS {what} timed out")


def _tls_error(what: str, exc: SSL.Error) -> TlsError:
    if isinstance(exc, SSL.SysCallError) and exc.args and exc.args[0] in _CLOSED:
        return TlsError(f"TLS {what} failed: the peer closed the connection {exc.args}")
    return TlsError(f"TLS {what} failed: {exc or type(exc).__name__}")


def _establish(
    connection: SSL.Connection,
    sock: socket.socket,
    check: PeerCheck | None,
    peer: str,
    timeout: float | None,
) -> RaTlsConnection:
    """Handshake, then verify the peer; on any failure the socket is closed before raising."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        # OpenSSL writes a handshake flight as several records; with Nagle's algorithm the
        # later ones wait for the peer's delayed ACK (40 ms on Linux) on every handshake.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    try:
        try:
            _retry(connection.do_handshake, sock, selector, _deadline(timeout), "handshake")
        except SSL.Error as exc:
            raise _tls_error("handshake", exc) from exc
        result = None
        if check is not None:
            cert = connection.get_peer_certificate()
            der = None if cert is None else crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
            result = check(der, peer)
    except BaseException:
        selector.close()
        sock.close()
        raise
    selector.close()
    return RaTlsConnection(connection, sock, result, timeout)


class RaTlsServer:
    """The server side: presents ``identity`` and, with ``expect``, requires attested clients.

    Wrap each accepted socket with :meth:`wrap`. Without ``expect`` clients are not asked for a
    certificate (server-only RA-TLS); with it, a client must present an RA-TLS certificate
    whose evidence ``verifier`` accepts (default: hardware roots only) and that meets
    ``expect``, else :meth:`wrap` closes the socket and raises PeerRejected.
    """

    def __init__(
        self,
        identity: Identity,
        *,
        expect: Expectation | None = None,
        verifier: Verifier | None = None,
        collateral: Collateral | None = None,
        handshake_timeout: float | None = 10.0,
    ) -> None:
        if expect is None and (verifier is not None or collateral is not None):
            raise InvalidExpectation(
                "a verifier or collateral without an expectation would not be used: pass "
                "expect=Expectation(...) to require attested clients"
            )
        self._check = (
            None if expect is None else PeerCheck(expect, verifier or Verifier(), collateral)
        )
        self._context = _context(identity, verify_peer=self._check is not None, server=True)
        self._handshake_timeout = handshake_timeout

    def wrap(self, sock: socket.socket) -> RaTlsConnection:
        """Handshake on an accepted socket and verify the client; raises PeerRejected, TlsError.

        The returned connection's timeout is the socket's timeout at the time of the call.
        """
        timeout = sock.gettimeout()
        connection = SSL.Connection(self._context, sock)
        connection.set_accept_state()
        established = _establish(connection, sock, self._check, "client", self._handshake_timeout)
        established.settimeout(timeout)
        return established


def connect(
    address: tuple[str, int],
    *,
    expect: Expectation,
    verifier: Verifier | None = None,
    collateral: Collateral | None = None,
    identity: Identity | None = None,
    timeout: float | None = None,
) -> RaTlsConnection:
    """Connect to an RA-TLS server and verify it; present ``identity`` for mutual RA-TLS.

    The server's certificate must carry evidence ``verifier`` accepts (default: hardware roots
    only) that meets ``expect``; otherwise the connection is closed before anything is sent,
    and PeerRejected raised. ``timeout`` applies to connecting, the handshake and every later
    send or receive, as for sockets.
    """
    check = PeerCheck(expect, verifier or Verifier(), collateral)
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        raise TlsError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
    connection = SSL.Connection(_context(identity, verify_peer=True, server=False), sock)
    connection.set_connect_state()
    host = address[0]
    if not _is_ip_address(host):
        # SNI, for servers and proxies that route by name.
        connection.set_tlsext_host_name(host.encode("idna"))
    return _establish(connection, sock, check, "server", timeout)


def _is_ip_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False

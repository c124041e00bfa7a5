"""Attested connections over loopback: mutual RA-TLS between processes, and the httpx transport."""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from trustroom import TrustroomError
from trustroom.evidence import Verifier
from trustroom.ratls import (
    Expectation,
    HttpsRequired,
    Identity,
    PeerRejected,
    RaTlsServer,
    RaTlsTransport,
    TlsError,
    connect,
    create_certificate,
)
from trustroom.tee import SimAttester, SimWorkload

SERVER_APP = SimWorkload(mrenclave=b"\x5e" * 32, mrsigner=b"\x22" * 32)
CLIENT_APP = SimWorkload(mrenclave=b"\xc1" * 32, mrsigner=b"\x22" * 32)
OTHER = "ab" * 32
TIMEOUT = 20.0


def _expect(mrenclave: str) -> Expectation:
    return Expectation(measurements={"mrenclave": {mrenclave}}, allow_sim=True)


@pytest.fixture(scope="module", autouse=True)
def sim_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Both processes share the simulated platform, as two enclaves on one host would.
    home = tmp_path_factory.mktemp("trustroom-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTROOM_HOME", str(home))
        yield home


# -- mutual RA-TLS between two processes -------------------------------------------------------


def _serve(expectations: list[Expectation], ports: Any, outcomes: Any) -> None:
    """Server process: one connection per expectation, each outcome reported to the parent."""
    identity = create_certificate(SimAttester(SERVER_APP))
    verifier = Verifier(trust_sim=True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        ports.put(listener.getsockname()[1])
        for expect in expectations:
            server = RaTlsServer(identity, expect=expect, verifier=verifier)
            sock, _ = listener.accept()
            sock.settimeout(TIMEOUT)
            try:
                with server.wrap(sock) as conn:
                    assert conn.peer is not None
                    received = conn.recv(1024)
                    if received:
                        conn.sendall(b"hello " + conn.peer.measurements["mrenclave"].encode())
                    outcomes.put(("served", conn.peer.measurements["mrenclave"], received))
            except TrustroomError as exc:
                outcomes.put(("refused", exc.code, exc.message))


@pytest.fixture(scope="module")
def server_process() -> Iterator[tuple[int, Any]]:
    ctx = multiprocessing.get_context("spawn")
    ports, outcomes = ctx.Queue(), ctx.Queue()
    expectations = [
        _expect(CLIENT_APP.mrenclave.hex()),  # mutual, both match
        _expect(OTHER),  # the server expects another MRENCLAVE of its client
        _expect(CLIENT_APP.mrenclave.hex()),  # the client expects another MRENCLAVE
    ]
    process = ctx.Process(target=_serve, args=(expectations, ports, outcomes), daemon=True)
    process.start()
    try:
        yield ports.get(timeout=60), outcomes
    finally:
        process.join(timeout=TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()


@pytest.fixture(scope="module")
def client_identity() -> Identity:
    return create_certificate(SimAttester(CLIENT_APP))


def test_mutual_ratls_between_processes(server_process, client_identity) -> None:
    port, outcomes = server_process
    with connect(
        ("127.0.0.1", port),
        expect=_expect(SERVER_APP.mrenclave.hex()),
        verifier=Verifier(trust_sim=True),
        identity=client_identity,
        timeout=TIMEOUT,
    ) as conn:
        assert conn.peer is not None and conn.peer.tee == "sim"
        assert conn.peer.measurements["mrenclave"] == SERVER_APP.mrenclave.hex()
        conn.sendall(b"ping")
        assert conn.recv(1024) == b"hello " + CLIENT_APP.mrenclave.hex().encode()
    assert outcomes.get(timeout=TIMEOUT) == ("served", CLIENT_APP.mrenclave.hex(), b"ping")


def test_server_refuses_a_client_with_another_mrenclave(server_process, client_identity) -> None:
    port, outcomes = server_process
    # In TLS 1.3 the client's handshake ends before the server has judged the client, so the
    # refusal shows up as a closed or reset connection on the client's first read.
    with connect(
        ("127.0.0.1", port),
        expect=_expect(SERVER_APP.mrenclave.hex()),
        verifier=Verifier(trust_sim=True),
        identity=client_identity,
        timeout=TIMEOUT,
    ) as conn:
        try:
            conn.sendall(b"ping")
            assert conn.recv(1024) == b""
        except TlsError:
            pass
    kind, code, message = outcomes.get(timeout=TIMEOUT)
    assert (kind, code) == ("refused", "ratls_peer_rejected")
    assert "expectation measurements.mrenclave failed" in message
    assert OTHER in message and CLIENT_APP.mrenclave.hex() in message


def test_client_refuses_a_server_with_another_mrenclave(server_process, client_identity) -> None:
    port, outcomes = server_process
    with pytest.raises(PeerRejected) as refused:
        connect(
            ("127.0.0.1", port),
            expect=_expect(OTHER),
            verifier=Verifier(trust_sim=True),
            identity=client_identity,
            timeout=TIMEOUT,
        )
    assert "expectation measurements.mrenclave failed" in refused.value.message
    assert refused.value.result.measurements["mrenclave"] == SERVER_APP.mrenclave.hex()
    assert refused.value.details["codes"] == ["ratls_expectation_not_met"]
    # The server saw its client go away without sending a byte: after the handshake, or
    # during it (a TLS 1.3 server still sends session tickets when the client has hung up).
    outcome = outcomes.get(timeout=TIMEOUT)
    assert outcome[0::2] == ("served", b"") or outcome[:2] == ("refused", "ratls_tls_error")


def test_client_without_a_certificate_is_refused(sim_home: Path) -> None:
    identity = create_certificate(SimAttester(SERVER_APP))
    server = RaTlsServer(identity, expect=_expect(OTHER), verifier=Verifier(trust_sim=True))
    errors: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept() -> None:
            sock, _ = listener.accept()
            try:
                server.wrap(sock)
            except TrustroomError as exc:
                errors.append(exc)

        thread = threading.Thread(target=accept)
        thread.start()
        with (
            pytest.raises(TlsError),
            connect(
                listener.getsockname(),
                expect=_expect(SERVER_APP.mrenclave.hex()),
                verifier=Verifier(trust_sim=True),
                timeout=TIMEOUT,
            ) as conn,
        ):
            conn.sendall(b"x")
            conn.recv(10)  # a TLS 1.3 client learns of the server's alert here
        thread.join(TIMEOUT)
    assert len(errors) == 1 and isinstance(errors[0], TlsError)


def test_hardware_only_verifier_refuses_sim_servers(sim_home: Path) -> None:
    identity = create_certificate(SimAttester(SERVER_APP))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=_accept_quietly, args=(listener, RaTlsServer(identity)))
        thread.start()
        with pytest.raises(PeerRejected) as refused:
            connect(listener.getsockname(), expect=Expectation(), timeout=TIMEOUT)
        thread.join(TIMEOUT)
    assert "untrusted_root" in refused.value.details["codes"]
    assert "ratls_expectation_not_met" in refused.value.details["codes"]  # allow_sim


def _accept_quietly(listener: socket.socket, server: RaTlsServer) -> None:
    sock, _ = listener.accept()
    with contextlib.suppress(TrustroomError):  # the client hangs up on a refused server
        server.wrap(sock).close()


def test_server_arguments_are_checked(sim_home: Path) -> None:
    identity = create_certificate(SimAttester(SERVER_APP))
    with pytest.raises(TrustroomError, match="expect"):
        RaTlsServer(identity, verifier=Verifier(trust_sim=True))


# -- the httpx transport -----------------------------------------------------------------------


@dataclass
class HttpsServer:
    """A one-request-per-connection HTTPS server with an RA-TLS certificate, in a thread.

    It records every application byte it receives, per connection.
    """

    url: str
    received: list[bytes] = field(default_factory=list)


def _handle(server: RaTlsServer, sock: socket.socket, received: list[bytes]) -> None:
    data = b""
    try:
        with server.wrap(sock) as conn:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                while len(body) < length:
                    body += conn.recv(4096)
                data = head + b"\r\n\r\n" + body
                reply = b"echo:" + body
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(reply), reply)
                )
    except TrustroomError:
        pass  # a client that rejected this server hangs up mid-way
    received.append(data)


@pytest.fixture
def https_server(sim_home: Path) -> Iterator[HttpsServer]:
    server = RaTlsServer(create_certificate(SimAttester(SERVER_APP)))
    listener = socket.create_server(("127.0.0.1", 0))
    state = HttpsServer(f"https://127.0.0.1:{listener.getsockname()[1]}/")
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(TIMEOUT)
            _handle(server, sock, state.received)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(TIMEOUT)
        listener.close()


def test_httpx_transport_with_matching_expectation(https_server: HttpsServer) -> None:
    transport = RaTlsTransport(
        expect=_expect(SERVER_APP.mrenclave.hex()), verifier=Verifier(trust_sim=True)
    )
    with httpx.Client(transport=transport) as client:
        response = client.post(https_server.url, content=b"secret")
    assert response.status_code == 200 and response.content == b"echo:secret"
    result = response.extensions["ratls"]
    assert result.verified and result.tee == "sim"
    assert result.measurements["mrenclave"] == SERVER_APP.mrenclave.hex()


def test_httpx_transport_refuses_before_sending(https_server: HttpsServer) -> None:
    transport = RaTlsTransport(expect=_expect(OTHER), verifier=Verifier(trust_sim=True))
    with httpx.Client(transport=transport) as client, pytest.raises(PeerRejected) as refused:
        client.post(https_server.url, content=b"secret")
    assert "expectation measurements.mrenclave failed" in refused.value.message
    hardware_only = RaTlsTransport(expect=Expectation())
    with httpx.Client(transport=hardware_only) as client, pytest.raises(PeerRejected) as untrusted:
        client.post(https_server.url, content=b"secret")
    assert "untrusted_root" in untrusted.value.details["codes"]
    deadline = threading.Event()
    while len(https_server.received) < 2 and not deadline.wait(0.05):
        pass
    assert https_server.received == [b"", b""]  # not one byte of either request


def test_httpx_transport_refuses_plain_http() -> None:
    transport = RaTlsTransport(expect=Expectation())
    with httpx.Client(transport=transport) as client, pytest.raises(HttpsRequired):
        client.get("http://127.0.0.1:9/")

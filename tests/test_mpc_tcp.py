"""The TCP transport between MPC parties: one TLS 1.3 connection per pair with pinned
certificates, whole messages in order in every direction, large ones crossing without a
deadlock, parties starting in any order, wrong certificates and stray clients refused, and a
killed or silent peer reported at once or at the timeout."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import ssl
import threading
import time
from typing import Any

import numpy as np
import pytest

from trustroom.mpc._errors import MpcError, PeerLost, PeerTimeout, ProtocolError
from trustroom.mpc._tcp import Party, TcpTransport, connect, local_parties
from trustroom.mpc._transport import Transport

MiB = 1 << 20


def start(
    rank: int,
    parties: list[Party],
    key: bytes,
    outcomes: dict[int, Any],
    *,
    timeout: float = 10.0,
    connect_timeout: float = 10.0,
) -> threading.Thread:
    """Party ``rank`` connecting on a thread; ``outcomes[rank]`` gets its transport or error."""

    def run() -> None:
        try:
            outcomes[rank] = connect(
                rank, parties, key, timeout=timeout, connect_timeout=connect_timeout
            )
        except BaseException as exc:
            outcomes[rank] = exc

    thread = threading.Thread(target=run, name=f"test-party-{rank}")
    thread.start()
    return thread


def finish(threads: list[threading.Thread], limit: float = 20.0) -> None:
    for thread in threads:
        thread.join(limit)
        assert not thread.is_alive(), "a party hung while connecting"


def connected(parties: list[Party], keys: list[bytes], timeout: float = 10.0) -> list[Transport]:
    outcomes: dict[int, Any] = {}
    finish([start(r, parties, keys[r], outcomes, timeout=timeout) for r in range(len(parties))])
    for rank in range(len(parties)):
        if isinstance(outcomes[rank], BaseException):
            raise outcomes[rank]
    return [outcomes[r] for r in range(len(parties))]


def close_all(outcomes: dict[int, Any] | list[Any]) -> None:
    values = outcomes.values() if isinstance(outcomes, dict) else outcomes
    for value in values:
        if isinstance(value, Transport):
            value.close()


def test_three_parties_exchange_in_order_in_every_direction() -> None:
    parties, keys = local_parties(3)
    t = connected(parties, keys)
    try:
        assert all(isinstance(transport, TcpTransport) for transport in t)
        for frm in range(3):
            for to in range(3):
                if frm != to:
                    for i in range(3):
                        t[frm].send(to, f"{frm}->{to} #{i}".encode())
                    t[frm].send(to, b"")
        for to in range(3):
            for frm in range(3):
                if frm != to:
                    got = [bytes(t[to].recv(frm)) for _ in range(4)]
                    assert got == [f"{frm}->{to} #{i}".encode() for i in range(3)] + [b""]
        sent = [(x.messages_sent, x.bytes_sent) for x in t]
        assert sent == [(8, 2 * 3 * len(b"0->1 #0"))] * 3
    finally:
        close_all(t)


def test_large_messages_cross_at_the_same_moment_without_a_deadlock() -> None:
    parties, keys = local_parties(3)
    t = connected(parties, keys)
    rng = np.random.default_rng(7)
    forth = rng.integers(0, 2**63, size=8 * MiB, dtype=np.uint64)  # 64 MiB each
    back = rng.integers(0, 2**63, size=8 * MiB, dtype=np.uint64)
    try:
        t[0].send(1, b"before")
        crossing = threading.Thread(target=t[1].send, args=(0, back))
        crossing.start()
        t[0].send(1, forth)  # both ways at once: neither may wait for the other to read
        t[2].send(1, b"from two")
        crossing.join(30)
        assert not crossing.is_alive()
        assert bytes(t[1].recv(0)) == b"before"
        assert np.array_equal(np.frombuffer(t[1].recv(0), dtype=np.uint64), forth)
        assert np.array_equal(np.frombuffer(t[0].recv(1), dtype=np.uint64), back)
        assert bytes(t[1].recv(2)) == b"from two"
        assert (t[0].messages_sent, t[0].bytes_sent) == (2, 6 + forth.nbytes)
        assert (t[1].messages_sent, t[1].bytes_sent) == (1, back.nbytes)
    finally:
        close_all(t)


def test_senders_on_several_threads_do_not_interleave_messages() -> None:
    parties, keys = local_parties(2)
    t = connected(parties, keys)
    sizes = [10, 100 * 1024, 70_000, 1, 300 * 1024]  # both sides of the one-record cut-off

    def sender(tag: int) -> None:
        for size in sizes * 4:
            t[0].send(1, bytes([tag]) * size)

    try:
        threads = [threading.Thread(target=sender, args=(tag,)) for tag in range(1, 5)]
        for thread in threads:
            thread.start()
        seen: dict[int, list[int]] = {tag: [] for tag in range(1, 5)}
        for _ in range(4 * len(sizes) * 4):
            message = bytes(t[1].recv(0))
            assert message == message[:1] * len(message)  # one sender's bytes only
            seen[message[0]].append(len(message))
        finish(threads)
        assert all(lengths == sizes * 4 for lengths in seen.values())
    finally:
        close_all(t)


def test_a_party_started_late_is_still_reached() -> None:
    parties, keys = local_parties(3)
    outcomes: dict[int, Any] = {}
    threads = [start(r, parties, keys[r], outcomes) for r in (1, 2)]
    time.sleep(1.0)  # rank 0, which everyone dials, is not listening yet
    threads.append(start(0, parties, keys[0], outcomes))
    finish(threads)
    try:
        assert all(isinstance(outcomes[r], Transport) for r in range(3)), outcomes
        outcomes[2].send(0, b"late but here")
        assert bytes(outcomes[0].recv(2)) == b"late but here"
    finally:
        close_all(outcomes)


def test_a_dialled_party_presenting_another_listed_certificate_is_refused() -> None:
    parties, keys = local_parties(3)
    # Party 1's list has the certificates of parties 0 and 2 the wrong way round.
    swapped = [
        parties[0]._replace(certificate=parties[2].certificate),
        parties[1],
        parties[2]._replace(certificate=parties[0].certificate),
    ]
    outcomes: dict[int, Any] = {}
    threads = [start(0, parties, keys[0], outcomes, connect_timeout=2)]
    threads.append(start(1, swapped, keys[1], outcomes, connect_timeout=2))
    finish(threads)
    close_all(outcomes)
    assert isinstance(outcomes[1], ProtocolError)
    assert "party 0 at 127.0.0.1" in str(outcomes[1])
    assert "presented party 2's certificate" in str(outcomes[1])
    assert "not the certificate this job lists for party 0" in str(outcomes[1])


def test_a_dialled_party_presenting_an_unlisted_certificate_is_refused() -> None:
    parties, keys = local_parties(2)
    strangers, stranger_keys = local_parties(1)
    listed = [parties[0]._replace(certificate=strangers[0].certificate), parties[1]]
    outcomes: dict[int, Any] = {}
    threads = [start(0, listed, stranger_keys[0], outcomes, connect_timeout=2)]
    threads.append(start(1, parties, keys[1], outcomes, connect_timeout=2))
    finish(threads)
    close_all(outcomes)
    assert isinstance(outcomes[1], ProtocolError)
    assert "party 0 at 127.0.0.1" in str(outcomes[1])
    assert "presented a certificate this job does not list" in str(outcomes[1])


def test_a_peer_claiming_a_rank_with_another_certificate_is_refused_on_both_sides() -> None:
    parties, keys = local_parties(2)
    # Party 1 was handed party 0's key and certificate by mistake.
    mistaken = [parties[0], parties[1]._replace(certificate=parties[0].certificate)]
    outcomes: dict[int, Any] = {}
    threads = [start(0, parties, keys[0], outcomes, connect_timeout=5)]
    threads.append(start(1, mistaken, keys[0], outcomes, connect_timeout=5))
    began = time.monotonic()
    finish(threads)
    close_all(outcomes)
    assert time.monotonic() - began < 4  # refused at once, not at the connect timeout
    assert isinstance(outcomes[0], ProtocolError)
    assert "claims to be party 1 but presented party 0's certificate" in str(outcomes[0])
    assert isinstance(outcomes[1], ProtocolError)
    assert "refused party 1: it lists another certificate for party 1" in str(outcomes[1])


def test_a_party_whose_certificate_is_unlisted_fails_the_set_up_clearly() -> None:
    parties, keys = local_parties(2)
    strangers, stranger_keys = local_parties(1)
    # Party 1 presents a certificate party 0 never heard of: TLS refuses it before any rank
    # is said, so party 0 waits for the real party 1 and reports what it refused meanwhile.
    own = [parties[0], parties[1]._replace(certificate=strangers[0].certificate)]
    outcomes: dict[int, Any] = {}
    threads = [start(0, parties, keys[0], outcomes, connect_timeout=2)]
    threads.append(start(1, own, stranger_keys[0], outcomes, connect_timeout=2))
    began = time.monotonic()
    finish(threads)
    close_all(outcomes)
    assert time.monotonic() - began < 5
    assert isinstance(outcomes[0], PeerTimeout)
    assert "party 1 did not connect to party 0" in str(outcomes[0])
    assert "refused meanwhile: 127.0.0.1:" in str(outcomes[0])
    assert isinstance(outcomes[1], MpcError) and "party 0 at 127.0.0.1" in str(outcomes[1])


def wait_listening(party: Party, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection((party.host, party.port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the party never listened"
            time.sleep(0.02)


def test_stray_clients_on_a_partys_port_do_not_stop_the_job() -> None:
    parties, keys = local_parties(3)
    outcomes: dict[int, Any] = {}
    threads = [start(0, parties, keys[0], outcomes)]
    wait_listening(parties[0])
    address = (parties[0].host, parties[0].port)
    silent = socket.create_connection(address)  # connects and never says a word
    chatty = socket.create_connection(address)
    chatty.sendall(b"GET / HTTP/1.0\r\n\r\n")  # another protocol
    anonymous = ssl.create_default_context()  # TLS, but without a client certificate
    anonymous.check_hostname = False
    anonymous.verify_mode = ssl.CERT_NONE
    with pytest.raises(OSError), anonymous.wrap_socket(socket.create_connection(address)) as sock:
        sock.sendall(b"x" * 16)
        sock.recv(1)  # the server's refusal arrives here in TLS 1.3
    try:
        threads += [start(r, parties, keys[r], outcomes) for r in (1, 2)]
        finish(threads)
        assert all(isinstance(outcomes[r], Transport) for r in range(3)), outcomes
        outcomes[1].send(0, b"through")
        assert bytes(outcomes[0].recv(1)) == b"through"
        # Refused and closed: an orderly close, or a reset as its request went unread.
        with contextlib.suppress(ConnectionResetError):
            assert chatty.recv(100) == b""
    finally:
        silent.close()
        chatty.close()
        close_all(outcomes)


def test_a_stalled_peer_times_out_after_the_timeout() -> None:
    parties, keys = local_parties(2)
    t = connected(parties, keys, timeout=0.5)
    try:
        began = time.monotonic()
        with pytest.raises(PeerTimeout, match=r"party 1 sent nothing to party 0 in 0\.5 s"):
            t[0].recv(1)
        assert 0.45 <= time.monotonic() - began < 2
        t[1].send(0, b"awake")  # the connection is still usable afterwards
        assert bytes(t[0].recv(1)) == b"awake"
    finally:
        close_all(t)


def test_close_is_idempotent_and_the_other_side_gets_what_was_sent_then_peer_lost() -> None:
    parties, keys = local_parties(2)
    t = connected(parties, keys)
    try:
        t[0].send(1, b"goodbye")
        t[0].close()
        t[0].close()
        assert bytes(t[1].recv(0)) == b"goodbye"
        began = time.monotonic()
        with pytest.raises(PeerLost, match="party 0 closed its connection to party 1"):
            t[1].recv(0)
        with pytest.raises(PeerLost, match="party 0"):  # and every later wait, too
            t[1].recv(0)
        assert time.monotonic() - began < 2
    finally:
        close_all(t)


def _speak_then_hang(parties: list[Party], key: bytes, ready: Any) -> None:
    transport = connect(1, parties, key, timeout=60, connect_timeout=30)
    transport.send(0, b"last words")
    ready.set()
    time.sleep(60)  # killed long before this ends


def test_a_killed_party_is_reported_at_once_not_at_the_timeout() -> None:
    parties, keys = local_parties(2)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_speak_then_hang, args=(parties, keys[1], ready))
    process.start()
    transport = connect(0, parties, keys[0], timeout=60, connect_timeout=30)
    try:
        assert ready.wait(30)
        assert process.pid is not None
        pid = process.pid
        killer = threading.Timer(0.3, lambda: os.kill(pid, signal.SIGKILL))
        killer.start()
        # What it sent before dying still arrives first; then the wait in progress ends.
        assert bytes(transport.recv(1)) == b"last words"
        began = time.monotonic()
        with pytest.raises(PeerLost, match="party 1"):
            transport.recv(1)
        assert time.monotonic() - began < 2.5  # far below the 60 s timeout
        killer.join()
        deadline = time.monotonic() + 5
        with pytest.raises(PeerLost, match="party 1"):
            while time.monotonic() < deadline:  # the kernel takes a few writes to notice
                transport.send(1, b"x" * MiB)
    finally:
        transport.close()
        process.join(10)
    assert process.exitcode == -signal.SIGKILL


def test_loopback_throughput_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timed assertion (machines vary): prints one-way TLS throughput for 64 MiB."""
    parties, keys = local_parties(2)
    t = connected(parties, keys)
    payload = np.random.default_rng(3).integers(0, 256, size=64 * MiB, dtype=np.uint8)
    received: list[Any] = []
    try:
        rates = []
        for _ in range(3):
            receiver = threading.Thread(target=lambda: received.append(t[1].recv(0)))
            began = time.perf_counter()
            receiver.start()
            t[0].send(1, payload)
            receiver.join()
            rates.append(payload.nbytes / (time.perf_counter() - began) / 1e9)
            assert np.array_equal(np.frombuffer(received.pop(), dtype=np.uint8), payload)
        with capsys.disabled():
            print(
                f"\nTLS over loopback, 64 MiB one way: best {max(rates):.2f} GB/s "
                f"(runs: {', '.join(f'{rate:.2f}' for rate in rates)})"
            )
    finally:
        close_all(t)

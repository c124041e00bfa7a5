"""Parties over TCP, each pair on one connection with TLS 1.3 and pinned certificates.

Organisations running a job together need not share a certificate authority: the job lists
every party's own (self-signed) certificate, each TLS context trusts exactly those, and once
connected a party checks that its peer presented the very certificate listed for its rank.
Party ``i`` listens for the higher ranks and dials the lower ones, so every pair shares one
connection, set up in whatever order the parties start.

One thread per peer reads whole messages as they come, so two parties sending each other
large messages at the same moment never block each other. OpenSSL forbids using a connection
from two threads at once, even one reading while another writes, so the sockets are
non-blocking: every TLS call holds the connection's lock, and waiting for the network
happens outside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import select
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trustroom.mpc._errors import MpcError, PeerLost, PeerTimeout, ProtocolError
from trustroom.mpc._transport import Buffer, Transport

__all__ = ["Party", "TcpTransport", "connect", "local_parties", "new_identity"]

# Both set-up messages: magic, version, then the dialler's rank and the rank it dialled, or
# the accepting party's rank and its verdict.
_HELLO = struct.Struct("<8sHHH")
_MAGIC = b"trmpctcp"
_VERSION = 1
_ACCEPTED, _WRONG_CERTIFICATE, _UNEXPECTED = 0, 1, 2
_LENGTH = struct.Struct("<Q")
_COALESCE = 64 << 10  # smaller messages go out with their header in one TLS record
_PIECE = 1 << 20  # the most one TLS write takes at a time
_RETRY = 0.05  # seconds between attempts to reach a party that is not listening yet
_POLL = 0.1  # how often the acceptor looks whether set-up ended


class Party(NamedTuple):
    """Where a party listens, and the certificate (PEM) it presents to the others."""

    host: str
    port: int
    certificate: bytes


class TcpTransport(Transport):
    """The connections from party ``rank`` to every other party, each read by its own thread."""

    def __init__(
        self, rank: int, parties: int, timeout: float, sockets: dict[int, ssl.SSLSocket]
    ) -> None:
        super().__init__(rank, parties, timeout)
        self._links = {peer: _Link(rank, peer, sock, timeout) for peer, sock in sockets.items()}
        self._closing = threading.Lock()
        self._closed = False

    def _send(self, to: int, data: Buffer) -> None:
        link = self._link(to)
        try:
            link.send(data)
        except (OSError, ValueError) as exc:
            raise PeerLost(
                f"party {to} is gone: party {self.rank} could not send to it ({exc})"
            ) from exc

    def recv(self, frm: int) -> Buffer:
        link = self._link(frm)
        try:
            item = link.inbox.get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {frm} sent nothing to party {self.rank} in {self.timeout:g} s"
            ) from None
        if isinstance(item, MpcError):
            link.inbox.put(item)  # every later wait fails the same way
            raise type(item)(item.message)
        return item

    def close(self) -> None:
        with self._closing:
            if self._closed:
                return
            self._closed = True
        for link in self._links.values():
            link.shutdown()
        for link in self._links.values():
            link.close()

    def _link(self, peer: int) -> _Link:
        try:
            return self._links[peer]
        except KeyError:
            raise ValueError(
                f"party {self.rank} has no connection to party {peer} "
                f"(ranks are 0 to {self.parties - 1})"
            ) from None


class _Link:
    """The connection to one peer: a reader thread queues its whole messages; senders take
    turns (``_sending``), and every TLS call holds ``_tls`` (see the module docstring)."""

    def __init__(self, rank: int, peer: int, sock: ssl.SSLSocket, timeout: float) -> None:
        self.rank = rank
        self.peer = peer
        self.inbox: queue.SimpleQueue[bytearray | MpcError] = queue.SimpleQueue()
        self._sock = sock
        self._timeout = timeout
        self._tls = threading.Lock()
        self._sending = threading.Lock()
        self._closing = False
        sock.setblocking(False)
        self._reader = threading.Thread(
            target=self._read, name=f"trustroom-mpc-{rank}-from-{peer}", daemon=True
        )
        self._reader.start()

    def send(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        header = _LENGTH.pack(view.nbytes)
        with self._sending:
            if view.nbytes <= _COALESCE:
                self._write(memoryview(header + view.tobytes()))
            else:
                self._write(memoryview(header))
                self._write(view)

    def shutdown(self) -> None:
        """Wake the reader and any waiting sender; the peer sees this party gone."""
        self._closing = True
        # The plain socket's method: SSLSocket.shutdown would drop the TLS object under the
        # reader's feet. A connection already broken has nothing left to shut.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self._reader.join()
        self._sock.close()

    def _write(self, view: memoryview) -> None:
        while view.nbytes:
            # In pieces, so that this peer's reader gets the lock in between; a retry after
            # SSLWantWriteError offers the same piece again, as OpenSSL requires.
            view = view[self._call(self._sock.send, view[:_PIECE], self._timeout) :]

    def _read(self) -> None:
        header = bytearray(_LENGTH.size)
        length = 0
        failure: MpcError
        try:
            while self._fill(memoryview(header)):
                (length,) = _LENGTH.unpack(header)
                message = bytearray(length)
                if not self._fill(memoryview(message)):
                    failure = PeerLost(
                        f"party {self.peer} closed its connection to party {self.rank} "
                        "in the middle of a message"
                    )
                    break
                self.inbox.put(message)
            else:
                failure = PeerLost(f"party {self.peer} closed its connection to party {self.rank}")
        except MemoryError:
            failure = ProtocolError(
                f"party {self.peer} sent party {self.rank} a message of {length} bytes, "
                "more than this party can hold"
            )
        except (OSError, ValueError) as exc:
            failure = PeerLost(f"the connection from party {self.peer} to {self.rank} broke: {exc}")
        if self._closing:
            failure = PeerLost(f"party {self.rank} closed its connections")
        self.inbox.put(failure)

    def _fill(self, view: memoryview) -> bool:
        """Read exactly ``len(view)`` bytes into ``view``; False if the peer closed first."""
        while view.nbytes:
            count = self._call(self._sock.recv_into, view, None)
            if not count:
                return False
            view = view[count:]
        return True

    def _call(
        self, operation: Callable[[memoryview], int], view: memoryview, timeout: float | None
    ) -> int:
        """One TLS read or write, waiting (without the lock) until the socket lets it go on."""
        while True:
            with self._tls:
                try:
                    return operation(view)
                except ssl.SSLWantReadError:
                    events = select.POLLIN
                except ssl.SSLWantWriteError:
                    events = select.POLLOUT
            poller = select.poll()
            poller.register(self._sock, events)
            if not poller.poll(None if timeout is None else timeout * 1000):
                raise PeerTimeout(
                    f"party {self.peer} took nothing from party {self.rank} in {timeout:g} s"
                )


def connect(
    rank: int,
    parties: Sequence[Party],
    key: bytes,
    *,
    timeout: float = 60.0,
    connect_timeout: float = 30.0,
) -> Transport:
    """Connect party ``rank`` to every other party of ``parties``; ``key`` is its own private
    key (PEM). It accepts the higher ranks on its own port and dials the lower ones, retrying
    until ``connect_timeout`` as parties start in any order. ``timeout`` bounds each wait for
    a message later on."""
    if not 0 <= rank < len(parties):
        raise ValueError(f"rank {rank} is not one of the {len(parties)} parties")
    deadline = time.monotonic() + connect_timeout
    certificates = [_der(party.certificate) for party in parties]
    server, client = (_context(parties, rank, key, server=side) for side in (True, False))
    own = parties[rank]
    listener = socket.create_server((own.host, own.port), backlog=len(parties) + 16)
    acceptor = _Acceptor(listener, server, rank, certificates, deadline)
    sockets: dict[int, ssl.SSLSocket] = {}
    try:
        for peer in range(rank):
            sockets[peer] = _dial(
                rank, peer, parties[peer], client, certificates, deadline, acceptor
            )
        sockets.update(acceptor.wait())
    except BaseException:
        acceptor.stop()
        for sock in (*sockets.values(), *acceptor.accepted.values()):
            sock.close()
        raise
    acceptor.stop()
    return TcpTransport(rank, len(parties), timeout, sockets)


class _Acceptor:
    """Takes the higher ranks' connections on this party's port, each on its own thread, so a
    client that connects and then says nothing (a port scanner, a stray service) holds up
    only itself. Connections that fail TLS are refused and remembered for the error message;
    a party of the job that presents the wrong certificate or speaks another version fails
    the set-up at once."""

    def __init__(
        self,
        listener: socket.socket,
        context: ssl.SSLContext,
        rank: int,
        certificates: list[bytes],
        deadline: float,
    ) -> None:
        self.accepted: dict[int, ssl.SSLSocket] = {}
        self._listener = listener
        self._context = context
        self._rank = rank
        self._certificates = certificates
        self._deadline = deadline
        self._waiting = set(range(rank + 1, len(certificates)))
        self._failure: MpcError | None = None
        self._refused: list[str] = []
        self._pending: set[socket.socket] = set()
        self._state = threading.Condition()
        self._stopped = False
        self._admitters: list[threading.Thread] = []
        self._thread = threading.Thread(
            target=self._run, name=f"trustroom-mpc-{rank}-accept", daemon=True
        )
        self._thread.start()

    def check(self) -> None:
        """Raise the error that ended the set-up on this side, if any."""
        with self._state:
            if self._failure is not None:
                raise self._failure

    def wait(self) -> dict[int, ssl.SSLSocket]:
        with self._state:
            while self._waiting and self._failure is None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    ranks = sorted(self._waiting)
                    missing = (
                        f"part{'y' if len(ranks) == 1 else 'ies'} {', '.join(map(str, ranks))}"
                    )
                    refused = "; ".join(self._refused[-3:])
                    raise PeerTimeout(
                        f"{missing} did not connect to party {self._rank} before the "
                        "connect timeout" + (f" (refused meanwhile: {refused})" if refused else "")
                    )
                self._state.wait(left)
            if self._failure is not None:
                raise self._failure
            return dict(self.accepted)

    def stop(self) -> None:
        """Stop listening and abandon connections still being admitted."""
        with self._state:
            self._stopped = True
            pending = list(self._pending)
        for sock in pending:
            with contextlib.suppress(OSError):  # already closed by its admitter
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        self._thread.join()
        self._listener.close()
        for thread in self._admitters:
            thread.join()

    def _run(self) -> None:
        self._listener.settimeout(_POLL)
        while True:
            with self._state:
                if self._stopped or not self._waiting or self._failure is not None:
                    return
            try:
                raw, address = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(
                target=self._admit, args=(raw, address), name=f"trustroom-mpc-{self._rank}-admit"
            )
            self._admitters.append(thread)
            thread.start()

    def _admit(self, raw: socket.socket, address: tuple[str, int]) -> None:
        where = f"{address[0]}:{address[1]}"
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(max(0.01, self._deadline - time.monotonic()))
        sock = self._context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        with self._state:
            if self._stopped:
                sock.close()
                return
            self._pending.add(sock)
        try:
            try:
                sock.do_handshake()
            except OSError as exc:  # SSLError included: not a party of this job
                self._refuse(f"{where}: {exc}")
                return
            # TLS succeeded, so the peer holds the key of a certificate this job lists: from
            # here on, a mismatch is a misconfigured party, not a stray client.
            presented = sock.getpeercert(binary_form=True)
            try:
                magic, version, frm, to = _HELLO.unpack(_exactly(sock, _HELLO.size))
            except (OSError, EOFError) as exc:
                self._refuse(f"{where}, with {self._describe(presented)}: {exc}")
                return
            verdict, failure = self._judge(where, presented, magic, version, frm, to)
            try:  # a refusal, too, so that the dialler can say why
                sock.sendall(_HELLO.pack(_MAGIC, _VERSION, self._rank, verdict))
            except OSError as exc:
                self._refuse(f"{where}, claiming to be party {frm}: {exc}")
                return
            if failure is not None:
                self._fail(failure)
                return
            with self._state:
                if verdict == _ACCEPTED and not self._stopped:
                    self._pending.discard(sock)
                    self.accepted[frm] = sock
                    self._waiting.discard(frm)
                    self._state.notify_all()
        finally:
            with self._state:
                if sock in self._pending:
                    self._pending.discard(sock)
                    sock.close()

    def _judge(
        self, where: str, presented: bytes | None, magic: bytes, version: int, frm: int, to: int
    ) -> tuple[int, ProtocolError | None]:
        """The verdict to send the dialler, and the error that ends the set-up here if any."""
        if magic != _MAGIC or version != _VERSION:
            return _UNEXPECTED, ProtocolError(
                f"a peer at {where} with {self._describe(presented)} does not speak this "
                f"protocol version to party {self._rank} (magic {magic!r}, version {version})"
            )
        with self._state:
            expected = sorted(self._waiting)
        if frm not in expected or to != self._rank:
            return _UNEXPECTED, ProtocolError(
                f"a peer at {where} with {self._describe(presented)} claims to be party {frm} "
                f"dialling party {to}; "
                f"party {self._rank} expects only parties {expected} "
                "(do all parties use the same list?)"
            )
        if presented != self._certificates[frm]:
            return _WRONG_CERTIFICATE, ProtocolError(
                f"a peer at {where} claims to be party {frm} but presented "
                f"{self._describe(presented)}, not the "
                f"certificate party {self._rank} lists for party {frm}"
            )
        return _ACCEPTED, None

    def _describe(self, presented: bytes | None) -> str:
        return _describe(presented, self._certificates)

    def _refuse(self, reason: str) -> None:
        with self._state:
            self._refused.append(reason)

    def _fail(self, failure: MpcError) -> None:
        with self._state:
            if self._failure is None:
                self._failure = failure
            self._state.notify_all()


def _dial(
    rank: int,
    peer: int,
    party: Party,
    context: ssl.SSLContext,
    certificates: list[bytes],
    deadline: float,
    acceptor: _Acceptor,
) -> ssl.SSLSocket:
    where = f"{party.host}:{party.port}"
    while True:
        acceptor.check()
        left = deadline - time.monotonic()
        if left <= 0:
            raise PeerTimeout(
                f"party {peer} at {where} did not answer party {rank} before the connect timeout"
            )
        try:
            raw = socket.create_connection((party.host, party.port), timeout=left)
            break
        except OSError:  # not listening yet
            time.sleep(min(_RETRY, left))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.settimeout(max(0.01, deadline - time.monotonic()))
    sock = context.wrap_socket(raw, do_handshake_on_connect=False)
    try:
        try:
            sock.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            raise ProtocolError(
                f"party {peer} at {where} presented a certificate this job does not list "
                f"({exc.verify_message})"
            ) from None
        except ssl.SSLError as exc:
            raise ProtocolError(
                f"TLS between party {rank} and party {peer} at {where} failed: {exc}"
            ) from None
        except OSError as exc:
            raise PeerLost(
                f"party {peer} at {where} dropped the connection from party {rank}: {exc}"
            ) from None
        presented = sock.getpeercert(binary_form=True)
        if presented != certificates[peer]:
            raise ProtocolError(
                f"party {peer} at {where} presented {_describe(presented, certificates)}, "
                f"not the certificate this job lists for party {peer}"
            )
        try:
            sock.sendall(_HELLO.pack(_MAGIC, _VERSION, rank, peer))
            magic, version, answerer, verdict = _HELLO.unpack(_exactly(sock, _HELLO.size))
        except ssl.SSLError as exc:
            raise ProtocolError(
                f"party {peer} at {where} refused the certificate of party {rank} "
                f"({exc.reason or exc}): its list of the job's parties has another one"
            ) from None
        except (OSError, EOFError) as exc:
            raise PeerLost(
                f"party {peer} at {where} closed the connection without accepting party {rank} "
                f"(it stopped, or refused this party's certificate): {exc or type(exc).__name__}"
            ) from None
        if magic != _MAGIC or version != _VERSION or answerer != peer:
            raise ProtocolError(
                f"party {peer} at {where} does not speak this protocol version "
                f"(magic {magic!r}, version {version}, rank {answerer})"
            )
        if verdict != _ACCEPTED:
            reason = (
                f"it lists another certificate for party {rank}"
                if verdict == _WRONG_CERTIFICATE
                else "the parties' lists differ"
            )
            raise ProtocolError(f"party {peer} at {where} refused party {rank}: {reason}")
    except BaseException:
        sock.close()
        raise
    return sock


def _exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the connection closed")
        data += chunk
    return bytes(data)


def _context(parties: Sequence[Party], rank: int, key: bytes, *, server: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if server:
        context.num_tickets = 0  # no resumption: nothing but the messages on the connection
    context.check_hostname = False  # pinning by certificate replaces names
    context.verify_mode = ssl.CERT_REQUIRED
    # A listed certificate is a trust anchor in itself; strict X.509 checks (Python 3.13's
    # default) would refuse organisations' plain self-signed certificates, and prove nothing
    # that the pinning does not.
    context.verify_flags = ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=b"".join(p.certificate for p in parties).decode())
    with tempfile.TemporaryDirectory() as folder:  # ssl loads keys from files only
        certificate, private = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(certificate, "wb") as file:
            file.write(parties[rank].certificate)
        with open(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(key)
        context.load_cert_chain(certificate, private)
    return context


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _describe(der: bytes | None, certificates: list[bytes]) -> str:
    """A certificate as people can tell it apart: whose it is in the job, name, fingerprint."""
    if der is None:
        return "no certificate"
    fingerprint = hashlib.sha256(der).hexdigest()[:16]
    try:
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
        name = f"CN {names[0].value!r}, " if names else ""
    except ValueError:
        name = ""
    owner = (
        f"party {certificates.index(der)}'s certificate"
        if der in certificates
        else "a certificate this job does not list"
    )
    return f"{owner} ({name}SHA-256 {fingerprint}…)"


def new_identity(name: str, *, days: int = 365) -> tuple[bytes, bytes]:
    """A party's self-signed certificate and its private key (both PEM), on P-256: what the
    other parties of a job pin."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def local_parties(count: int, host: str = "127.0.0.1") -> tuple[list[Party], list[bytes]]:
    """Parties for a run on one machine: free ports, a fresh certificate and key each.

    The ports are free when chosen; a party binds its own when it connects, so another program
    could take one in between (then that party's ``connect`` fails with OSError)."""
    probes = [
        socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) for _ in range(count)
    ]
    try:
        for probe in probes:  # held open together, so the ports differ
            probe.bind((host, 0))
        ports = [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()
    identities = [new_identity(f"trustroom mpc party {rank}", days=1) for rank in range(count)]
    parties = [
        Party(host, port, certificate)
        for port, (certificate, _) in zip(ports, identities, strict=True)
    ]
    return parties, [key for _, key in identities]

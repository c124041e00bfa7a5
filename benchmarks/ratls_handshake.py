"""RA-TLS handshakes (evidence verified) side by side with plain TLS handshakes, over loopback.

Every variant uses ECDSA P-256 keys and a server in a separate process, and each measured
connection is: connect, full handshake, one byte there and back (so that a server-side check of
the client's attestation is inside the time), close. Variants, interleaved round by round so
machine noise hits all alike:

- plain TLS: Python's ``ssl`` on both sides, the server certificate issued by a private CA and
  validated with hostname check, as an ordinary TLS client does;
- RA-TLS: ``trustroom.ratls.connect`` to a ``RaTlsServer`` presenting a simulated-TEE
  certificate; the client verifies its evidence with one reused ``Verifier`` (warm: collateral
  and chain signatures it has seen are not checked again; the quote signature, key binding and
  every validity window are);
- RA-TLS cold: the same with a new ``Verifier`` per connection (every signature checked);
- mutual RA-TLS: both sides present and verify simulated-TEE certificates (warm verifiers).

The simulated TEE produces real SGX DCAP quotes, so evidence verification costs what it costs
for hardware quotes of the same shape. Run: ``.venv/bin/python benchmarks/ratls_handshake.py
[--rounds 15] [--calls 40]``.
"""

from __future__ import annotations

import argparse
import ipaddress
import multiprocessing
import os
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from trustroom.evidence import Verifier
from trustroom.ratls import Expectation, RaTlsServer, connect, create_certificate
from trustroom.tee import SimAttester, SimWorkload

SERVER_APP = SimWorkload(mrenclave=b"\x5e" * 32, mrsigner=b"\x22" * 32)
CLIENT_APP = SimWorkload(mrenclave=b"\xc1" * 32, mrsigner=b"\x22" * 32)
LOCALHOST = "127.0.0.1"


def _expect(app: SimWorkload) -> Expectation:
    return Expectation(measurements={"mrenclave": {app.mrenclave.hex()}}, allow_sim=True)


def _pem(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[bytes, bytes]:
    return (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert.public_bytes(serialization.Encoding.PEM),
    )


def _plain_pki() -> tuple[bytes, bytes, bytes]:
    """A private CA and a P-256 server certificate for 127.0.0.1: (CA PEM, key PEM, cert PEM)."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, LOCALHOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCALHOST))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem, cert_pem = _pem(key, cert)
    return ca.public_bytes(serialization.Encoding.PEM), key_pem, cert_pem


# -- server process ---------------------------------------------------------------------------


def _echo_byte(recv: Callable[[int], bytes], send: Callable[[bytes], Any]) -> None:
    if recv(1):
        send(b"y")


def _serve_forever(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    while True:
        sock, _ = listener.accept()
        try:
            handle(sock)
        except Exception:
            sock.close()  # a failed connection must not stop the benchmark's server


def _server(plain_key: bytes, plain_cert: bytes, ports: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "key.pem").write_bytes(plain_key)
        (Path(tmp) / "cert.pem").write_bytes(plain_cert)
        plain = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        plain.load_cert_chain(Path(tmp) / "cert.pem", Path(tmp) / "key.pem")
    identity = create_certificate(SimAttester(SERVER_APP))
    attested = RaTlsServer(identity)
    mutual = RaTlsServer(identity, expect=_expect(CLIENT_APP), verifier=Verifier(trust_sim=True))

    def plain_handle(sock: socket.socket) -> None:
        with plain.wrap_socket(sock, server_side=True) as tls:
            _echo_byte(tls.recv, tls.sendall)

    def ratls_handle(server: RaTlsServer) -> Callable[[socket.socket], None]:
        def handle(sock: socket.socket) -> None:
            with server.wrap(sock) as conn:
                _echo_byte(conn.recv, conn.sendall)

        return handle

    found = []
    for handle in (plain_handle, ratls_handle(attested), ratls_handle(mutual)):
        listener = socket.create_server((LOCALHOST, 0), backlog=64)
        found.append(listener.getsockname()[1])
        threading.Thread(target=_serve_forever, args=(listener, handle), daemon=True).start()
    ports.put(found)
    threading.Event().wait()


# -- client -----------------------------------------------------------------------------------


def _timed(fn: Callable[[], None], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=40, help="connections per variant per round")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="trustroom-bench-")
    os.environ["TRUSTROOM_HOME"] = home  # the server process inherits the simulated platform
    ca_pem, key_pem, cert_pem = _plain_pki()
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_server, args=(key_pem, cert_pem, ports), daemon=True)
    server.start()
    plain_port, ratls_port, mutual_port = ports.get(timeout=60)

    plain_client = ssl.create_default_context(cadata=ca_pem.decode())
    warm = Verifier(trust_sim=True)
    client_identity = create_certificate(SimAttester(CLIENT_APP))
    server_expect = _expect(SERVER_APP)

    def plain() -> None:
        with (
            socket.create_connection((LOCALHOST, plain_port)) as sock,
            plain_client.wrap_socket(sock, server_hostname=LOCALHOST) as tls,
        ):
            tls.sendall(b"x")
            assert tls.recv(1) == b"y"

    def ratls(port: int, verifier: Callable[[], Verifier], mutual: bool = False) -> None:
        identity = client_identity if mutual else None
        with connect(
            (LOCALHOST, port), expect=server_expect, verifier=verifier(), identity=identity
        ) as conn:
            conn.sendall(b"x")
            assert conn.recv(1) == b"y"

    variants: dict[str, Callable[[], None]] = {
        "plain TLS (ssl, CA-validated)": plain,
        "RA-TLS (warm verifier)": lambda: ratls(ratls_port, lambda: warm),
        "RA-TLS (cold verifier)": lambda: ratls(ratls_port, lambda: Verifier(trust_sim=True)),
        "mutual RA-TLS (warm)": lambda: ratls(mutual_port, lambda: warm, mutual=True),
    }
    for fn in variants.values():  # warm up every path once, outside the timing
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            samples[name].extend(_timed(fn, args.calls))
    server.kill()

    baseline = statistics.median(samples["plain TLS (ssl, CA-validated)"])
    print(f"loopback handshakes, ECDSA P-256, {args.rounds} rounds x {args.calls} connections")
    print(f"{'variant':34} {'median ms':>10} {'p90 ms':>8} {'vs plain':>9}")
    for name, times in samples.items():
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{name:34} {median * 1e3:10.2f} {p90 * 1e3:8.2f} {median / baseline:8.1f}x")


if __name__ == "__main__":
    main()

"""Attested TLS (RA-TLS) in the interoperable format Gramine, rats-tls and the Intel SGX SDK use.

A workload in a TEE makes a key and a self-signed certificate whose extension carries TEE
evidence binding that key (OID 2.23.133.5.4.9: CBOR ``tag(60000)([quote, claims])``). A peer
that verifies the certificate during the TLS handshake knows it talks to that workload, in
that TEE, and nothing else. Connections are verified before any application data moves.

>>> key, cert = create_certificate(attester)                      # in the TEE
>>> result = inspect_certificate(cert, verifier=Verifier(), collateral=collateral)
>>> conn = connect(("10.0.0.5", 8443), expect=Expectation(measurements={"mrenclave": {mre}}))
>>> client = httpx.Client(transport=RaTlsTransport(expect=Expectation(...)))
"""

from trustroom.ratls._certificate import Identity, PrivateKey, create_certificate, write_identity
from trustroom.ratls._errors import (
    CertificateOutsideValidity,
    CertificateUnreadable,
    ClaimsNotBound,
    ExpectationNotMet,
    ExtensionMalformed,
    ExtensionMissing,
    HttpsRequired,
    InvalidExpectation,
    KeyNotBound,
    PeerRejected,
    RaTlsError,
    TlsError,
    UnsupportedEvidenceType,
)
from trustroom.ratls._expectation import TCB_STATUS_ORDER, Expectation
from trustroom.ratls._httpx import RaTlsTransport
from trustroom.ratls._inspect import inspect_certificate
from trustroom.ratls._result import RaTlsResult
from trustroom.ratls._tls import RaTlsConnection, RaTlsServer, connect
from trustroom.ratls._x509 import load_certificate

__all__ = [
    "TCB_STATUS_ORDER",
    "CertificateOutsideValidity",
    "CertificateUnreadable",
    "ClaimsNotBound",
    "Expectation",
    "ExpectationNotMet",
    "ExtensionMalformed",
    "ExtensionMissing",
    "HttpsRequired",
    "Identity",
    "InvalidExpectation",
    "KeyNotBound",
    "PeerRejected",
    "PrivateKey",
    "RaTlsConnection",
    "RaTlsError",
    "RaTlsResult",
    "RaTlsServer",
    "RaTlsTransport",
    "TlsError",
    "UnsupportedEvidenceType",
    "connect",
    "create_certificate",
    "inspect_certificate",
    "load_certificate",
    "write_identity",
]

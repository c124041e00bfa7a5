"""A key broker speaking Trustee's KBS protocol 0.4.0 (RCAR): secrets only for attested code.

:class:`KeyBroker` is the broker as a library (state in SQL: SQLite by default, PostgreSQL by
URL); :func:`create_app` is its HTTP face (Starlette, ``/kbs/v0/...``); :class:`KbsClient`
attests with a local :class:`~trustroom.tee.Attester` and fetches resources. Trustee's
clients (kbs-client, CoCo's attestation agent) speak to it unchanged for sgx/tdx evidence.

>>> broker = KeyBroker("sqlite:///kbs.db", resource_key=key, trust_sim=True)
>>> KbsClient("http://127.0.0.1:8080", attester).get_resource("default", "key", "1")
"""

from trustroom.kbs._admin import mint_admin_token
from trustroom.kbs._app import create_app
from trustroom.kbs._attest import attestation_message, new_tee_key
from trustroom.kbs._binding import canonical_json, runtime_data_digest, runtime_report_data
from trustroom.kbs._broker import PROTOCOL_VERSION, KeyBroker
from trustroom.kbs._client import KbsAdmin, KbsClient
from trustroom.kbs._errors import (
    AdminAuthFailed,
    BindingMismatch,
    EvidenceRejected,
    InvalidRequest,
    KbsError,
    KbsRemoteError,
    NonceReplayed,
    PolicyDenied,
    PolicyInvalid,
    ProtocolVersionMismatch,
    ResourceKeyInvalid,
    ResourceNotFound,
    ResponseInvalid,
    SessionExpired,
    SessionNotFound,
    StoreUnavailable,
    TokenInvalid,
    UnsupportedTee,
)
from trustroom.kbs._jwe import decrypt_response
from trustroom.kbs._policy import DEFAULT_POLICY, PolicyDecision
from trustroom.kbs._sealing import ResourceCipher, generate_resource_key
from trustroom.kbs._store import KbsStore

__all__ = [
    "DEFAULT_POLICY",
    "PROTOCOL_VERSION",
    "AdminAuthFailed",
    "BindingMismatch",
    "EvidenceRejected",
    "InvalidRequest",
    "KbsAdmin",
    "KbsClient",
    "KbsError",
    "KbsRemoteError",
    "KbsStore",
    "KeyBroker",
    "NonceReplayed",
    "PolicyDecision",
    "PolicyDenied",
    "PolicyInvalid",
    "ProtocolVersionMismatch",
    "ResourceCipher",
    "ResourceKeyInvalid",
    "ResourceNotFound",
    "ResponseInvalid",
    "SessionExpired",
    "SessionNotFound",
    "StoreUnavailable",
    "TokenInvalid",
    "UnsupportedTee",
    "attestation_message",
    "canonical_json",
    "create_app",
    "decrypt_response",
    "generate_resource_key",
    "mint_admin_token",
    "new_tee_key",
    "runtime_data_digest",
    "runtime_report_data",
]

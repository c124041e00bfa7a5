"""How the TEE public key and the challenge get into the evidence: Trustee's runtime-data rule.

``report_data = SHA-384(RFC 8785 JSON of {"nonce", "tee-pubkey", "additional-evidence"})``,
zero-padded to the 64 bytes of a quote's report data. Client and server compute it the same
way, so evidence made for another key or another challenge cannot be reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

from trustroom.tee import REPORT_DATA_SIZE

__all__ = ["canonical_json", "runtime_data", "runtime_data_digest", "runtime_report_data"]


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON, as Trustee's ``serde_json_canonicalizer`` writes it."""
    return rfc8785.dumps(value)


def runtime_data(
    nonce: str, tee_pubkey: Mapping[str, Any], additional_evidence: str = ""
) -> dict[str, Any]:
    """The structure whose digest the evidence carries (``primary_rd`` in Trustee)."""
    return {
        "nonce": nonce,
        "tee-pubkey": dict(tee_pubkey),
        "additional-evidence": additional_evidence,
    }


def runtime_data_digest(
    nonce: str, tee_pubkey: Mapping[str, Any], additional_evidence: str = ""
) -> bytes:
    """SHA-384 of the canonical runtime data (48 bytes)."""
    data = runtime_data(nonce, tee_pubkey, additional_evidence)
    return hashlib.sha384(canonical_json(data)).digest()


def runtime_report_data(
    nonce: str, tee_pubkey: Mapping[str, Any], additional_evidence: str = ""
) -> bytes:
    """The 64 bytes of report data a hardware (or sim) quote must carry."""
    digest = runtime_data_digest(nonce, tee_pubkey, additional_evidence)
    return digest.ljust(REPORT_DATA_SIZE, b"\0")

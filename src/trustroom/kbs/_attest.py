"""The client half of RCAR: a TEE key pair and the attestation message binding it."""

from __future__ import annotations

from typing import Any

from jwcrypto import jwk

from trustroom.kbs._binding import runtime_report_data
from trustroom.kbs._evidence import encode_primary_evidence
from trustroom.tee import Attester

__all__ = ["attestation_message", "new_tee_key", "public_jwk"]


def new_tee_key() -> jwk.JWK:
    """A fresh EC P-256 key pair, Trustee's default TEE key."""
    return jwk.JWK.generate(kty="EC", crv="P-256")


def public_jwk(key: jwk.JWK) -> dict[str, Any]:
    public = key.export_public(as_dict=True)
    return {"kty": "EC", "crv": public["crv"], "alg": "ECDH-ES+A256KW",
            "x": public["x"], "y": public["y"]}  # fmt: skip


def attestation_message(attester: Attester, nonce: str, key: jwk.JWK) -> dict[str, Any]:
    """The ``/attest`` body: evidence from ``attester`` bound to ``nonce`` and ``key``."""
    tee_pubkey = public_jwk(key)
    evidence = attester.evidence(runtime_report_data(nonce, tee_pubkey, ""))
    return {
        "init-data": None,
        "runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
        "tee-evidence": {
            "primary_evidence": encode_primary_evidence(attester.tee, evidence),
            "additional_evidence": "",
        },
    }

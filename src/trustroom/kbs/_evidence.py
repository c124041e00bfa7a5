"""Evidence inside ``tee-evidence.primary_evidence``: the JSON shapes Trustee's attesters send.

- ``sgx``: ``{"quote": base64}`` (guest-components ``SgxDcapAttesterEvidence``);
- ``tdx``: ``{"quote": base64, "cc_eventlog": base64 | null}`` (``TdxEvidence``; the event
  log is accepted and not yet replayed: trustroom appraises MRTD/RTMRs as the quote reports
  them);
- ``sim``: ``{"quote": base64}``, the sgx shape, since a simulated quote is an SGX DCAP quote;
- ``snp``: ``{"attestation_report": base64}`` of the raw 1184-byte report. Trustee's SNP
  attester sends the report as a structured serde object instead; that form is refused with a
  clear error until trustroom reads it.

Base64 is the standard alphabet as Trustee writes it; the URL-safe one is read too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from trustroom.kbs._errors import InvalidRequest, UnsupportedTee

__all__ = [
    "KBS_TEE_TYPES",
    "SUPPORTED_TEES",
    "check_tee",
    "decode_primary_evidence",
    "encode_primary_evidence",
]

# kbs-types' Tee enum (serde names), for telling "known to Trustee" from "unknown".
KBS_TEE_TYPES = frozenset(
    {
        "az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx", "cca", "csv", "se",
        "hygondcu", "tpm", "sample", "sampledevice",
    }
)  # fmt: skip
SUPPORTED_TEES = ("sgx", "tdx", "snp", "sim")
_FIELD = {"sgx": "quote", "tdx": "quote", "sim": "quote", "snp": "attestation_report"}


def _b64decode(text: str, where: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{where} is not base64: {exc}") from exc


def check_tee(tee: Any) -> str:
    """The request's TEE name if the broker can verify its evidence, else a typed refusal."""
    if not isinstance(tee, str):
        raise InvalidRequest("'tee' must be a string")
    if tee in SUPPORTED_TEES:
        return tee
    if tee in ("sample", "sampledevice"):
        raise UnsupportedTee(f"the {tee!r} TEE is refused: its evidence proves nothing")
    if tee in KBS_TEE_TYPES:
        raise UnsupportedTee(
            f"TEE {tee!r} is a Trustee TEE type trustroom does not verify yet; "
            f"supported: {', '.join(SUPPORTED_TEES)}"
        )
    raise UnsupportedTee(f"unknown TEE type {tee!r}; supported: {', '.join(SUPPORTED_TEES)}")


def decode_primary_evidence(tee: str, primary: Any) -> bytes:
    """The raw quote or report inside ``primary_evidence`` for ``tee``."""
    field = _FIELD[check_tee(tee)]
    if not isinstance(primary, Mapping):
        raise InvalidRequest("tee-evidence.primary_evidence must be a JSON object")
    value = primary.get(field)
    if tee == "snp" and isinstance(value, Mapping):
        raise InvalidRequest(
            "SNP evidence as a structured report object is not read yet",
            hint='Send {"attestation_report": "<base64 of the raw 1184-byte report>"}.',
        )
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{tee} primary_evidence needs a base64 string in {field!r}")
    return _b64decode(value, f"primary_evidence.{field}")


def encode_primary_evidence(tee: str, evidence: bytes) -> dict[str, Any]:
    """``primary_evidence`` for raw evidence of ``tee`` (what a client sends)."""
    return {_FIELD[check_tee(tee)]: base64.b64encode(evidence).decode()}

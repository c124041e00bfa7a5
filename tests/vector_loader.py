"""Loaders for the vectors in ../vectors: one function per kind of file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from trustroom.evidence import DcapCollateral

ROOT = Path(__file__).resolve().parent.parent / "vectors"


def read(relative: str) -> bytes:
    return (ROOT / relative).read_bytes()


@dataclass(frozen=True)
class IntelVector:
    name: str
    quote: bytes = field(repr=False)
    collateral_text: str = field(repr=False)
    at: datetime = field(repr=False)

    @property
    def collateral(self) -> DcapCollateral:
        return DcapCollateral.from_dcap_qvl_json(self.collateral_text)


def intel(name: str) -> IntelVector:
    """An Intel vector and the instant its README says to evaluate it at."""
    at = {
        "sgx_v3_dcapqvl": datetime(2025, 7, 19, 10, 1, 17, tzinfo=UTC),
        "tdx_v4_dcapqvl": datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC),
    }[name]
    return IntelVector(
        name,
        read(f"intel/{name}.quote"),
        (ROOT / "intel" / f"{name}.collateral.json").read_text(),
        at,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def recorded_replies(*scenarios: str) -> dict[str, Reply]:
    """Recorded service responses (recorded/<scenario>/*.json) keyed by URL path + query, so
    that any base URL (Intel PCS, a PCCS, a loopback server) finds them."""
    replies: dict[str, Reply] = {}
    for scenario in scenarios:
        for path in sorted((ROOT / "recorded" / scenario).glob("*.json")):
            rec = json.loads(path.read_text())
            body = (
                rec["body_text"].encode() if "body_text" in rec else bytes.fromhex(rec["body_hex"])
            )
            replies[httpx.URL(rec["url"]).raw_path.decode()] = Reply(
                rec["status"], rec["headers"], body
            )
    return replies

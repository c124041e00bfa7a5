"""AR4SI trustworthiness claims and EAR tiers (draft-ietf-rats-ar4si, draft-ietf-rats-ear).

Values and tiers follow veraison/rust-ear (``trust/claim.rs``, ``trust/tier.rs``) so that
tokens mean the same to every EAR consumer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "CLAIMS",
    "STATUSES",
    "status_of",
    "tier_of",
    "worst",
]

# JSON names in the order of their CBOR keys 0..7.
CLAIMS: tuple[str, ...] = (
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
)

# Tiers from best to worst; ``worst`` compares by this order.
STATUSES: tuple[str, ...] = ("none", "affirming", "warning", "contraindicated")

NO_CLAIM = 0
CRYPTO_FAILED = 99
APPROVED = 2  # approved_config, approved_rt, genuine_hw, encrypted_rt, ...
UNSAFE = 32  # unsafe_config, unsafe_rt, unsafe_hw
UNRECOGNIZED_RT = 33
CONTRAINDICATED = 96  # unsupportable_config, contraindicated_rt/hw, visible_rt
UNRECOGNIZED = 97  # unrecognized_hw, unrecognized_instance


def tier_of(value: int) -> str:
    """The tier of one claim value, as rust-ear's ``TrustClaim::tier``."""
    if -1 <= value <= 1:
        return "none"
    if -32 <= value <= 31:
        return "affirming"
    if -96 <= value <= 95:
        return "warning"
    return "contraindicated"


def worst(statuses: Iterable[str]) -> str:
    """The worst of several statuses (``none`` when there are none)."""
    return max(statuses, key=STATUSES.index, default="none")


def status_of(vector: Mapping[str, int]) -> str:
    """``ear.status`` of a trust vector: the worst tier of its claims."""
    return worst(tier_of(v) for v in vector.values())

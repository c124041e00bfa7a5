"""RFC 3339 times, always timezone-aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "parse_time", "require_aware"]


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``2025-07-19T10:01:17Z``); naive times are refused.

    Raises ValueError on anything else, so callers can turn it into their own typed error.
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone; add 'Z' for UTC")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a trailing ``Z``, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require_aware(value: datetime) -> datetime:
    """Return ``value`` in UTC, refusing naive datetimes (their meaning depends on the host)."""
    if value.tzinfo is None:
        raise TypeError("a timezone-aware datetime is required, e.g. datetime.now(UTC)")
    return value.astimezone(UTC)

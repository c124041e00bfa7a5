"""Unpadded base64url (RFC 4648 §5), as JOSE and Trustee's protocol write it."""

from __future__ import annotations

import base64

__all__ = ["b64url_decode", "b64url_encode"]


def b64url_encode(data: bytes | str) -> str:
    """``data`` (text as UTF-8) as unpadded base64url."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url; ValueError (binascii.Error) for anything else."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

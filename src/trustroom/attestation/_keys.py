"""Token signing keys with explicit lifetimes, overlap on rotation and expiry warnings.

Trustee signs its tokens with one certificate and nothing watches it: about 30 days after
deployment (OpenSSL's default ``-days 30``) every attestation failed with "JWK cannot be
validated by trust anchor" (trustee PR #1555). Here every key has a validity window, the
newest valid key signs, keys stay published until they expire so tokens signed before a
rotation keep verifying, and keys close to expiry are reported (and logged when used).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trustroom._core.timeutil import format_time, parse_time, require_aware
from trustroom.attestation import _jws
from trustroom.attestation._errors import SigningKeyInvalid, SigningKeyUnavailable

__all__ = ["DEFAULT_KEY_LIFETIME", "EXPIRY_WARNING", "KeyWarning", "SigningKey", "SigningKeys"]

DEFAULT_KEY_LIFETIME = timedelta(days=90)
EXPIRY_WARNING = timedelta(days=7)
_FORMAT_VERSION = 1


def _now(at: datetime | None) -> datetime:
    return datetime.now(UTC) if at is None else require_aware(at)


@dataclass(frozen=True)
class SigningKey:
    """One EC P-256 signing key, valid from ``not_before`` until ``not_after``.

    ``certificates`` is an optional chain, leaf first, certifying the key; tokens then carry
    it as ``x5c`` so that relying parties may trust a CA instead of individual keys.
    """

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    not_before: datetime
    not_after: datetime
    certificates: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            self.private_key.curve, ec.SECP256R1
        ):
            raise SigningKeyInvalid("token signing keys must be EC P-256 (ES256)")
        object.__setattr__(self, "not_before", require_aware(self.not_before))
        object.__setattr__(self, "not_after", require_aware(self.not_after))
        if self.not_after <= self.not_before:
            raise SigningKeyInvalid(f"signing key {self.kid}: not_after is not after not_before")
        if self.certificates and self.certificates[0].public_key() != self.public_key:
            raise SigningKeyInvalid(f"signing key {self.kid}: the certificate is for another key")

    @classmethod
    def generate(
        cls,
        *,
        lifetime: timedelta = DEFAULT_KEY_LIFETIME,
        at: datetime | None = None,
    ) -> SigningKey:
        start = _now(at)
        return cls(ec.generate_private_key(ec.SECP256R1()), start, start + lifetime)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @cached_property
    def kid(self) -> str:
        """RFC 7638 thumbprint: stable, and derived from the key so it cannot be mislabelled."""
        return _jws.thumbprint(self.public_key)

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at < self.not_after

    def jwk(self) -> dict[str, Any]:
        """The public JWK as published: with ``kid``, ``alg``, ``use`` and any ``x5c``."""
        jwk: dict[str, Any] = {
            **_jws.jwk_of(self.public_key),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        }
        if self.certificates:
            jwk["x5c"] = [_x5c(cert) for cert in self.certificates]
        return jwk

    def to_dict(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
            "private_key_pem": self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii"),
            "certificates_pem": [
                cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for cert in self.certificates
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(
                data["private_key_pem"].encode("ascii"), password=None
            )
            certificates = tuple(
                x509.load_pem_x509_certificate(pem.encode("ascii"))
                for pem in data.get("certificates_pem", [])
            )
            not_before = parse_time(data["not_before"])
            not_after = parse_time(data["not_after"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SigningKeyInvalid(f"signing key entry is malformed: {exc!r}") from exc
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise SigningKeyInvalid("token signing keys must be EC P-256 (ES256)")
        key = cls(private, not_before, not_after, certificates)
        if "kid" in data and data["kid"] != key.kid:
            raise SigningKeyInvalid(f"signing key entry says kid {data['kid']}, key is {key.kid}")
        return key


def _x5c(cert: x509.Certificate) -> str:
    # Standard base64 as RFC 7517 4.7 requires (not base64url).
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


@dataclass(frozen=True)
class KeyWarning:
    """A signing key that expires soon; ``successor`` says whether a later key takes over."""

    kid: str
    not_after: datetime
    successor: bool

    @property
    def message(self) -> str:
        then = "a newer key takes over" if self.successor else "NO key takes over: rotate now"
        return f"token signing key {self.kid} expires at {format_time(self.not_after)}; {then}"


class SigningKeys:
    """The token signing keys of one issuer: sign with the newest, publish all unexpired."""

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        self._keys: list[SigningKey] = []
        for key in keys:
            self.add(key)

    @classmethod
    def generate(
        cls, *, lifetime: timedelta = DEFAULT_KEY_LIFETIME, at: datetime | None = None
    ) -> SigningKeys:
        """A key set with one fresh key valid from ``at`` (now) for ``lifetime``."""
        return cls([SigningKey.generate(lifetime=lifetime, at=at)])

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys)

    def add(self, key: SigningKey) -> None:
        if any(k.kid == key.kid for k in self._keys):
            raise SigningKeyInvalid(f"signing key {key.kid} is already in the set")
        self._keys.append(key)
        self._keys.sort(key=lambda k: (k.not_before, k.not_after))

    def rotate(
        self,
        key: SigningKey | None = None,
        *,
        lifetime: timedelta = DEFAULT_KEY_LIFETIME,
        at: datetime | None = None,
    ) -> SigningKey:
        """Add ``key`` (or a fresh one valid from ``at`` for ``lifetime``); it signs from its
        ``not_before`` on, while the older keys stay published until they expire."""
        new = key if key is not None else SigningKey.generate(lifetime=lifetime, at=at)
        self.add(new)
        return new

    def prune(self, at: datetime | None = None) -> list[SigningKey]:
        """Drop and return the keys expired at ``at``: they no longer verify anything."""
        when = _now(at)
        expired = [k for k in self._keys if k.not_after <= when]
        self._keys = [k for k in self._keys if k.not_after > when]
        return expired

    def current(self, at: datetime | None = None) -> SigningKey:
        """The key that signs at ``at``: the newest (latest ``not_before``) valid one."""
        when = _now(at)
        valid = [k for k in self._keys if k.valid_at(when)]
        if not valid:
            raise SigningKeyUnavailable(
                f"no token signing key is valid at {format_time(when)} "
                f"({len(self._keys)} key(s) in the set)"
            )
        return max(valid, key=lambda k: (k.not_before, k.not_after))

    def published(self, at: datetime | None = None) -> list[SigningKey]:
        """Keys a verifier should trust at ``at``: all not yet expired, including keys not
        valid yet, so verifiers learn a successor before it starts signing."""
        when = _now(at)
        return [k for k in self._keys if k.not_after > when]

    def jwks(self, at: datetime | None = None) -> dict[str, Any]:
        """The JSON Web Key Set to publish (public keys only)."""
        return {"keys": [k.jwk() for k in self.published(at)]}

    def public_keys(self, at: datetime | None = None) -> dict[str, ec.EllipticCurvePublicKey]:
        return {k.kid: k.public_key for k in self.published(at)}

    def warnings(
        self, at: datetime | None = None, *, threshold: timedelta = EXPIRY_WARNING
    ) -> list[KeyWarning]:
        """Unexpired keys that expire within ``threshold`` of ``at``."""
        when = _now(at)
        found: list[KeyWarning] = []
        for key in self._keys:
            if when < key.not_after <= when + threshold:
                successor = any(k.not_after > key.not_after for k in self._keys if k is not key)
                found.append(KeyWarning(key.kid, key.not_after, successor))
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, private keys included: store it as a secret."""
        return {"version": _FORMAT_VERSION, "keys": [k.to_dict() for k in self._keys]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigningKeys:
        if not isinstance(data, Mapping) or data.get("version") != _FORMAT_VERSION:
            raise SigningKeyInvalid(f"signing key set must be version {_FORMAT_VERSION}")
        entries = data.get("keys")
        if not isinstance(entries, list):
            raise SigningKeyInvalid("signing key set has no 'keys' list")
        return cls(SigningKey.from_dict(e) for e in entries)

    def save(self, path: Path) -> None:
        """Write the set to ``path`` atomically, readable by the owner only (0600)."""
        path = Path(path)
        data = json.dumps(self.to_dict(), indent=2).encode()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> SigningKeys:
        try:
            data = json.loads(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise SigningKeyInvalid(f"cannot read signing keys from {path}: {exc}") from exc
        return cls.from_dict(data)

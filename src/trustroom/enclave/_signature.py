"""Signing an image: who vouches for it, and which product and security version it is.

As SGX's SIGSTRUCT does for an enclave, the signature binds the measurement to a product id
and a security version chosen by the signer; the signer's identity (MRSIGNER) is the SHA-256 of
its public key. Relying parties pin either the measurement (this exact image) or the signer
with a minimum security version (any later image of this product from this signer). Keys are
Ed25519; signatures are deterministic, so signing twice gives the same file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import rfc8785

from trustroom._core.files import create_exclusively, write_atomically
from trustroom._core.paths import trustroom_home
from trustroom.enclave._errors import EnclaveError, ImageNotBuilt, ImageSignatureInvalid
from trustroom.enclave._image import BUILD_DIR, FORMAT, Image

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["ImageSignature", "default_key_path", "load_signature", "sign", "signing_key"]

_SIGNATURE_FILE = "signature.json"


class ImageSignature(NamedTuple):
    """A signer's statement about one measurement."""

    measurement: bytes
    product_id: int
    security_version: int
    debug: bool
    public_key: bytes  # raw Ed25519, 32 bytes
    signature: bytes

    @property
    def mrsigner(self) -> bytes:
        """The signer's identity: SHA-256 of its public key."""
        return hashlib.sha256(self.public_key).digest()

    def payload(self) -> bytes:
        """The bytes signed: RFC 8785 canonical JSON of the statement."""
        return rfc8785.dumps(
            {
                "format": FORMAT,
                "measurement": self.measurement.hex(),
                "product_id": self.product_id,
                "security_version": self.security_version,
                "debug": self.debug,
            }
        )

    def verify(self, image: Image) -> None:
        """Raise :class:`ImageSignatureInvalid` unless this signs ``image`` as it is now."""
        if self.measurement != image.measurement:
            raise ImageSignatureInvalid(
                f"{image.manifest.directory}: the signature is for measurement "
                f"{self.measurement.hex()}, the image measures {image.measurement.hex()}"
            )
        # Imported here: starting an enclave should not pay for the whole of cryptography.
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                self.signature, self.payload()
            )
        except (InvalidSignature, ValueError):
            raise ImageSignatureInvalid(
                f"{image.manifest.directory}: the signature does not verify"
            ) from None

    def reference_values(
        self, name: str, *, tee: list[str], pin: str = "measurement"
    ) -> dict[str, Any]:
        """Reference values (``trustroom.attestation``) accepting this image: ``pin`` is
        ``"measurement"`` (this exact image) or ``"signer"`` (this signer's images of any
        measurement, from this security version up)."""
        if pin not in ("measurement", "signer"):
            raise ValueError("pin is 'measurement' or 'signer'")
        measurements = {"mrenclave": [self.measurement.hex()]} if pin == "measurement" else {}
        return {
            "name": name,
            "tee": tee,
            "measurements": {**measurements, "mrsigner": [self.mrsigner.hex()]},
            "min_svn": {"isv_svn": self.security_version},
            "allow_debug": self.debug,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "measurement": self.measurement.hex(),
            "mrsigner": self.mrsigner.hex(),
            "product_id": self.product_id,
            "security_version": self.security_version,
            "debug": self.debug,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSignature:
        return cls(
            measurement=bytes.fromhex(data["measurement"]),
            product_id=int(data["product_id"]),
            security_version=int(data["security_version"]),
            debug=bool(data["debug"]),
            public_key=bytes.fromhex(data["public_key"]),
            signature=bytes.fromhex(data["signature"]),
        )


def sign(image: Image, key: Ed25519PrivateKey) -> ImageSignature:
    """Sign ``image`` with the product id and security version of its manifest, and write
    ``build/signature.json``."""
    from cryptography.hazmat.primitives import serialization

    manifest = image.manifest
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    unsigned = ImageSignature(
        image.measurement,
        manifest.product_id,
        manifest.security_version,
        manifest.debug,
        public,
        b"",
    )
    signed = unsigned._replace(signature=key.sign(unsigned.payload()))
    target = manifest.directory / BUILD_DIR / _SIGNATURE_FILE
    write_atomically(target, (json.dumps(signed.to_dict(), indent=1) + "\n").encode(), mode=0o644)
    return signed


def load_signature(directory: Path) -> ImageSignature:
    """The signature last written in ``directory`` (``build/signature.json``)."""
    path = directory / BUILD_DIR / _SIGNATURE_FILE
    try:
        return ImageSignature.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ImageNotBuilt(
            f"{directory}: the image has not been signed",
            hint="Run `trustroom enclave sign DIR`.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageSignatureInvalid(f"{path} cannot be read ({exc})") from None


def default_key_path() -> Path:
    """Where the signing key lives unless one is named: ``$TRUSTROOM_HOME``."""
    return trustroom_home() / "enclave-signing-key.pem"


def signing_key(path: Path | None = None) -> tuple[Ed25519PrivateKey, bool]:
    """The Ed25519 key in ``path`` (PEM, PKCS#8); without a path, the default key, created on
    first use. Also whether it was just created."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    target = path or default_key_path()
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        if path is not None:
            raise EnclaveError(
                f"{path}: no signing key there",
                hint="Leave out --key to use (and create) the default key, or give a PEM file.",
            ) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Two first uses at once: one key wins, and both sign with it.
        created = create_exclusively(target, pem, mode=0o600)
        return _private_key(target, target.read_bytes()), created
    return _private_key(target, data), False


def _private_key(target: Path, data: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise EnclaveError(f"{target}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise EnclaveError(f"{target}: the signing key must be Ed25519")
    return loaded

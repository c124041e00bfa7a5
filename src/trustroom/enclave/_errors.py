"""Typed errors of enclave images, each with a stable code and a hint."""

from __future__ import annotations

from typing import ClassVar

from trustroom._core.errors import TrustroomError

__all__ = [
    "EnclaveError",
    "ImageNotBuilt",
    "ImageSignatureInvalid",
    "ManifestInvalid",
    "OutputUnreadable",
    "TrustedFileChanged",
]


class EnclaveError(TrustroomError):
    """An enclave image could not be built, signed, checked or run."""

    code: ClassVar[str] = "enclave_error"


class ManifestInvalid(EnclaveError):
    """The manifest (trustroom.toml) is not valid: the message names the line."""

    code: ClassVar[str] = "enclave_manifest_invalid"
    default_hint: ClassVar[str] = (
        "Fix the manifest at the line named; docs/enclave.md lists every key it accepts."
    )


class ImageNotBuilt(EnclaveError):
    """A step needs the image built (or signed) first."""

    code: ClassVar[str] = "image_not_built"
    default_hint: ClassVar[str] = "Run `trustroom enclave build DIR` (and `sign`) first."


class ImageSignatureInvalid(EnclaveError):
    """The image's signature does not match its measurement or its signer."""

    code: ClassVar[str] = "image_signature_invalid"
    default_hint: ClassVar[str] = (
        "The image changed after it was signed: build and sign it again with the signer's key."
    )


class TrustedFileChanged(EnclaveError):
    """A trusted file differs from the hash measured at build time (or has gone)."""

    code: ClassVar[str] = "trusted_file_changed"
    default_hint: ClassVar[str] = (
        "A trusted file is not what was measured: restore it, or rebuild and re-sign the image "
        "(which changes its measurement, so relying parties must accept the new one)."
    )


class OutputUnreadable(EnclaveError):
    """A sealed output that this key cannot open, or that was altered."""

    code: ClassVar[str] = "sealed_output_unreadable"
    default_hint: ClassVar[str] = (
        "Only the recipients named when it was sealed can open an output, each with its own "
        "key; a changed byte makes it unreadable to everyone."
    )

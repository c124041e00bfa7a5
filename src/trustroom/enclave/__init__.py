"""Enclave images: an unmodified program described by a manifest, measured and signed.

``trustroom.toml`` (see :mod:`trustroom.enclave._manifest`) says what runs, which files it may
see (trusted files are hashed into the measurement, allowed files are not), what it gets at
start (environment, sealed volumes, key broker secrets), its limits, and who receives the
results it writes (``[outputs]``: each sealed to the recipients a trusted file names).
:func:`build` hashes everything into the measurement, :func:`sign` adds who vouches for it
(MRSIGNER) with a product id and a security version.
"""

from trustroom.enclave._errors import (
    EnclaveError,
    ImageNotBuilt,
    ImageSignatureInvalid,
    ManifestInvalid,
    OutputUnreadable,
    TrustedFileChanged,
)
from trustroom.enclave._image import FORMAT, Image, build, load_image, verified_image
from trustroom.enclave._manifest import (
    MANIFEST_NAME,
    WORKDIR,
    Limits,
    Manifest,
    Outputs,
    SealedMount,
    Secret,
    load_manifest,
)
from trustroom.enclave._outputs import open_output, seal_output
from trustroom.enclave._signature import (
    ImageSignature,
    default_key_path,
    load_signature,
    sign,
    signing_key,
)

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "WORKDIR",
    "EnclaveError",
    "Image",
    "ImageNotBuilt",
    "ImageSignature",
    "ImageSignatureInvalid",
    "Limits",
    "Manifest",
    "ManifestInvalid",
    "OutputUnreadable",
    "Outputs",
    "SealedMount",
    "Secret",
    "TrustedFileChanged",
    "build",
    "default_key_path",
    "load_image",
    "load_manifest",
    "load_signature",
    "open_output",
    "seal_output",
    "sign",
    "signing_key",
    "verified_image",
]

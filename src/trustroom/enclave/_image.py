"""Building an image: every trusted file resolved and hashed into one canonical document, whose
hash is the image's measurement.

The measured document holds what decides the program's behaviour: the command, the
environment it is given, the SHA-256 of every trusted file at the path the program sees it,
which host paths are allowed unmeasured, the sealed volumes and their key sources, the secrets
and where they go, the network mode, the limits, the debug flag and, for an image with
``[outputs]``, the outputs folder and the recipients file's path. It does not hold where
files lie on the host or who signs (product id and security version travel with the
signature, as in SGX's SIGSTRUCT). So the same inputs give the same measurement on any
machine, whatever the folder is called.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat as stat_module
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import rfc8785

from trustroom._core.files import write_atomically
from trustroom.enclave._errors import ImageNotBuilt, ManifestInvalid, TrustedFileChanged
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

__all__ = [
    "BUILD_DIR",
    "FORMAT",
    "SEARCH_PATH",
    "Image",
    "build",
    "load_image",
    "measure",
    "program_environment",
    "verified_image",
]

FORMAT = "trustroom-enclave/1"
BUILD_DIR = "build"  # inside the manifest's folder
_IMAGE_FILE = "image.json"
SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"  # where a bare program name is looked up


class Image(NamedTuple):
    """A built image: the measured document, its measurement, where the trusted and allowed
    files are on this host (``sources``: path inside -> path on the host), and the SHA-256 of
    the manifest text it was built from."""

    manifest: Manifest
    measured: Mapping[str, Any]
    sources: Mapping[str, str]
    manifest_sha256: str

    @property
    def measurement(self) -> bytes:
        return measure(self.measured)

    @property
    def trusted(self) -> Mapping[str, str]:
        """SHA-256 (hex) of each trusted file, by the path the program sees."""
        files: Mapping[str, str] = self.measured["trusted"]
        return files

    def save(self) -> Path:
        """Write ``build/image.json`` next to the manifest; its path. It holds the checked
        manifest too, so that a run need not read and check the TOML again."""
        folder = self.manifest.directory / BUILD_DIR
        folder.mkdir(exist_ok=True)
        document = {
            "measurement": self.measurement.hex(),
            "measured": self.measured,
            "sources": self.sources,
            "manifest": _manifest_document(self.manifest),
            "manifest_sha256": self.manifest_sha256,
        }
        target = folder / _IMAGE_FILE
        text = json.dumps(document, indent=1, sort_keys=True) + "\n"
        write_atomically(target, text.encode(), mode=0o644)
        return target


def program_environment(measured: Mapping[str, Any]) -> dict[str, str]:
    """The environment an image gives its program, before passed-through host variables:
    ``PATH`` and ``HOME`` unless the manifest sets them, then the manifest's values."""
    return {"PATH": SEARCH_PATH, "HOME": "/tmp", **measured["env"]["set"]}


def measure(measured: Mapping[str, Any]) -> bytes:
    """The measurement of a measured document: SHA-256 of the format name and its RFC 8785
    canonical JSON."""
    return hashlib.sha256(FORMAT.encode() + b"\0" + rfc8785.dumps(measured)).digest()


def build(directory: Path) -> Image:
    """Read the manifest in ``directory``, hash its trusted files and return the image
    (:meth:`Image.save` writes it)."""
    return build_from(load_manifest(directory), manifest_sha256(directory))


def manifest_sha256(directory: Path) -> str:
    """SHA-256 (hex) of the manifest text as it is now."""
    try:
        return hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()
    except OSError as exc:
        raise ManifestInvalid(f"{directory / MANIFEST_NAME}: cannot be read: {exc}") from None


def build_from(manifest: Manifest, digest: str, *, check_recipients: bool = True) -> Image:
    """The image of a checked manifest (whose text has the SHA-256 ``digest``): its trusted
    files hashed as they are now, and its recipients file checked (unless
    ``check_recipients`` is false: a run checks the bytes it reads)."""
    trusted: dict[str, str] = {}
    sources: dict[str, str] = {}
    for written in manifest.trusted:
        for inside, host in _trusted_files(manifest, written):
            if inside in trusted:
                raise manifest.error(("files", "trusted"), f"{inside} is listed twice", written)
            trusted[inside] = _sha256(host)
            sources[inside] = str(host)
    allowed: list[str] = []
    for written in manifest.allowed:
        host = manifest.on_host(written)
        if not host.exists():
            raise manifest.error(("files", "allowed"), f"{host} does not exist", written)
        inside = manifest.inside(written)
        if inside in trusted or any(inside.startswith(t + "/") for t in trusted):
            raise manifest.error(("files", "allowed"), f"{inside} is also trusted", written)
        allowed.append(inside)
        sources[inside] = str(host)
    program = _program(manifest, trusted)
    measured = {
        "name": manifest.name,
        "entrypoint": list(manifest.entrypoint),
        "program": program,
        "workdir": WORKDIR,
        "env": {"set": dict(manifest.env), "passthrough": list(manifest.passthrough)},
        "trusted": dict(sorted(trusted.items())),
        "allowed": sorted(allowed),
        "volumes": [{"mount": v.mount, "key": v.key} for v in manifest.volumes],
        "secrets": [
            {"resource": s.resource, **({"env": s.env} if s.env else {"file": s.file})}
            for s in manifest.secrets
        ],
        "network": manifest.network,
        "limits": {
            name: value for name, value in manifest.limits._asdict().items() if value is not None
        },
        "debug": manifest.debug,
    }
    if manifest.outputs is not None:
        # Only here: images without [outputs] keep the measurements they had before it.
        recipients = manifest.inside(manifest.outputs.recipients)
        if check_recipients:
            _check_recipients(manifest, manifest.outputs, trusted, sources)
        measured["outputs"] = {"folder": manifest.outputs.folder, "recipients": recipients}
    return Image(manifest, measured, dict(sorted(sources.items())), digest)


def _check_recipients(
    manifest: Manifest, outputs: Outputs, trusted: Mapping[str, str], sources: Mapping[str, str]
) -> None:
    key, inside = ("outputs", "recipients"), manifest.inside(outputs.recipients)
    if inside not in trusted:
        host = manifest.on_host(outputs.recipients)
        state = "is a folder, not the recipients file" if host.is_dir() else "does not exist"
        raise manifest.error(key, f"{host} {state}")
    from trustroom.enclave._outputs import read_recipients  # here: HPKE and libsodium

    host = Path(sources[inside])
    try:
        read_recipients(host.read_bytes())
    except OSError as exc:
        raise manifest.error(key, f"{host} cannot be read: {exc}") from None
    except ValueError as exc:
        raise manifest.error(key, f"{host}: {exc}") from None


def load_image(directory: Path) -> Image:
    """The image last built in ``directory`` (``build/image.json``), without reading the
    manifest again: compare ``manifest_sha256`` with :func:`manifest_sha256` to know whether
    it has changed since."""
    path = directory / BUILD_DIR / _IMAGE_FILE
    try:
        document = json.loads(path.read_text())
        manifest = _manifest_from(directory, document["manifest"])
        return Image(
            manifest, document["measured"], document["sources"], document["manifest_sha256"]
        )
    except FileNotFoundError:
        raise ImageNotBuilt(f"{directory}: the image has not been built") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageNotBuilt(
            f"{path} cannot be read ({exc})", hint="Build the image again."
        ) from None


def verified_image(directory: Path) -> Image:
    """The built image, after checking that the folder still holds exactly what was built:
    the same manifest text, the same trusted files."""
    built = load_image(directory)
    if manifest_sha256(directory) != built.manifest_sha256:
        raise ImageNotBuilt(
            f"{directory}: the manifest changed since the image was built",
            hint="Run `trustroom enclave build DIR` (and `sign`) again.",
        )
    # The recipients file is checked when a run reads it; a changed one is reported below.
    now = build_from(built.manifest, built.manifest_sha256, check_recipients=False)
    if now.measurement == built.measurement:
        # The fresh one: its sources are where the files are now, should the folder have
        # moved since the build (an image shipped to the machine that runs it).
        return now
    for path, digest in built.trusted.items():
        if now.trusted.get(path) != digest:
            state = "has gone" if path not in now.trusted else "changed"
            raise TrustedFileChanged(
                f"{path} ({built.sources.get(path)}) {state} since the image was built",
                path=path,
            )
    added = sorted(set(now.trusted) - set(built.trusted))
    if added:
        raise TrustedFileChanged(
            f"{added[0]} was added to a trusted folder since the image was built", path=added[0]
        )
    raise ImageNotBuilt(
        f"{directory}: the image differs from its build", hint="Build the image again."
    )


def _manifest_document(manifest: Manifest) -> dict[str, Any]:
    fields = manifest._asdict()
    del fields["directory"], fields["lines"]
    fields["env"] = dict(manifest.env)
    fields["volumes"] = [v._asdict() for v in manifest.volumes]
    fields["secrets"] = [s._asdict() for s in manifest.secrets]
    fields["limits"] = manifest.limits._asdict()
    fields["outputs"] = manifest.outputs._asdict() if manifest.outputs else None
    return fields


def _manifest_from(directory: Path, fields: dict[str, Any]) -> Manifest:
    return Manifest(
        **{
            **fields,
            "directory": directory,
            "entrypoint": tuple(fields["entrypoint"]),
            "trusted": tuple(fields["trusted"]),
            "allowed": tuple(fields["allowed"]),
            "env": MappingProxyType(fields["env"]),
            "passthrough": tuple(fields["passthrough"]),
            "volumes": tuple(SealedMount(**v) for v in fields["volumes"]),
            "secrets": tuple(Secret(**s) for s in fields["secrets"]),
            "limits": Limits(**fields["limits"]),
            # Images built before [outputs] existed have no such field.
            "outputs": Outputs(**fields["outputs"]) if fields.get("outputs") else None,
        }
    )


def _program(manifest: Manifest, trusted: Mapping[str, str]) -> str:
    """The trusted file the entrypoint runs: its path, or its name looked up in SEARCH_PATH."""
    name = manifest.entrypoint[0]
    if "/" in name:
        candidates = [posixpath.normpath(posixpath.join(WORKDIR, name))]
    else:
        candidates = [f"{folder}/{name}" for folder in SEARCH_PATH.split(":")]
    for candidate in candidates:
        if candidate in trusted:
            return candidate
    raise manifest.error(
        ("enclave", "entrypoint"),
        f"{name} is not among the trusted files (looked for {', '.join(candidates)}): the "
        "program itself must be measured",
    )


def _trusted_files(manifest: Manifest, written: str) -> Iterator[tuple[str, Path]]:
    """The regular files a trusted entry names (a folder: every file under it), with the
    path each has inside the enclave."""
    host = manifest.on_host(written)
    inside = manifest.inside(written)
    try:
        mode = host.stat().st_mode
    except FileNotFoundError:
        raise manifest.error(("files", "trusted"), f"{host} does not exist", written) from None
    except OSError as exc:
        raise manifest.error(
            ("files", "trusted"), f"{host} cannot be read: {exc}", written
        ) from None
    if stat_module.S_ISREG(mode):
        yield inside, host
        return
    if not stat_module.S_ISDIR(mode):
        raise manifest.error(("files", "trusted"), f"{host} is not a file or a folder", written)
    for root, folders, names in os.walk(host):
        folders.sort()
        for name in sorted(names):
            path = Path(root, name)
            if path.is_file():  # links to files count as files; sockets and the like do not
                relative = path.relative_to(host).as_posix()
                yield f"{inside.rstrip('/')}/{relative}", path


def _sha256(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as exc:
        raise ManifestInvalid(f"{path}: cannot be read: {exc}") from None

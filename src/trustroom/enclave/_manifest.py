"""The manifest a person writes (``trustroom.toml``): what runs, which files it may see, what it
gets at start, and the limits it runs under. Every problem is reported with its line.

::

    [enclave]
    name = "hello"
    entrypoint = "python3 app.py"        # or a list of arguments
    product_id = 1                       # signed with the image, not measured
    security_version = 1                 # idem: relying parties ask for a minimum
    debug = false                        # measured: a debug image has another measurement

    [files]
    trusted = ["app.py", "/usr/bin/python3", "/usr/lib/python3.11"]  # hashed, read-only
    allowed = ["/etc/resolv.conf"]       # read from the host as is: not measured

    [env]
    set = { LANG = "C.UTF-8" }
    passthrough = ["TZ"]                 # host variables, only those listed

    [[volumes]]
    mount = "/data"                      # where the program sees it
    volume = "state"                     # the sealfs volume folder (relative to the manifest)
    key = "sealing"                      # or "kbs:default/state-key/1"

    [[secrets]]
    resource = "default/db-password/1"   # fetched from the key broker before the start
    env = "DB_PASSWORD"                  # or file = "/data/db-password", inside a volume

    [network]
    mode = "none"                        # "none": loopback only; "host": the host's network

    [limits]
    memory = "512M"
    threads = 64
    processes = 16

    [outputs]
    folder = "/outputs"                  # where the program writes its results
    recipients = "recipients.json"       # a trusted file: who receives which output, sealed

Relative paths are relative to the manifest's folder, whose files the program sees under
``/app`` (its working directory); absolute paths are host paths, seen at the same place.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from trustroom.enclave._errors import ManifestInvalid

if TYPE_CHECKING:
    from trustroom.enclave._locate import Lines

__all__ = [
    "MANIFEST_NAME",
    "WORKDIR",
    "Limits",
    "Manifest",
    "Outputs",
    "SealedMount",
    "Secret",
    "load_manifest",
]

MANIFEST_NAME = "trustroom.toml"
WORKDIR = "/app"  # where the manifest's folder appears inside the enclave

_TABLES: dict[str, set[str]] = {
    "enclave": {"name", "entrypoint", "product_id", "security_version", "debug"},
    "files": {"trusted", "allowed"},
    "env": {"set", "passthrough"},
    "network": {"mode"},
    "limits": {"memory", "threads", "processes"},
    "outputs": {"folder", "recipients"},
}
_ARRAYS: dict[str, set[str]] = {
    "volumes": {"mount", "volume", "key"},
    "secrets": {"resource", "env", "file"},
}
_NETWORK_MODES = ("none", "host")
# Patterns, compiled on first use (re caches them): a run does not parse manifests.
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_RESOURCE = r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+"
_SIZE = r"(?i)(\d+)\s*([KMG]?)i?B?"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_SYSTEM_MOUNTS = ("/proc", "/dev", "/sys")  # provided by the enclave: nothing in or over them
_HIDDEN_BY_A_MOUNT = ("/tmp", WORKDIR)  # a volume may live inside, not on or over


class SealedMount(NamedTuple):
    """A sealfs volume mounted for the program; ``key`` is ``"sealing"`` (a key only this
    image can derive) or ``"kbs:REPO/TYPE/TAG"`` (a key broker resource)."""

    mount: str
    volume: str
    key: str


class Secret(NamedTuple):
    """A key broker resource fetched before the program starts, put in ``env`` or ``file``."""

    resource: str
    env: str | None = None
    file: str | None = None


class Limits(NamedTuple):
    """Resource limits; None leaves the host's."""

    memory: int | None = None  # bytes
    threads: int | None = None
    processes: int | None = None

    @property
    def tasks(self) -> int | None:
        """The bound on threads of all processes together: ``threads``, or ``processes`` when
        ``threads`` is not given (every process is at least one thread)."""
        return self.threads or self.processes


class Outputs(NamedTuple):
    """Where the program writes its results (``folder``, inside the enclave), and the trusted
    file (``recipients``, as written) naming who receives each of them, sealed."""

    folder: str
    recipients: str


class Manifest(NamedTuple):
    """A parsed and checked ``trustroom.toml``. Paths are as written (see the module doc)."""

    directory: Path
    name: str
    entrypoint: tuple[str, ...]
    product_id: int = 0
    security_version: int = 0
    debug: bool = False
    trusted: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    env: Mapping[str, str] = MappingProxyType({})
    passthrough: tuple[str, ...] = ()
    volumes: tuple[SealedMount, ...] = ()
    secrets: tuple[Secret, ...] = ()
    network: str = "none"
    limits: Limits = Limits()
    outputs: Outputs | None = None
    lines: Lines | None = None  # where each key is in the text it was read from, if any

    def inside(self, path: str) -> str:
        """Where a trusted or allowed path (as written) appears inside the enclave."""
        if path.startswith("/"):
            return posixpath.normpath(path)
        return posixpath.normpath(posixpath.join(WORKDIR, path))

    def on_host(self, path: str) -> Path:
        """Where a trusted or allowed path (as written) is on the host."""
        return Path(path) if path.startswith("/") else self.directory / path

    def error(
        self, key: tuple[str | int, ...], message: str, item: str | None = None
    ) -> ManifestInvalid:
        """A :class:`ManifestInvalid` pointing at the line of ``key``."""
        from trustroom.enclave._locate import Lines

        return _error(self.directory / MANIFEST_NAME, self.lines or Lines(""), key, message, item)


def load_manifest(directory: Path) -> Manifest:
    """Read and check ``directory/trustroom.toml``: types, unknown keys, paths and mounts
    (whether the files exist is checked when the image is built)."""
    path = directory / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestInvalid(
            f"{path}: no manifest here",
            hint="Create one with `trustroom enclave new DIR --entrypoint CMD`.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"{path}: cannot be read: {exc}") from None
    import tomllib  # here: a run reads its image, not the manifest, and starts sooner

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestInvalid(f"{path}: not valid TOML: {exc}", file=str(path)) from None
    return _Reader(directory, path, text, document).manifest()


def _error(
    path: Path, lines: Lines, key: tuple[str | int, ...], message: str, item: str | None = None
) -> ManifestInvalid:
    dotted = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")
    line = lines.of(key, item)
    where = f"{path}, line {line}" if line else str(path)
    return ManifestInvalid(f"{where}: {dotted}: {message}", file=str(path), line=line, key=dotted)


class _Reader:
    """One pass over the parsed document, raising at the first problem."""

    def __init__(self, directory: Path, path: Path, text: str, document: dict[str, Any]) -> None:
        self.directory = directory
        self.path = path
        from trustroom.enclave._locate import Lines

        self.lines = Lines(text)
        self.document = document

    def fail(
        self, key: tuple[str | int, ...], message: str, item: str | None = None
    ) -> ManifestInvalid:
        return _error(self.path, self.lines, key, message, item)

    def table(self, name: str) -> dict[str, Any]:
        value = self.document.get(name, {})
        if not isinstance(value, dict):
            raise self.fail((name,), "must be a table ([" + name + "])")
        self.known((name,), value, _TABLES[name])
        return value

    def known(self, key: tuple[str | int, ...], value: dict[str, Any], allowed: set[str]) -> None:
        for name in value:
            if name not in allowed:
                raise self.fail(
                    (*key, name), f"unknown key; known here: {', '.join(sorted(allowed))}"
                )

    def typed(self, key: tuple[str | int, ...], value: Any, kind: type, what: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be {what}, not {value!r}")
        return value

    def strings(self, key: tuple[str | int, ...], value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return tuple(value)

    def number(self, key: tuple[str | int, ...], value: Any, bits: int) -> int:
        self.typed(key, value, int, "a whole number")
        if not 0 <= value < 1 << bits:
            raise self.fail(key, f"must be between 0 and {(1 << bits) - 1}")
        return int(value)

    def manifest(self) -> Manifest:
        for name in self.document:
            if name not in _TABLES and name not in _ARRAYS:
                known = ", ".join(sorted([*_TABLES, *_ARRAYS]))
                raise self.fail((name,), f"unknown table; known: {known}")
        enclave = self.table("enclave")
        if "entrypoint" not in enclave:
            raise self.fail(("enclave",), "entrypoint is required (the command to run)")
        files, env, network, limits = (self.table(n) for n in ("files", "env", "network", "limits"))
        mode = self.typed(("network", "mode"), network.get("mode", "none"), str, "a string")
        if mode not in _NETWORK_MODES:
            raise self.fail(("network", "mode"), f"must be one of {', '.join(_NETWORK_MODES)}")
        manifest = Manifest(
            directory=self.directory,
            name=self.name(enclave),
            entrypoint=self.entrypoint(enclave["entrypoint"]),
            product_id=self.number(("enclave", "product_id"), enclave.get("product_id", 0), 16),
            security_version=self.number(
                ("enclave", "security_version"), enclave.get("security_version", 0), 16
            ),
            debug=self.typed(
                ("enclave", "debug"), enclave.get("debug", False), bool, "true or false"
            ),
            trusted=self.paths("trusted", files.get("trusted", [])),
            allowed=self.paths("allowed", files.get("allowed", [])),
            env=MappingProxyType(self.env_values(env.get("set", {}))),
            passthrough=self.env_names(env.get("passthrough", [])),
            volumes=self.volumes(),
            secrets=(),
            network=mode,
            limits=self.limits(limits),
            lines=self.lines,
        )
        manifest = manifest._replace(secrets=self.secrets(manifest))
        manifest = manifest._replace(outputs=self.outputs(manifest))
        self.check_overlaps(manifest)
        return manifest

    def name(self, enclave: dict[str, Any]) -> str:
        name = self.typed(
            ("enclave", "name"), enclave.get("name", self.directory.resolve().name), str, "a string"
        )
        if not name.strip():
            raise self.fail(("enclave", "name"), "must not be empty")
        return str(name)

    def entrypoint(self, value: Any) -> tuple[str, ...]:
        key = ("enclave", "entrypoint")
        if isinstance(value, str):
            try:
                arguments = shlex.split(value)
            except ValueError as exc:
                raise self.fail(key, f"cannot be split into arguments: {exc}") from None
        else:
            arguments = list(self.strings(key, value))
        if not arguments:
            raise self.fail(key, "must name a program to run")
        return tuple(arguments)

    def paths(self, kind: str, value: Any) -> tuple[str, ...]:
        key = ("files", kind)
        paths = self.strings(key, value)
        seen: set[str] = set()
        for path in paths:
            normal = posixpath.normpath(path)
            if not path.startswith("/") and (normal == ".." or normal.startswith("../")):
                raise self.fail(
                    key, f"{path!r} leaves the manifest's folder; write it absolute", path
                )
            if normal in seen:
                raise self.fail(key, f"{path!r} is listed twice", path)
            seen.add(normal)
        return paths

    def env_values(self, value: Any) -> dict[str, str]:
        key = ("env", "set")
        self.typed(key, value, dict, "a table of names and values")
        for name, text in value.items():
            if not re.fullmatch(_ENV_NAME, name):
                raise self.fail((*key, name), "is not a valid environment variable name")
            self.typed((*key, name), text, str, "a string")
        return dict(value)

    def env_names(self, value: Any) -> tuple[str, ...]:
        key = ("env", "passthrough")
        names = self.strings(key, value)
        for name in names:
            if not re.fullmatch(_ENV_NAME, name):
                raise self.fail(key, f"{name!r} is not a valid environment variable name", name)
        return names

    def entries(self, name: str) -> list[dict[str, Any]]:
        value = self.document.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail((name,), f"must be tables ([[{name}]])")
        for index, entry in enumerate(value):
            self.known((name, index), entry, _ARRAYS[name])
        return value

    def mount_point(self, key: tuple[str | int, ...], value: Any) -> str:
        path = str(self.typed(key, value, str, "a path inside the enclave"))
        normal = posixpath.normpath(path)
        if not path.startswith("/") or normal == "/":
            raise self.fail(key, f"{path!r} must be an absolute path other than /")
        return normal

    def volumes(self) -> tuple[SealedMount, ...]:
        volumes: list[SealedMount] = []
        for index, entry in enumerate(self.entries("volumes")):
            for required in ("mount", "volume", "key"):
                if required not in entry:
                    raise self.fail(("volumes", index), f"{required} is required")
            mount = self.mount_point(("volumes", index, "mount"), entry["mount"])
            volume = self.typed(("volumes", index, "volume"), entry["volume"], str, "a folder")
            key = self.typed(("volumes", index, "key"), entry["key"], str, "a string")
            if key != "sealing" and not (
                key.startswith("kbs:") and re.fullmatch(_RESOURCE, key[4:])
            ):
                raise self.fail(
                    ("volumes", index, "key"),
                    f'{key!r} must be "sealing" or "kbs:REPOSITORY/TYPE/TAG"',
                )
            self.check_mount(("volumes", index, "mount"), mount, volumes)
            volumes.append(SealedMount(mount, volume, key))
        return tuple(volumes)

    def check_mount(
        self, key: tuple[str | int, ...], mount: str, volumes: list[SealedMount]
    ) -> None:
        """A read-write mount must leave the other mounts and the enclave's own folders be."""
        for earlier_index, earlier in enumerate(volumes):
            if _nested(mount, earlier.mount):
                raise self.fail(
                    key, f"{mount} overlaps the mount of volumes[{earlier_index}] ({earlier.mount})"
                )
        for system in _SYSTEM_MOUNTS:
            if _nested(mount, system):
                raise self.fail(key, f"{mount} overlaps {system}, which the enclave provides")
        for base in _HIDDEN_BY_A_MOUNT:
            if base == mount or base.startswith(mount + "/"):
                raise self.fail(key, f"{mount} would hide {base}")

    def outputs(self, manifest: Manifest) -> Outputs | None:
        if "outputs" not in self.document:
            return None
        table = self.table("outputs")
        for required in ("folder", "recipients"):
            if required not in table:
                raise self.fail(("outputs",), f"{required} is required")
        folder = self.mount_point(("outputs", "folder"), table["folder"])
        self.check_mount(("outputs", "folder"), folder, list(manifest.volumes))
        key = ("outputs", "recipients")
        recipients = self.typed(key, table["recipients"], str, "a path")
        inside = manifest.inside(recipients)
        # Who may read the results is part of what relying parties accept: it must be measured.
        if not any(_within(inside, manifest.inside(t)) for t in manifest.trusted):
            raise self.fail(
                key, f"{recipients!r} is not among the trusted files: list it in [files] trusted"
            )
        return Outputs(folder, recipients)

    def secrets(self, manifest: Manifest) -> tuple[Secret, ...]:
        secrets: list[Secret] = []
        for index, entry in enumerate(self.entries("secrets")):
            key = ("secrets", index)
            resource = self.typed(
                (*key, "resource"), entry.get("resource"), str, "REPOSITORY/TYPE/TAG"
            )
            if not re.fullmatch(_RESOURCE, resource):
                raise self.fail((*key, "resource"), f"{resource!r} is not REPOSITORY/TYPE/TAG")
            if ("env" in entry) == ("file" in entry):
                raise self.fail(key, "give exactly one of env (a variable) or file (a path)")
            if "env" in entry:
                name = self.typed((*key, "env"), entry["env"], str, "a variable name")
                if not re.fullmatch(_ENV_NAME, name):
                    raise self.fail(
                        (*key, "env"), f"{name!r} is not a valid environment variable name"
                    )
                secrets.append(Secret(resource, env=name))
                continue
            path = self.mount_point((*key, "file"), entry["file"])
            if not any(_nested(path, v.mount) and path != v.mount for v in manifest.volumes):
                raise self.fail(
                    (*key, "file"),
                    f"{path} is not inside a sealed volume: a secret is written only where the "
                    "host sees ciphertext",
                )
            secrets.append(Secret(resource, file=path))
        return tuple(secrets)

    def limits(self, limits: dict[str, Any]) -> Limits:
        memory = limits.get("memory")
        if memory is not None:
            memory = self.size(("limits", "memory"), memory)
        counts = {}
        for name in ("threads", "processes"):
            if name in limits:
                counts[name] = self.number(("limits", name), limits[name], 31)
                if counts[name] < 1:
                    raise self.fail(("limits", name), "must be at least 1")
        return Limits(memory=memory, **counts)

    def size(self, key: tuple[str | int, ...], value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = re.fullmatch(_SIZE, value.strip()) if isinstance(value, str) else None
        if match is None or int(match.group(1)) == 0:
            raise self.fail(key, f"{value!r} is not a size such as 512M, 2G or a number of bytes")
        return int(match.group(1)) * _UNITS[match.group(2).upper()]

    def check_overlaps(self, manifest: Manifest) -> None:
        """A sealed volume or the outputs folder must not hide files the image lists."""
        mounts = [(f"the mount of volumes[{i}]", v.mount) for i, v in enumerate(manifest.volumes)]
        if manifest.outputs is not None:
            mounts.append(("the outputs folder", manifest.outputs.folder))
        for kind, paths in (("trusted", manifest.trusted), ("allowed", manifest.allowed)):
            for path in paths:
                inside = manifest.inside(path)
                for what, mount in mounts:
                    if _nested(inside, mount):
                        raise self.fail(
                            ("files", kind), f"{path!r} would be hidden by {what} ({mount})", path
                        )


def _nested(a: str, b: str) -> bool:
    """Whether one of two absolute paths is the other or inside it."""
    return _within(a, b) or _within(b, a)


def _within(a: str, b: str) -> bool:
    """Whether absolute path ``a`` is ``b`` or inside it."""
    return a == b or a.startswith(b.rstrip("/") + "/")

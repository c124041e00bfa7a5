"""Running an image in its sandbox, under the simulated TEE or in a confidential VM: checked,
given its volumes and secrets, sandboxed.

Before the program starts the runner checks the folder against the build and refuses to run if
anything differs (naming the trusted file that changed), derives or fetches each sealed
volume's key and mounts it with FUSE, fetches the secrets from the key broker with evidence
carrying this image's measurement (the VM's, in a confidential VM), then starts the sandbox
with the guest API listening inside. Signals it receives go to the program; its exit status is
the program's. An image with ``[outputs]`` gets an empty private folder for its results; once
the program has exited with status 0 the runner seals each result the recipients file lists to
each of its recipients, and releases nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import stat as stat_module
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from trustroom._core.files import write_atomically
from trustroom.enclave._errors import EnclaveError, ImageNotBuilt, TrustedFileChanged
from trustroom.enclave._guest import GuestApi
from trustroom.enclave._image import Image, verified_image
from trustroom.enclave._limits import ControlGroup
from trustroom.enclave._manifest import SealedMount
from trustroom.enclave._sandbox import sandbox_command, sandbox_environment
from trustroom.enclave._signature import load_signature

if TYPE_CHECKING:
    import tempfile

    from trustroom.enclave._outputs import Recipients
    from trustroom.kbs import KbsClient
    from trustroom.tee import Attester, SimWorkload

__all__ = ["OUTPUTS_INDEX", "run", "sim_workload"]

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2)  # fmt: skip
_UNSIGNED = bytes(32)  # the signer of an image nobody signed
OUTPUTS_INDEX = "outputs.json"  # beside the envelopes: each one's digest


def _confidential_vm() -> Attester:
    from trustroom.tee import TeeUnavailable, detect_hardware

    hardware = detect_hardware()
    if hardware is None or hardware.tee not in ("tdx", "snp"):
        raise TeeUnavailable(
            "the cvm runner runs programs inside a TDX or SEV-SNP confidential VM, and this "
            "machine is not one",
            hint="`trustroom tee detect` shows what it offers; --runner sim runs anywhere.",
        )
    return hardware


def sim_workload(image: Image) -> SimWorkload:
    """What the simulated TEE measures for this image: its measurement, and its signer,
    product and security version when it is signed."""
    from trustroom.tee import SimWorkload

    try:
        signature = load_signature(image.manifest.directory)
    except ImageNotBuilt:
        manifest = image.manifest
        return SimWorkload(image.measurement, _UNSIGNED, 0, 0, manifest.debug)
    signature.verify(image)
    return SimWorkload(
        image.measurement,
        signature.mrsigner,
        signature.product_id,
        signature.security_version,
        signature.debug,
    )


def run(
    directory: Path,
    arguments: Sequence[str] = (),
    *,
    kbs: str | None = None,
    tee: str = "sim",
    outputs: Path | None = None,
) -> int:
    """Run the image in ``directory`` under the simulated TEE (``tee="sim"``) or as a program
    of the confidential VM this is (``"cvm"``: TDX or SEV-SNP, whose evidence is the VM's),
    with secrets and broker-held volume keys from the key broker at ``kbs``; the program's
    exit status (128 + N when a signal N ended it). An image with ``[outputs]`` needs
    ``outputs``, the host folder its sealed results are written to."""
    image = verified_image(directory)
    recipients = _recipients(image, outputs)
    hardware = _confidential_vm() if tee == "cvm" else None

    @functools.cache
    def attester() -> Attester:
        # Made when first needed: a program without volumes or secrets that never asks for
        # evidence starts without loading the TEE and evidence code.
        from trustroom.tee import SimAttester

        return hardware or SimAttester(sim_workload(image))

    with contextlib.ExitStack() as stack:
        # First in, so last out: it holds the volumes' mount points.
        scratch = stack.enter_context(contextlib.closing(_Scratch()))
        broker = _Broker(image, attester, kbs)
        stack.callback(broker.close)
        secrets = {s.resource: broker.fetch(s.resource) for s in image.manifest.secrets}
        files = {s.file: secrets[s.resource] for s in image.manifest.secrets if s.file}
        volumes = stack.enter_context(_mounted_volumes(image, attester, broker, files, scratch))
        environment = sandbox_environment(image, os.environ)
        for secret in image.manifest.secrets:
            if secret.env:
                environment[secret.env] = _text(secret.resource, secrets[secret.resource])
        guest = GuestApi(attester, broker)
        stack.callback(guest.close)
        if recipients is None or outputs is None:
            return _supervise(image, arguments, volumes, None, environment, guest)
        results = scratch.folder("outputs")
        try:
            folder = image.measured["outputs"]["folder"]
            status = _supervise(image, arguments, volumes, (folder, results), environment, guest)
            _release(results, recipients, outputs, status, broker.attestation())
        finally:
            _remove(results)
        return status


class _Scratch:
    """The runner's private folder (mode 0700), made when first needed: the volumes' mount
    points and the program's results are plaintext in it while the program runs."""

    def __init__(self) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    def folder(self, name: str) -> Path:
        """A new empty folder in it, mode 0700."""
        if self._temporary is None:
            import tempfile  # only when needed: most programs have no volumes nor outputs

            self._temporary = tempfile.TemporaryDirectory(prefix="trustroom-")
            os.chmod(self._temporary.name, 0o700)
        path = Path(self._temporary.name, name)
        path.mkdir(mode=0o700)
        return path

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()


def _recipients(image: Image, outputs: Path | None) -> Recipients | None:
    """The image's recipients file, read and checked, when it has ``[outputs]``; the folder
    for the envelopes made ready before anything runs."""
    directory = image.manifest.directory
    declared = image.measured.get("outputs")
    if declared is None:
        if outputs is not None:
            raise EnclaveError(
                f"{directory}: the image has no [outputs] table, so it releases no outputs",
                hint="Leave out --outputs, or add [outputs] to the manifest and build again.",
            )
        return None
    if outputs is None:
        raise EnclaveError(
            f"{directory}: the image seals its results for its recipients, and needs a folder "
            "of this host to put the envelopes in",
            hint="Name the folder: `trustroom enclave run DIR --outputs DIR`.",
        )
    from trustroom.enclave._outputs import read_recipients  # only here: HPKE and libsodium

    inside = declared["recipients"]
    try:
        data = Path(image.sources[inside]).read_bytes()
    except OSError as exc:
        raise EnclaveError(f"{inside} ({image.sources[inside]}) cannot be read: {exc}") from None
    # Checked again on the bytes read: the file could have changed since the image was.
    if hashlib.sha256(data).hexdigest() != image.trusted[inside]:
        raise TrustedFileChanged(
            f"{inside} ({image.sources[inside]}) changed since the image was built", path=inside
        )
    try:
        recipients = read_recipients(data)
    except ValueError as exc:  # the build checked the same bytes: an image.json edited since
        raise EnclaveError(f"{inside}: {exc}", hint="Build the image again.") from None
    try:
        outputs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnclaveError(f"{outputs}: cannot hold the sealed outputs: {exc}") from None
    return recipients


def _release(
    results: Path, recipients: Recipients, outputs: Path, status: int, attestation: str | None
) -> None:
    """Seal each result the recipients file lists to each of its recipients, into
    ``outputs``, with ``outputs.json`` giving each envelope's digest and the key broker's
    attestation token's (``attestation``, if the run attested); only after a clean exit (a
    failed program's results may be partial, or whatever an attacker made it write)."""
    if status != 0:
        _say(f"the program exited with status {status}: no output released")
        return
    from trustroom.enclave._outputs import envelope_name, seal_output

    digests: dict[str, str] = {}
    withheld: list[str] = []
    with os.scandir(results) as entries:
        found = sorted(entries, key=lambda entry: entry.name)
    try:
        for entry in found:
            listed = recipients.outputs.get(entry.name)
            data = _regular_file(entry.path) if listed is not None else None
            if listed is None or data is None:
                withheld.append(entry.name)
                continue
            for recipient, key in listed.items():
                envelope = seal_output(
                    data,
                    context=recipients.context,
                    output=entry.name,
                    recipient=recipient,
                    recipient_key=key,
                )
                name = envelope_name(entry.name, recipient)
                write_atomically(outputs / name, envelope, mode=0o644)
                digests[name] = "sha256:" + hashlib.sha256(envelope).hexdigest()
        index = {"context": recipients.context, "envelopes": dict(sorted(digests.items()))}
        if attestation is not None:
            index["attestation"] = attestation
        text = json.dumps(index, indent=1, sort_keys=True) + "\n"
        write_atomically(outputs / OUTPUTS_INDEX, text.encode(), mode=0o644)
    except OSError as exc:
        raise EnclaveError(f"{outputs}: the sealed outputs cannot be written: {exc}") from None
    if withheld:
        # By name only: their content never leaves.
        names = ", ".join(ascii(name) for name in withheld)
        _say(f"withheld, not listed in the recipients file or not a regular file: {names}")
    missing = sorted(set(recipients.outputs) - {entry.name for entry in found})
    if missing:
        _say(f"not written by the program, so not released: {', '.join(missing)}")


def _regular_file(path: str) -> bytes | None:
    """The content of ``path`` if it is a regular file; never what a link points to, which
    would be a file of the host's."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat_module.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        with os.fdopen(os.dup(descriptor), "rb") as file:
            return file.read()
    finally:
        os.close(descriptor)


def _remove(folder: Path) -> None:
    """Remove the results folder and all in it, whatever modes the program gave its folders
    (they are this user's to open again)."""
    os.chmod(folder, 0o700)
    for root, folders, _ in os.walk(folder):
        for name in folders:
            path = os.path.join(root, name)
            if not os.path.islink(path):  # chmod would follow it out of the folder
                os.chmod(path, 0o700)
    shutil.rmtree(folder)


def _say(message: str) -> None:
    sys.stderr.write(f"trustroom enclave run: {message}\n")
    sys.stderr.flush()


class _Broker:
    """The key broker at ``url``, attested to once, on first use."""

    def __init__(self, image: Image, attester: Callable[[], Attester], url: str | None) -> None:
        needed = bool(image.manifest.secrets) or any(
            v.key.startswith("kbs:") for v in image.manifest.volumes
        )
        if needed and url is None:
            raise EnclaveError(
                f"{image.manifest.directory}: the image takes secrets or keys from a key broker",
                hint="Give its URL: `trustroom enclave run DIR --kbs URL`.",
            )
        self._url = url
        self._attester = attester
        self._client: KbsClient | None = None
        self._lock = threading.Lock()  # the guest API asks from its own threads

    def _connected(self) -> KbsClient:
        if self._url is None:
            raise EnclaveError(
                "no key broker was given to this enclave",
                hint="Run it with `trustroom enclave run DIR --kbs URL`.",
            )
        if self._client is None:
            from trustroom.kbs import KbsClient

            self._client = KbsClient(self._url, self._attester())
        return self._client

    def fetch(self, resource: str) -> bytes:
        repository, kind, tag = resource.split("/")
        with self._lock:
            return self._connected().get_resource(repository, kind, tag)

    def token(self) -> tuple[str, str]:
        """The broker's attestation token and the TEE key it is bound to (PEM)."""
        with self._lock:
            client = self._connected()
            return client.token or client.attest(), client.tee_key_pem()

    def attestation(self) -> str | None:
        """``sha256:<hex>`` of the attestation token the broker gave this run, if it
        attested: what a receipt names the attestation result by."""
        token = self._client.token if self._client is not None else None
        return "sha256:" + hashlib.sha256(token.encode()).hexdigest() if token else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _text(resource: str, value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise EnclaveError(
            f"secret {resource} is not UTF-8 text, so it cannot be an environment variable",
            hint="Deliver it as a file in a sealed volume (file = ...).",
        ) from None


@contextlib.contextmanager
def _mounted_volumes(
    image: Image,
    attester: Callable[[], Attester],
    broker: _Broker,
    files: dict[str, bytes],
    scratch: _Scratch,
) -> Iterator[dict[str, Path]]:
    """Each sealed volume mounted on a folder of the runner's scratch (created on first use),
    with the secret files that go in it written first; unmounted, after their last commit, on
    the way out."""
    mounted: dict[str, Path] = {}
    if not image.manifest.volumes:
        yield mounted
        return
    # Only when there are volumes: FUSE and trio cost a tenth of a second to import.
    from trustroom.sealfs import Volume, VolumeKey
    from trustroom.sealfs._mount import mount_in_background, unmount

    with contextlib.ExitStack() as stack:
        for index, volume in enumerate(image.manifest.volumes):
            key = VolumeKey.raw(_volume_key(volume, attester, broker))
            folder = image.manifest.on_host(volume.volume)
            opened = Volume(folder, key) if folder.exists() else Volume.create(folder, key)
            with opened:
                for path, data in files.items():
                    if path.startswith(volume.mount + "/"):
                        inside = path[len(volume.mount) :]
                        opened.mkdir(inside.rsplit("/", 1)[0] or "/", parents=True)
                        opened.write_bytes(inside, data)
            point = scratch.folder(f"volume-{index}")
            mount_in_background(functools.partial(Volume, folder, key), point)
            stack.callback(unmount, point, folder)
            mounted[volume.mount] = point
        yield mounted


def _volume_key(volume: SealedMount, attester: Callable[[], Attester], broker: _Broker) -> bytes:
    if volume.key == "sealing":
        from trustroom.tee import SealPolicy

        # Any version of this signer's product derives it (security version 0 and up), so
        # an update reads its predecessor's state.
        label = b"trustroom enclave volume\0" + volume.mount.encode()
        return attester().seal_key(SealPolicy.SIGNER, label, svn=0)
    key = broker.fetch(volume.key.removeprefix("kbs:"))
    if len(key) != 32:
        raise EnclaveError(
            f"volume {volume.mount}: the key broker's {volume.key} holds {len(key)} bytes, "
            "not a 32-byte key",
            hint="Store 32 random bytes there (e.g. `head -c 32 /dev/urandom`).",
        )
    return key


def _supervise(
    image: Image,
    arguments: Sequence[str],
    volumes: dict[str, Path],
    outputs: tuple[str, Path] | None,
    environment: dict[str, str],
    guest: GuestApi,
) -> int:
    """Start the sandbox in its control group, serve the guest API inside it, then let the
    program start; pass signals to the program, wait for it. ``outputs``: the outputs folder
    inside and the private folder bound there."""
    sandbox: list[int] = []  # the host process ids of the sandbox's init and program
    process: subprocess.Popen[bytes] | None = None

    def forward(number: int, _frame: object) -> None:
        if len(sandbox) == 1:  # looked up when the first signal comes, not on every run
            found = _program_pid(sandbox[0])
            if found is not None:
                sandbox.append(found)
        target = sandbox[-1] if len(sandbox) == 2 else process.pid if process else None
        if target is not None:  # before the program runs, the sandbox stops instead
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, number)

    with ControlGroup(image.manifest.limits, f"trustroom-{os.getpid()}") as group:
        reader, writer = os.pipe()
        hold, release = os.pipe()
        command = sandbox_command(
            image, arguments, volumes=volumes, outputs=outputs, info_fd=writer, block_fd=hold
        )
        previous = {number: signal.signal(number, forward) for number in _FORWARDED}
        try:
            process = subprocess.Popen(
                command,
                env=environment,
                pass_fds=(writer, hold),
                preexec_fn=group.join if group.folders else None,
            )
            os.close(writer)
            os.close(hold)
            with os.fdopen(reader, "rb") as info:
                init = _sandbox_init(info)
            with os.fdopen(release, "wb") as starter:
                if init is not None:
                    sandbox.append(init)
                    isolated = image.measured["network"] == "none"
                    guest.start(network_of=init if isolated else None)
                    starter.write(b"go")
            status = process.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 128 - status if status < 0 else status


def _sandbox_init(info: IO[bytes]) -> int | None:
    """The host process id of the sandbox's first process, from bwrap's information JSON
    (read up to its closing brace: bwrap need not close the pipe)."""
    document = b""
    for line in info:
        document += line
        if line.startswith(b"}"):
            return int(json.loads(document)["child-pid"])
    return None  # bwrap ended before the sandbox started; it said why on stderr


def _program_pid(init: int) -> int | None:
    """The program's host process id: the one child of the sandbox's init process (which
    reaps orphans and would not pass signals on); None once they have ended."""
    deadline = time.monotonic() + 1  # the program is forked right after the start
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[0]
            children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        except OSError:
            return None
        if children:
            return int(children[0])
        if state in ("Z", "X"):  # init has ended, its parent has not reaped it yet
            return None
        time.sleep(0.001)
    return None

"""The simulated enclave's walls: a bubblewrap sandbox in which the program sees its image only.

New mount, PID, IPC and UTS namespaces (and network, unless the manifest asks for the host's):
an empty root with the trusted and allowed paths bound read-only where the manifest puts them,
its own /proc, /dev and /tmp, the sealed volumes and the outputs folder bound read-write, and
only the environment the manifest lists. bubblewrap (Debian's ``bubblewrap``, as used by
Flatpak) does the namespace and mount work in C, so the sandbox starts in milliseconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from trustroom.enclave._errors import EnclaveError
from trustroom.enclave._image import Image, program_environment
from trustroom.enclave._manifest import WORKDIR

__all__ = ["HOSTNAME", "sandbox_command", "sandbox_environment"]

HOSTNAME = "enclave"


def sandbox_environment(image: Image, host: Mapping[str, str]) -> dict[str, str]:
    """The program's environment: the manifest's values, the host variables it lets through
    (when set), and a PATH if the manifest gives none."""
    measured = image.measured
    environment = program_environment(measured)
    for name in measured["env"]["passthrough"]:
        if name in host:
            environment[name] = host[name]
    return environment


def sandbox_command(
    image: Image,
    arguments: Sequence[str],
    *,
    volumes: Mapping[str, Path],
    outputs: tuple[str, Path] | None = None,
    info_fd: int,
    block_fd: int,
) -> list[str]:
    """The bwrap command that runs the image's program with ``arguments`` added to its
    entrypoint; ``volumes`` maps each sealed mount point to where its FUSE mount is on the
    host, ``outputs`` is the outputs folder and the private host folder bound there. bwrap
    writes the sandbox's first process id as JSON on ``info_fd``, and starts the program once
    ``block_fd`` has something to read (the guest API listens by then). Run it with
    :func:`sandbox_environment` as its whole environment: bwrap passes it on, and secrets in
    it stay out of the command line, which every user of the host can read."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise EnclaveError(
            "bubblewrap (bwrap) is not installed: the sim runner needs it for its sandbox",
            hint="Install Debian's bubblewrap package (`make` does), or use another runner.",
        )
    manifest, measured = image.manifest, image.measured
    command = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    # No capabilities, even when started by root; its own session, so that it cannot push
    # input into the terminal it was started from (and a terminal's Ctrl-C reaches it once,
    # through the runner).
    command += ["--unshare-cgroup-try", "--cap-drop", "ALL", "--new-session"]
    command += ["--hostname", HOSTNAME]
    if measured["network"] == "none":
        command.append("--unshare-net")
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", WORKDIR]
    binds = [(manifest.inside(p), manifest.on_host(p)) for p in manifest.trusted]
    binds += [(manifest.inside(p), manifest.on_host(p)) for p in manifest.allowed]
    # A folder before what is bound inside it.
    for inside, host in sorted(binds, key=lambda pair: pair[0].count("/")):
        command += ["--ro-bind", os.fspath(host), inside]
    for inside, host in sorted(volumes.items()):
        command += ["--bind", os.fspath(host), inside]
    if outputs is not None:
        command += ["--bind", os.fspath(outputs[1]), outputs[0]]
    command += ["--chdir", WORKDIR, "--info-fd", str(info_fd), "--block-fd", str(block_fd)]
    return [*command, "--", measured["program"], *measured["entrypoint"][1:], *arguments]

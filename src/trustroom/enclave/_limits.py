"""Resource limits for a sandbox: a control group of its own, so that memory and the number of
tasks are counted for the whole process tree, children included (rlimits count per process).

cgroup v2 (``memory.max``, ``pids.max``) or v1's ``memory`` and ``pids`` hierarchies, in a
child of the group this process runs in. The kernel's pids controller counts tasks, that is
threads of every process: ``threads`` bounds them; ``processes`` does too when ``threads``
is not given (every process is at least one task).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from trustroom.enclave._errors import EnclaveError
from trustroom.enclave._manifest import Limits

__all__ = ["ControlGroup"]

_ROOT = Path("/sys/fs/cgroup")
_V2_FILES = {"memory": "memory.max", "pids": "pids.max"}  # each controller's limit file
_V1_FILES = {"memory": "memory.limit_in_bytes", "pids": "pids.max"}


class ControlGroup:
    """A new control group holding ``limits``; :meth:`join` (in a child, before ``exec``)
    moves the calling process into it. Removed on exit, once its processes have ended."""

    def __init__(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.folders: list[Path] = []

    def __enter__(self) -> ControlGroup:
        tasks = self.limits.tasks
        settings: dict[str, int] = {}  # controller -> its limit
        if self.limits.memory is not None:
            settings["memory"] = self.limits.memory
        if tasks is not None:
            settings["pids"] = tasks
        if not settings:
            return self
        try:
            if (_ROOT / "cgroup.controllers").exists():
                self._create_v2(settings)
            else:
                self._create_v1(settings)
        except OSError as exc:
            self._remove()
            raise EnclaveError(
                f"the manifest's limits cannot be enforced here: {exc}",
                hint="The sim runner needs a writable control group (root, or a delegated "
                "cgroup v2 subtree); remove [limits] to run without them.",
            ) from None
        return self

    def _create_v2(self, settings: dict[str, int]) -> None:
        parent = _ROOT / _own_group("").lstrip("/")
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        missing = [c for c in settings if c not in enabled]
        if missing:
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
        folder = parent / self.name
        folder.mkdir()
        self.folders.append(folder)
        for controller, value in settings.items():
            (folder / _V2_FILES[controller]).write_text(str(value))

    def _create_v1(self, settings: dict[str, int]) -> None:
        for controller, value in settings.items():
            folder = _ROOT / controller / _own_group(controller).lstrip("/") / self.name
            folder.mkdir()
            self.folders.append(folder)
            (folder / _V1_FILES[controller]).write_text(str(value))

    def join(self) -> None:
        """Move the calling process into the group (``0`` names the writer)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text("0")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        for folder in reversed(self.folders):
            for _ in range(100):  # the last tasks may take a moment to be reaped
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.folders.clear()


def _own_group(controller: str) -> str:
    """This process's group in ``controller``'s hierarchy (``""``: the v2 one)."""
    with open("/proc/self/cgroup") as table:
        for line in table:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):  # v2's line lists none: [""]
                return path
    raise OSError(f"this process is in no {controller or 'cgroup v2'} hierarchy")

"""A writer killed with SIGKILL at any point leaves a volume in one committed state.

The writer logs, before each commit, the exact content every file will have once the commit
is done. After the kill the volume must open, authenticate, and hold exactly the state logged
for its version: the last commit the writer finished, or the one it was in the middle of.
Half the trials kill at a random time; the other half at a random file-system call (write,
fsync, rename, unlink, truncate), which reaches every step of the commit protocol. Commits are
durable (fsync) or not at random: against a killed process both must be atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sealfs_helpers import KEY, SMALL_NODES

from trustroom.sealfs import Volume

TRIALS = 200
NAMES = [f"/f{i}" for i in range(4)] + [f"/d/g{i}" for i in range(3)]
_CALLS = ("pwrite", "write", "fsync", "replace", "rename", "unlink", "ftruncate")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def workload(directory: Path, log: Path, seed: int) -> None:
    """Random commits: new files, overwrites, growth and truncation of several files in one
    commit, removals and renames."""
    rng = random.Random(seed)
    committed: dict[str, bytes] = {}
    with Volume(directory, KEY) as volume, log.open("a") as out:
        volume.mkdir("/d", parents=True)

        def intend(state: dict[str, bytes]) -> None:
            files = {path: digest(data) for path, data in state.items()}
            out.write(json.dumps({"version": volume.version + 1, "files": files}) + "\n")
            out.flush()

        for _ in range(30):
            state = dict(committed)
            roll = rng.random()
            if roll < 0.6 or not state:
                handles = []
                for path in rng.sample(NAMES, rng.randint(1, 3)):
                    data = bytearray(state.get(path, b""))
                    f = volume.open(path, "r+b" if path in state else "w+b")
                    for _ in range(rng.randint(1, 3)):
                        offset = rng.randint(0, len(data) + 2 * SMALL_NODES)
                        if rng.random() < 0.2:
                            f.truncate(offset)
                            del data[offset:]
                            data.extend(bytes(offset - len(data)))
                        else:
                            chunk = rng.randbytes(rng.randint(1, 12 * SMALL_NODES))
                            f.seek(offset)
                            f.write(chunk)
                            data.extend(bytes(max(0, offset - len(data))))
                            data[offset : offset + len(chunk)] = chunk
                    state[path] = bytes(data)
                    handles.append(f)
                intend(state)
                # One commit for all of them; the kind a mount makes on close half the time.
                volume.commit(durable=rng.random() < 0.5)
                for f in handles:
                    f.close()
            elif roll < 0.8:
                path = rng.choice(sorted(state))
                del state[path]
                intend(state)
                volume.remove(path)
            else:
                source = rng.choice(sorted(state))
                target = rng.choice(NAMES)
                if target != source:
                    state[target] = state.pop(source)
                    intend(state)
                    volume.rename(source, target)
            committed = state


def kill_at_call(number: int) -> None:
    """From now on, this process kills itself at its ``number``-th file-system call."""
    count = [0]
    for name in _CALLS:
        original = getattr(os, name)

        def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == number:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)

        setattr(os, name, counted)


def run_and_kill(directory: Path, log: Path, seed: int, rng: random.Random) -> None:
    by_call = seed % 2 == 0
    pid = os.fork()
    if pid == 0:  # the writer
        try:
            if by_call:
                kill_at_call(rng.randint(1, 600))
            workload(directory, log, seed)
        finally:
            os._exit(0)
    if not by_call:
        time.sleep(rng.uniform(0, 0.25))
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def logged_states(log: Path) -> dict[int, dict[str, str]]:
    states = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line the kill cut short
        states[entry["version"]] = entry["files"]
    return states


@pytest.mark.slow
def test_a_killed_writer_leaves_one_committed_state(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    outcomes = {"finished": 0, "interrupted": 0}
    for seed in range(TRIALS):
        directory, log = tmp_path / f"vol{seed}", tmp_path / f"log{seed}"
        Volume.create(directory, KEY, node_size=SMALL_NODES).close()
        run_and_kill(directory, log, seed, rng)
        states = logged_states(log) if log.exists() else {}
        with Volume(directory, KEY) as volume:
            report = volume.check()
            assert report.ok, (seed, report)
            files = {
                info.path: digest(volume.read_bytes(info.path))
                for info in volume.walk()
                if not info.is_dir
            }
            if volume.version in states:
                assert files == states[volume.version], seed
            else:  # killed before the first logged commit
                assert files == {}, seed
            # Every commit logged before the last intent was finished: none is lost.
            assert volume.version >= max(states, default=0) - 1, seed
            outcomes["interrupted" if volume.version < max(states, default=0) else "finished"] += 1
        assert not (directory / "journal").exists() and not (directory / "journal.tmp").exists()
    # Both kinds of outcome happened: the kills really landed inside commits.
    assert outcomes["interrupted"] > 10 and outcomes["finished"] > 10, outcomes

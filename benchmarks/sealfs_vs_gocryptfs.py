"""Sealed volumes through FUSE side by side with gocryptfs, and the library without FUSE.

One run, one machine, one backing disk: both volumes live in the same work folder. For each
file system, rounds interleaved so that machine noise hits both alike:

- sequential write of SIZE (1 GiB) in 1 MiB writes, then fsync and close (durable);
- sequential read of it in 1 MiB reads, cold cache (the kernel's caches dropped first);
- random 4 KiB reads at 4 KiB-aligned offsets, cold cache, as reads per second.

The library rows write and read SIZE through ``Volume`` directly (no FUSE, readinto), beside a
plain file on the same disk written and read the same way: the ceiling of this machine's page
cache and disk. For those two, also the write before the commit's (or fsync's) flush to disk,
and a second read from the page cache: the library's own speed, without the disk. Medians of
the rounds. Needs root (to drop caches) and Debian's gocryptfs (``make bench`` installs it).
Run: ``.venv/bin/python benchmarks/sealfs_vs_gocryptfs.py [--size-mib 1024] [--rounds 3]
[--random-reads 4000] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from trustroom.sealfs import Volume, VolumeKey

MIB = 1 << 20
KEY = VolumeKey.raw(bytes(range(32)))


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def write_file(path: Path, data: memoryview) -> None:
    with open(path, "wb", buffering=0) as f:
        for offset in range(0, len(data), MIB):
            f.write(data[offset : offset + MIB])
        os.fsync(f.fileno())


def read_file(path: Path) -> None:
    buffer = bytearray(MIB)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def random_reads(path: Path, offsets: list[int]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in offsets:
            os.pread(fd, 4096, offset)
    finally:
        os.close(fd)


class Mount:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.point = root / "mnt"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        subprocess.run(["fusermount3", "-u", str(self.point)], check=True)


class Gocryptfs(Mount):
    def start(self) -> None:
        cipher, password = self.root / "cipher", self.root / "password"
        if not cipher.exists():
            cipher.mkdir(parents=True)
            self.point.mkdir()
            password.write_text("benchmark passphrase\n")
            subprocess.run(
                ["gocryptfs", "-init", "-q", "-passfile", str(password), str(cipher)], check=True
            )
        subprocess.run(
            ["gocryptfs", "-q", "-passfile", str(password), str(cipher), str(self.point)],
            check=True,
        )


class Sealfs(Mount):
    def start(self) -> None:
        volume, key = self.root / "volume", self.root / "key"
        if not volume.exists():
            self.point.mkdir(parents=True)
            key.write_bytes(KEY.secret)
            Volume.create(volume, KEY).close()
        command = [sys.executable, "-m", "trustroom", "sealfs", "mount", str(volume)]
        subprocess.run([*command, str(self.point), "-k", str(key), "--background"], check=True)

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "trustroom", "sealfs", "umount", str(self.point)], check=True
        )


def fuse_round(mount: Mount, data: memoryview, offsets: list[int]) -> dict[str, float]:
    target = mount.point / "big"
    mount.start()
    try:
        write = timed(lambda: write_file(target, data))
    finally:
        mount.stop()
    drop_caches()
    mount.start()  # a fresh mount: nothing of the file in either file system's memory
    try:
        read = timed(lambda: read_file(target))
        drop_caches()
        seek = timed(lambda: random_reads(target, offsets))
        target.unlink()
    finally:
        mount.stop()
    return {
        "write MB/s": len(data) / write / 1e6,
        "read MB/s": len(data) / read / 1e6,
        "random 4 KiB reads/s": len(offsets) / seek,
    }


def library_round(root: Path, data: memoryview) -> dict[str, float]:
    shutil.rmtree(root / "volume", ignore_errors=True)
    buffer = bytearray(MIB)
    drop_caches()  # cold, as the mounts' writes start: nothing left of the previous round
    with Volume.create(root / "volume", KEY) as volume:
        f = volume.open("/big", "wb")
        start = time.perf_counter()
        for offset in range(0, len(data), MIB):
            f.write(data[offset : offset + MIB])
        before_commit = time.perf_counter() - start
        f.close()  # the durable commit: fsyncs
        written = time.perf_counter() - start

        def read() -> None:
            with volume.open("/big", "rb") as f:
                while f.readinto(buffer):
                    pass

        drop_caches()
        cold = timed(read)
        warm = timed(read)
    return {
        "write MB/s": len(data) / written / 1e6,
        "write before commit MB/s": len(data) / before_commit / 1e6,
        "read MB/s": len(data) / cold / 1e6,
        "read from page cache MB/s": len(data) / warm / 1e6,
    }


def plain_round(root: Path, data: memoryview) -> dict[str, float]:
    path = root / "plain"
    drop_caches()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.perf_counter()
    for offset in range(0, len(data), MIB):
        os.write(fd, data[offset : offset + MIB])
    before_commit = time.perf_counter() - start
    os.fsync(fd)
    written = time.perf_counter() - start
    os.close(fd)
    drop_caches()
    cold = timed(lambda: read_file(path))
    warm = timed(lambda: read_file(path))
    path.unlink()
    return {
        "write MB/s": len(data) / written / 1e6,
        "write before commit MB/s": len(data) / before_commit / 1e6,
        "read MB/s": len(data) / cold / 1e6,
        "read from page cache MB/s": len(data) / warm / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--random-reads", type=int, default=4000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    for tool in ("gocryptfs", "fusermount3"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: `make bench` installs it (Debian packages)")
    work = Path(tempfile.mkdtemp(prefix="sealfs-bench-", dir=args.workdir))
    data = memoryview(os.urandom(args.size_mib * MIB))
    rng = random.Random(1)
    offsets = [rng.randrange(len(data) // 4096) * 4096 for _ in range(args.random_reads)]
    mounts = [Sealfs("sealfs (FUSE)", work / "sealfs"), Gocryptfs("gocryptfs", work / "gocryptfs")]
    results: dict[str, list[dict[str, float]]] = {}
    try:
        for n in range(args.rounds):
            for mount in mounts if n % 2 == 0 else mounts[::-1]:
                results.setdefault(mount.name, []).append(fuse_round(mount, data, offsets))
            results.setdefault("sealfs library", []).append(library_round(work, data))
            results.setdefault("plain file", []).append(plain_round(work, data))
            print(f"round {n + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {
        name: {metric: statistics.median(r[metric] for r in rounds) for metric in rounds[0]}
        for name, rounds in results.items()
    }
    print(f"{args.size_mib} MiB, {args.rounds} rounds, {args.random_reads} random reads: medians")
    metrics = ["write MB/s", "read MB/s", "random 4 KiB reads/s"]
    metrics += ["write before commit MB/s", "read from page cache MB/s"]
    print("| | " + " | ".join(metrics) + " |")
    print("|---|" + "---:|" * len(metrics))
    for name, values in medians.items():
        cells = [f"{values[m]:.0f}" if m in values else "" for m in metrics]
        print(f"| {name} | " + " | ".join(cells) + " |")
    ours, theirs = medians["sealfs (FUSE)"], medians["gocryptfs"]
    for metric in metrics[:3]:
        print(f"sealfs / gocryptfs, {metric}: {ours[metric] / theirs[metric]:.2f}x")


if __name__ == "__main__":
    main()

"""The FUSE mount, for real: unmodified programs work inside it, only ciphertext reaches the
disk, and it unmounts cleanly on SIGTERM and on `trustroom sealfs umount`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sealfs_helpers import KEY

from trustroom.sealfs import Volume
from trustroom.sealfs._mount import mounted_volume_of

pytestmark = pytest.mark.fuse


def trustroom(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trustroom", "sealfs", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    key = tmp_path / "key"
    key.write_bytes(KEY.secret)
    Volume.create(tmp_path / "vol", KEY).close()
    (tmp_path / "mnt").mkdir()
    return tmp_path / "vol", tmp_path / "mnt", key


@pytest.fixture
def mounted(setup: tuple[Path, Path, Path]) -> Iterator[tuple[Path, Path]]:
    volume, mountpoint, key = setup
    result = trustroom("mount", volume, mountpoint, "-k", key, "--background")
    assert result.returncode == 0, result.stderr
    yield volume, mountpoint
    if mounted_volume_of(mountpoint) is not None:
        result = trustroom("umount", mountpoint)
        assert result.returncode == 0, result.stderr


def test_files_round_trip_through_the_mount(mounted: tuple[Path, Path]) -> None:
    volume, mnt = mounted
    contents = {f"f{size}": os.urandom(size) for size in (0, 1, 4095, 4096, 4097, 3 << 20)}
    (mnt / "d" / "e").mkdir(parents=True)
    for name, data in contents.items():
        (mnt / "d" / "e" / name).write_bytes(data)
    for name, data in contents.items():
        assert (mnt / "d" / "e" / name).read_bytes() == data
        assert (mnt / "d" / "e" / name).stat().st_size == len(data)
    assert sorted(os.listdir(mnt / "d" / "e")) == sorted(contents)
    with open(mnt / "log", "ab") as log:
        log.write(b"one\n")
    with open(mnt / "log", "ab") as log:
        log.write(b"two\n")
    assert (mnt / "log").read_bytes() == b"one\ntwo\n"
    with open(mnt / "d" / "e" / "f4097", "r+b") as f:
        f.seek(10)
        f.write(b"patched")
        f.truncate(100)
    expected = contents["f4097"][:10] + b"patched" + contents["f4097"][17:100]
    assert (mnt / "d" / "e" / "f4097").read_bytes() == expected
    os.rename(mnt / "d", mnt / "moved")
    assert (mnt / "moved" / "e" / "f1").read_bytes() == contents["f1"]
    os.chmod(mnt / "log", 0o600)
    assert (mnt / "log").stat().st_mode & 0o777 == 0o600
    with open(mnt / "scratch", "wb") as scratch:  # removed while open, as temp files are
        os.unlink(mnt / "scratch")
        scratch.write(b"gone")
    assert not (mnt / "scratch").exists()
    with pytest.raises(OSError, match="Directory not empty"):
        os.rmdir(mnt / "moved")
    assert trustroom("umount", mnt).returncode == 0
    with Volume(volume, KEY) as opened:
        assert opened.check().ok
        assert opened.read_bytes("/moved/e/f4097") == expected
        assert opened.read_bytes("/moved/e/f3145728") == contents["f3145728"]
        assert opened.stat("/log").mode == 0o600


def test_only_ciphertext_reaches_the_disk(mounted: tuple[Path, Path]) -> None:
    volume, mnt = mounted
    marker = b"confidential-payroll-2026"
    (mnt / "payroll-data.csv").write_bytes(marker * 1000)
    os.sync()
    for path in volume.rglob("*"):
        assert b"payroll" not in path.name.encode()
        if path.is_file():
            assert marker not in path.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may raise a mount's read-ahead")
def test_the_mount_reads_ahead_a_mib_from_its_first_file(mounted: tuple[Path, Path]) -> None:
    # A file keeps the read-ahead it was opened with: the mount is announced only once it
    # is raised, so the very first open gets 1 MiB requests.
    _, mnt = mounted
    with open("/proc/self/mountinfo") as table:
        device = next(f.split()[2] for f in table if f.split()[4] == str(mnt.resolve()))
    assert Path(f"/sys/class/bdi/{device}/read_ahead_kb").read_text().strip() == "1024"


def test_git_works_inside(mounted: tuple[Path, Path], tmp_path: Path) -> None:
    _, mnt = mounted
    repo = mnt / "repo"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    for n in range(30):
        (repo / f"module{n}.py").write_text(f"VALUE = {n}\n" * 200)
    git("add", "-A")
    git("commit", "-qm", "first")
    (repo / "module3.py").write_text("changed\n")
    git("commit", "-qam", "second")
    git("gc", "-q")
    assert "second" in git("log", "--oneline")
    git("fsck", "--strict")
    assert git("status", "--porcelain") == ""


def test_sqlite_works_inside(mounted: tuple[Path, Path]) -> None:
    _, mnt = mounted
    db = sqlite3.connect(mnt / "db.sqlite")
    db.execute("create table t (a integer primary key, b text)")
    with db:
        db.executemany("insert into t values (?, ?)", [(i, "x" * 200) for i in range(5000)])
    with db:
        db.execute("delete from t where a % 3 = 0")
    db.execute("vacuum")
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    assert db.execute("select count(*) from t").fetchone() == (3333,)
    db.close()


def test_sigterm_unmounts_after_a_last_commit(setup: tuple[Path, Path, Path]) -> None:
    volume, mnt, key = setup
    command = [sys.executable, "-m", "trustroom", "sealfs", "mount", volume, mnt, "-k", key]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as server:
        try:
            deadline = time.monotonic() + 30
            while mounted_volume_of(mnt) is None:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            (mnt / "kept").write_bytes(b"written before SIGTERM")
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=30)
            assert server.returncode == 0, stderr
        finally:
            if server.poll() is None:
                server.kill()
    assert mounted_volume_of(mnt) is None
    assert os.listdir(mnt) == []
    with Volume(volume, KEY) as opened:
        assert opened.read_bytes("/kept") == b"written before SIGTERM"
        assert opened.check().ok


def test_mount_errors_are_reported(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    volume, mnt, _ = setup
    (tmp_path / "wrong").write_bytes(bytes(32))
    result = trustroom("mount", volume, mnt, "-k", tmp_path / "wrong", "--background")
    assert result.returncode == 1 and "sealfs_wrong_key" in result.stderr
    result = trustroom("umount", mnt)
    assert result.returncode != 0 and "no sealed volume is mounted" in result.stderr

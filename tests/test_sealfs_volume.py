"""Sealed volumes as a library: round trips, directories, keys, errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from sealfs_helpers import KEY, SMALL_NODES

from trustroom.sealfs import (
    DEFAULT_NODE_SIZE,
    DirectoryNotEmpty,
    FileExists,
    FileNotFound,
    InvalidPath,
    IsADirectory,
    NotADirectory,
    Volume,
    VolumeInvalid,
    VolumeKey,
    VolumeLocked,
    WrongKey,
)

MIB = 1 << 20


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    v = Volume.create(tmp_path / "vol", KEY, node_size=SMALL_NODES)
    yield v
    v.close()


@pytest.mark.parametrize("node_size", [SMALL_NODES, DEFAULT_NODE_SIZE])
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 32767, 32768, 32769, 3 * MIB + 5])
def test_round_trip_around_node_boundaries(tmp_path: Path, node_size: int, size: int) -> None:
    data = os.urandom(size)
    with Volume.create(tmp_path / "vol", KEY, node_size=node_size) as volume:
        volume.write_bytes("/f", data)
        assert volume.read_bytes("/f") == data
    with Volume(tmp_path / "vol", KEY) as volume:
        assert volume.read_bytes("/f") == data
        assert volume.stat("/f").size == size
        assert volume.check().ok


def test_a_file_spanning_several_tree_levels(tmp_path: Path) -> None:
    # 4 KiB nodes: 64 data nodes per tree node and 16 children each, so 5 MiB needs a
    # root, its children and grandchildren.
    data = os.urandom(5 * MIB + 123)
    with Volume.create(tmp_path / "vol", KEY, node_size=SMALL_NODES) as volume:
        volume.write_bytes("/big", data)
        with volume.open("/big", "r+b") as f:
            f.seek(4 * MIB + 7)
            f.write(b"patched")
            f.truncate(4 * MIB + 100)
    expected = data[: 4 * MIB + 7] + b"patched" + data[4 * MIB + 14 : 4 * MIB + 100]
    with Volume(tmp_path / "vol", KEY) as volume:
        assert volume.read_bytes("/big") == expected
        assert volume.check().ok


def test_holes_read_as_zeros_and_cost_no_disk(tmp_path: Path) -> None:
    with Volume.create(tmp_path / "vol", KEY) as volume:
        with volume.open("/sparse", "wb") as f:
            f.seek(64 * MIB)
            f.write(b"end")
        with volume.open("/sparse", "rb") as f:
            f.seek(10 * MIB)
            assert f.read(4096) == bytes(4096)
        assert volume.stat("/sparse").size == 64 * MIB + 3
    used = sum(p.stat().st_blocks * 512 for p in (tmp_path / "vol").rglob("*") if p.is_file())
    assert used < 1 * MIB


def test_every_commit_grows_the_version(volume: Volume) -> None:
    start = volume.version
    volume.write_bytes("/a", b"1")
    volume.mkdir("/d")
    volume.rename("/a", "/d/a")
    volume.remove("/d/a")
    assert volume.version == start + 4
    volume.commit()  # nothing pending: no new version
    assert volume.version == start + 4


def test_file_objects_behave_like_open(volume: Volume) -> None:
    with volume.open("/f", "w+b") as f:
        assert f.write(b"hello world") == 11
        f.seek(-5, io.SEEK_END)
        assert f.read() == b"world"
        f.seek(0)
        buffer = bytearray(5)
        assert f.readinto(buffer) == 5 and buffer == b"hello"
        assert f.tell() == 5
        assert f.pread(buffer, 6) == 5 and buffer == b"world"
        assert f.tell() == 5  # pread leaves the position alone
    with volume.open("/f", "ab") as f:
        f.seek(0)
        f.write(b"!")  # append mode writes at the end wherever the position is
    assert volume.read_bytes("/f") == b"hello world!"
    with volume.open("/f", "rb") as f, pytest.raises(io.UnsupportedOperation):
        f.write(b"x")
    with pytest.raises(FileExists):
        volume.open("/f", "xb")
    with pytest.raises(ValueError, match="binary"):
        volume.open("/f", "r")


def test_directories(volume: Volume) -> None:
    volume.mkdir("/a/b/c", parents=True)
    volume.write_bytes("/a/b/c/f", b"x")
    volume.write_bytes("/a/g", b"y")
    assert volume.listdir("/") == ["a"]
    assert volume.listdir("/a") == ["b", "g"]
    with pytest.raises(DirectoryNotEmpty):
        volume.rmdir("/a/b")
    with pytest.raises(IsADirectory):
        volume.remove("/a/b")
    with pytest.raises(NotADirectory):
        volume.rmdir("/a/g")
    with pytest.raises(NotADirectory):
        volume.write_bytes("/a/g/h", b"")
    with pytest.raises(FileNotFound):
        volume.write_bytes("/nowhere/h", b"")
    with pytest.raises(FileExists):
        volume.mkdir("/a")
    volume.rename("/a/b", "/z")
    assert volume.read_bytes("/z/c/f") == b"x"
    assert not volume.exists("/a/b")
    with pytest.raises(InvalidPath):
        volume.rename("/z", "/z/c/inside")
    volume.remove("/z/c/f")
    volume.rmdir("/z/c")
    assert volume.listdir("/z") == []


def test_rename_replaces_a_file_atomically(volume: Volume) -> None:
    volume.write_bytes("/new", b"new")
    volume.write_bytes("/old", b"old")
    objects = sorted((volume.directory / "objects").rglob("*"))
    volume.rename("/new", "/old")
    assert volume.read_bytes("/old") == b"new"
    assert not volume.exists("/new")
    # The replaced file's object is gone from the disk.
    assert len(sorted((volume.directory / "objects").rglob("*"))) < len(objects)


@pytest.mark.parametrize("bad", ["/a/../b", "/./a", "/a\0b", "/" + "x" * 256])
def test_bad_paths_are_refused(volume: Volume, bad: str) -> None:
    with pytest.raises(InvalidPath):
        volume.write_bytes(bad, b"")


def test_a_removed_file_stays_readable_while_open(volume: Volume) -> None:
    volume.write_bytes("/f", b"still here")
    f = volume.open("/f", "rb")
    volume.remove("/f")
    assert f.read() == b"still here"
    f.close()
    assert not volume.exists("/f")
    assert len(list((volume.directory / "objects").rglob("*/*"))) == 0


def test_wrong_key_is_told_apart_from_damage(tmp_path: Path) -> None:
    Volume.create(tmp_path / "vol", KEY).close()
    with pytest.raises(WrongKey):
        Volume(tmp_path / "vol", VolumeKey.raw(bytes(32)))
    with pytest.raises(WrongKey, match="raw key"):
        Volume(tmp_path / "vol", VolumeKey.passphrase("guess"))


def test_passphrase_volume(tmp_path: Path) -> None:
    with Volume.create(tmp_path / "vol", VolumeKey.passphrase("correct horse")) as volume:
        volume.write_bytes("/f", b"data")
    config = (tmp_path / "vol" / "volume.json").read_text()
    assert '"argon2id"' in config and "correct horse" not in config
    with Volume(tmp_path / "vol", VolumeKey.passphrase("correct horse")) as volume:
        assert volume.read_bytes("/f") == b"data"
    with pytest.raises(WrongKey):
        Volume(tmp_path / "vol", VolumeKey.passphrase("battery staple"))


@pytest.mark.parametrize(
    ("content", "raw"),
    [(bytes(range(32)), True), (bytes(range(32)).hex().encode() + b"\n", True),
     (b"a passphrase\n", False)],
)  # fmt: skip
def test_key_files(tmp_path: Path, content: bytes, raw: bool) -> None:
    (tmp_path / "key").write_bytes(content)
    key = VolumeKey.from_file(tmp_path / "key")
    assert key.is_passphrase is not raw
    if not raw:
        assert key.secret == b"a passphrase"
    with pytest.raises(WrongKey, match="cannot read"):
        VolumeKey.from_file(tmp_path / "absent")


def test_one_process_at_a_time(tmp_path: Path) -> None:
    with Volume.create(tmp_path / "vol", KEY), pytest.raises(VolumeLocked):
        Volume(tmp_path / "vol", KEY)


def test_not_a_volume(tmp_path: Path) -> None:
    with pytest.raises(VolumeInvalid, match="not a sealfs volume"):
        Volume(tmp_path, KEY)
    (tmp_path / "volume.json").write_text("{")
    with pytest.raises(VolumeInvalid):
        Volume(tmp_path, KEY)
    with pytest.raises(FileExists):
        Volume.create(tmp_path, KEY)
    with pytest.raises(VolumeInvalid, match="power of two"):
        Volume.create(tmp_path / "new", KEY, node_size=5000)


def test_the_disk_holds_no_plaintext_nor_names(tmp_path: Path) -> None:
    with Volume.create(tmp_path / "vol", KEY) as volume:
        volume.mkdir("/secret-project")
        volume.write_bytes("/secret-project/payroll.csv", b"alice,120000\n" * 1000)
    for path in (tmp_path / "vol").rglob("*"):
        assert "secret" not in path.name and "payroll" not in path.name
        if path.is_file():
            content = path.read_bytes()
            assert b"alice" not in content and b"payroll" not in content


@pytest.mark.parametrize("commit_between", [False, True])
@pytest.mark.parametrize("keep", [0, 1, 3 * SMALL_NODES + 5, 70 * SMALL_NODES])
def test_cut_then_grown_again_reads_zeros(volume: Volume, keep: int, commit_between: bool) -> None:
    data = os.urandom(150 * SMALL_NODES)  # three tree nodes
    volume.write_bytes("/f", data)
    with volume.open("/f", "r+b") as f:
        f.truncate(keep)
        if commit_between:
            f.flush()
        f.truncate(len(data))
        f.seek(0)
        assert f.read() == data[:keep] + bytes(len(data) - keep)
    assert volume.read_bytes("/f") == data[:keep] + bytes(len(data) - keep)
    assert volume.check().ok


def test_the_bytes_on_disk_are_as_documented(tmp_path: Path) -> None:
    """docs/sealfs-format.md's offsets: object header, node positions, manifest header."""
    import struct

    with Volume.create(tmp_path / "vol", KEY, node_size=SMALL_NODES) as volume:
        volume.write_bytes("/f", os.urandom(70 * SMALL_NODES + 1))  # two tree nodes
        entry = volume._entries["/f"]
        path = volume._object_path(entry.object_id)
    raw = path.read_bytes()
    magic, volume_id, object_id, version, node_size = struct.unpack_from("<8s16s16sQI", raw)
    assert (magic, object_id, version, node_size) == (
        b"TRSFOBJ1",
        entry.object_id,
        entry.version,
        SMALL_NODES,
    )
    assert volume_id.hex() in (tmp_path / "vol" / "volume.json").read_text()
    assert path.name == entry.object_id.hex()[2:] and path.parent.name == entry.object_id.hex()[:2]
    # D = 64 data nodes per tree node: MHT 1 at physical 65, the last data node (70) at 72,
    # one byte of ciphertext.
    assert len(raw) == 4096 + 72 * SMALL_NODES + 1
    manifest = (tmp_path / "vol" / "manifest").read_bytes()
    magic, found_volume, found_version, _salt, found_size = struct.unpack_from(
        "<8s16sQ16sI", manifest
    )
    assert (magic, found_volume, found_version, found_size) == (
        b"TRSFMAN1",
        volume_id,
        entry.version,
        SMALL_NODES,
    )


def test_cut_to_nothing_and_grown_back_to_the_committed_size(volume: Volume) -> None:
    """Found by the stateful test: the size ends where it was committed, the content not."""
    with volume.open("/f", "w+b") as f:
        f.write(b"\x01")
        f.flush()
        f.truncate(0)
        f.truncate(1)
    assert volume.read_bytes("/f") == b"\x00"
    volume.close()
    with Volume(volume.directory, KEY) as reopened:
        assert reopened.read_bytes("/f") == b"\x00"


def test_one_read_across_data_holes_and_a_short_end(volume: Volume) -> None:
    node = SMALL_NODES
    head, tail = os.urandom(3 * node), os.urandom(70 * node + 5)  # past 64 data nodes
    with volume.open("/f", "wb") as f:
        f.write(head)
        f.seek(5 * node)  # nodes 3 and 4 are a hole
        f.write(tail)
    expected = head + bytes(2 * node) + tail
    with volume.open("/f", "rb") as f:
        assert f.read() == expected
        buffer = bytearray(len(expected) + 100)
        assert f.pread(buffer, 0) == len(expected)
        assert buffer[: len(expected)] == expected


def test_an_uncommitted_overwrite_reads_back_from_the_journal(volume: Volume) -> None:
    # More nodes than an open file keeps: the rest wait in the journal until the commit.
    old, new = os.urandom(200 * SMALL_NODES), os.urandom(150 * SMALL_NODES)
    volume.write_bytes("/f", old)
    with volume.open("/f", "r+b") as f:
        f.seek(SMALL_NODES // 2)
        f.write(new)
        f.seek(0)
        expected = old[: SMALL_NODES // 2] + new + old[SMALL_NODES // 2 + len(new) :]
        assert f.read() == expected
    assert volume.read_bytes("/f") == expected
    assert volume.check().ok

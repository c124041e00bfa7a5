"""Every change the host can make to a volume's ciphertext is detected and names the file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sealfs_helpers import KEY, SMALL_NODES, object_of

from trustroom.sealfs import (
    FileMisplaced,
    FileRolledBack,
    FileTruncated,
    ManifestInvalid,
    NodeInvalid,
    SealfsError,
    Volume,
    VolumeRolledBack,
)

HEADER = 4096
SIZE = 300_000  # 74 data nodes of 4 KiB: two tree nodes (64 data nodes each)


@pytest.fixture
def vol(tmp_path: Path) -> Path:
    with Volume.create(tmp_path / "vol", KEY, node_size=SMALL_NODES) as volume:
        volume.mkdir("/d")
        volume.write_bytes("/d/a", os.urandom(SIZE))
        volume.write_bytes("/b", os.urandom(SIZE))
        volume.write_bytes("/small", b"tiny")
    return tmp_path / "vol"


def problems(vol: Path, **kwargs: int) -> dict[str, str]:
    with Volume(vol, KEY) as volume:
        report = volume.check(**kwargs)
    assert report.ok is not report.errors
    return {p.path: p.code for p in report.errors}


def read_fails(vol: Path, path: str, error: type[SealfsError]) -> SealfsError:
    with Volume(vol, KEY) as volume, pytest.raises(error) as caught:
        volume.read_bytes(path)
    assert caught.value.path == path
    assert path in caught.value.message
    return caught.value


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_untouched_volume_checks_clean(vol: Path) -> None:
    assert problems(vol) == {}


@pytest.mark.parametrize(
    ("physical", "what"),
    [(0, "root tree node"), (1, "first data node"), (40, "data node"), (65, "second tree node"),
     (66, "data node after it"), (75, "last data node")],
)  # fmt: skip
def test_a_flipped_bit_in_any_node(vol: Path, physical: int, what: str) -> None:
    flip(object_of(vol, "/d/a"), HEADER + physical * SMALL_NODES + 17)
    assert problems(vol) == {"/d/a": "sealfs_node_invalid"}
    read_fails(vol, "/d/a", NodeInvalid)


def test_a_flipped_bit_in_the_header(vol: Path) -> None:
    flip(object_of(vol, "/d/a"), 30)  # inside the object id
    assert problems(vol) == {"/d/a": "sealfs_file_misplaced"}
    flip(object_of(vol, "/b"), 40)  # inside the version
    found = problems(vol)
    assert found["/b"] in ("sealfs_file_rolled_back", "sealfs_volume_rolled_back")


def test_two_nodes_swapped_inside_a_file(vol: Path) -> None:
    path = object_of(vol, "/d/a")
    data = bytearray(path.read_bytes())
    one, two = HEADER + 2 * SMALL_NODES, HEADER + 3 * SMALL_NODES
    data[one:two], data[two : two + SMALL_NODES] = data[two : two + SMALL_NODES], data[one:two]
    path.write_bytes(bytes(data))
    assert problems(vol) == {"/d/a": "sealfs_node_invalid"}


def test_two_files_contents_swapped(vol: Path) -> None:
    a, b = object_of(vol, "/d/a"), object_of(vol, "/b")
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    assert problems(vol) == {"/d/a": "sealfs_file_misplaced", "/b": "sealfs_file_misplaced"}
    error = read_fails(vol, "/b", FileMisplaced)
    assert "another file" in error.message


@pytest.mark.parametrize("cut", [1, SMALL_NODES, 40 * SMALL_NODES])
def test_a_truncated_file(vol: Path, cut: int) -> None:
    path = object_of(vol, "/d/a")
    os.truncate(path, path.stat().st_size - cut)
    assert problems(vol) == {"/d/a": "sealfs_file_truncated"}
    read_fails(vol, "/d/a", FileTruncated)


def test_a_file_emptied_or_deleted(vol: Path) -> None:
    os.truncate(object_of(vol, "/d/a"), 0)
    object_of(vol, "/b").unlink()
    assert problems(vol) == {"/d/a": "sealfs_file_truncated", "/b": "sealfs_file_truncated"}


def test_a_file_replaced_by_its_older_version(vol: Path, tmp_path: Path) -> None:
    path = object_of(vol, "/d/a")
    shutil.copy(path, tmp_path / "old")
    with Volume(vol, KEY) as volume, volume.open("/d/a", "r+b") as f:
        f.seek(1000)
        f.write(b"new content")
    shutil.copy(tmp_path / "old", path)
    assert problems(vol) == {"/d/a": "sealfs_file_rolled_back"}
    read_fails(vol, "/d/a", FileRolledBack)


def test_only_some_nodes_replaced_by_older_ones(vol: Path, tmp_path: Path) -> None:
    path = object_of(vol, "/d/a")
    old = path.read_bytes()
    with Volume(vol, KEY) as volume, volume.open("/d/a", "r+b") as f:
        f.seek(5 * SMALL_NODES)
        f.write(b"new content")
    data = bytearray(path.read_bytes())
    start = HEADER + 6 * SMALL_NODES  # data node 5, with the old ciphertext
    data[start : start + SMALL_NODES] = old[start : start + SMALL_NODES]
    path.write_bytes(bytes(data))
    assert problems(vol) == {"/d/a": "sealfs_node_invalid"}


def test_the_volume_replaced_by_an_older_snapshot(vol: Path, tmp_path: Path) -> None:
    shutil.copytree(vol, tmp_path / "snapshot")
    with Volume(vol, KEY) as volume:
        volume.write_bytes("/b", b"changed")
        trusted = volume.version
    shutil.rmtree(vol)
    shutil.copytree(tmp_path / "snapshot", vol)
    # Consistent in itself: only the version the owner trusts shows it is old.
    assert problems(vol) == {}
    assert problems(vol, trusted_version=trusted) == {"/": "sealfs_volume_rolled_back"}
    with pytest.raises(VolumeRolledBack, match=f"trusted version {trusted}"):
        Volume(vol, KEY, trusted_version=trusted)


def test_only_the_manifest_replaced_by_an_older_one(vol: Path, tmp_path: Path) -> None:
    shutil.copy(vol / "manifest", tmp_path / "manifest")
    with Volume(vol, KEY) as volume:
        volume.write_bytes("/d/a", b"changed")
        volume.write_bytes("/new", b"created after")
    shutil.copy(tmp_path / "manifest", vol / "manifest")
    # The files are newer than the manifest: it, not they, was rolled back. The object of
    # the file created after is kept as evidence, not swept away as a leftover.
    assert problems(vol) == {"/d/a": "sealfs_volume_rolled_back", "/": "sealfs_volume_rolled_back"}


@pytest.mark.parametrize("offset", [0, 20, 60, -1])
def test_a_damaged_manifest(vol: Path, offset: int) -> None:
    flip(vol / "manifest", offset if offset >= 0 else (vol / "manifest").stat().st_size - 1)
    with pytest.raises(ManifestInvalid):
        Volume(vol, KEY)


def test_volume_json_edited(vol: Path) -> None:
    config = (vol / "volume.json").read_text()
    (vol / "volume.json").write_text(config.replace('"node_size": 4096', '"node_size": 8192'))
    with pytest.raises(ManifestInvalid):
        Volume(vol, KEY)

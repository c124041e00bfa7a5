"""Whatever bytes the host puts in a volume's files, sealfs answers with a typed error."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sealfs_helpers import KEY, SMALL_NODES

from trustroom.sealfs import ManifestInvalid, SealfsError, Volume
from trustroom.sealfs._journal import JOURNAL, replay
from trustroom.sealfs._keys import VolumeKey
from trustroom.sealfs._layout import ObjectHeader
from trustroom.sealfs._manifest import Manifest

SECRETS = KEY.derive({"name": "none"}, bytes(16))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300))
def test_manifest_bytes(data: bytes) -> None:
    with contextlib.suppress(ManifestInvalid):
        Manifest.unseal(data, SECRETS, bytes(16), SMALL_NODES)


@FUZZ
@given(st.binary(max_size=100))
def test_object_header_bytes(data: bytes) -> None:
    try:
        header = ObjectHeader.unpack(data, "/f")
    except SealfsError:
        return
    assert header.pack() == data[:52]


@FUZZ
@given(st.binary(max_size=300))
def test_journal_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / JOURNAL).write_bytes(data)
        with contextlib.suppress(ManifestInvalid):
            replay(Path(folder), SECRETS.journal_key, bytes(16), lambda *_: None)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
FIELDS = ["format", "format_version", "volume_id", "node_size", "kdf", "key_check"]


@FUZZ
@given(st.sampled_from(FIELDS), JSON)
def test_volume_json(field: str, value: object) -> None:
    """A real volume.json with one field replaced by any JSON value."""
    with tempfile.TemporaryDirectory() as folder:
        Volume.create(Path(folder) / "vol", KEY).close()
        path = Path(folder) / "vol" / "volume.json"
        config = json.loads(path.read_text())
        config[field] = value
        path.write_text(json.dumps(config))
        with contextlib.suppress(SealfsError):
            Volume(path.parent, KEY).close()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_an_object_overwritten_anywhere(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "vol"
        with Volume.create(root, KEY, node_size=SMALL_NODES) as volume:
            volume.write_bytes("/f", os.urandom(data.draw(st.integers(1, 5 * SMALL_NODES))))
            path = volume._object_path(volume._entries["/f"].object_id)
        content = bytearray(path.read_bytes())
        start = data.draw(st.integers(0, len(content) - 1))
        patch = data.draw(st.binary(min_size=1, max_size=64))
        changed = content[:start] + patch + content[start + len(patch) :]
        path.write_bytes(bytes(changed))
        with Volume(root, KEY) as volume:
            report = volume.check()
            try:
                volume.read_bytes("/f")
                read_ok = True
            except SealfsError:
                read_ok = False
        # Bytes outside every stored node may change unnoticed; anything read is authentic.
        assert report.ok == read_ok


def test_passphrase_key_parameters_cannot_be_forged_cheap(tmp_path: Path) -> None:
    with Volume.create(tmp_path / "vol", VolumeKey.passphrase("pw")):
        pass
    config = json.loads((tmp_path / "vol" / "volume.json").read_text())
    config["kdf"]["memory_kib"] = 1 << 40  # would take a terabyte, or "lots" a crash
    (tmp_path / "vol" / "volume.json").write_text(json.dumps(config))
    try:
        Volume(tmp_path / "vol", VolumeKey.passphrase("pw"))
    except SealfsError as exc:
        assert exc.code == "sealfs_volume_invalid"
    else:
        raise AssertionError("opened with altered key parameters")

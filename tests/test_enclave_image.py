"""Building and signing images: the measurement covers exactly what it should, reproducibly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from trustroom.attestation import ReferenceValues
from trustroom.cli import app
from trustroom.enclave import (
    ImageNotBuilt,
    ImageSignatureInvalid,
    TrustedFileChanged,
    build,
    load_image,
    load_signature,
    sign,
    signing_key,
    verified_image,
)
from trustroom.enclave._discover import needed_files

MANIFEST = """\
[enclave]
name = "hello"
entrypoint = ["./run.sh", "--greet"]
product_id = 5
security_version = 2

[files]
trusted = ["run.sh", "lib"]
allowed = ["notes.txt"]

[env]
set = { GREETING = "hi" }

[[volumes]]
mount = "/data"
volume = "state"
key = "sealing"
"""


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hello"
    (folder / "lib" / "sub").mkdir(parents=True)
    (folder / "run.sh").write_text("#!/bin/sh\necho hello\n")
    (folder / "lib" / "a.txt").write_text("a")
    (folder / "lib" / "sub" / "b.txt").write_text("b")
    (folder / "notes.txt").write_text("not measured")
    (folder / "trustroom.toml").write_text(MANIFEST)
    return folder


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_measurement_follows_the_documented_algorithm(image_dir: Path) -> None:
    image = build(image_dir)
    expected = {
        "name": "hello",
        "entrypoint": ["./run.sh", "--greet"],
        "program": "/app/run.sh",
        "workdir": "/app",
        "env": {"set": {"GREETING": "hi"}, "passthrough": []},
        "trusted": {
            "/app/lib/a.txt": sha("a"),
            "/app/lib/sub/b.txt": sha("b"),
            "/app/run.sh": sha("#!/bin/sh\necho hello\n"),
        },
        "allowed": ["/app/notes.txt"],
        "volumes": [{"mount": "/data", "key": "sealing"}],
        "secrets": [],
        "network": "none",
        "limits": {},
        "debug": False,
    }
    assert dict(image.measured) == expected
    canonical = rfc8785.dumps(expected)
    assert image.measurement == hashlib.sha256(b"trustroom-enclave/1\0" + canonical).digest()
    assert image.sources["/app/lib/sub/b.txt"] == str(image_dir / "lib" / "sub" / "b.txt")


def test_the_measurement_of_an_image_is_stable_across_releases(image_dir: Path) -> None:
    # Pinned from the code before [outputs] existed: features an image does not use must not
    # change its measurement, or every relying party's reference values would go stale.
    pinned = "59179dc919483569fb2541e84a3d234b724eff23e17bc7530c6c5337c59f9bf4"
    assert build(image_dir).measurement.hex() == pinned


def test_same_inputs_same_measurement_wherever_they_are(image_dir: Path, tmp_path: Path) -> None:
    elsewhere = shutil.copytree(image_dir, tmp_path / "another" / "place")
    assert build(elsewhere).measurement == build(image_dir).measurement


def test_a_built_image_moved_elsewhere_is_read_from_where_it_is(
    image_dir: Path, tmp_path: Path
) -> None:
    build(image_dir).save()
    moved = shutil.copytree(image_dir, tmp_path / "shipped")
    image = verified_image(moved)
    assert image.measurement == load_image(image_dir).measurement
    local = [path for path in image.sources.values() if not path.startswith("/usr")]
    assert local and all(path.startswith(str(moved)) for path in local)


@pytest.mark.parametrize(
    ("change", "measured"),
    [
        (lambda d: (d / "lib" / "sub" / "b.txt").write_text("B"), True),
        (lambda d: (d / "lib" / "new.txt").write_text("new"), True),
        (lambda d: (d / "notes.txt").write_text("changed, unmeasured"), False),
        (lambda d: _edit(d, 'GREETING = "hi"', 'GREETING = "hello"'), True),
        (lambda d: _edit(d, "[enclave]\n", "[enclave]\ndebug = true\n"), True),
        (lambda d: _edit(d, "security_version = 2", "security_version = 3"), False),
        (lambda d: _edit(d, "product_id = 5", "product_id = 6"), False),
        (lambda d: _edit(d, 'volume = "state"', 'volume = "elsewhere"'), False),
    ],
)
def test_what_the_measurement_covers(image_dir: Path, change: object, measured: bool) -> None:
    before = build(image_dir).measurement
    change(image_dir)  # type: ignore[operator]
    assert (build(image_dir).measurement != before) is measured


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "trustroom.toml"
    path.write_text(path.read_text().replace(old, new, 1))


def test_links_in_a_trusted_folder_are_measured_by_content(image_dir: Path) -> None:
    os.symlink("a.txt", image_dir / "lib" / "link.txt")
    assert build(image_dir).trusted["/app/lib/link.txt"] == sha("a")


def test_sign_verify_and_reference_values(image_dir: Path) -> None:
    image = build(image_dir)
    image.save()
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    signature = sign(image, key)
    assert signature == load_signature(image_dir)
    assert sign(image, key) == signature  # deterministic
    signature.verify(load_image(image_dir))
    assert (signature.product_id, signature.security_version, signature.debug) == (5, 2, False)
    public = bytes.fromhex(
        json.loads((image_dir / "build" / "signature.json").read_text())["public_key"]
    )
    assert signature.mrsigner == hashlib.sha256(public).digest()
    values = ReferenceValues.from_dict(signature.reference_values("hello", tee=["sim"]))
    assert values.measurements["mrenclave"] == {image.measurement.hex()}
    assert values.min_svn["isv_svn"] == 2
    by_signer = signature.reference_values("hello", tee=["sim"], pin="signer")
    assert "mrenclave" not in by_signer["measurements"]


def test_a_signature_for_another_image_or_altered_is_refused(image_dir: Path) -> None:
    image = build(image_dir)
    image.save()
    signature = sign(image, Ed25519PrivateKey.generate())
    (image_dir / "run.sh").write_text("#!/bin/sh\necho changed\n")
    with pytest.raises(ImageSignatureInvalid, match="the image measures"):
        signature.verify(build(image_dir))
    forged = signature._replace(security_version=9)
    with pytest.raises(ImageSignatureInvalid, match="does not verify"):
        forged.verify(image)


def test_nothing_built_yet(image_dir: Path) -> None:
    with pytest.raises(ImageNotBuilt):
        load_image(image_dir)
    with pytest.raises(ImageNotBuilt, match="not been signed"):
        load_signature(image_dir)


def test_the_default_signing_key_is_created_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    first, created = signing_key()
    again, created_again = signing_key()
    assert created and not created_again
    assert first.public_key() == again.public_key()
    assert (tmp_path / "home" / "enclave-signing-key.pem").stat().st_mode & 0o777 == 0o600


runner = CliRunner()


def enclave(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, ["enclave", *map(str, args)])
    return result.exit_code, result.stdout


def test_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.py").write_text("print('hi')\n")
    code, output = enclave("new", folder, "--entrypoint", "sh app.py", "--trusted", "app.py")
    assert code == 0, output
    assert enclave("new", folder, "--entrypoint", "sh")[0] == 1  # exists
    code, output = enclave("build", folder, "--json")
    assert code == 0, output
    built = json.loads(output)
    program = shutil.which("sh", path="/usr/local/bin:/usr/bin:/bin")
    assert built["program"] == program
    libraries = needed_files(str(program))  # the loader and libc, found with ldd
    assert any("libc.so" in library for library in libraries)
    assert built["trusted_files"] == 2 + len(libraries)
    code, output = enclave("sign", folder, "--json")
    assert code == 0, output
    signed = json.loads(output)
    assert signed["measurement"] == built["measurement"]
    code, output = enclave("inspect", folder, "--json")
    assert code == 0, output
    inspected = json.loads(output)
    assert inspected["reference_values"]["measurements"]["mrenclave"] == [built["measurement"]]
    assert inspected["signature"]["mrsigner"] == signed["mrsigner"]
    code, output = enclave("measure", folder, "--json")
    assert code == 0 and json.loads(output)["matches_build"] is True
    (folder / "app.py").write_text("print('changed')\n")
    code, output = enclave("measure", folder, "--json")
    assert code == 1 and json.loads(output)["matches_build"] is False
    result = runner.invoke(app, ["enclave", "sign", str(folder)])
    assert isinstance(result.exception, TrustedFileChanged)
    assert result.exception.details["path"] == "/app/app.py"


def test_the_image_holds_the_checked_manifest(image_dir: Path) -> None:
    image = build(image_dir)
    image.save()
    loaded = load_image(image_dir)
    assert loaded.manifest == image.manifest._replace(lines=None)
    assert loaded.measurement == image.measurement and loaded.sources == image.sources
    assert loaded.manifest_sha256 == hashlib.sha256(MANIFEST.encode()).hexdigest()

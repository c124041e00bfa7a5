"""The Gramine manifest generated from a trustroom image, against a golden file: Gramine
itself does not run here (no SGX), so its input is pinned instead."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from trustroom.enclave import EnclaveError, build
from trustroom.enclave._gramine import gramine_manifest, run_with_gramine

GOLDEN = Path(__file__).resolve().parent / "data" / "enclave" / "gramine"


def test_the_manifest_matches_its_golden_file() -> None:
    text = gramine_manifest(build(GOLDEN / "image"))
    assert text == (GOLDEN / "golden.manifest.template").read_text()


def test_it_is_toml_with_what_gramine_reads() -> None:
    manifest = tomllib.loads(gramine_manifest(build(GOLDEN / "image")))
    assert manifest["libos"]["entrypoint"] == "/app/run.sh"
    assert manifest["loader"]["env"]["TZ"] == {"passthrough": True}
    assert {"type": "encrypted", "path": "/data", "uri": "file:state",
            "key_name": "_sgx_mrsigner"} in manifest["fs"]["mounts"]  # fmt: skip
    assert manifest["sgx"]["enclave_size"] == "512M"  # 300M, to a power of two
    assert "file:lib/" in manifest["sgx"]["trusted_files"]


def test_the_same_on_any_machine(tmp_path: Path) -> None:
    elsewhere = Path(shutil.copytree(GOLDEN / "image", tmp_path / "somewhere" / "else"))
    assert gramine_manifest(build(elsewhere)) == gramine_manifest(build(GOLDEN / "image"))


def test_broker_secrets_are_refused_for_now(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(GOLDEN / "image", tmp_path / "image"))
    manifest = folder / "trustroom.toml"
    manifest.write_text(
        manifest.read_text() + '\n[[secrets]]\nresource = "default/k/1"\nenv = "K"\n'
    )
    with pytest.raises(EnclaveError, match="not yet generated for Gramine"):
        gramine_manifest(build(folder))


@pytest.mark.skipif(shutil.which("gramine-sgx") is not None, reason="Gramine is installed")
def test_without_gramine_the_manifest_is_written_and_the_steps_given(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(GOLDEN / "image", tmp_path / "image"))
    with pytest.raises(EnclaveError, match="Gramine is not installed here") as caught:
        run_with_gramine(build(folder), [])
    assert "gramine-sgx-sign" in caught.value.hint
    written = folder / "build" / "gramine" / "golden.manifest.template"
    assert written.read_text() == (GOLDEN / "golden.manifest.template").read_text()
    with pytest.raises(EnclaveError, match="extra ones would be unmeasured"):
        run_with_gramine(build(folder), ["--more"])

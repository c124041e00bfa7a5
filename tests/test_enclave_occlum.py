"""The Occlum inputs generated from a trustroom image, against golden files: Occlum itself does
not run here (no SGX), so what it would be given is pinned instead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trustroom.enclave import EnclaveError, build
from trustroom.enclave._occlum import occlum_bom, occlum_settings, run_with_occlum

GOLDEN = Path(__file__).resolve().parent / "data" / "enclave" / "occlum"


def test_the_settings_and_the_bill_of_materials_match_their_golden_files() -> None:
    image = build(GOLDEN / "image")
    assert occlum_settings(image) == json.loads((GOLDEN / "settings.json").read_text())
    assert occlum_bom(image) == (GOLDEN / "bom.yaml").read_text()


def test_the_same_wherever_the_image_lies(tmp_path: Path) -> None:
    elsewhere = Path(shutil.copytree(GOLDEN / "image", tmp_path / "somewhere" / "else"))
    assert occlum_bom(build(elsewhere)) == occlum_bom(build(GOLDEN / "image"))


def test_what_is_not_mapped_yet_is_refused() -> None:
    gramine_golden = GOLDEN.parent / "gramine" / "image"  # with allowed files and a volume
    with pytest.raises(EnclaveError, match="allowed files, sealed volumes are not yet"):
        occlum_settings(build(gramine_golden))


@pytest.mark.skipif(shutil.which("occlum") is not None, reason="Occlum is installed")
def test_without_occlum_the_inputs_are_written_and_the_steps_given(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(GOLDEN / "image", tmp_path / "image"))
    with pytest.raises(EnclaveError, match="Occlum is not installed here") as caught:
        run_with_occlum(build(folder), ["one more"])
    assert "occlum run /app/run.sh --greet 'one more'" in caught.value.hint
    written = folder / "build" / "occlum"
    assert (written / "bom.yaml").read_text() == (GOLDEN / "bom.yaml").read_text()
    assert json.loads((written / "settings.json").read_text())["entry_points"] == ["/app"]


def test_a_process_limit_bounds_the_threads_when_no_thread_limit_is_given(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(GOLDEN / "image", tmp_path / "image"))
    manifest = folder / "trustroom.toml"
    manifest.write_text(manifest.read_text().replace("threads = 16", "processes = 6"))
    assert occlum_settings(build(folder))["resource_limits"]["max_num_of_threads"] == 6

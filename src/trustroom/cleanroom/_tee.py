"""TEE mode: the provider's unmodified program runs in an enclave that gets the owners' data
keys from the key broker only because its measurement is the one they approved.

The provider packages the program (:func:`tee_program`): each input dataset's sealed volume is
mounted at ``/inputs/<dataset>`` (its table at ``/inputs/<dataset>/data.csv``), keyed by the
broker resource ``OWNER/dataset-key/DATASET``, and whatever the program writes to
``/outputs`` under a name the spec lists leaves the enclave only sealed to that output's
recipients. The recipients and the job's name are in a measured file, so the measurement the
owners approve pins the code, the inputs' key sources and who receives what.

The worker (:func:`run_tee_job`) checks the approvals and that the image is the approved one,
puts the owners' sealed volumes where the image mounts them and runs it: the enclave attests
to the broker, which releases each key only under the owners' release policy
(:func:`grants`, :func:`~trustroom.cleanroom.release_policy`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustroom.cleanroom._approval import check_approvals
from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._spec import Input, JobSpec
from trustroom.enclave import EnclaveError, Image, build, verified_image
from trustroom.enclave._outputs import envelope_name
from trustroom.enclave._run import OUTPUTS_INDEX, run
from trustroom.kbs import KbsError
from trustroom.ledger import Consortium

__all__ = ["INPUTS", "OUTPUTS", "TeeRun", "grants", "measurement_of", "run_tee_job", "tee_program"]

INPUTS = "/inputs"
OUTPUTS = "/outputs"
_RECIPIENTS = "recipients.json"


def measurement_of(image: Image) -> str:
    """An image's measurement as job specs write it: ``sha256:<hex>``."""
    return "sha256:" + image.measurement.hex()


def tee_program(
    directory: Path,
    *,
    job: str,
    command: Sequence[str],
    trusted: Sequence[str],
    inputs: Sequence[Input],
    recipients: Mapping[str, Mapping[str, str]],
) -> Image:
    """Write the enclave manifest of job ``job``'s program into ``directory`` (which holds
    the program's own files), with its recipients file (output name to recipient name to
    member public key), and build the image."""
    (directory / _RECIPIENTS).write_text(
        json.dumps({"context": job, "outputs": recipients}, indent=1, sort_keys=True) + "\n"
    )
    lines = [
        "# Written by trustroom.cleanroom.tee_program: a clean-room job's program.",
        "[enclave]",
        f"name = {json.dumps(job)}",
        f"entrypoint = {json.dumps(list(command))}",
        "[files]",
        f"trusted = {json.dumps([*trusted, _RECIPIENTS])}",
    ]
    for item in inputs:
        lines += [
            "[[volumes]]",
            f'mount = "{INPUTS}/{item.dataset}"',
            f'volume = "inputs/{item.dataset}"',
            f'key = "kbs:{item.owner}/dataset-key/{item.dataset}"',
        ]
    lines += ["[outputs]", f'folder = "{OUTPUTS}"', f'recipients = "{_RECIPIENTS}"']
    (directory / "trustroom.toml").write_text("\n".join(lines) + "\n")
    image = build(directory)
    image.save()
    return image


def grants(spec: JobSpec) -> dict[str, list[str]]:
    """What the owners' approval of ``spec`` lets the key broker release: each input's
    resource, to the program's measurement."""
    if spec.program.measurement is None:
        return {}
    return {
        f"{item.owner}/dataset-key/{item.dataset}": [spec.program.measurement]
        for item in spec.inputs
    }


@dataclass(frozen=True)
class TeeRun:
    """What a TEE job left: the sealed outputs' digests, by (output, recipient), the digest
    of the attestation token the key broker gave the enclave, and the TEE it ran in."""

    outputs: dict[tuple[str, str], str]
    attestation: str
    tee: str


def run_tee_job(
    spec: JobSpec,
    approvals: Iterable[Mapping[str, Any]],
    consortium: Consortium,
    *,
    program: Path,
    volumes: Mapping[str, Path],
    kbs: str,
    outputs: Path,
    tee: str = "sim",
) -> TeeRun:
    """Run tee job ``spec``'s program (the image in ``program``) on the owners' sealed
    ``volumes`` (dataset name to volume folder), with keys from the broker at ``kbs``; the
    sealed outputs go to ``outputs``. ``tee`` is the enclave runner's (``sim``, or ``cvm`` in
    a confidential VM). Refused before anything runs if an owner has not
    approved this spec or the image is not the approved program."""
    if spec.mode != "tee":
        raise CleanroomError(f"job {spec.name} is not a tee job")
    check_approvals(spec, approvals, consortium)
    image = verified_image(program)
    if measurement_of(image) != spec.program.measurement:
        raise CleanroomError(
            f"the image in {program} is not the program the owners approved: its measurement "
            f"is {measurement_of(image)}, the spec names {spec.program.measurement}",
            hint="Build the approved program, or have the owners approve this one.",
        )
    for item in spec.inputs:
        if item.dataset not in volumes:
            raise CleanroomError(f"no sealed volume for input {item.dataset} ({item.owner})")
        target = program / "inputs" / item.dataset
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(volumes[item.dataset], target)
    try:
        status = run(program, kbs=kbs, outputs=outputs, tee=tee)
    except (EnclaveError, KbsError) as exc:
        raise CleanroomError(f"job {spec.name} did not run: {exc.message}") from exc
    if status != 0:
        raise CleanroomError(f"job {spec.name}'s program failed (exit status {status})")
    index = json.loads((outputs / OUTPUTS_INDEX).read_text())
    found: dict[tuple[str, str], str] = {}
    for output in spec.outputs:
        for recipient in output.recipients:
            digest = index["envelopes"].get(envelope_name(output.name, recipient))
            if digest is None:
                raise CleanroomError(f"the program wrote no output {output.name}")
            found[output.name, recipient] = digest
    return TeeRun(found, index["attestation"], tee)

"""TEE mode end to end with real processes: owners seal their tables, a real key broker holds
the keys under the owners' release policy, the sim enclave runs the approved program, and only
the recipients open its output. One changed byte of the program, and no key is released."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from kbs_server import running_broker, write_keys
from test_cleanroom_parts import consortium, keys

from trustroom.cleanroom import (
    CleanroomError,
    Input,
    JobSpec,
    approve,
    open_output,
    release_policy,
    seal_dataset,
)
from trustroom.cleanroom._tee import TeeRun, grants, measurement_of, run_tee_job, tee_program
from trustroom.enclave import build
from trustroom.enclave._discover import needed_files
from trustroom.enclave._run import run
from trustroom.kbs import KbsAdmin, KbsError

pytestmark = pytest.mark.fuse

BANK = "id,balance\nc1,2.5\nc2,3\nc3,5\n"
RETAILER = "id,purchases\nc3,10\nc9,1\nc1,4\n"
PROGRAM = """import csv, json
def table(name):
    with open(f"/inputs/{name}/data.csv") as f:
        return {row["id"]: row for row in csv.DictReader(f)}
bank, shop = table("accounts"), table("baskets")
shared = sorted(set(bank) & set(shop))
total = sum(float(bank[i]["balance"]) * float(shop[i]["purchases"]) for i in shared)
with open("/outputs/report.json", "w") as f:
    json.dump({"customers": len(shared), "total": total}, f)
"""


class World(NamedTuple):
    spec: JobSpec
    approvals: list[dict[str, Any]]
    program: Path
    volumes: Mapping[str, Path]
    kbs: str
    outputs: Path

    def run(self, approvals: list[dict[str, Any]] | None = None) -> TeeRun:
        return run_tee_job(
            self.spec, self.approvals if approvals is None else approvals, consortium(),
            program=self.program, volumes=self.volumes, kbs=self.kbs, outputs=self.outputs,
        )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Two sealed datasets, the program packaged for them, and a real key broker holding
    their keys under the owners' release policy for that program."""
    home = tmp_path / "home"  # the runner's and the broker's: one simulated platform
    monkeypatch.setenv("TRUSTROOM_HOME", str(home))
    volumes, datasets = {}, []
    for owner, name, table in (("bank", "accounts", BANK), ("retailer", "baskets", RETAILER)):
        (tmp_path / f"{name}.csv").write_text(table)
        volumes[name] = tmp_path / "owners" / name
        datasets.append(
            seal_dataset(tmp_path / f"{name}.csv", volumes[name], owner=owner, name=name)
        )
    program = tmp_path / "program"
    program.mkdir()
    (program / "join.py").write_text(PROGRAM)
    inputs = [Input(d.name, d.owner, d.digest) for d, _ in datasets]
    members = consortium().members
    image = tee_program(
        program, job="joint-report", command=["python3", "join.py"],
        trusted=["join.py", "/usr/bin/python3", *needed_files("/usr/bin/python3")],
        inputs=inputs,
        recipients={"report.json": {"algo": members["algo"], "bank": members["bank"]}},
    )  # fmt: skip
    spec = JobSpec.from_dict(
        {
            "name": "joint-report",
            "mode": "tee",
            "program": {"provider": "algo", "measurement": measurement_of(image)},
            "inputs": [
                {"dataset": i.dataset, "owner": i.owner, "digest": i.digest} for i in inputs
            ],
            "outputs": [{"name": "report.json", "recipients": ["algo", "bank"]}],
        }
    )
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(tmp_path, admin_key)
    with running_broker(f"sqlite:///{tmp_path / 'kbs.db'}", home, public, resource_key) as url:
        with KbsAdmin(url, admin_key) as admin:
            for dataset, key in datasets:
                admin.set_resource(*dataset.resource.split("/"), key)
            admin.set_policy(release_policy(grants(spec), allow_sim=True))
            admin.set_reference_values(
                {"name": spec.name, "tee": ["sim"],
                 "measurements": {"mrenclave": [image.measurement.hex()]}}
            )  # fmt: skip
        approvals = [approve(keys()[owner], spec, at=1) for owner in spec.owners]
        yield World(spec, approvals, program, volumes, url, tmp_path / "outputs")


def test_the_approved_program_runs_and_only_recipients_read_its_output(world: World) -> None:
    result = world.run()
    outputs = world.outputs
    for recipient in ("algo", "bank"):
        envelope = (outputs / f"report.json.{recipient}.sealed").read_bytes()
        name, data = open_output(envelope, keys()[recipient], job="joint-report")
        assert (name, json.loads(data)) == ("report.json", {"customers": 2, "total": 60.0})
        assert result.outputs["report.json", recipient].startswith("sha256:")
    assert result.attestation.startswith("sha256:") and result.tee == "sim"
    assert not (outputs / "report.json").exists()


def test_one_changed_byte_of_the_program_and_no_key_is_released(world: World) -> None:
    program = world.program
    (program / "join.py").write_text(PROGRAM.replace("total =", "total  ="))
    build(program).save()
    with pytest.raises(CleanroomError, match="not the program the owners approved"):
        world.run()
    # A worker that skips that check gets nothing either: the broker refuses, and says why.
    for name, volume in world.volumes.items():
        shutil.copytree(volume, program / "inputs" / name)
    with pytest.raises(KbsError) as refused:
        run(program, kbs=world.kbs, outputs=world.outputs)
    assert "is not one the owner of bank/dataset-key/accounts approved" in str(
        refused.value.details
    )
    assert not world.outputs.exists() or not any(world.outputs.iterdir())


def test_a_job_without_every_owner_s_approval_does_not_run(world: World) -> None:
    with pytest.raises(CleanroomError, match="retailer has not approved"):
        world.run(world.approvals[:1])

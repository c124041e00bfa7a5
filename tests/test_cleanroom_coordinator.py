"""The coordinator against a real ledger server: it takes only what consortium members signed,
only specs whose inputs are registered as named, only owners' approvals, each once, and logs
each approval and the start; over HTTP, any request gets an answer or a problem."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kbs_server import free_port
from ledger_server import serving

from trustroom.cleanroom import CleanroomError, JobSpec, approve, seal_dataset
from trustroom.cleanroom._app import create_app
from trustroom.cleanroom._archive import pack
from trustroom.cleanroom._coordinator import Coordinator, JobNotFound
from trustroom.cleanroom._mpc import program_digest
from trustroom.cleanroom._store import jobs
from trustroom.ledger import Ledger, LedgerClient, MemberKey, genesis

MEMBERS = ("bank", "retailer", "algo", "operator")


class World(NamedTuple):
    coordinator: Coordinator
    keys: dict[str, MemberKey]
    ledger: Ledger
    volumes: dict[str, Path]
    tables: dict[str, Path]
    program: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    keys = {name: MemberKey.generate(name) for name in MEMBERS}
    ledger = Ledger.init("coordinator.test/log", f"sqlite:///{tmp_path / 'log.db'}")
    ledger.govern(genesis(list(keys.values()), threshold=3))
    volumes, tables = {}, {}
    for name in ("accounts", "baskets"):
        tables[name] = tmp_path / f"{name}.csv"
        tables[name].write_text(f"id,value\nc1,{len(name)}\nc2,3\n")
        volumes[name] = tmp_path / "volumes" / name
    program = tmp_path / "program"
    program.mkdir()
    (program / "main.py").write_text("def main(ctx, ids, columns):\n    return {}\n")
    with serving(str(ledger.store.engine.url)) as (_, http):
        client = LedgerClient(str(http.base_url), keys["operator"])
        coordinator = Coordinator(f"sqlite:///{tmp_path / 'c.db'}", ledger=client)
        yield World(coordinator, keys, ledger, volumes, tables, program)
        client.close()


def register(world: World, owner: str, name: str) -> dict[str, Any]:
    dataset, _ = seal_dataset(world.tables[name], world.volumes[name], owner=owner, name=name)
    message = world.keys[owner].sign(
        {"type": "dataset", "party": owner, "dataset": dataset.to_dict(), "created_at": 1}
    )
    world.coordinator.register_dataset(message, pack(world.volumes[name]))
    return dataset.to_dict()


def spec_of(world: World, accounts: dict[str, Any], baskets: dict[str, Any]) -> JobSpec:
    return JobSpec.from_dict(
        {
            "name": "joint",
            "mode": "mpc",
            "join": "id",
            "program": {"provider": "algo", "script": program_digest(world.program)},
            "inputs": [
                {"dataset": "accounts", "owner": "bank", "digest": accounts["digest"]},
                {"dataset": "baskets", "owner": "retailer", "digest": baskets["digest"]},
            ],
            "outputs": [{"name": "total", "recipients": ["algo"]}],
        }
    )


def submit(world: World, spec: JobSpec, by: str = "algo") -> JobSpec:
    message = world.keys[by].sign({"type": "job", "party": by, "spec": spec.to_dict()})
    return world.coordinator.submit_job(message, pack(world.program))


def test_a_job_is_approved_by_its_owners_each_once_and_logged(world: World) -> None:
    spec = spec_of(
        world, register(world, "bank", "accounts"), register(world, "retailer", "baskets")
    )
    submit(world, spec)
    assert world.coordinator.job(spec.digest)["status"] == "pending"
    now = int(time.time())
    with pytest.raises(CleanroomError, match="owns no input"):
        world.coordinator.approve(spec.digest, approve(world.keys["algo"], spec, at=now))
    assert (
        world.coordinator.approve(spec.digest, approve(world.keys["bank"], spec, at=now))
        == "pending"
    )
    with pytest.raises(CleanroomError, match="approved job joint already"):
        world.coordinator.approve(spec.digest, approve(world.keys["bank"], spec, at=now + 1))
    state = world.coordinator.approve(spec.digest, approve(world.keys["retailer"], spec, at=now))
    assert state == "approved"
    kinds = [world.ledger.record(i).kind for i in range(world.ledger.size)]
    assert kinds[-3:] == ["job-approval", "job-approval", "job-start"]
    assert world.coordinator.job(spec.digest)["approved_by"] == ["bank", "retailer"]
    assert world.coordinator.claim("w") is None  # an mpc job is not a worker's
    with pytest.raises(CleanroomError, match="is approved, not done"):
        world.coordinator.outputs_for(spec.digest, "algo")
    with pytest.raises(JobNotFound):
        world.coordinator.job("sha256:" + "0" * 64)


def test_only_what_members_signed_is_taken(world: World) -> None:
    dataset, _ = seal_dataset(
        world.tables["accounts"], world.volumes["accounts"], owner="bank", name="accounts"
    )
    volume = pack(world.volumes["accounts"])
    document = {"type": "dataset", "party": "bank", "dataset": dataset.to_dict()}
    forged = {
        **world.keys["bank"].sign(document),
        "signature": world.keys["algo"].sign(document)["signature"],
    }
    with pytest.raises(CleanroomError, match="does not count"):
        world.coordinator.register_dataset(forged, volume)
    stranger = MemberKey.generate("bank")
    with pytest.raises(CleanroomError, match="does not count"):
        world.coordinator.register_dataset(stranger.sign(document), volume)
    for_another = {**document, "party": "retailer"}
    with pytest.raises(CleanroomError, match="registered a dataset of bank"):
        world.coordinator.register_dataset(world.keys["retailer"].sign(for_another), volume)
    world.coordinator.register_dataset(world.keys["bank"].sign(document), volume)
    with pytest.raises(CleanroomError, match="registered already"):
        world.coordinator.register_dataset(world.keys["bank"].sign(document), volume)


def test_a_spec_must_name_registered_inputs_and_its_own_program(world: World) -> None:
    accounts = register(world, "bank", "accounts")
    baskets = register(world, "retailer", "baskets")
    spec = spec_of(world, accounts, baskets)
    with pytest.raises(CleanroomError, match="bank submitted a program of algo"):
        submit(world, spec, by="bank")
    wrong = spec_of(world, accounts, {**baskets, "digest": accounts["digest"]})
    with pytest.raises(CleanroomError, match="input baskets is not a dataset retailer registered"):
        submit(world, wrong)
    (world.program / "extra.py").write_text("x = 1\n")
    with pytest.raises(CleanroomError, match="is not the one the spec names"):
        submit(world, spec)
    (world.program / "extra.py").unlink()
    submit(world, spec)
    with pytest.raises(CleanroomError, match="a job named joint exists already"):
        submit(world, spec)


@pytest.mark.postgres
def test_two_replicas_on_postgresql_share_jobs_and_hand_each_out_once(
    world: World, postgres_database: str
) -> None:
    replicas = [Coordinator(postgres_database, ledger=world.coordinator.ledger) for _ in range(2)]
    first, second = replicas
    world = world._replace(coordinator=first)
    spec = spec_of(
        world, register(world, "bank", "accounts"), register(world, "retailer", "baskets")
    )
    submit(world, spec)
    now = int(time.time())
    assert second.approve(spec.digest, approve(world.keys["bank"], spec, at=now)) == "pending"
    with pytest.raises(CleanroomError, match="approved job joint already"):
        first.approve(spec.digest, approve(world.keys["bank"], spec, at=now + 1))
    assert first.approve(spec.digest, approve(world.keys["retailer"], spec, at=now)) == "approved"
    assert second.job(spec.digest)["approved_by"] == ["bank", "retailer"]
    # A TEE job ready for workers, claimed through both replicas at once: one gets it.
    with first.store.transaction() as db:
        db.execute(jobs.update().where(jobs.c.id == spec.digest).values(mode="tee"))
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda n: replicas[n % 2].claim(f"w{n}"), range(8)))
    assert sum(claim is not None for claim in claims) == 1
    for replica in replicas:
        replica.store.engine.dispose()


@pytest.fixture
def served(world: World) -> Iterator[httpx.Client]:
    """The coordinator's HTTP face on a loopback port (uvicorn in a thread)."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(world.coordinator), port=free_port(), log_level="error")
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


# The fields the routes read: every one present, with values of any shape, so that each
# route's checks of each field are reached.
NAMES = ["message", "volume", "program", "worker", "rank", "host", "port", "certificate",
         "envelopes", "attestation", "party", "error"]  # fmt: skip
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.just("AAAA"),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*NAMES, "recipient", "envelope", "document"]), inner)
    ),
    max_leaves=10,
)
BODIES = st.one_of(
    st.binary(max_size=40),
    VALUES.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({name: VALUES for name in NAMES}).map(lambda d: json.dumps(d).encode()),
)
ROUTES = ["/datasets", "/jobs", f"/jobs/sha256:{'0' * 64}/approvals", "/claims",
          f"/jobs/sha256:{'0' * 64}/parties", f"/jobs/sha256:{'0' * 64}/result",
          f"/jobs/sha256:{'0' * 64}/failure"]  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, route=st.sampled_from(ROUTES))
def test_any_request_gets_an_answer_or_a_problem_never_a_crash(
    served: httpx.Client, body: bytes, route: str
) -> None:
    answer = served.post(route, content=body)
    assert answer.status_code in (200, 400, 404), answer.text
    if answer.status_code != 200:
        problem = answer.json()
        assert problem["code"].startswith("cleanroom_") and problem["hint"]


def test_only_a_running_job_takes_results_and_only_its_outputs(world: World) -> None:
    accounts = register(world, "bank", "accounts")
    spec = spec_of(world, accounts, register(world, "retailer", "baskets"))
    submit(world, spec)
    envelope = {"total.share0.algo.sealed": ("algo", b"sealed")}
    with pytest.raises(CleanroomError, match="is pending: it takes no results"):
        world.coordinator.finish(spec.digest, envelopes=envelope, attestation="", party=0)
    now = int(time.time())
    for owner in ("bank", "retailer"):
        world.coordinator.approve(spec.digest, approve(world.keys[owner], spec, at=now))
    world.coordinator.join_mpc(spec.digest, 0, "127.0.0.1", 1, "certificate")
    for wrong in (
        {},
        {"total.share0.bank.sealed": ("bank", b"x")},
        {**envelope, "x": ("algo", b"")},
    ):
        with pytest.raises(CleanroomError, match="takes exactly its outputs"):
            world.coordinator.finish(spec.digest, envelopes=wrong, attestation="", party=0)
    assert (
        world.coordinator.finish(spec.digest, envelopes=envelope, attestation="", party=0)
        == "running"
    )

"""The broker over HTTP: admin authentication on every route, and a real end-to-end run."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from kbs_server import running_broker, sim_policy, write_keys
from starlette.applications import Starlette

from trustroom.kbs import (
    KbsAdmin,
    KbsClient,
    KbsRemoteError,
    KeyBroker,
    create_app,
    mint_admin_token,
)
from trustroom.kbs._app import ADMIN_ROUTES
from trustroom.tee import SimAttester, SimWorkload

MRENCLAVE = hashlib.sha256(b"kbs http workload").digest()
MRSIGNER = hashlib.sha256(b"kbs http signer").digest()


@pytest.fixture(scope="module")
def admin_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kbs")


@pytest.fixture
def client(server: tuple[str, ed25519.Ed25519PrivateKey]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0]) as http:
        yield http


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_every_admin_route_refuses_anonymous_and_wrong_keys(
    client: httpx.Client, method: str, path: str
) -> None:
    wrong = mint_admin_token(ed25519.Ed25519PrivateKey.generate())
    for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": "Bearer x.y.z"}):
        response = client.request(method, path, headers=headers, content=b"{}")
        assert response.status_code == 401, (method, path, headers)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "kbs_admin_auth_failed"


def test_expired_admin_token_is_refused(
    client: httpx.Client, admin_key: ed25519.Ed25519PrivateKey
) -> None:
    token = mint_admin_token(admin_key, lifetime=timedelta(seconds=-120))
    response = client.post("/kbs/v0/resource-policy", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_admin_routes_work_with_the_right_key(
    client: httpx.Client, admin_key: ed25519.Ed25519PrivateKey
) -> None:
    headers = {"Authorization": f"Bearer {mint_admin_token(admin_key)}"}
    assert client.post("/kbs/v0/resource/a/b/c", content=b"s", headers=headers).status_code == 200
    assert client.delete("/kbs/v0/resource/a/b/c", headers=headers).status_code == 200
    missing = client.delete("/kbs/v0/resource/a/b/c", headers=headers)
    assert missing.status_code == 404 and missing.json()["type"].endswith("resource_not_found")


def test_protocol_errors_are_problem_json(client: httpx.Client) -> None:
    response = client.post("/kbs/v0/auth", json={"version": "0.1.0", "tee": "sim"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "kbs_protocol_version_mismatch" and body["hint"] and body["detail"]
    assert client.post("/kbs/v0/attest", json={}).json()["code"] == "kbs_session_not_found"


@pytest.fixture(scope="module")
def server(
    home: Path, admin_key: ed25519.Ed25519PrivateKey
) -> Iterator[tuple[str, ed25519.Ed25519PrivateKey]]:
    public, resource_key = write_keys(home, admin_key)
    db = f"sqlite:///{home / 'kbs.db'}"
    with running_broker(db, home / "home", public, resource_key) as url:
        yield url, admin_key


def test_end_to_end_with_a_real_server(
    server: tuple[str, ed25519.Ed25519PrivateKey],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # Client and server share TRUSTROOM_HOME, hence one simulated platform (as on one host).
    monkeypatch.setenv("TRUSTROOM_HOME", str(home / "home"))
    url, key = server
    admin = KbsAdmin(url, key)
    request.addfinalizer(admin.close)
    admin.set_resource("default", "key", "1", b"shhhhhhh")
    attester = SimAttester(SimWorkload(MRENCLAVE, MRSIGNER))

    with pytest.raises(KbsRemoteError) as denied, KbsClient(url, attester) as first:
        first.get_resource("default", "key", "1")
    assert denied.value.details["remote_code"] == "policy_denied"
    assert denied.value.details["status"] == 403
    assert any("simulated TEE" in r for r in denied.value.details["reasons"])

    admin.set_policy(sim_policy(MRENCLAVE.hex()))
    admin.set_reference_values(
        {"name": "demo", "tee": ["sim"], "measurements": {"mrenclave": [MRENCLAVE.hex()]}}
    )
    client = KbsClient(url, attester)
    request.addfinalizer(client.close)
    assert client.get_resource("default", "key", "1") == b"shhhhhhh"
    explained = admin.explain(token=client.token)
    assert explained["allow"] is True

    other = SimAttester(SimWorkload(hashlib.sha256(b"other").digest(), MRSIGNER))
    with pytest.raises(KbsRemoteError) as denied, KbsClient(url, other) as third:
        third.get_resource("default", "key", "1")
    assert "measurement differs" in denied.value.details["reasons"]


def test_several_worker_processes_serve_one_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))
    key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(tmp_path, key)
    db = f"sqlite:///{tmp_path / 'kbs.db'}"
    with running_broker(db, tmp_path / "home", public, resource_key, workers=2) as url:
        with KbsAdmin(url, key) as admin:
            admin.set_resource("default", "key", "1", b"shhhhhhh")
            admin.set_policy(sim_policy(MRENCLAVE.hex()))
            admin.set_reference_values(
                {"name": "demo", "tee": ["sim"], "measurements": {"mrenclave": [MRENCLAVE.hex()]}}
            )
        attester = SimAttester(SimWorkload(MRENCLAVE, MRSIGNER))
        # A connection per client, so that the kernel spreads them over the workers.
        for _ in range(4):
            with KbsClient(url, attester) as client:
                assert client.get_resource("default", "key", "1") == b"shhhhhhh"
        # Nagle is off in the workers too: a keep-alive request past the first does not wait
        # ~40 ms for the client's delayed ACK (uvicorn #3149).
        with httpx.Client(base_url=url) as http:
            took = []
            for _ in range(9):
                start = time.perf_counter()
                http.get("/healthz").raise_for_status()
                took.append(time.perf_counter() - start)
        # With Nagle on, every one after the first takes 40 ms or more; noise only adds.
        assert min(took[1:]) < 0.03


def test_broker_calls_run_on_a_bounded_number_of_threads(tmp_path: Path) -> None:
    broker = KeyBroker(f"sqlite:///{tmp_path / 'kbs.db'}")
    running, most = 0, 0
    lock = threading.Lock()
    auth = broker.auth

    def slow_auth(request: dict[str, Any]) -> tuple[dict[str, Any], str]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return auth(request)

    broker.auth = slow_auth  # type: ignore[method-assign]
    statuses, _ = _concurrent_auths(create_app(broker, admin_public_key=None, threads=3), 12)
    assert statuses == [200] * 12
    assert most == 3


def test_non_json_numbers_are_refused(client: httpx.Client) -> None:
    response = client.post(
        "/kbs/v0/auth",
        content=b'{"version": "0.4.0", "tee": "sim", "extra-params": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "kbs_invalid_request"


def test_with_no_threads_broker_calls_run_on_the_event_loop(tmp_path: Path) -> None:
    broker = KeyBroker(f"sqlite:///{tmp_path / 'kbs.db'}")
    callers: list[int] = []
    auth = broker.auth

    def recording_auth(request: dict[str, Any]) -> tuple[dict[str, Any], str]:
        callers.append(threading.get_ident())
        return auth(request)

    broker.auth = recording_auth  # type: ignore[method-assign]
    statuses, loop_thread = _concurrent_auths(
        create_app(broker, admin_public_key=None, threads=0), 2
    )
    assert statuses == [200, 200] and callers == [loop_thread, loop_thread]


def _concurrent_auths(app: Starlette, count: int) -> tuple[list[int], int]:
    """``count`` auth calls at once through ``app``: their statuses, and the event loop's
    thread."""

    async def burst() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kbs") as http:
            body = {"version": "0.4.0", "tee": "sim"}
            calls = [http.post("/kbs/v0/auth", json=body) for _ in range(count)]
            return [r.status_code for r in await asyncio.gather(*calls)], threading.get_ident()

    return asyncio.run(burst())

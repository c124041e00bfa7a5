"""Two broker processes on one PostgreSQL serve the same clients: no state lives in a process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from kbs_server import running_broker, sim_policy, write_keys

from trustroom.kbs import (
    KbsAdmin,
    KbsStore,
    KeyBroker,
    StoreUnavailable,
    attestation_message,
    decrypt_response,
    new_tee_key,
)
from trustroom.tee import SimAttester, SimWorkload

pytestmark = pytest.mark.postgres

MRENCLAVE = hashlib.sha256(b"kbs replica workload").digest()
POLICY = sim_policy(MRENCLAVE.hex())


def test_authenticate_on_one_replica_attest_and_fetch_on_the_other(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(tmp_path, admin_key)
    home = tmp_path / "home"  # one host: the replicas and the client share the simulated TEE
    monkeypatch.setenv("TRUSTROOM_HOME", str(home))
    with (
        running_broker(postgres_database, home, public, resource_key) as first,
        running_broker(postgres_database, home, public, resource_key) as second,
    ):
        with KbsAdmin(first, admin_key) as admin:
            admin.set_resource("default", "key", "1", b"replicated secret")
            admin.set_policy(POLICY)
            admin.set_reference_values(
                {"name": "demo", "tee": ["sim"], "measurements": {"mrenclave": [MRENCLAVE.hex()]}}
            )
        attester = SimAttester(SimWorkload(MRENCLAVE, b"\x01" * 32))
        key = new_tee_key()
        with httpx.Client() as http:
            auth = http.post(f"{first}/kbs/v0/auth", json={"version": "0.4.0", "tee": "sim"})
            auth.raise_for_status()
            cookie = {"Cookie": f"kbs-session-id={auth.cookies['kbs-session-id']}"}
            attest = http.post(
                f"{second}/kbs/v0/attest",
                json=attestation_message(attester, auth.json()["nonce"], key),
                headers=cookie,
            )
            assert attest.status_code == 200, attest.text
            resource = http.get(f"{second}/kbs/v0/resource/default/key/1", headers=cookie)
            assert resource.status_code == 200, resource.text
            assert decrypt_response(key, resource.json()) == b"replicated secret"
            # The token one replica issued is honoured by the other (shared signing keys).
            token = {"Authorization": f"Bearer {attest.json()['token']}"}
            again = http.get(f"{first}/kbs/v0/resource/default/key/1", headers=token)
            assert decrypt_response(key, again.json()) == b"replicated secret"


def test_a_connection_the_server_dropped_fails_one_step_and_is_replaced(
    postgres_database: str,
) -> None:
    store = KbsStore(postgres_database)
    broker = KeyBroker(store, trust_sim=True)
    broker.auth({"version": "0.4.0", "tee": "sim"})  # a pooled serving connection exists now
    killer = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with killer.connect() as connection:
        dropped = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    killer.dispose()
    assert dropped
    with pytest.raises(StoreUnavailable):
        broker.auth({"version": "0.4.0", "tee": "sim"})
    _, session = broker.auth({"version": "0.4.0", "tee": "sim"})  # on a new connection
    with store.serving():
        assert store.session(session) is not None
    store.engine.dispose()
    store.serving_engine.dispose()

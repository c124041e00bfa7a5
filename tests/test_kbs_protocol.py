"""The KBS protocol in-process: binding vector, JWE interop, sessions, nonces, policies."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto import jwe, jwk
from kbs_server import free_port, sim_policy

from trustroom._core.encoding import b64url_decode, b64url_encode
from trustroom.attestation import SigningKeys
from trustroom.kbs import (
    DEFAULT_POLICY,
    BindingMismatch,
    EvidenceRejected,
    InvalidRequest,
    KbsStore,
    KeyBroker,
    NonceReplayed,
    PolicyDenied,
    PolicyInvalid,
    ProtocolVersionMismatch,
    ResourceCipher,
    ResourceKeyInvalid,
    ResourceNotFound,
    ResponseInvalid,
    SessionExpired,
    SessionNotFound,
    StoreUnavailable,
    TokenInvalid,
    UnsupportedTee,
    canonical_json,
    runtime_data_digest,
    runtime_report_data,
)
from trustroom.kbs._attest import attestation_message, new_tee_key
from trustroom.kbs._jwe import check_tee_pubkey, decrypt_response, encrypt_response
from trustroom.tee import SimAttester, SimWorkload, sim_collateral

MRENCLAVE = hashlib.sha256(b"kbs test workload").digest()
FUZZ_KEY = new_tee_key()
MRSIGNER = hashlib.sha256(b"kbs test signer").digest()


def reference(mrenclave: bytes = MRENCLAVE) -> dict[str, Any]:
    return {"name": "demo", "tee": ["sim"], "measurements": {"mrenclave": [mrenclave.hex()]}}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path / "home"))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(tmp_path: Path, clock: Clock) -> KeyBroker:
    b = KeyBroker(
        f"sqlite:///{tmp_path / 'kbs.db'}",
        resource_key=os.urandom(32),
        trust_sim=True,
        sim_collateral=sim_collateral(),
        clock=clock,
    )
    b.set_resource("default", "key", "1", b"shhhhhhh")
    return b


def attester(mrenclave: bytes = MRENCLAVE) -> SimAttester:
    return SimAttester(SimWorkload(mrenclave, MRSIGNER))


def handshake(broker: KeyBroker, att: SimAttester | None = None) -> tuple[str, jwk.JWK, str]:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim", "extra-params": {}})
    key = new_tee_key()
    token = broker.attest(session, attestation_message(att or attester(), challenge["nonce"], key))
    return session, key, token


# -- binding -------------------------------------------------------------------------------


def test_trustee_runtime_data_vector() -> None:
    # attestation-service/src/lib.rs unit test vector (reference §2.5).
    data = {"b": 1, "a": "test", "c": {"d": "e"}}
    assert canonical_json(data) == b'{"a":"test","b":1,"c":{"d":"e"}}'
    assert hashlib.sha384(canonical_json(data)).hexdigest() == (
        "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c"
        "4597480a186427c813ca941da78870c3"
    )


def test_sample_binding_vector() -> None:
    # Reference §2.5 worked example: RFC 7517 A.1 P-256 key, nonce = base64(bytes 0..31).
    nonce = base64.b64encode(bytes(range(32))).decode()
    key = {
        "kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    }  # fmt: skip
    digest = runtime_data_digest(nonce, key)
    assert digest.hex() == (
        "8a6244441b1b1171b3a1d56a693d4ce116c1f9ca1ae558bc"
        "5f59d46dada54cf49e92a361ab2472c434652fed5887f16d"
    )
    assert runtime_report_data(nonce, key) == digest + bytes(16)


# -- JWE -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"kty": "EC", "crv": "P-256"},
        {"kty": "EC", "crv": "P-384"},
        {"kty": "EC", "crv": "P-521"},
        {"kty": "RSA", "size": 2048},
    ],
)
def test_jwe_decrypts_with_stock_jwcrypto(spec: dict[str, Any]) -> None:
    key = jwk.JWK.generate(**spec)
    response = encrypt_response(key.export_public(as_dict=True), b"shhhhhhh")
    assert set(response) == {"protected", "encrypted_key", "iv", "ciphertext", "tag"}
    header = json.loads(base64.urlsafe_b64decode(response["protected"] + "=="))
    assert header["enc"] == "A256GCM"
    if spec["kty"] == "EC":
        assert header["alg"] == "ECDH-ES+A256KW" and header["epk"]["crv"] == spec["crv"]
    stock = jwe.JWE()
    stock.deserialize(json.dumps(response), key=key)
    assert stock.payload == b"shhhhhhh"
    assert decrypt_response(key, response) == b"shhhhhhh"


@pytest.mark.parametrize("alg", ["ECDH-ES+A256KW", "RSA-OAEP-256"])
def test_client_opens_a_jwe_made_by_jwcrypto(alg: str) -> None:
    # jwcrypto puts the ephemeral key in the per-recipient header, Trustee in the protected.
    key = (
        jwk.JWK.generate(kty="EC", crv="P-256")
        if alg.startswith("ECDH")
        else (jwk.JWK.generate(kty="RSA", size=2048))
    )
    token = jwe.JWE(b"from jwcrypto", json.dumps({"alg": alg, "enc": "A256GCM"}))
    token.add_recipient(key)
    assert decrypt_response(key, json.loads(token.serialize())) == b"from jwcrypto"


def test_client_refuses_altered_or_foreign_responses() -> None:
    key = new_tee_key()
    good = encrypt_response(key.export_public(as_dict=True), b"shhhhhhh")
    ciphertext = bytearray(b64url_decode(good["ciphertext"]))
    ciphertext[0] ^= 1
    header = json.loads(b64url_decode(good["protected"]))
    other = new_tee_key().export_public(as_dict=True)
    header["epk"] = {k: other[k] for k in ("crv", "kty", "x", "y")}
    for bad in (
        {**good, "ciphertext": b64url_encode(bytes(ciphertext))},
        {**good, "protected": b64url_encode(json.dumps(header))},  # another ephemeral key
        {**good, "header": {"alg": "dir"}, "tag": good["tag"][::-1]},
        {k: v for k, v in good.items() if k != "iv"},
        {"error": "not a JWE"},
    ):
        with pytest.raises(ResponseInvalid):
            decrypt_response(key, bad)
    with pytest.raises(ResponseInvalid):
        decrypt_response(new_tee_key(), good)  # another TEE's key


@given(
    st.dictionaries(
        st.sampled_from(["protected", "encrypted_key", "iv", "ciphertext", "tag", "header"]),
        st.text(),
    )
)
def test_client_decryption_fuzz_gives_typed_errors(response: dict[str, str]) -> None:
    with contextlib.suppress(ResponseInvalid):
        decrypt_response(FUZZ_KEY, response)


def test_jwe_refuses_weak_or_private_keys() -> None:
    key = jwk.JWK.generate(kty="RSA", size=2048)
    with pytest.raises(InvalidRequest):
        encrypt_response({**key.export_public(as_dict=True), "alg": "RSA1_5"}, b"x")
    ec_key = jwk.JWK.generate(kty="EC", crv="P-256")
    with pytest.raises(InvalidRequest):
        encrypt_response(ec_key.export_private(as_dict=True), b"x")
    small = jwk.JWK.generate(kty="RSA", size=1024)
    with pytest.raises(InvalidRequest, match="2048"):
        check_tee_pubkey(small.export_public(as_dict=True))


def test_tee_pubkey_points_must_lie_on_the_curve() -> None:
    public = jwk.JWK.generate(kty="EC", crv="P-256").export_public(as_dict=True)
    assert check_tee_pubkey(public)
    with pytest.raises(InvalidRequest, match="not a valid JWK"):
        check_tee_pubkey({**public, "y": public["x"]})
    with pytest.raises(InvalidRequest, match="32 bytes each"):
        check_tee_pubkey({**public, "x": public["x"][:-3]})
    with pytest.raises(InvalidRequest, match="not a valid JWK"):
        check_tee_pubkey({**public, "x": "!!"})


@given(st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg"]), st.text()))
def test_tee_pubkey_fuzz_gives_typed_errors(value: dict[str, str]) -> None:
    with contextlib.suppress(InvalidRequest):
        check_tee_pubkey({"kty": "EC", "crv": "P-256", **value})


# -- auth --------------------------------------------------------------------------------


def test_auth_accepts_trustee_request_as_is(broker: KeyBroker) -> None:
    request = {
        "version": "0.4.0",
        "tee": "tdx",
        "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]},
    }
    challenge, session = broker.auth(request)
    assert challenge["extra-params"] == ""
    assert len(base64.b64decode(challenge["nonce"])) == 32
    assert len(session) == 32


def test_auth_refusals(broker: KeyBroker) -> None:
    with pytest.raises(ProtocolVersionMismatch):
        broker.auth({"version": "0.3.0", "tee": "sim"})
    with pytest.raises(UnsupportedTee, match="sample"):
        broker.auth({"version": "0.4.0", "tee": "sample"})
    with pytest.raises(UnsupportedTee, match="does not verify yet"):
        broker.auth({"version": "0.4.0", "tee": "az-snp-vtpm"})
    with pytest.raises(UnsupportedTee, match="unknown"):
        broker.auth({"version": "0.4.0", "tee": "quantum"})


# -- attest --------------------------------------------------------------------------------


def test_attest_issues_a_token_with_the_tee_key(broker: KeyBroker) -> None:
    _, key, token = handshake(broker)
    claims = broker.verify_token(token)
    cpu0 = claims["submods"]["cpu0"]
    annotated = cpu0["ear.veraison.annotated-evidence"]
    assert cpu0["ear.status"] == "contraindicated"  # sim, no reference values
    assert annotated["sim"]["measurements"]["mrenclave"] == MRENCLAVE.hex()
    public = annotated["runtime_data_claims"]["tee-pubkey"]
    assert public["x"] == key.export_public(as_dict=True)["x"]


def test_replayed_attestation_is_refused(broker: KeyBroker) -> None:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    message = attestation_message(attester(), challenge["nonce"], new_tee_key())
    broker.attest(session, message)
    with pytest.raises(NonceReplayed):
        broker.attest(session, message)


def test_nonce_of_another_session_is_refused(broker: KeyBroker) -> None:
    first, _ = broker.auth({"version": "0.4.0", "tee": "sim"})
    _, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    with pytest.raises(BindingMismatch, match="challenge"):
        broker.attest(session, attestation_message(attester(), first["nonce"], new_tee_key()))


def test_evidence_bound_to_another_key_is_refused(broker: KeyBroker) -> None:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    message = attestation_message(attester(), challenge["nonce"], new_tee_key())
    other = new_tee_key().export_public(as_dict=True)
    message["runtime-data"]["tee-pubkey"] = {**other, "alg": "ECDH-ES+A256KW"}
    with pytest.raises(BindingMismatch, match="not bound"):
        broker.attest(session, message)


def test_expired_session_is_refused(broker: KeyBroker, clock: Clock) -> None:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    message = attestation_message(attester(), challenge["nonce"], new_tee_key())
    clock.now += timedelta(minutes=6)
    with pytest.raises((SessionExpired, SessionNotFound)):
        broker.attest(session, message)


def test_unknown_session_is_refused(broker: KeyBroker) -> None:
    with pytest.raises(SessionNotFound):
        broker.attest("0" * 32, {})


def test_sim_evidence_refused_without_trust_sim(tmp_path: Path) -> None:
    b = KeyBroker(f"sqlite:///{tmp_path / 'x.db'}", sim_collateral=sim_collateral())
    challenge, session = b.auth({"version": "0.4.0", "tee": "sim"})
    with pytest.raises(EvidenceRejected, match="untrusted_root"):
        b.attest(session, attestation_message(attester(), challenge["nonce"], new_tee_key()))


def test_declared_tee_must_match_evidence(broker: KeyBroker) -> None:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sgx"})
    message = attestation_message(attester(), challenge["nonce"], new_tee_key())
    with pytest.raises(EvidenceRejected, match="declared TEE 'sgx'"):
        broker.attest(session, message)


# -- resources and policy --------------------------------------------------------------------


def test_default_policy_denies_sim_with_an_explanation(broker: KeyBroker) -> None:
    session, _, _ = handshake(broker)
    with pytest.raises(PolicyDenied) as denied:
        broker.resource(session, "default", "key", "1")
    error = denied.value
    assert error.status == 403
    assert any("simulated TEE" in r for r in error.details["reasons"])
    assert error.details["claims"]["submods"]["cpu0"]["ear.status"] == "contraindicated"
    rules = {r["rule"] for r in error.details["appraisal"]["cpu0"]["reasons"]}
    assert {"simulated_tee", "measurements"} <= rules


def test_sim_policy_allows_the_named_measurement_only(broker: KeyBroker) -> None:
    broker.set_policy(sim_policy(MRENCLAVE.hex()))
    broker.set_reference_values(reference())
    session, key, token = handshake(broker)
    assert decrypt_response(key, broker.resource(session, "default", "key", "1")) == b"shhhhhhh"
    # The bearer token works too (Trustee's passport mode).
    assert decrypt_response(key, broker.resource(token, "default", "key", "1")) == b"shhhhhhh"
    # Other code is denied, with the reason.
    other = hashlib.sha256(b"other code").digest()
    session, _, _ = handshake(broker, attester(other))
    with pytest.raises(PolicyDenied, match="measurement differs"):
        broker.resource(session, "default", "key", "1")


def test_reference_values_matter_to_the_sim_policy(broker: KeyBroker) -> None:
    broker.set_policy(sim_policy(MRENCLAVE.hex()))
    session, _, _ = handshake(broker)  # no reference values: executables unrecognised
    with pytest.raises(PolicyDenied):
        broker.resource(session, "default", "key", "1")


def test_missing_resource_after_allow_is_404(broker: KeyBroker) -> None:
    broker.set_policy(sim_policy(MRENCLAVE.hex()))
    broker.set_reference_values(reference())
    session, _, _ = handshake(broker)
    with pytest.raises(ResourceNotFound):
        broker.resource(session, "default", "key", "absent")


def test_token_from_an_untrusted_issuer_is_refused(broker: KeyBroker, tmp_path: Path) -> None:
    other = KeyBroker(
        f"sqlite:///{tmp_path / 'other.db'}", trust_sim=True, sim_collateral=sim_collateral()
    )
    _, _, token = handshake(other)
    with pytest.raises(TokenInvalid):
        broker.resource(token, "default", "key", "1")


def test_unattested_session_gets_nothing(broker: KeyBroker) -> None:
    _, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    with pytest.raises(SessionNotFound, match="not attested"):
        broker.resource(session, "default", "key", "1")


def test_two_brokers_on_one_database_share_sessions(broker: KeyBroker) -> None:
    twin = KeyBroker(
        broker.store, resource_key=None, trust_sim=True, sim_collateral=sim_collateral()
    )
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    key = new_tee_key()
    token = twin.attest(session, attestation_message(attester(), challenge["nonce"], key))
    assert broker.verify_token(token)["submods"]["cpu0"]
    assert broker.jwks() == twin.jwks()


def test_replicas_with_clocks_apart_accept_each_others_tokens(
    broker: KeyBroker, clock: Clock
) -> None:
    ahead = Clock()
    ahead.now = clock.now + timedelta(seconds=20)
    twin = KeyBroker(
        broker.store, trust_sim=True, sim_collateral=sim_collateral(), clock=ahead
    )  # fmt: skip
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    key = new_tee_key()
    token = twin.attest(session, attestation_message(attester(), challenge["nonce"], key))
    assert broker.verify_token(token)["iss"] == broker.issuer
    # The replica behind found the key the one ahead created valid: no second key.
    assert broker.jwks() == twin.jwks() and len(broker.jwks()["keys"]) == 1


def test_signing_keys_rotate_before_expiry_and_replicas_agree(
    broker: KeyBroker, clock: Clock
) -> None:
    twin = KeyBroker(broker.store, clock=clock)
    first = broker.signing_keys()
    assert twin.signing_keys().jwks(clock.now) == first.jwks(clock.now)
    (old,) = first.keys
    clock.now = old.not_after - timedelta(days=1)  # inside the expiry warning window
    rotated = twin.signing_keys()
    assert len(rotated.keys) == 2
    # The first broker parsed the old set earlier; it must see the replica's rotation, not
    # its own copy, and must not rotate again.
    assert broker.signing_keys().jwks(clock.now) == rotated.jwks(clock.now)
    assert broker.store.signing_keys("ear") == rotated.to_dict()
    clock.now = old.not_after + timedelta(seconds=1)
    published = [k["kid"] for k in broker.jwks()["keys"]]
    assert old.kid not in published and len(published) == 1


def test_policy_validation_and_explain(broker: KeyBroker) -> None:
    with pytest.raises(PolicyInvalid):
        broker.set_policy("package policy\nallow if { input.a == }")
    with pytest.raises(PolicyInvalid):
        broker.set_policy("package other\nallow := true")
    with pytest.raises(PolicyInvalid, match="defines no 'allow'"):
        broker.set_policy("package policy\nimport rego.v1\nallow if input.never")
    decision = broker.explain({"submods": {}}, policy=DEFAULT_POLICY)
    assert not decision.allow and decision.reasons == ("the token has no cpu0 appraisal",)
    good = {"submods": {"cpu0": {"ear.status": "affirming",
                                 "ear.veraison.annotated-evidence": {"tdx": {}}}}}  # fmt: skip
    assert broker.explain(good).allow


def test_resources_are_encrypted_at_rest_and_bound_to_their_path(broker: KeyBroker) -> None:
    sealed = broker.store.resource("default/key/1")
    assert sealed is not None and b"shhhhhhh" not in sealed
    broker.store.put_resource("default/key/2", sealed, broker.now())
    with pytest.raises(ResourceKeyInvalid):
        broker._cipher_or_fail().unseal("default/key/2", sealed)


def test_resource_key_file_formats(tmp_path: Path) -> None:
    key = os.urandom(32)
    for name, content in (("raw", key), ("hex", key.hex().encode()),
                          ("b64", base64.b64encode(key))):  # fmt: skip
        (tmp_path / name).write_bytes(content)
        cipher = ResourceCipher.from_file(tmp_path / name)
        assert ResourceCipher(key).unseal("a/b/c", cipher.seal("a/b/c", b"x")) == b"x"
    (tmp_path / "bad").write_text("short")
    with pytest.raises(ResourceKeyInvalid):
        ResourceCipher.from_file(tmp_path / "bad")


def test_expired_sessions_are_swept(broker: KeyBroker, clock: Clock) -> None:
    _, old = broker.auth({"version": "0.4.0", "tee": "sim"})
    clock.now += broker.session_timeout + timedelta(seconds=1)
    _, new = broker.auth({"version": "0.4.0", "tee": "sim"})
    assert broker.store.session(old) is None and broker.store.session(new) is not None


def test_a_locked_database_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "kbs.db"
    store = KbsStore(engine=sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1}))
    broker = KeyBroker(store, trust_sim=True)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            broker.auth({"version": "0.4.0", "tee": "sim"})
    finally:
        holder.close()
        store.engine.dispose()
    assert caught.value.status == 503 and "retry" in caught.value.hint


def test_an_unreachable_database_is_store_unavailable() -> None:
    port = free_port()  # nothing answers there
    with pytest.raises(StoreUnavailable, match="did not answer"):
        KbsStore(f"postgresql+psycopg://postgres@127.0.0.1:{port}/kbs?connect_timeout=2")


def test_a_protocol_step_uses_one_connection_and_commits_as_it_goes(broker: KeyBroker) -> None:
    broker.set_policy(sim_policy(MRENCLAVE.hex()))
    broker.set_reference_values(reference())
    checkouts: list[object] = []
    others: list[object] = []
    sa.event.listen(broker.store.serving_engine, "checkout", lambda *a: checkouts.append(a))
    sa.event.listen(broker.store.engine, "checkout", lambda *args: others.append(args))
    session, _, _ = handshake(broker)
    assert len(checkouts) == 2  # auth, attest: several statements each
    broker.resource(session, "default", "key", "1")
    assert len(checkouts) == 3 and not others
    with broker.store.serving():
        _, fresh = broker.auth({"version": "0.4.0", "tee": "sim"})
        # committed at once: another connection sees the new session inside the block
        with sqlite3.connect(broker.store.engine.url.database) as other:
            assert other.execute("SELECT 1 FROM kbs_sessions WHERE id = ?", (fresh,)).fetchone()
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert broker.store.mark_attested(fresh, "token", later)
        assert not broker.store.mark_attested(fresh, "token", later)  # its nonce is spent
        assert broker.store.session(fresh).state == "attested"  # type: ignore[union-attr]


def test_a_key_rotated_in_by_another_replica_is_trusted_at_once(
    broker: KeyBroker, clock: Clock
) -> None:
    ahead = Clock()  # the twin's clock runs 2 s ahead: stored times are whole seconds
    ahead.now = clock.now + timedelta(seconds=2)
    twin = KeyBroker(broker.store, trust_sim=True, sim_collateral=sim_collateral(), clock=ahead)
    broker.signing_keys()  # read now, and reused for a second by the broker's clock
    stored = broker.store.signing_keys("ear")
    assert stored is not None
    rotated = SigningKeys.from_dict(stored)
    rotated.rotate(at=ahead.now)
    assert broker.store.replace_signing_keys("ear", stored, rotated.to_dict())
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    token = twin.attest(session, attestation_message(attester(), challenge["nonce"], new_tee_key()))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == rotated.current(ahead.now).kid
    assert broker.verify_token(token)["iss"] == broker.issuer


def test_documents_are_reread_each_second_and_own_changes_apply_at_once(
    broker: KeyBroker, clock: Clock
) -> None:
    twin = KeyBroker(broker.store, trust_sim=True, sim_collateral=sim_collateral(), clock=clock)
    broker.set_policy(sim_policy(MRENCLAVE.hex()))
    broker.set_reference_values(reference())
    claims = broker.verify_token(handshake(broker)[2])
    assert broker.decide(claims, "default", "key", "1").allow
    twin.set_policy(DEFAULT_POLICY)  # another replica's change...
    assert broker.decide(claims, "default", "key", "1").allow
    clock.now += timedelta(seconds=1)  # ...is in force here within a second
    assert not broker.decide(claims, "default", "key", "1").allow
    broker.set_policy(sim_policy(MRENCLAVE.hex()))  # this broker's own change: at once
    assert broker.decide(claims, "default", "key", "1").allow


def test_of_two_racing_attestations_with_one_nonce_one_wins(broker: KeyBroker) -> None:
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim"})
    message = attestation_message(attester(), challenge["nonce"], new_tee_key())
    both_verifying = threading.Barrier(2)
    verify = broker._verify

    def verify_together(evidence: bytes, at: datetime) -> Any:
        both_verifying.wait(timeout=10)  # both are past the session's state check
        return verify(evidence, at)

    broker._verify = verify_together  # type: ignore[method-assign]

    def attempt() -> str:
        try:
            return broker.attest(session, message)
        except NonceReplayed:
            return "replayed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: attempt(), range(2)))
    assert outcomes[1] == "replayed" and outcomes[0].count(".") == 2

"""EAR tokens: issue and verify, tampering, expiry, untrusted keys, rotation, x5c chains."""

from __future__ import annotations

import base64
import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from trustroom.attestation import (
    EAR_PROFILE,
    Appraisal,
    SigningKey,
    SigningKeyInvalid,
    SigningKeys,
    SigningKeyUnavailable,
    TokenAudienceMismatch,
    TokenExpired,
    TokenInvalid,
    TokenIssuer,
    TokenNotYetValid,
    TokenUntrustedIssuer,
    verify_token,
)
from trustroom.attestation._jws import jwk_of, sign

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VECTOR = {
    "instance-identity": 0, "configuration": 2, "executables": 2, "file-system": 0,
    "hardware": 2, "runtime-opaque": 2, "storage-opaque": 0, "sourced-data": 0,
}  # fmt: skip


def _appraisal(status: str = "affirming", tee: str = "tdx", **vector: int) -> Appraisal:
    return Appraisal(
        status=status,
        trust_vector={**VECTOR, **vector},
        tee=tee,
        reasons=[],
        annotated_evidence={"tee": tee, "measurements": {"mrtd": "ab"}, "report_data": "00"},
        policy_id="w",
    )


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.generate(lifetime=timedelta(days=30), at=T0)


def _b64url_json(part: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_round_trip(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue(
        {"cpu0": _appraisal()}, runtime_data_claims={"nonce": "n1"}, at=T0
    )
    header = _b64url_json(token.split(".")[0])
    assert header["alg"] == "ES256" and header["kid"] == keys.current(T0).kid
    assert header["jwk"]["crv"] == "P-256" and "x5c" not in header  # type: ignore[index]
    claims = verify_token(token, keys=keys.jwks(T0), at=T0 + timedelta(minutes=1))
    assert claims.status == "affirming"
    assert claims.submods["cpu0"].tee == "tdx"
    assert claims.submods["cpu0"].trust_vector == VECTOR
    payload = claims.payload
    assert payload["eat_profile"] == EAR_PROFILE and payload["iss"] == "trustroom"
    assert payload["exp"] - payload["iat"] == 300
    assert "ear.verifier-id" in payload
    evidence = payload["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
    assert evidence["runtime_data_claims"] == {"nonce": "n1"}
    assert evidence["tdx"]["measurements"] == {"mrtd": "ab"}
    assert claims.to_dict()["submods"]["cpu0"]["status"] == "affirming"
    # {kid: public key} works as well as a JWKS.
    assert verify_token(token, keys=keys.public_keys(T0), at=T0).status == "affirming"


def test_status_is_the_worst_submod(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue(
        {"cpu0": _appraisal(), "gpu0": _appraisal("warning", "sim", executables=33)}, at=T0
    )
    claims = verify_token(token, keys=keys.jwks(T0), at=T0)
    assert claims.status == "warning" and claims.submods["gpu0"].tee == "sim"


def test_status_never_better_than_the_vector(keys: SigningKeys) -> None:
    lying = _appraisal("affirming", hardware=97)
    token = TokenIssuer(keys).issue({"cpu0": lying}, at=T0)
    assert verify_token(token, keys=keys.jwks(T0), at=T0).status == "contraindicated"


def test_tampered_token_is_invalid(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue({"cpu0": _appraisal("warning", executables=33)}, at=T0)
    header, payload, signature = token.split(".")
    claims = _b64url_json(payload)
    claims["submods"]["cpu0"]["ear.status"] = "affirming"  # type: ignore[index]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        verify_token(f"{header}.{forged}.{signature}", keys=keys.jwks(T0), at=T0)
    for broken in ("", "a.b", f"{header}.{payload}.!!", f"{header}.{payload}.{signature[:-4]}"):
        with pytest.raises(TokenInvalid):
            verify_token(broken, keys=keys.jwks(T0), at=T0)


def test_other_algorithms_are_refused(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=T0)
    _, payload, _ = token.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(TokenInvalid, match="none"):
        verify_token(f"{none_header}.{payload}.", keys=keys.jwks(T0), at=T0)


def test_expired_and_not_yet_valid(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=T0)
    with pytest.raises(TokenExpired) as info:
        verify_token(token, keys=keys.jwks(T0), at=T0 + timedelta(minutes=5))
    assert info.value.code == "token_expired"
    with pytest.raises(TokenNotYetValid):
        verify_token(token, keys=keys.jwks(T0), at=T0 - timedelta(minutes=1))
    ok = verify_token(
        token, keys=keys.jwks(T0), at=T0 + timedelta(minutes=5), leeway=timedelta(seconds=30)
    )
    assert ok.status == "affirming"


def test_unknown_key_is_an_untrusted_issuer(keys: SigningKeys) -> None:
    token = TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=T0)
    other = SigningKeys.generate(at=T0)
    with pytest.raises(TokenUntrustedIssuer) as info:
        verify_token(token, keys=other.jwks(T0), at=T0)
    assert info.value.code == "token_untrusted_issuer"
    with pytest.raises(TokenUntrustedIssuer, match="no trust anchor"):
        verify_token(token, at=T0)  # the header's own jwk is not trusted by itself


def test_a_header_jwk_without_kid_matches_a_configured_key(keys: SigningKeys) -> None:
    # Trustee sends no kid, only the jwk; it is matched against the configured keys.
    key = keys.current(T0)
    payload = {"iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 60,
               "submods": {"cpu0": _appraisal().to_submod()}}  # fmt: skip
    token = sign({"alg": "ES256", "jwk": jwk_of(key.public_key)}, payload, key.private_key)
    assert verify_token(token, keys={"anything": key.public_key}, at=T0).status == "affirming"


def test_audience_and_issuer(keys: SigningKeys) -> None:
    token = TokenIssuer(keys, issuer="kbs-1").issue(
        {"cpu0": _appraisal()}, at=T0, audience="relying-party"
    )
    jwks = keys.jwks(T0)
    assert verify_token(token, keys=jwks, at=T0, audience="relying-party", issuer="kbs-1")
    with pytest.raises(TokenAudienceMismatch):
        verify_token(token, keys=jwks, at=T0, audience="someone-else")
    with pytest.raises(TokenUntrustedIssuer):
        verify_token(token, keys=jwks, at=T0, issuer="kbs-2")


# --- rotation and expiry ----------------------------------------------------------------


def test_rotation_overlap(keys: SigningKeys) -> None:
    old = keys.current(T0)
    old_token = TokenIssuer(keys, lifetime=timedelta(days=60)).issue({"cpu0": _appraisal()}, at=T0)
    rotated_at = T0 + timedelta(days=20)
    new = keys.rotate(lifetime=timedelta(days=30), at=rotated_at)
    assert keys.current(rotated_at) == new and keys.current(rotated_at - timedelta(days=1)) == old
    new_token = TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=rotated_at)
    assert _b64url_json(new_token.split(".")[0])["kid"] == new.kid
    # Before the old key expires, both are published and both tokens verify.
    jwks = keys.jwks(rotated_at)
    assert {k["kid"] for k in jwks["keys"]} == {old.kid, new.kid}
    assert verify_token(old_token, keys=jwks, at=rotated_at)
    assert verify_token(new_token, keys=jwks, at=rotated_at)
    # Once the old key has expired it is no longer published: its tokens stop verifying.
    later = old.not_after + timedelta(seconds=1)
    assert {k["kid"] for k in keys.jwks(later)["keys"]} == {new.kid}
    with pytest.raises(TokenUntrustedIssuer):
        verify_token(old_token, keys=keys.jwks(later), at=later)
    assert keys.prune(later) == [old] and keys.keys == (new,)


def test_no_valid_key(keys: SigningKeys) -> None:
    with pytest.raises(SigningKeyUnavailable):
        TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=T0 + timedelta(days=31))


def test_expiry_warnings_and_log(keys: SigningKeys, caplog: pytest.LogCaptureFixture) -> None:
    assert keys.warnings(T0) == []
    soon = T0 + timedelta(days=25)
    (warning,) = keys.warnings(soon)
    assert warning.kid == keys.current(T0).kid and not warning.successor
    assert "rotate now" in warning.message
    with caplog.at_level(logging.WARNING, logger="trustroom.attestation"):
        TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=soon)
    assert "expires" in caplog.text and keys.current(T0).kid in caplog.text
    keys.rotate(lifetime=timedelta(days=90), at=soon)
    assert keys.warnings(soon)[0].successor


def test_save_and_load(keys: SigningKeys, tmp_path: Path) -> None:
    keys.rotate(at=T0 + timedelta(days=1))
    path = tmp_path / "keys.json"
    keys.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = SigningKeys.load(path)
    assert [k.kid for k in loaded.keys] == [k.kid for k in keys.keys]
    assert loaded.to_dict() == keys.to_dict()
    data = keys.to_dict()
    data["keys"][0]["kid"] = "wrong"
    with pytest.raises(SigningKeyInvalid):
        SigningKeys.from_dict(data)
    with pytest.raises(SigningKeyInvalid):
        SigningKey(ec.generate_private_key(ec.SECP384R1()), T0, T0 + timedelta(days=1))


# --- x5c chains -------------------------------------------------------------------------


def _cert(
    subject: str,
    public: ec.EllipticCurvePublicKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    own: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer else (name, own)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


@pytest.fixture
def pki() -> tuple[x509.Certificate, SigningKeys]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test CA", root_key.public_key(), None, root_key, ca=True)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _cert("Test Issuing CA", inter_key.public_key(), (root.subject, root_key), inter_key,
                  ca=True)  # fmt: skip
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("token signer", leaf_key.public_key(), (inter.subject, inter_key), leaf_key,
                 ca=False)  # fmt: skip
    signing = SigningKey(leaf_key, T0, T0 + timedelta(days=30), (leaf, inter))
    return root, SigningKeys([signing])


def test_x5c_chain_to_a_ca(pki: tuple[x509.Certificate, SigningKeys]) -> None:
    root, keys = pki
    token = TokenIssuer(keys).issue({"cpu0": _appraisal()}, at=T0)
    header = _b64url_json(token.split(".")[0])
    assert len(header["x5c"]) == 2  # type: ignore[arg-type]
    assert verify_token(token, ca=root, at=T0).status == "affirming"
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("Other CA", other_key.public_key(), None, other_key, ca=True)
    with pytest.raises(TokenUntrustedIssuer):
        verify_token(token, ca=other, at=T0)
    with pytest.raises(TokenUntrustedIssuer, match="not valid at"):
        verify_token(token, ca=root, at=T0 + timedelta(days=400))


def test_base64url_x5c_is_accepted(pki: tuple[x509.Certificate, SigningKeys]) -> None:
    # Trustee before commit 08960487 put base64url x5c entries inside the jwk.
    root, keys = pki
    key = keys.current(T0)
    x5c = [base64.urlsafe_b64encode(c.public_bytes(Encoding.DER)).rstrip(b"=").decode()
           for c in key.certificates]  # fmt: skip
    assert any("-" in e or "_" in e for e in x5c)
    payload = {"iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 300,
               "submods": {"cpu0": _appraisal().to_submod()}}  # fmt: skip
    header = {"typ": "JWT", "alg": "ES256", "jwk": {**jwk_of(key.public_key), "x5c": x5c}}
    token = sign(header, payload, key.private_key)
    assert verify_token(token, ca=root, at=T0).submods["cpu0"].tee == "tdx"


def test_x5c_leaf_must_be_the_header_key(pki: tuple[x509.Certificate, SigningKeys]) -> None:
    root, keys = pki
    key = keys.current(T0)
    impostor = ec.generate_private_key(ec.SECP256R1())
    header = {"alg": "ES256", "jwk": jwk_of(impostor.public_key()),
              "x5c": key.jwk()["x5c"]}  # fmt: skip
    payload = {"iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 300,
               "submods": {"cpu0": _appraisal().to_submod()}}  # fmt: skip
    with pytest.raises(TokenInvalid):
        verify_token(sign(header, payload, impostor), ca=root, at=T0)

"""The key broker as a library: Trustee's KBS protocol 0.4.0 (RCAR) over a SQL store.

::

    broker = KeyBroker("sqlite:///kbs.db", resource_key=key, trust_sim=True)
    challenge, session = broker.auth({"version": "0.4.0", "tee": "sim", "extra-params": {}})
    token = broker.attest(session, attestation)          # evidence bound to nonce + TEE key
    jwe = broker.resource(session, "default", "key", "1")  # or broker.resource(token, ...)

All state is in the store, so any number of brokers on one database serve the same clients.
"""

from __future__ import annotations

import base64
import functools
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from trustroom.attestation import (
    Appraisal,
    ReferenceValues,
    SigningKeys,
    TokenClaims,
    TokenIssuer,
    TokenUntrustedIssuer,
    appraise,
    verify_token,
)
from trustroom.evidence import Collateral, VerificationResult, Verifier
from trustroom.evidence.sources import CollateralSource
from trustroom.kbs._binding import runtime_data, runtime_report_data
from trustroom.kbs._errors import (
    BindingMismatch,
    EvidenceRejected,
    InvalidRequest,
    KbsError,
    NonceReplayed,
    PolicyDenied,
    ProtocolVersionMismatch,
    ResourceKeyInvalid,
    ResourceNotFound,
    SessionExpired,
    SessionNotFound,
    TokenInvalid,
)
from trustroom.kbs._evidence import check_tee, decode_primary_evidence
from trustroom.kbs._jwe import check_tee_pubkey, encrypt_response
from trustroom.kbs._policy import (
    DEFAULT_POLICY,
    PolicyDecision,
    check_policy,
    evaluate_policy,
    policy_data,
)
from trustroom.kbs._sealing import ResourceCipher
from trustroom.kbs._store import KbsStore

__all__ = ["PROTOCOL_VERSION", "RESOURCE_POLICY_ID", "KeyBroker"]

PROTOCOL_VERSION = "0.4.0"
RESOURCE_POLICY_ID = "resource-policy"
_SIGNING_KEYS_ID = "ear"
_REFERENCE_VALUES = "reference-values"
# Replicas' clocks differ a little: a token one issues must not be "from the future" on another.
_CLOCK_SKEW = timedelta(seconds=60)
_REUSED_FOR = timedelta(seconds=1)
# Expired sessions are swept now and then, not on every auth (a write each time otherwise).
_PURGE_EVERY = timedelta(seconds=30)
_STATUS_RANK = {"affirming": 0, "warning": 1, "none": 2, "contraindicated": 3}
# Where Trustee's KBS looks for the TEE key in a token (kbs/src/token), ours first.
_TEE_KEY_PATHS = (
    ("submods", "cpu0", "ear.veraison.annotated-evidence", "runtime_data_claims", "tee-pubkey"),
    ("customized_claims", "runtime_data", "tee-pubkey"),
)

log = logging.getLogger("trustroom.kbs")
P = ParamSpec("P")
R = TypeVar("R")

SimCollateral = Collateral | Callable[[datetime], Collateral]


def _one_connection(method: Callable[P, R]) -> Callable[P, R]:
    """Run a protocol step's statements on one database connection (KbsStore.serving)."""

    @functools.wraps(method)
    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        broker = args[0]
        assert isinstance(broker, KeyBroker)
        with broker.store.serving():
            return method(*args, **kwargs)

    return step


class _Recent:
    """Documents read from the store, reused for up to a second by the broker's clock.

    Each protocol step would otherwise read the signing keys, the policy and the reference
    values again: on PostgreSQL a round trip each, a fifth of the work. A change made through
    this broker is seen at once (it forgets the document); one made through another replica,
    within the second.
    """

    def __init__(self) -> None:
        self._read: dict[str, tuple[datetime, Any]] = {}

    def get(self, name: str, now: datetime, read: Callable[[], R]) -> R:
        entry = self._read.get(name)
        if entry is not None and timedelta(0) <= now - entry[0] < _REUSED_FOR:
            value: R = entry[1]
            return value
        value = read()
        self._read[name] = (now, value)
        return value

    def forget(self, name: str) -> None:
        self._read.pop(name, None)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _field(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise InvalidRequest(f"{name!r} must be a JSON {kind.__name__}")
    return value


class KeyBroker:
    """Releases secrets to attested TEEs under a resource policy; see the module docstring.

    ``resource_key`` encrypts resources at rest (without one, resources cannot be stored or
    served). ``trust_sim`` accepts trustroom's simulated TEE, whose evidence is verified
    against ``sim_collateral`` (this host's, ``trustroom.tee.sim_collateral``, by default);
    hardware evidence gets its collateral from ``collateral_source`` (e.g.
    ``trustroom.evidence.sources.CachedSource(DefaultSource())``). Even with ``trust_sim`` the
    default resource policy refuses simulated evidence: a policy must name it.
    """

    def __init__(
        self,
        store: KbsStore | str | None = None,
        *,
        resource_key: ResourceCipher | bytes | None = None,
        trust_sim: bool = False,
        sim_collateral: SimCollateral | None = None,
        collateral_source: CollateralSource | None = None,
        session_timeout: timedelta = timedelta(minutes=5),
        token_lifetime: timedelta = timedelta(minutes=5),
        issuer: str = "trustroom-kbs",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store if isinstance(store, KbsStore) else KbsStore(store)
        if isinstance(resource_key, bytes):
            resource_key = ResourceCipher(resource_key)
        self._cipher = resource_key
        self.trust_sim = trust_sim
        self._verifier = Verifier(trust_sim=trust_sim)
        self._sim_collateral = sim_collateral
        self._collateral_source = collateral_source
        self.session_timeout = session_timeout
        self.token_lifetime = token_lifetime
        self.issuer = issuer
        self._clock = clock or (lambda: datetime.now(UTC))
        self._recent = _Recent()
        self._purged_at = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._clock()

    # -- protocol: auth ------------------------------------------------------------------

    @_one_connection
    def auth(self, request: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """``POST /auth``: a challenge and the new session's id (the ``kbs-session-id``)."""
        if not isinstance(request, Mapping):
            raise InvalidRequest("the auth request must be a JSON object")
        version = request.get("version")
        if version != PROTOCOL_VERSION:
            raise ProtocolVersionMismatch(
                f"protocol version {version!r} is not supported; this broker speaks "
                f"{PROTOCOL_VERSION}"
            )
        tee = check_tee(request.get("tee"))
        now = self.now()
        if now - self._purged_at >= _PURGE_EVERY:
            self._purged_at = now
            self.store.purge_expired(now)
        nonce = base64.b64encode(secrets.token_bytes(32)).decode()
        session_id = secrets.token_hex(16)  # Trustee's uuid "simple" form is 32 hex digits too
        self.store.create_session(session_id, tee, nonce, now + self.session_timeout)
        return {"nonce": nonce, "extra-params": ""}, session_id

    # -- protocol: attest ----------------------------------------------------------------

    @_one_connection
    def attest(self, session_id: str, attestation: Mapping[str, Any]) -> str:
        """``POST /attest``: verify bound evidence, appraise it, return an EAR token."""
        now = self.now()
        session = self.store.session(session_id)
        if session is None:
            raise SessionNotFound("no such session")
        if session.expires_at <= now:
            raise SessionExpired("the session has expired")
        if not isinstance(attestation, Mapping):
            raise InvalidRequest("the attestation must be a JSON object")
        runtime = _field(attestation, "runtime-data", Mapping)
        nonce = _field(runtime, "nonce", str)
        tee_pubkey = _field(runtime, "tee-pubkey", Mapping)
        check_tee_pubkey(tee_pubkey)
        tee_evidence = _field(attestation, "tee-evidence", Mapping)
        additional = tee_evidence.get("additional_evidence") or ""
        if not isinstance(additional, str):
            raise InvalidRequest("tee-evidence.additional_evidence must be a JSON string")
        if session.state != "authed":
            raise NonceReplayed("this session has attested already; its nonce is spent")
        if nonce != session.nonce:
            raise BindingMismatch("runtime-data.nonce is not this session's challenge")
        evidence = decode_primary_evidence(session.tee, tee_evidence.get("primary_evidence"))
        result = self._verify(evidence, now)
        if result.tee != session.tee:
            raise EvidenceRejected(
                f"the session declared TEE {session.tee!r} but the evidence is {result.tee!r}"
            )
        expected = runtime_report_data(nonce, tee_pubkey, additional)
        if result.report_data != expected.hex():
            raise BindingMismatch(
                "the evidence's report data is not bound to this nonce and TEE public key",
                expected=expected.hex(),
                found=result.report_data,
            )
        appraisal = self._appraise(result, now)
        claims = runtime_data(nonce, tee_pubkey, additional)
        token = self._issuer(now).issue({"cpu0": appraisal}, runtime_data_claims=claims, at=now)
        # Settled in the database: of two requests racing with one nonce, on any replicas,
        # one gets the token.
        if not self.store.mark_attested(session_id, token, now + self.session_timeout):
            raise NonceReplayed("this challenge nonce was used already")
        log.info("attested session %s: %s %s", session_id, result.tee, appraisal.status)
        return token

    def _verify(self, evidence: bytes, at: datetime) -> VerificationResult:
        from trustroom.evidence import is_sim_evidence

        collateral: Collateral | None
        if is_sim_evidence(evidence):
            source = self._sim_collateral
            if source is None and self.trust_sim:
                from trustroom.tee import sim_collateral

                source = sim_collateral
            collateral = source(at) if callable(source) else source
        elif self._collateral_source is not None:
            collateral = self._collateral_source.collateral_for(evidence)
        else:
            collateral = None
        result = self._verifier.verify(evidence, collateral=collateral, at=at)
        if not result.verified:
            raise EvidenceRejected(
                "the evidence did not verify: " + ", ".join(result.error_codes),
                errors=[e.to_dict() for e in result.errors],
            )
        return result

    def _appraise(self, result: VerificationResult, at: datetime) -> Appraisal:
        # The request names no workload, so the evidence is appraised against every stored
        # reference for its TEE and the best fit is kept; its name is the token's
        # ear.appraisal-policy-id, which policies may require.
        candidates = self._recent.get(_REFERENCE_VALUES, at, self._stored_references)
        appraisals = [appraise(result, r) for r in candidates if result.tee in r.tee]
        if not appraisals:
            return appraise(result, None)
        return min(appraisals, key=lambda a: (_STATUS_RANK.get(a.status, 9), len(a.reasons)))

    def _stored_references(self) -> list[ReferenceValues]:
        return [ReferenceValues.from_dict(d) for d in self.store.reference_values().values()]

    # -- tokens ----------------------------------------------------------------------------

    def signing_keys(self, at: datetime | None = None, *, fresh: bool = False) -> SigningKeys:
        """The token signing keys from the store, created or rotated there when due.

        The set is read at most once a second (``fresh`` reads it anyway): keys rotate days
        ahead of expiry, and a token signed by a key newer than that, just rotated in by
        another replica, makes :meth:`verify_token` read the set again.
        """
        when = at or self.now()
        if fresh:
            self._recent.forget(_SIGNING_KEYS_ID)
        stored, keys = self._recent.get(_SIGNING_KEYS_ID, when, lambda: self._read_keys(when))
        due = [w for w in keys.warnings(when) if not w.successor]
        if due or not any(k.valid_at(when) for k in keys.keys):
            # Rotate ahead of expiry (the silent-expiry pain, trustee #1555), compare-and-swap
            # so that two replicas rotating at once end up with one agreed key set. A fresh
            # copy is rotated: the reused one must keep matching the stored document.
            keys = SigningKeys.from_dict(stored)
            keys.rotate(at=when)
            keys.prune(when)
            self._recent.forget(_SIGNING_KEYS_ID)
            if not self.store.replace_signing_keys(_SIGNING_KEYS_ID, stored, keys.to_dict()):
                _, keys = self._read_keys(when)
        return keys

    def _read_keys(self, at: datetime) -> tuple[dict[str, Any], SigningKeys]:
        """The stored key document (created if there is none yet) and its keys, parsed.

        The first key is valid from a clock skew back: a replica whose clock is behind the
        creator's would otherwise find no valid key and rotate in a second one at once.
        """
        stored = self.store.signing_keys(_SIGNING_KEYS_ID) or self.store.init_signing_keys(
            _SIGNING_KEYS_ID, SigningKeys.generate(at=at - _CLOCK_SKEW).to_dict()
        )
        return stored, SigningKeys.from_dict(stored)

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify this broker's tokens (``/.well-known/jwks.json``)."""
        return self.signing_keys().jwks(self.now())

    def _issuer(self, at: datetime) -> TokenIssuer:
        return TokenIssuer(self.signing_keys(at), issuer=self.issuer, lifetime=self.token_lifetime)

    def verify_token(self, token: str) -> dict[str, Any]:
        """The claims of a token this broker issued; TokenInvalid otherwise."""
        now = self.now()
        try:
            try:
                claims = self._verify_with(token, self.signing_keys(now), now)
            except TokenUntrustedIssuer:  # perhaps a key rotated in since the set was read
                claims = self._verify_with(token, self.signing_keys(now, fresh=True), now)
        except KbsError:
            raise
        except Exception as exc:  # the attestation module's typed errors, and malformed input
            code = getattr(exc, "code", type(exc).__name__)
            raise TokenInvalid(f"the attestation token was refused ({code}): {exc}") from exc
        payload: dict[str, Any] = dict(claims.payload)
        return payload

    def _verify_with(self, token: str, keys: SigningKeys, now: datetime) -> TokenClaims:
        return verify_token(
            token, keys=keys.public_keys(now), at=now, issuer=self.issuer, leeway=_CLOCK_SKEW
        )

    # -- protocol: resource --------------------------------------------------------------

    @_one_connection
    def resource(self, credential: str, repo: str, type_: str, tag: str) -> dict[str, str]:
        """``GET /resource/<repo>/<type>/<tag>`` for a session id or a bearer token: the
        resource as JWE to the TEE key in the token, if the resource policy allows it."""
        path = _resource_path(repo, type_, tag)
        token, sealed = self._token_and_resource(credential, path)
        claims = self.verify_token(token)
        decision = self.decide(claims, repo, type_, tag)
        if not decision.allow:
            raise PolicyDenied(
                f"the resource policy refused {path}: " + "; ".join(decision.reasons),
                reasons=list(decision.reasons),
                appraisal=_appraisal_reasons(claims),
                claims=claims,
            )
        tee_pubkey = next(
            (k for p in _TEE_KEY_PATHS if isinstance(k := _dig(claims, p), Mapping)), None
        )
        if tee_pubkey is None:
            raise TokenInvalid("the token carries no tee-pubkey to encrypt the resource to")
        if sealed is None:
            raise ResourceNotFound(f"no resource at {path}")
        plaintext = self._cipher_or_fail().unseal(path, sealed)
        if _dig(claims, ("submods", "cpu0", "ear.veraison.annotated-evidence", "sim")):
            log.warning("released %s to a SIMULATED TEE (no protection)", path)
        return encrypt_response(tee_pubkey, plaintext)

    def _token_and_resource(self, credential: str, path: str) -> tuple[str, bytes | None]:
        """The token a credential stands for, and the sealed resource at ``path`` (read in
        the same round trip as the session)."""
        if credential.count(".") == 2:
            return credential, self.store.resource(path)  # a bearer JWT (passport mode)
        now = self.now()
        session, sealed = self.store.session_and_resource(credential, path)
        if session is None:
            raise SessionNotFound("no such session")
        if session.expires_at <= now:
            raise SessionExpired("the session has expired")
        if session.state != "attested" or session.token is None:
            raise SessionNotFound("the session has not attested yet; POST /attest first")
        return session.token, sealed

    def _cipher_or_fail(self) -> ResourceCipher:
        if self._cipher is None:
            raise ResourceKeyInvalid(
                "this broker has no resource key",
                hint="Start it with --resource-key FILE (32 random bytes, raw, hex or base64).",
            )
        return self._cipher

    def decide(self, claims: Mapping[str, Any], repo: str, type_: str, tag: str) -> PolicyDecision:
        """The stored resource policy's decision (the default policy when none is stored)."""
        rego = self._recent.get(RESOURCE_POLICY_ID, self.now(), self.policy)
        return evaluate_policy(rego, claims, policy_data(repo, type_, tag))

    # -- admin -----------------------------------------------------------------------------

    def set_resource(self, repo: str, type_: str, tag: str, data: bytes) -> None:
        path = _resource_path(repo, type_, tag)
        self.store.put_resource(path, self._cipher_or_fail().seal(path, data), self.now())

    def delete_resource(self, repo: str, type_: str, tag: str) -> None:
        path = _resource_path(repo, type_, tag)
        if not self.store.delete_resource(path):
            raise ResourceNotFound(f"no resource at {path}")

    def set_policy(self, rego: str) -> None:
        """Install the resource policy, after checking that it compiles and defines allow."""
        check_policy(rego)
        self.store.put_policy(RESOURCE_POLICY_ID, rego, self.now())
        self._recent.forget(RESOURCE_POLICY_ID)

    def policy(self) -> str:
        return self.store.policy(RESOURCE_POLICY_ID) or DEFAULT_POLICY

    def set_reference_values(self, document: Mapping[str, Any]) -> ReferenceValues:
        """Store a workload's reference values (``ReferenceValues.to_dict`` form) by name."""
        reference = ReferenceValues.from_dict(document)
        self.store.put_reference_values(reference.name, reference.to_dict(), self.now())
        self._recent.forget(_REFERENCE_VALUES)
        return reference

    def explain(
        self,
        claims: Mapping[str, Any],
        resource_path: tuple[str, str, str] = ("default", "key", "1"),
        *,
        policy: str | None = None,
    ) -> PolicyDecision:
        """Dry run: what ``policy`` (default: the installed one) decides for ``claims``."""
        rego = policy if policy is not None else self.policy()
        return evaluate_policy(rego, claims, policy_data(*resource_path))


def _resource_path(repo: str, type_: str, tag: str) -> str:
    for part in (repo, type_, tag):
        if not part or "/" in part or part in (".", "..") or len(part) > 128:
            raise InvalidRequest(f"resource path segment {part!r} is not allowed")
    return f"{repo}/{type_}/{tag}"


def _appraisal_reasons(claims: Mapping[str, Any]) -> dict[str, Any]:
    submods = claims.get("submods")
    if not isinstance(submods, Mapping):
        return {}
    return {
        name: {"status": s.get("ear.status"), "reasons": s.get("trustroom.reasons", [])}
        for name, s in submods.items()
        if isinstance(s, Mapping)
    }

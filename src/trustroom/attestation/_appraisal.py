"""Appraisal: verified evidence + reference values -> AR4SI trust vector and EAR status.

Verification (``trustroom.evidence``) answers "is this genuine evidence?"; appraisal answers
"is it what we expect?". Each rule that fails sets one AR4SI claim and records a reason
naming the rule, the claim, what was expected and what was found, so that a denial can
always be explained (Trustee's opaque ``PolicyDeny``, trustee #719, is the pain avoided).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trustroom.attestation import _claims as c
from trustroom.attestation._reference import TCB_STATUS_ORDER, ReferenceValues, tcb_rank
from trustroom.evidence import VerificationResult

__all__ = ["NO_REFERENCE_POLICY_ID", "Appraisal", "appraise"]

NO_REFERENCE_POLICY_ID = "trustroom/no-reference-values"

# Failures that mean the cryptography did not hold (a forged or altered signature or chain),
# as opposed to evidence that is merely not recognised (unknown root, stale collateral).
_CRYPTO_FAILURES = frozenset({"signature_invalid", "chain_invalid", "parse_error"})


@dataclass(frozen=True)
class Appraisal:
    """The outcome of appraising one piece of evidence (one EAR ``submod``).

    ``status`` is the worst tier of ``trust_vector``. ``reasons`` holds one entry per failed
    rule: ``{"rule", "claim", "expected", "found"}``; it is empty only when every rule held.
    """

    status: str
    trust_vector: dict[str, int]
    tee: str
    reasons: list[dict[str, Any]]
    annotated_evidence: dict[str, Any]
    policy_id: str = NO_REFERENCE_POLICY_ID
    verified: bool = True

    @property
    def failed_rules(self) -> frozenset[str]:
        """Names of the rules that failed, e.g. ``{"simulated_tee"}``."""
        return frozenset(r["rule"] for r in self.reasons)

    @property
    def simulated(self) -> bool:
        """Whether the evidence came from trustroom's simulated TEE (never trustworthy)."""
        return self.tee == "sim"

    def to_submod(self, runtime_data_claims: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This appraisal as an EAR ``submods`` entry (JSON names, draft-ietf-rats-ear).

        The verifier's claims sit under the TEE name in ``ear.veraison.annotated-evidence``,
        as Trustee puts them, so policies written for Trustee tokens find them; runtime data
        claims (nonce, TEE public key) go beside them, also as Trustee does.
        """
        evidence = self.annotated_evidence
        annotated: dict[str, Any] = {
            self.tee: {k: v for k, v in evidence.items() if k not in ("tee", "report_data")},
            "report_data": evidence.get("report_data", ""),
        }
        if runtime_data_claims is not None:
            annotated["runtime_data_claims"] = dict(runtime_data_claims)
        return {
            "ear.status": self.status,
            "ear.trustworthiness-vector": dict(self.trust_vector),
            "ear.appraisal-policy-id": self.policy_id,
            "ear.veraison.annotated-evidence": annotated,
            # Not an EAR claim: why the status is what it is, for whoever must explain a denial.
            "trustroom.reasons": [dict(r) for r in self.reasons],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "tee": self.tee,
            "verified": self.verified,
            "policy_id": self.policy_id,
            "trust_vector": dict(self.trust_vector),
            "reasons": [dict(r) for r in self.reasons],
            "annotated_evidence": dict(self.annotated_evidence),
        }


class _Vector:
    """A trust vector being built: a failing rule may only make a claim worse, never better."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(c.CLAIMS, c.NO_CLAIM)
        self.reasons: list[dict[str, Any]] = []

    def set(self, claim: str, value: int) -> None:
        self.values[claim] = value

    def fail(self, rule: str, claim: str, value: int, expected: Any, found: Any) -> None:
        current = self.values[claim]
        if c.STATUSES.index(c.tier_of(value)) >= c.STATUSES.index(c.tier_of(current)):
            self.values[claim] = value
        self.reasons.append({"rule": rule, "claim": claim, "expected": expected, "found": found})


def _annotated(result: VerificationResult) -> dict[str, Any]:
    return {
        "tee": result.tee,
        "measurements": dict(result.measurements),
        "tcb_status": result.tcb_status,
        "advisory_ids": list(result.advisory_ids),
        "attributes": dict(result.attributes),
        "report_data": result.report_data,
    }


def appraise(result: VerificationResult, reference: ReferenceValues | None) -> Appraisal:
    """Appraise verified evidence against the workload's reference values.

    Without reference values the code is unrecognised (``executables`` 33), so the status is
    at best ``warning``. Evidence from the simulated TEE is never ``affirming``: it always
    gets ``hardware`` 97 (unrecognized_hw), ``runtime-opaque`` 96 (visible_rt) and
    ``instance-identity`` 97, whatever else matches.
    """
    v = _Vector()
    policy_id = reference.name if reference is not None else NO_REFERENCE_POLICY_ID
    if not result.verified:
        _unverified(v, result)
    else:
        _hardware(v, result, reference)
        _executables(v, result, reference)
        _configuration(v, result, reference)
        _simulated(v, result)
    return Appraisal(
        status=c.status_of(v.values),
        trust_vector=v.values,
        tee=result.tee,
        reasons=v.reasons,
        annotated_evidence=_annotated(result),
        policy_id=policy_id,
        verified=result.verified,
    )


def _unverified(v: _Vector, result: VerificationResult) -> None:
    # Nothing in a failed result is attested, so no other claim is appraised: only the
    # hardware claim says why the evidence itself was refused.
    codes = list(result.error_codes)
    if "revoked" in codes:
        value = c.CONTRAINDICATED  # contraindicated_hw: the platform's keys are revoked
    elif _CRYPTO_FAILURES.intersection(codes):
        value = c.CRYPTO_FAILED
    else:
        value = c.UNRECOGNIZED  # unrecognized_hw: unknown root, stale or missing collateral
    v.fail("evidence_verified", "hardware", value, "verified evidence", codes)


def _hardware(v: _Vector, result: VerificationResult, reference: ReferenceValues | None) -> None:
    v.set("hardware", c.APPROVED)
    v.set("runtime-opaque", c.APPROVED)  # encrypted_rt: verified TEE memory is encrypted
    if reference is None:
        return
    if result.tee not in reference.tee:
        v.fail("tee_allowed", "hardware", c.UNRECOGNIZED, sorted(reference.tee), result.tee)
    minimum = reference.min_tcb_status
    if minimum is None:
        return
    found = result.tcb_status
    rank = tcb_rank(found)
    if rank is None:
        # No status (SEV-SNP) or one outside the order (Revoked): fail closed rather than
        # silently skip a rule the policy author asked for.
        v.fail("min_tcb_status", "hardware", c.UNSAFE, f">= {minimum}", found)
        return
    if rank <= TCB_STATUS_ORDER.index(minimum):
        return
    expected = f">= {minimum}"
    assert found is not None
    if "OutOfDate" in found or "Relaunch" in found:
        v.fail("min_tcb_status", "hardware", c.UNSAFE, expected, found)  # unsafe_hw
    if "Configuration" in found or "SWHardening" in found:
        v.fail("min_tcb_status", "configuration", c.UNSAFE, expected, found)  # unsafe_config


def _executables(v: _Vector, result: VerificationResult, reference: ReferenceValues | None) -> None:
    if reference is None or not reference.measurements:
        v.fail("measurements", "executables", c.UNRECOGNIZED_RT, "reference values", "none given")
    else:
        v.set("executables", c.APPROVED)  # approved_rt
        for key, allowed in sorted(reference.measurements.items()):
            found = result.measurements.get(key)
            found = found.lower() if isinstance(found, str) else found
            if found not in allowed:
                # The evidence contradicts the reference values: other code, not unknown code.
                v.fail(
                    "measurements",
                    "executables",
                    c.CONTRAINDICATED,
                    {key: sorted(allowed)},
                    {key: found},
                )
    if reference is None:
        return
    for key, minimum in sorted(reference.min_svn.items()):
        found_svn = result.attributes.get(key)
        if isinstance(found_svn, bool) or not isinstance(found_svn, int) or found_svn < minimum:
            # unsafe_rt: a version older than the minimum has known vulnerabilities.
            v.fail("min_svn", "executables", c.UNSAFE, {key: minimum}, {key: found_svn})


def _configuration(
    v: _Vector, result: VerificationResult, reference: ReferenceValues | None
) -> None:
    if v.values["configuration"] == c.NO_CLAIM:
        v.set("configuration", c.APPROVED)
    debug = bool(result.attributes.get("debug", False))
    if not debug:
        return
    allow = reference.allow_debug if reference is not None else False
    if not allow:
        v.fail("debug", "configuration", c.CONTRAINDICATED, False, True)  # unsupportable_config
    # Allowed or not, a debug TEE's memory is readable by the host: say so.
    v.fail("debug", "runtime-opaque", c.CONTRAINDICATED, False, True)  # visible_rt


def _simulated(v: _Vector, result: VerificationResult) -> None:
    if result.tee != "sim":
        return
    # The honest simulator: whoever runs it holds its keys and sees its memory. These claims
    # are pinned whatever the reference values say, so "affirming" always means hardware.
    v.fail("simulated_tee", "hardware", c.UNRECOGNIZED, "hardware TEE", "sim")
    v.fail("simulated_tee", "runtime-opaque", c.CONTRAINDICATED, "hardware TEE", "sim")
    v.fail("simulated_tee", "instance-identity", c.UNRECOGNIZED, "hardware TEE", "sim")

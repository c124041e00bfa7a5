"""Resource policies in Rego, evaluated with regopy (rego-cpp), as Trustee users write them.

``input`` is the verified attestation token's claims, ``data`` is
``{"plugin": "resource", "resource-path": [repo, type, tag], "query": {}}`` and the decision is
``data.policy.allow`` (anything but ``true`` denies). Beyond Trustee, a policy may define
``data.policy.reasons``, a set of strings saying why it would deny; denials carry them, so
that a refused client learns what to fix (trustee #719).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regopy import Bundle, Input, Interpreter, RegoError

from trustroom.kbs._errors import InvalidRequest, PolicyInvalid

__all__ = ["DEFAULT_POLICY", "PolicyDecision", "check_policy", "evaluate_policy", "policy_data"]

# Trustee's default.rego denies its `sample` TEE but lets contraindicated hardware through, and
# its affirming.rego lets `sample` through once reference values exist (reference §2.9, §7.4).
# This default closes both gaps: no simulated or sample evidence, nothing contraindicated.
DEFAULT_POLICY = """\
package policy

import rego.v1

default allow := false

cpu0 := object.get(object.get(input, "submods", {}), "cpu0", {})

evidence := object.get(cpu0, "ear.veraison.annotated-evidence", {})

status := object.get(cpu0, "ear.status", "none")

allow if {
	data.plugin == "resource"
	count(reasons) == 0
}

reasons contains "the token has no cpu0 appraisal" if count(cpu0) == 0

sim_reason := "the evidence comes from the simulated TEE (sim), which protects nothing"

reasons contains concat("; ", [sim_reason, "a policy must allow sim explicitly"]) if {
	evidence.sim
}

reasons contains "the evidence comes from CoCo's sample TEE, which has no root of trust" if {
	evidence.sample
}

reasons contains sprintf("the appraisal status is %v", [status]) if {
	status == "contraindicated"
}
"""


@dataclass(frozen=True)
class PolicyDecision:
    """What a policy said: ``allow``, its ``reasons`` and the input it saw."""

    allow: bool
    reasons: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allow": self.allow,
            "reasons": list(self.reasons),
            "claims": dict(self.claims),
            "data": dict(self.data),
        }


def policy_data(repo: str, type_: str, tag: str) -> dict[str, Any]:
    """The ``data`` document of a resource request, as Trustee builds it."""
    return {"plugin": "resource", "resource-path": [repo, type_, tag], "query": {}}


_compiled = threading.local()
_COMPILED_PER_THREAD = 32

# Only the two rules the broker reads, each through object.get: regopy aborts the process when
# a binding of an undefined result is read, and this query is always defined. (Reading the
# whole package would also copy out every helper rule, the whole input among them.)
_DECISION_QUERY = (
    'x := {"allow": object.get(object.get(data, "policy", {}), "allow", null), '
    '"reasons": object.get(object.get(data, "policy", {}), "reasons", [])}'
)
_INT64 = range(-(2**63), 2**63)


def _bundle(rego: str, data: str) -> Bundle:
    """``rego`` and ``data`` compiled with the decision query, kept per thread for reuse.

    Compiling costs several times an evaluation, and a bundle is evaluated without the
    compiler. Each (policy, data) pair has its own, and regopy objects are not shared between
    threads.
    """
    cache: OrderedDict[tuple[str, str], Bundle] = _compiled.__dict__.setdefault(
        "cache", OrderedDict()
    )
    key = (rego, data)
    bundle = cache.get(key)
    if bundle is None:
        builder = Interpreter()
        builder.add_module("policy.rego", rego)
        builder.add_data_json(data)
        bundle = builder.build(_DECISION_QUERY)
        if not bundle.ok():
            raise PolicyInvalid("the resource policy does not compile")
        cache[key] = bundle
        if len(cache) > _COMPILED_PER_THREAD:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return bundle


def _exact_as_input(value: Any) -> bool:
    """Whether regopy's native input conversion keeps ``value`` as it is: it cuts strings at
    a NUL and wraps integers to 64 bits, where the JSON term path (several times slower) is
    exact."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, Mapping):
        return all(_exact_as_input(k) and _exact_as_input(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_exact_as_input(v) for v in value)
    return False


def _json_term(claims: Mapping[str, Any]) -> str:
    try:
        return json.dumps(claims, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"the policy input is not JSON: {exc}") from exc


def _evaluate(rego: str, claims: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        bundle = _bundle(rego, json.dumps(data, sort_keys=True))
        # A fresh interpreter per evaluation: one that has run a bundle aborts the process
        # when its input is replaced (regopy 1.5).
        interpreter = Interpreter()
        if _exact_as_input(claims):
            interpreter.set_input(Input(claims))
        else:
            interpreter.set_input_term(_json_term(claims))
        output = interpreter.query_bundle(bundle)
    except RegoError as exc:
        raise PolicyInvalid(f"the resource policy does not compile: {exc}") from exc
    except ValueError as exc:
        # rego-cpp leaves quotes unescaped in a string sprintf formats with %v, so its
        # output is not JSON.
        raise PolicyInvalid(
            f"the resource policy's result cannot be read: {exc}",
            hint="Build reason strings with concat([...]) rather than sprintf with %v.",
        ) from exc
    if not output.ok():
        raise PolicyInvalid(f"the resource policy failed to evaluate: {output}")
    result: dict[str, Any] = json.loads(output.binding("x").json())
    return result


def evaluate_policy(
    rego: str, claims: Mapping[str, Any], data: Mapping[str, Any]
) -> PolicyDecision:
    """Evaluate ``rego`` on ``claims`` (input) and ``data``; raises PolicyInvalid if broken."""
    result = _evaluate(rego, claims, data)
    raw = result.get("reasons", [])
    reasons: Sequence[Any] = raw if isinstance(raw, list) else [raw]
    allow = result.get("allow") is True
    explained = tuple(str(r) for r in reasons)
    if not allow and not explained:
        explained = ("data.policy.allow is not true (the policy gave no reasons)",)
    return PolicyDecision(allow, explained, dict(claims), dict(data))


def check_policy(rego: str) -> None:
    """Refuse a policy that does not compile or has no ``package policy`` with an ``allow``."""
    if "package policy" not in rego:
        raise PolicyInvalid("the resource policy must be in 'package policy'")
    result = _evaluate(rego, {}, policy_data("repo", "type", "tag"))
    if result["allow"] is None:
        raise PolicyInvalid("the resource policy defines no 'allow' (use 'default allow := false')")

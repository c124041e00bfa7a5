"""Resource policy evaluation: compiled once, fed the claims exactly, errors typed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom.kbs import PolicyInvalid
from trustroom.kbs._errors import InvalidRequest
from trustroom.kbs._policy import DEFAULT_POLICY, check_policy, evaluate_policy, policy_data

DATA = policy_data("default", "key", "1")
EQUALS = """package policy
import rego.v1
default allow := false
allow if input.value == {value}
"""


@pytest.mark.parametrize(
    ("claimed", "literal", "allowed"),
    [
        ("a\x00b", '"a\\u0000b"', True),
        ("a\x00b", '"a"', False),  # a NUL must not cut the string short
        (2**64, "18446744073709551616", True),
        (2**64, "0", False),  # nor may a large integer wrap around
        (-(2**63), "-9223372036854775808", True),
        (1.5, "1.5", True),
    ],
)
def test_claims_reach_the_policy_exactly(claimed: object, literal: str, allowed: bool) -> None:
    decision = evaluate_policy(EQUALS.format(value=literal), {"value": claimed}, DATA)
    assert decision.allow is allowed


def test_member_names_reach_the_policy_exactly() -> None:
    # A client chooses the members of its tee-pubkey, which the token carries to the policy.
    rego = 'package policy\nimport rego.v1\nallow if input.key.use == "enc"'
    assert evaluate_policy(rego, {"key": {"use": "enc"}}, DATA).allow
    assert not evaluate_policy(rego, {"key": {"use\x00x": "enc"}}, DATA).allow


def test_one_compiled_policy_serves_many_inputs() -> None:
    # An interpreter reused across inputs after running a compiled policy aborted the process
    # (regopy 1.5); each evaluation must stand alone, whatever came before.
    inputs = [{}, {"submods": {"cpu0": {"ear.status": "contraindicated"}}}, {"a": [1, "x"]}]
    seen = [evaluate_policy(DEFAULT_POLICY, claims, DATA).reasons for claims in inputs * 20]
    assert seen[0] == ("the token has no cpu0 appraisal",)
    assert seen[1] == ("the appraisal status is contraindicated",)
    assert seen[:3] * 20 == seen


def test_many_policies_and_paths_are_kept_apart() -> None:
    # More (policy, data) pairs than the per-thread cache holds: none is mistaken for another.
    for tag in range(40):
        rego = f'package policy\nimport rego.v1\nallow if data["resource-path"][2] == "{tag}"'
        assert evaluate_policy(rego, {}, policy_data("r", "t", str(tag))).allow
        assert not evaluate_policy(rego, {}, policy_data("r", "t", str(tag + 1))).allow


def test_evaluation_errors_are_typed() -> None:
    conflict = "package policy\nimport rego.v1\nallow := true if input.a\nallow := false if input.b"
    with pytest.raises(PolicyInvalid, match="failed to evaluate"):
        evaluate_policy(conflict, {"a": True, "b": True}, DATA)
    with pytest.raises(PolicyInvalid, match="does not compile"):
        evaluate_policy("package policy\nallow if { input.a == }", {}, DATA)
    with pytest.raises(InvalidRequest, match="not JSON"):
        evaluate_policy(DEFAULT_POLICY, {"x": float("nan"), "y": "\x00"}, DATA)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(), _JSON, max_size=4), st.dictionaries(st.text(), _JSON, max_size=3))
def test_any_json_claims_get_a_decision(claims: dict[str, Any], cpu0: dict[str, Any]) -> None:
    # regopy aborts the process on some misuse; no input a token can carry may reach one.
    for value in (claims, {"submods": {"cpu0": cpu0}}):
        decision = evaluate_policy(DEFAULT_POLICY, value, DATA)
        assert decision.allow or decision.reasons
        assert all(isinstance(r, str) for r in decision.reasons)


def test_a_policy_whose_result_rego_cpp_garbles_is_refused_with_a_reason() -> None:
    garbled = (
        "package policy\nimport rego.v1\ndefault allow := false\n"
        'reasons contains sprintf("no %v", [concat("/", data["resource-path"])])\n'
    )
    with pytest.raises(PolicyInvalid, match="cannot be read") as raised:
        check_policy(garbled)
    assert "concat" in raised.value.hint

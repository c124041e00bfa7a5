"""Clean-room parts every mode shares: the job spec, owners' approvals, opening outputs."""

from __future__ import annotations

import contextlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom.cleanroom import (
    ApprovalRefused,
    JobSpec,
    SpecInvalid,
    approve,
    check_approvals,
    open_output,
)
from trustroom.enclave import OutputUnreadable, seal_output
from trustroom.ledger import Consortium, MemberKey, digest_of
from trustroom.ledger._governance import genesis

D = [digest_of(bytes([n])) for n in range(4)]
SPEC = f"""
name = "churn-risk"
mode = "tee"

[program]
provider = "algo"
measurement = "{D[0]}"

[[inputs]]
dataset = "bank-customers"
owner = "bank"
digest = "{D[1]}"

[[inputs]]
dataset = "retail-customers"
owner = "retailer"
digest = "{D[2]}"

[[outputs]]
name = "model.json"
recipients = ["algo", "bank"]
"""


@cache
def keys() -> dict[str, MemberKey]:
    return {name: MemberKey.generate(name) for name in ("bank", "retailer", "algo")}


def consortium() -> Consortium:
    return Consortium.genesis(genesis(list(keys().values()), 2))


def test_a_spec_reads_and_has_one_digest() -> None:
    spec = JobSpec.parse(SPEC)
    assert spec.owners == ("bank", "retailer")
    assert spec.recipients == ("algo", "bank")
    assert JobSpec.from_dict(spec.to_dict()) == spec
    # Layout and key order do not change the digest; content does.
    head = 'name = "churn-risk"\nmode = "tee"'
    reordered = SPEC.replace(head, 'mode = "tee"\nname = "churn-risk"')
    assert JobSpec.parse(reordered).digest == spec.digest
    assert JobSpec.parse(SPEC.replace(D[1], D[3])).digest != spec.digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('mode = "tee"', 'mode = "gpu"'), "'mode' is one of tee, mpc"),
        (("measurement", "script"), "has a 'measurement', not a 'script'"),
        ((D[1], "sha256:abc"), "'digest' must be 'sha256:'"),
        (('recipients = ["algo", "bank"]', "recipients = []"), "'recipients' lists"),
        (('recipients = ["algo", "bank"]', 'recipients = ["algo", "algo"]'), "listed twice"),
        (("retail-customers", "bank-customers"), "each dataset is named once"),
        (("[[outputs]]", "colour = 1\n[[outputs]]"), "unknown keys ['colour']"),
        (('owner = "bank"', 'owner = "bank one"'), "'owner' must be a name"),
        (('name = "churn-risk"', "name = 3"), "'name' must be a name"),
        (('mode = "tee"', 'mode = "tee"\n[[x'), "not valid TOML"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(change: tuple[str, str], message: str) -> None:
    with pytest.raises(SpecInvalid, match=message.replace("[", r"\[").replace("(", r"\(")):
        JobSpec.parse(SPEC.replace(*change, 1))


def test_an_mpc_job_joins_two_owners_on_a_column() -> None:
    mpc = SPEC.replace('mode = "tee"', 'mode = "mpc"\njoin = "id"').replace("measurement", "script")
    spec = JobSpec.parse(mpc)
    assert (spec.program.script, spec.join) == (D[0], "id")
    assert JobSpec.from_dict(spec.to_dict()) == spec
    one_owner = mpc.replace('owner = "retailer"', 'owner = "bank"')
    with pytest.raises(SpecInvalid, match="two tables of two owners"):
        JobSpec.parse(one_owner)
    with pytest.raises(SpecInvalid, match="names the column it joins on"):
        JobSpec.parse(mpc.replace('join = "id"', ""))
    with pytest.raises(SpecInvalid, match="'join' is for mpc jobs"):
        JobSpec.parse(SPEC.replace('mode = "tee"', 'mode = "tee"\njoin = "id"'))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_is_a_spec_or_a_spec_error(text: str) -> None:
    with contextlib.suppress(SpecInvalid):
        JobSpec.parse(text)


def test_every_owner_must_approve_this_very_spec() -> None:
    spec = JobSpec.parse(SPEC)
    bank, retailer, algo = (keys()[n] for n in ("bank", "retailer", "algo"))
    approvals = [approve(bank, spec, at=1), approve(retailer, spec, at=2)]
    assert set(check_approvals(spec, approvals, consortium())) == {"bank", "retailer"}

    with pytest.raises(ApprovalRefused, match="retailer has not approved"):
        check_approvals(spec, approvals[:1], consortium())
    other = JobSpec.parse(SPEC.replace(D[2], D[3]))
    with pytest.raises(ApprovalRefused, match="not of this spec"):
        check_approvals(spec, [approvals[0], approve(retailer, other, at=2)], consortium())
    with pytest.raises(ApprovalRefused, match="owns no input"):
        check_approvals(spec, [*approvals, approve(algo, spec, at=3)], consortium())


def test_an_approval_by_a_stranger_or_a_forger_is_refused() -> None:
    spec = JobSpec.parse(SPEC)
    stranger = MemberKey.generate("retailer")  # the right name, not the listed key
    approvals = [approve(keys()["bank"], spec, at=1), approve(stranger, spec, at=2)]
    with pytest.raises(ApprovalRefused, match="signature"):
        check_approvals(spec, approvals, consortium())
    outsider = MemberKey.generate("mallory")
    with pytest.raises(ApprovalRefused, match="not a member"):
        check_approvals(spec, [approve(outsider, spec, at=2)], consortium())


def test_a_recipient_opens_an_output_of_the_job_it_expects() -> None:
    bank = keys()["bank"]
    spec = JobSpec.parse(SPEC)
    envelope = seal_output(
        b"weights", context=spec.name, output="model.json", recipient="bank",
        recipient_key=bank.public,
    )  # fmt: skip
    assert open_output(envelope, bank, job=spec.name) == ("model.json", b"weights")
    with pytest.raises(OutputUnreadable, match="belongs to job"):
        open_output(envelope, bank, job="another-job")

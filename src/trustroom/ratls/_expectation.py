"""What a relying party expects of its peer's evidence, and the check that names what failed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from trustroom.evidence import TcbStatus, VerificationResult
from trustroom.ratls._errors import ExpectationNotMet, InvalidExpectation

__all__ = ["TCB_STATUS_ORDER", "Expectation"]

# Intel's TCB statuses from best to worst. A TD whose TDX module is out of date but can be fixed
# by a relaunch ranks after every status that needs no action on the running TD, and before
# the plain out-of-date ones.
TCB_STATUS_ORDER: tuple[str, ...] = (
    TcbStatus.UP_TO_DATE,
    TcbStatus.SW_HARDENING_NEEDED,
    TcbStatus.CONFIGURATION_NEEDED,
    TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
    TcbStatus.TD_RELAUNCH_ADVISED,
    TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    TcbStatus.OUT_OF_DATE,
    TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
    TcbStatus.REVOKED,
)

SIM = "sim"


@dataclass(frozen=True)
class Expectation:
    """Conditions the peer's (verified) evidence must meet; all of them, every one checked.

    - ``measurements``: allowed values per measurement name, as verification results name them
      (``{"mrenclave": {"ab12…"}}``; TDX ``mrtd``/``rtmr0``…, SEV-SNP ``measurement``). Hex is
      compared case-insensitively. Every named measurement must be present and allowed.
    - ``tee``: allowed TEE types (``"sgx"``, ``"tdx"``, ``"snp"``); None allows any.
    - ``min_tcb_status``: the worst acceptable Intel TCB status, by :data:`TCB_STATUS_ORDER`.
      Evidence without an Intel TCB status (SEV-SNP) fails it rather than skipping it.
    - ``allow_sim``: accept trustroom's simulated TEE, which protects nothing. It then stands in
      for any allowed TEE type, so the same expectation can be tested without hardware. The
      verifier must trust simulated evidence too (``Verifier(trust_sim=True)``).
    - ``allow_debug``: accept a TEE in debug mode, whose memory the host can read.

    ``Expectation()`` accepts any genuine, non-debug, hardware TEE running anything.
    """

    measurements: Mapping[str, Collection[str]] = field(default_factory=dict)
    tee: Collection[str] | None = None
    min_tcb_status: str | None = None
    allow_sim: bool = False
    allow_debug: bool = False

    def __post_init__(self) -> None:
        normalized: dict[str, frozenset[str]] = {}
        for name, allowed in self.measurements.items():
            if isinstance(allowed, str):
                # A bare string would be read as a set of single characters.
                allowed = (allowed,)
            if not allowed:
                raise InvalidExpectation(f"no value is allowed for measurement {name!r}")
            normalized[name] = frozenset(v.lower() for v in allowed)
        object.__setattr__(self, "measurements", normalized)
        if self.tee is not None:
            tees = frozenset((self.tee,) if isinstance(self.tee, str) else self.tee)
            if not tees:
                raise InvalidExpectation("no TEE type is allowed (tee is empty)")
            if SIM in tees and not self.allow_sim:
                raise InvalidExpectation("'sim' is listed in tee but allow_sim is False")
            object.__setattr__(self, "tee", tees)
        if self.min_tcb_status is not None and self.min_tcb_status not in TCB_STATUS_ORDER:
            raise InvalidExpectation(
                f"unknown TCB status {self.min_tcb_status!r}; one of {', '.join(TCB_STATUS_ORDER)}"
            )

    def check(self, result: VerificationResult) -> list[ExpectationNotMet]:
        """Every expectation ``result`` does not meet, each naming itself in ``expectation``."""
        failures: list[ExpectationNotMet] = []
        simulated = result.tee == SIM
        if simulated and not self.allow_sim:
            failures.append(_failure(
                "allow_sim", "the peer runs in the SIMULATED TEE, which protects nothing",
                expected=False, found=True,
            ))  # fmt: skip
        if self.tee is not None and not simulated and result.tee not in self.tee:
            failures.append(_failure(
                "tee", f"TEE type {result.tee!r} is not {_listing(self.tee)}",
                expected=sorted(self.tee), found=result.tee,
            ))  # fmt: skip
        if result.attributes.get("debug") and not self.allow_debug:
            failures.append(_failure(
                "allow_debug", "the peer's TEE runs in DEBUG mode; the host can read its memory",
                expected=False, found=True,
            ))  # fmt: skip
        if self.min_tcb_status is not None:
            failures.extend(_check_tcb(self.min_tcb_status, result.tcb_status))
        for name, allowed in self.measurements.items():
            found = result.measurements.get(name)
            if found is None or found.lower() not in allowed:
                reason = (
                    f"the evidence has no measurement {name!r} "
                    f"(it has: {', '.join(result.measurements) or 'none'})"
                    if found is None
                    else f"{name} is {found}, expected {_listing(allowed)}"
                )
                failures.append(
                    _failure(f"measurements.{name}", reason, expected=sorted(allowed), found=found)
                )
        return failures


def _check_tcb(minimum: str, status: str | None) -> list[ExpectationNotMet]:
    if status is None:
        reason = (
            "the evidence has no Intel TCB status to compare (SEV-SNP reports its TCB in "
            "platform instead)"
        )
    elif status in TCB_STATUS_ORDER and (
        TCB_STATUS_ORDER.index(status) <= TCB_STATUS_ORDER.index(minimum)
    ):
        return []
    else:
        reason = f"TCB status {status} is worse than the minimum {minimum}"
    return [_failure("min_tcb_status", reason, expected=minimum, found=status)]


def _failure(name: str, reason: str, *, expected: object, found: object) -> ExpectationNotMet:
    return ExpectationNotMet(
        f"expectation {name} failed: {reason}", expectation=name, expected=expected, found=found
    )


def _listing(values: Collection[str]) -> str:
    items = sorted(values)
    return items[0] if len(items) == 1 else "one of " + ", ".join(items)

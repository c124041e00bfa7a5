"""A job spec: which program runs on whose data, how, and who receives what.

Written in TOML by whoever proposes the job (usually the algorithm provider), read and
approved by every data owner. What they sign is the spec's digest (RFC 8785 canonical JSON
of its content), so an approval holds for exactly the spec its owner read::

    name = "churn-risk-2026-11"
    mode = "tee"                       # or "mpc"

    [program]
    provider = "algo"                  # the party that wrote it
    measurement = "sha256:9a3c..."     # tee: the enclave image's measurement
    # script = "sha256:..."            # mpc: the MPC script's digest

    [[inputs]]
    dataset = "bank-customers"
    owner = "bank"
    digest = "sha256:..."              # the sealed dataset, as registered

    [[outputs]]
    name = "model.json"
    recipients = ["algo", "bank"]

An mpc job also names the column both owners' tables are joined on (``join = "customer_id"``):
the parties align their records by private set intersection on it first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from trustroom.cleanroom._errors import SpecInvalid
from trustroom.ledger import digest_of

__all__ = ["Input", "JobSpec", "Output", "Program", "check_name"]

MODES = ("tee", "mpc")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Program:
    provider: str
    measurement: str | None = None
    script: str | None = None


@dataclass(frozen=True)
class Input:
    dataset: str
    owner: str
    digest: str


@dataclass(frozen=True)
class Output:
    name: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class JobSpec:
    """A parsed, checked job spec (see the module docstring)."""

    name: str
    mode: str
    program: Program
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    join: str | None = None

    @classmethod
    def load(cls, path: Path) -> JobSpec:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SpecInvalid(f"cannot read the job spec {path}: {exc.strerror}") from exc
        return cls.parse(text, where=str(path))

    @classmethod
    def parse(cls, text: str, *, where: str = "the job spec") -> JobSpec:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecInvalid(f"{where} is not valid TOML: {exc}") from exc
        return cls.from_dict(document, where=where)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, where: str = "the job spec") -> JobSpec:
        _known(document, {"name", "mode", "program", "inputs", "outputs", "join"}, where)
        name = _name(document, "name", where)
        mode = document.get("mode")
        if mode not in MODES:
            raise SpecInvalid(f"{where}: 'mode' is one of {', '.join(MODES)}, not {mode!r}")
        program = _program(_table(document, "program", where), mode, f"{where}, [program]")
        inputs = tuple(
            _input(table, f"{where}, input {n}")
            for n, table in enumerate(_tables(document, "inputs", where))
        )
        outputs = tuple(
            _output(table, f"{where}, output {n}")
            for n, table in enumerate(_tables(document, "outputs", where))
        )
        named = {"dataset": [i.dataset for i in inputs], "output": [o.name for o in outputs]}
        for kind, names in named.items():
            if len(set(names)) != len(names):
                raise SpecInvalid(f"{where}: each {kind} is named once")
        owners = {i.owner for i in inputs}
        join = document.get("join")
        if mode == "mpc":
            if len(inputs) != 2 or len(owners) != 2:
                raise SpecInvalid(
                    f"{where}: an mpc job joins two tables of two owners (it has "
                    f"{len(inputs)} of {len(owners)})",
                    hint='Run one owner\'s data alone in mode = "tee".',
                )
            if not isinstance(join, str) or not join:
                raise SpecInvalid(f"{where}: an mpc job names the column it joins on: join = ...")
        elif join is not None:
            raise SpecInvalid(f"{where}: 'join' is for mpc jobs; a tee program joins itself")
        return cls(name, mode, program, inputs, outputs, join)

    def to_dict(self) -> dict[str, Any]:
        program = {"provider": self.program.provider}
        if self.program.measurement is not None:
            program["measurement"] = self.program.measurement
        if self.program.script is not None:
            program["script"] = self.program.script
        return {
            "name": self.name,
            "mode": self.mode,
            **({"join": self.join} if self.join is not None else {}),
            "program": program,
            "inputs": [
                {"dataset": i.dataset, "owner": i.owner, "digest": i.digest} for i in self.inputs
            ],
            "outputs": [{"name": o.name, "recipients": list(o.recipients)} for o in self.outputs],
        }

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the spec's canonical JSON: what approvals sign."""
        return digest_of(rfc8785.dumps(self.to_dict()))

    @property
    def owners(self) -> tuple[str, ...]:
        """The parties whose data the job reads, each once, in the spec's order."""
        return tuple(dict.fromkeys(i.owner for i in self.inputs))

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for o in self.outputs for r in o.recipients))


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a name (letters, digits, '.', '_' or '-': usable in a key broker's
    resource path and a file name); SpecInvalid otherwise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecInvalid(
            f"'{what}' must be a name (letters, digits, '.', '_' or '-'), not {value!r}"
        )
    return value


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    if unknown := set(table) - known:
        raise SpecInvalid(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")


def _name(table: Mapping[str, Any], key: str, where: str) -> str:
    try:
        return check_name(table.get(key), key)
    except SpecInvalid as exc:
        raise SpecInvalid(f"{where}: {exc.message}") from None


def _digest(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise SpecInvalid(f"{where}: '{key}' must be 'sha256:' and 64 lowercase hex digits")
    return value


def _table(document: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise SpecInvalid(f"{where}: needs a [{key}] table")
    return value


def _tables(document: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = document.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        raise SpecInvalid(f"{where}: list at least one [[{key}]] table")
    return value


def _program(table: Mapping[str, Any], mode: str, where: str) -> Program:
    _known(table, {"provider", "measurement", "script"}, where)
    needed, other = ("measurement", "script") if mode == "tee" else ("script", "measurement")
    if other in table:
        raise SpecInvalid(f"{where}: a {mode} job's program has a '{needed}', not a '{other}'")
    digest = _digest(table, needed, where)
    provider = _name(table, "provider", where)
    return Program(provider, **{needed: digest})


def _input(table: Mapping[str, Any], where: str) -> Input:
    _known(table, {"dataset", "owner", "digest"}, where)
    return Input(
        _name(table, "dataset", where),
        _name(table, "owner", where),
        _digest(table, "digest", where),
    )


def _output(table: Mapping[str, Any], where: str) -> Output:
    _known(table, {"name", "recipients"}, where)
    recipients = table.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise SpecInvalid(f"{where}: 'recipients' lists the parties who may read the output")
    names = tuple(_name({"recipient": r}, "recipient", where) for r in recipients)
    if len(set(names)) != len(names):
        raise SpecInvalid(f"{where}: a recipient is listed twice")
    return Output(_name(table, "name", where), names)

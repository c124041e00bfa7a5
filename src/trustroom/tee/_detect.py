"""Which hardware TEE interface this machine offers, and why the others are not usable.

NOT RUN ON REAL HARDWARE: the probes were written against Gramine's ``/dev/attestation``,
Linux configfs-tsm (>= 6.7) and the ``/dev/sev-guest`` and ``/dev/tdx_guest`` devices, and are
tested with fake device trees.

Candidates, in order (the first usable one wins):

1. Gramine's ``/dev/attestation``: present only inside a Gramine SGX enclave. Chosen even when
   its attestation type is ``"none"`` (measurements and sealing work; evidence explains what to
   change), because falling back to the simulated TEE inside a real enclave would mislead.
2. configfs-tsm: the report directory exists and a probe entry names a provider.
3. ``/dev/sev-guest``: SEV-SNP reports and keys without configfs-tsm (Linux < 6.7).
4. ``/dev/tdx_guest``: TDREPORTs only; measurements work, evidence raises TeeUnavailable
   explaining that quotes need configfs-tsm. Chosen over the simulated TEE for the same
   reason as 1.

Probing opens devices and creates (then removes) one configfs-tsm entry; it never asks the TEE
for a report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustroom.tee._attester import Attester
from trustroom.tee._errors import TeeUnavailable
from trustroom.tee._gramine import GRAMINE_ROOT, GramineSgxAttester
from trustroom.tee._ioctl import SevGuestAttester, SevGuestDevice, TdxGuestAttester, open_device
from trustroom.tee._tsm import TSM_ROOT, EntryFactory, TsmAttester, configfs_entry

__all__ = ["DEV_ROOT", "Probe", "describe", "detect_hardware"]

DEV_ROOT = Path("/dev")


@dataclass(frozen=True)
class Probe:
    """One candidate interface: whether it is there, usable, and why (or why not)."""

    name: str
    path: Path
    present: bool
    usable: bool
    tee: str | None
    detail: str
    attester: Attester | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "present": self.present,
            "usable": self.usable,
            "tee": self.tee,
            "detail": self.detail,
        }


def _gramine(root: Path) -> Probe:
    name = "gramine"
    if not (root / "attestation_type").exists():
        return Probe(name, root, False, False, None, "not inside a Gramine SGX enclave")
    attester = GramineSgxAttester(root)
    try:
        kind = attester.attestation_type
    except TeeUnavailable as exc:
        return Probe(name, root, True, False, "sgx", exc.message)
    if kind == "dcap":
        detail = "Gramine SGX enclave with DCAP attestation"
    else:
        detail = (
            f"Gramine SGX enclave with attestation type {kind!r}: measurements and sealing "
            'work, evidence needs sgx.remote_attestation = "dcap"'
        )
    return Probe(name, root, True, True, "sgx", detail, attester)


def _tsm(root: Path, dev_root: Path, entry: EntryFactory) -> Probe:
    name = "configfs-tsm"
    if not root.is_dir():
        return Probe(name, root, False, False, None, "no configfs-tsm report directory")
    attester = TsmAttester(root, guest_request=SevGuestDevice(dev_root / "sev-guest"), entry=entry)
    try:
        tee = attester.tee
    except TeeUnavailable as exc:
        return Probe(name, root, True, False, None, exc.message)
    return Probe(name, root, True, True, tee, f"provider {attester.provider}", attester)


def _device(path: Path, tee: str, attester: Attester, detail: str) -> Probe:
    name = path.name
    if not path.exists():
        return Probe(name, path, False, False, None, f"no {path}")
    try:
        os.close(open_device(path))
    except TeeUnavailable as exc:
        return Probe(name, path, True, False, tee, exc.message)
    return Probe(name, path, True, True, tee, detail, attester)


def _probes(
    attestation_root: Path, tsm_root: Path, dev_root: Path, entry: EntryFactory
) -> Iterator[Probe]:
    yield _gramine(attestation_root)
    yield _tsm(tsm_root, dev_root, entry)
    sev, tdx = dev_root / "sev-guest", dev_root / "tdx_guest"
    yield _device(sev, "snp", SevGuestAttester(sev), "SEV-SNP reports and keys by ioctl")
    yield _device(
        tdx,
        "tdx",
        TdxGuestAttester(tdx),
        "TDREPORTs only: measurements work, quotes need configfs-tsm (Linux >= 6.7)",
    )


def detect_hardware(
    *,
    attestation_root: Path = GRAMINE_ROOT,
    tsm_root: Path = TSM_ROOT,
    dev_root: Path = DEV_ROOT,
    tsm_entry: EntryFactory = configfs_entry,
) -> Attester | None:
    """The first usable hardware TEE interface, or None where there is none.

    ``tsm_entry`` replaces the creation of configfs-tsm entries (tests).
    """
    for probe in _probes(attestation_root, tsm_root, dev_root, tsm_entry):
        if probe.attester is not None:
            return probe.attester
    return None


def describe(
    *,
    attestation_root: Path = GRAMINE_ROOT,
    tsm_root: Path = TSM_ROOT,
    dev_root: Path = DEV_ROOT,
    tsm_entry: EntryFactory = configfs_entry,
) -> list[dict[str, Any]]:
    """Every candidate interface, in detection order, as JSON-ready dicts (``tee detect``)."""
    return [p.to_dict() for p in _probes(attestation_root, tsm_root, dev_root, tsm_entry)]

"""Choosing this machine's TEE: the hardware one when present, else the simulated one."""

from __future__ import annotations

from trustroom.tee._attester import Attester
from trustroom.tee._detect import detect_hardware
from trustroom.tee._errors import TeeUnavailable
from trustroom.tee._sim import SimAttester, SimWorkload

__all__ = ["local_attester"]


def local_attester(sim_workload: SimWorkload | None = None, *, sim: bool = False) -> Attester:
    """The TEE this process runs in: hardware if any is found (unless ``sim``), else the
    simulated TEE running ``sim_workload``, the identity the caller declares for it."""
    if not sim:
        hardware = detect_hardware()
        if hardware is not None:
            return hardware
    if sim_workload is None:
        raise TeeUnavailable(
            "no TEE hardware was found, and the simulated TEE needs the workload it runs",
            hint="Declare the workload (--workload PATH, or --mrenclave HEX --mrsigner HEX); "
            "the simulated TEE measures what you declare and protects nothing.",
        )
    return SimAttester(sim_workload)

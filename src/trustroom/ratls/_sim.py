"""Collateral for evidence of the simulated TEE on this host.

Hardware collateral comes from Intel PCS or a PCCS and must be passed in; the simulated
platform publishes its own. When a certificate's quote chains to a simulated root, this host's
simulated collateral is supplied: it adds no trust (the verifier still refuses a simulated root
unless built with ``trust_sim=True``), but lets two simulated workloads on one host attest to
each other without extra plumbing, and lets an untrusting verifier name the real reason
(``untrusted_root``) instead of missing collateral.
"""

from __future__ import annotations

from datetime import datetime

from trustroom.evidence import DcapCollateral, is_sim_evidence
from trustroom.tee import sim_collateral

__all__ = ["simulated_collateral"]


def simulated_collateral(evidence: bytes, at: datetime) -> DcapCollateral | None:
    """This host's simulated collateral if ``evidence`` is a simulated quote, else None.

    Raises TeeError when the simulated platform's state cannot be read.
    """
    return sim_collateral(at) if is_sim_evidence(evidence) else None

"""Options and argument parsing shared by several ``trustroom`` commands."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import typer

from trustroom._core.timeutil import parse_time
from trustroom.cli._notes import SIM_NOTE
from trustroom.tee import Attester, SimWorkload, local_attester

__all__ = [
    "MRENCLAVE",
    "MRSIGNER",
    "PROD_ID",
    "SIGNER",
    "SIM",
    "SIM_NOTE",
    "SVN",
    "WORKLOAD",
    "attester_for",
    "parse_at",
]


def attester_for(
    workload: Path | None,
    mrenclave: str | None,
    mrsigner: str | None,
    signer: str,
    isv_prod_id: int,
    isv_svn: int,
    *,
    sim: bool,
) -> Attester:
    """This machine's TEE, or (none found, or ``sim``) the simulated one running the workload
    the options declare: files to measure, or MRENCLAVE (and MRSIGNER or a signer's name)."""
    declared: SimWorkload | None = None
    if workload is not None:
        declared = SimWorkload.measure(
            workload, signer=signer, isv_prod_id=isv_prod_id, isv_svn=isv_svn
        )
    elif mrenclave is not None:
        try:
            enclave = bytes.fromhex(mrenclave)
            signer_id = (
                bytes.fromhex(mrsigner) if mrsigner else hashlib.sha256(signer.encode()).digest()
            )
            declared = SimWorkload(enclave, signer_id, isv_prod_id, isv_svn)
        except ValueError as exc:
            raise typer.BadParameter(f"{exc}; MRENCLAVE and MRSIGNER are 32 bytes of hex") from exc
    return local_attester(declared, sim=sim)


WORKLOAD = typer.Option(
    None, "--workload", exists=True, help="Simulated TEE: measure these files as the workload."
)
MRENCLAVE = typer.Option(None, "--mrenclave", help="Simulated TEE: the workload's MRENCLAVE.")
MRSIGNER = typer.Option(None, "--mrsigner", help="Simulated TEE: the workload's MRSIGNER.")
SIGNER = typer.Option("unsigned", "--signer", help="Simulated TEE: who signs the workload.")
PROD_ID = typer.Option(0, "--isv-prod-id", help="Simulated TEE: product id.")
SVN = typer.Option(0, "--isv-svn", help="Simulated TEE: security version.")
SIM = typer.Option(False, "--sim", help="Use the simulated TEE even where hardware exists.")


def parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; use RFC 3339, e.g. 2025-07-19T10:01:17Z") from exc

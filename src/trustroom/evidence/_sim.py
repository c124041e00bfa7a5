"""Evidence of trustroom's simulated TEE: real SGX DCAP quotes under a simulated root.

The simulated platform (``trustroom.tee``) signs its quotes and collateral through a chain
whose self-signed root names itself as simulated. Verification runs the very same DCAP code as
for Intel hardware; only the trust anchor differs, and it is accepted only when the caller asks
(``Verifier(trust_sim=True)``). Results then say ``tee: "sim"``. A simulated root is not a
hardware root of trust: whoever runs the simulator holds its keys.
"""

from __future__ import annotations

from cryptography import x509

__all__ = ["SIM_ORGANIZATION", "SIM_ROOT_COMMON_NAME", "is_sim_root"]

SIM_ORGANIZATION = "trustroom simulated TEE"
SIM_ROOT_COMMON_NAME = "trustroom SIM Root CA - SIMULATED, not a hardware root of trust"


def is_sim_root(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is a self-signed root of a trustroom simulated platform."""
    if cert.issuer != cert.subject:
        return False
    names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return any(n.value == SIM_ORGANIZATION for n in names)

"""The vendor trust anchors that ship with trustroom, pinned by digest.

Intel: the Intel SGX Root CA (the only anchor of every DCAP quote). AMD: the ARK of each SEV-SNP
product generation, with the ASK (VCEK issuer) and ASVK (VLEK issuer) as published by AMD KDS.
A root is loaded only if its bytes hash to the value written here, so a tampered install fails
loudly instead of trusting the wrong key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trustroom.evidence._x509 import load_pem_chain

__all__ = ["AmdChain", "amd_chains", "intel_root"]

INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
_AMD_FILES = {
    "Milan": ("milan_ask_ark.pem", "milan_asvk_ark.pem"),
    "Genoa": ("genoa_ask_ark.pem", None),
    "Turin": ("turin_ask_ark.pem", None),
}
# SHA-256 of each ARK's DER encoding, as published by AMD KDS.
_ARK_SHA256 = {
    "Milan": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "Genoa": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "Turin": "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}


def _read(name: str) -> bytes:
    return files("trustroom.evidence").joinpath(f"_roots/{name}").read_bytes()


@cache
def intel_root() -> x509.Certificate:
    der = _read("intel_sgx_root_ca.der")
    if hashlib.sha256(der).hexdigest() != INTEL_ROOT_SHA256:
        raise RuntimeError("the bundled Intel SGX Root CA does not match its pinned digest")
    return x509.load_der_x509_certificate(der)


@dataclass(frozen=True)
class AmdChain:
    """One product's AMD key hierarchy: ARK (root), ASK (signs VCEKs), ASVK (signs VLEKs)."""

    product: str
    ark: x509.Certificate
    ask: x509.Certificate
    asvk: x509.Certificate | None


@cache
def amd_chains() -> dict[str, AmdChain]:
    chains: dict[str, AmdChain] = {}
    for product, (ask_file, asvk_file) in _AMD_FILES.items():
        ask, ark = load_pem_chain(_read(ask_file), f"bundled {product} ASK chain")
        if hashlib.sha256(ark.public_bytes(Encoding.DER)).hexdigest() != _ARK_SHA256[product]:
            raise RuntimeError(f"the bundled {product} ARK does not match its pinned digest")
        asvk = None
        if asvk_file:
            asvk, asvk_ark = load_pem_chain(_read(asvk_file), f"bundled {product} ASVK chain")
            if asvk_ark != ark:
                raise RuntimeError(f"the bundled {product} ASVK chain has another ARK")
        chains[product] = AmdChain(product, ark, ask, asvk)
    return chains

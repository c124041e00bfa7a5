"""The vendor trust anchors that ship with trustroom, pinned by digest.

Intel: the Intel SGX Root CA (the only anchor of every DCAP quote), and the intermediates it
issued that every quote's collateral uses (TCB Signing, PCK Processor CA, PCK Platform CA).
AMD: the ARK of each SEV-SNP product generation, with the ASK (VCEK issuer) and ASVK (VLEK
issuer) as published by AMD KDS. A file is loaded only if its certificates hash to the values
written here, so a tampered install fails loudly instead of trusting the wrong key.

The signature of each shipped intermediate is checked against its root once per process
(:func:`known_links`); a chain that carries a byte-identical copy of one needs no further check
of that link. Everything else about the intermediate (its validity window, its revocation by
the root CRL) is still checked on every verification.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trustroom.evidence._x509 import load_pem_chain

__all__ = ["AmdChain", "amd_chains", "intel_root", "known_links"]

INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
_AMD_FILES = {
    "Milan": ("milan_ask_ark.pem", "milan_asvk_ark.pem"),
    "Genoa": ("genoa_ask_ark.pem", None),
    "Turin": ("turin_ask_ark.pem", None),
}
# SHA-256 of the DER encoding of Intel's intermediates, as served by Intel PCS in 2025.
_INTEL_INTERMEDIATES_SHA256 = frozenset(
    {
        "c0575e76d0303b61d09cde8cbdb70db34a74f38318300d7c0e6ba8cf4bf45aea",  # TCB Signing (2025)
        "13b2dccef8fc4ec977ee5249743b0f758ebd1e28d768b2e1e12bc348adaa09fb",  # PCK Processor CA
        "22eb770dca215b607b5ccfc21a672b1da5cc660b1ad0365020567979edcaa0e1",  # PCK Platform CA
    }
)
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
        if _sha256(ark) != _ARK_SHA256[product]:
            raise RuntimeError(f"the bundled {product} ARK does not match its pinned digest")
        asvk = None
        if asvk_file:
            asvk, asvk_ark = load_pem_chain(_read(asvk_file), f"bundled {product} ASVK chain")
            if asvk_ark != ark:
                raise RuntimeError(f"the bundled {product} ASVK chain has another ARK")
        chains[product] = AmdChain(product, ark, ask, asvk)
    return chains


@cache
def known_links() -> frozenset[tuple[x509.Certificate, x509.Certificate]]:
    """(intermediate, root) pairs shipped with trustroom, each signature checked here once."""
    root = intel_root()
    links = set()
    for cert in load_pem_chain(_read("intel_intermediates.pem"), "bundled Intel intermediates"):
        if _sha256(cert) not in _INTEL_INTERMEDIATES_SHA256:
            raise RuntimeError("a bundled Intel intermediate does not match its pinned digest")
        links.add((cert, root))
    for chain in amd_chains().values():
        links.update((issuer, chain.ark) for issuer in (chain.ask, chain.asvk) if issuer)
    for child, issuer in links:
        child.verify_directly_issued_by(issuer)  # raises on a broken install
    return frozenset(links)


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()

"""Verification of Intel DCAP quotes (SGX and TDX), in the order of Intel QVL's QuoteVerifier.

Steps are numbered as checklist comments; docs/evidence.md lists them with the threat each
one answers. Results of time-independent steps are cached by the exact bytes they covered.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._collateral import Collateral, DcapCollateral
from trustroom.evidence._dcap_quote import (
    CERT_DATA_PCK_CHAIN,
    INTEL_QE_VENDOR_ID,
    Quote,
    TdReport,
)
from trustroom.evidence._dcap_tcb import evaluate_tcb, match_qe_identity
from trustroom.evidence._dcap_trust import (
    check_pck_revocation,
    load_p256_point,
    verify_collateral,
    verify_p256,
    verify_pck_chain,
)
from trustroom.evidence._errors import (
    CollateralMismatch,
    CollateralMissing,
    Revoked,
    SignatureInvalid,
    UnsupportedFormat,
    UntrustedRoot,
)
from trustroom.evidence._outcome import Outcome
from trustroom.evidence._result import TcbStatus
from trustroom.evidence._sim import is_sim_root
from trustroom.evidence._window import cert_name
from trustroom.evidence._x509 import certificate_fields, load_pem_chain

__all__ = ["verify_quote"]

_QE_IDS = {"sgx": "QE", "tdx": "TD_QE"}


def verify_quote(
    quote: Quote,
    collateral: Collateral | None,
    outcome: Outcome,
    *,
    root: x509.Certificate,
    trust_sim: bool,
    cache: VerificationCache,
) -> None:
    # (1): Only Intel's quoting enclaves are understood, with their certification data.
    if quote.header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise UnsupportedFormat(
            f"QE vendor {quote.header.qe_vendor_id.hex()} is not Intel's quoting enclave"
        )
    if collateral is None:
        raise CollateralMissing(f"an Intel {quote.tee.upper()} quote needs Intel DCAP collateral")
    if not isinstance(collateral, DcapCollateral):
        raise CollateralMismatch(
            f"an Intel {quote.tee.upper()} quote needs Intel DCAP collateral, "
            f"not {type(collateral).__name__}",
            hint="Pass the collateral JSON (--collateral) for an Intel quote.",
        )
    # The PCK chain rides in the quote (certification data type 5); for other types (PPID
    # only, a bare PCK certificate) it must come with the collateral, as dcap-qvl allows.
    if quote.qe.cert_type == CERT_DATA_PCK_CHAIN:
        pck_pem = quote.qe.cert_data
    elif collateral.pck_certificate_chain:
        pck_pem = collateral.pck_certificate_chain.encode()
    else:
        raise UnsupportedFormat(
            f"certification data type {quote.qe.cert_type} carries no PCK certificate chain",
            hint="Add the platform's PCK certificate chain to the collateral "
            "(pck_certificate_chain), as fetched from Intel PCS or your PCCS.",
        )

    # A simulated platform's chain ends at its own root: trusted only when the caller asked,
    # and then everything (collateral included) must lead to that one root.
    sim_root = _sim_root(pck_pem, root, cache)
    if sim_root is not None:
        outcome.simulated = True
        if not trust_sim:
            raise UntrustedRoot(
                f"the quote comes from a SIMULATED platform ('{cert_name(sim_root)}'), which "
                "is not a hardware root of trust",
                hint="Simulated evidence protects nothing; accept it for development only, with "
                "Verifier(trust_sim=True) or --trust-sim.",
            )
        root = sim_root

    # (2): Collateral signatures lead to the pinned root (TCB info, QE identity, CRLs).
    trusted = cache.get_or_compute(
        ("dcap-collateral", collateral, root), lambda: verify_collateral(collateral, root, cache)
    )
    outcome.windows.extend(trusted.windows)
    tcb_info, qe_identity = trusted.tcb_info, trusted.qe_identity

    # (3): The collateral is for this kind of TEE (QVL 4.1.2.4.9 and 4.1.2.4.14).
    if tcb_info.id != quote.tee.upper():
        raise CollateralMismatch(f"a {quote.tee.upper()} quote with {tcb_info.id} TCB info")
    if tcb_info.id == "TDX" and tcb_info.version < 3:
        raise CollateralMismatch("TDX quotes need TCB info version 3")
    if qe_identity.id != _QE_IDS[quote.tee]:
        raise CollateralMismatch(
            f"a {quote.tee.upper()} quote needs the {_QE_IDS[quote.tee]} identity, "
            f"not {qe_identity.id}"
        )

    # (4): The PCK chain leads to the root and is not revoked (4.1.2.4.4-7).
    pck = cache.get_or_compute(
        ("pck-chain", pck_pem, root), lambda: verify_pck_chain(pck_pem, root, cache)
    )
    outcome.windows.extend(pck.chain.windows())
    ext = pck.extensions
    outcome.platform.update(
        fmspc=ext.fmspc.hex(),
        pce_id=ext.pce_id.hex(),
        pck_ca=pck.ca,
        ppid=ext.ppid.hex(),
        sgx_type=ext.sgx_type,
        pce_svn=ext.pce_svn,
        tcb_components=list(ext.tcb_components),
        qe_svn=quote.qe.qe_report.isv_svn,
        tcb_evaluation_data_number=tcb_info.tcb_evaluation_data_number,
    )
    if ext.platform_instance_id is not None:
        outcome.platform["platform_instance_id"] = ext.platform_instance_id.hex()
    check_pck_revocation(pck, trusted)

    # (5): TCB info is this platform's (4.1.2.4.10).
    if (ext.fmspc, ext.pce_id) != (tcb_info.fmspc, tcb_info.pce_id):
        raise CollateralMismatch(
            f"the TCB info is for FMSPC {tcb_info.fmspc.hex()} / PCE ID {tcb_info.pce_id.hex()}, "
            f"the platform is FMSPC {ext.fmspc.hex()} / PCE ID {ext.pce_id.hex()}"
        )

    # (6): The PCK key signed the QE report (4.1.2.4.12), and (7) the QE report vouches for the
    # attestation key and QE authentication data (4.1.2.4.13). A QE report is the same for
    # every quote of a platform, so the pair is cached.
    cache.get_or_compute(
        ("qe-report", pck.leaf, quote.qe.qe_report.raw, quote.qe.qe_report_signature,
         quote.attestation_key, quote.qe.qe_auth_data),
        lambda: _check_qe_report(quote, pck.key),
    )  # fmt: skip

    # (8): The QE is Intel's, at a known TCB level (4.1.2.4.15).
    qe_level = match_qe_identity(quote.qe.qe_report, qe_identity)

    # (9): The attestation key signed the header and body (4.1.2.4.16).
    key = cache.get_or_compute(
        ("attestation-key", quote.attestation_key),
        lambda: load_p256_point(quote.attestation_key, "the attestation key"),
    )
    verify_p256(key, quote.signed_region, quote.signature, "the quote header and body")

    # (10): The platform's TCB level, TDX module and QE converge into one status (4.1.2.4.17).
    td = quote.body if isinstance(quote.body, TdReport) else None
    verdict = evaluate_tcb(tcb_info, ext, qe_level, td)
    outcome.tcb_status = verdict.status
    outcome.advisory_ids = verdict.advisory_ids
    outcome.platform.update(
        tcb_date=verdict.tcb_date,
        platform_tcb_status=verdict.platform_status,
        qe_tcb_status=verdict.qe_status,
    )
    if verdict.module_status is not None:
        outcome.platform["tdx_module_tcb_status"] = verdict.module_status
    if verdict.status == TcbStatus.REVOKED:
        outcome.fail(Revoked("Intel lists this platform's TCB level as Revoked"))


def _sim_root(
    pck_pem: bytes, root: x509.Certificate, cache: VerificationCache
) -> x509.Certificate | None:
    """The simulated root the PCK chain ends at, if it ends at one."""

    def find() -> x509.Certificate | None:
        with certificate_fields("the PCK certificate chain"):
            top = load_pem_chain(pck_pem, "PCK certificate chain")[-1]
            return top if top != root and is_sim_root(top) else None

    return cache.get_or_compute(("sim-root", pck_pem, root), find)


def _check_qe_report(quote: Quote, pck_key: ec.EllipticCurvePublicKey) -> bool:
    verify_p256(pck_key, quote.qe.qe_report.raw, quote.qe.qe_report_signature, "the QE report")
    digest = hashlib.sha256(quote.attestation_key + quote.qe.qe_auth_data).digest()
    # Only the first 32 bytes carry the hash; QVL compares those and so does trustroom.
    if quote.qe.qe_report.report_data[:32] != digest:
        raise SignatureInvalid(
            "the QE report does not vouch for this attestation key and QE authentication data"
        )
    return True

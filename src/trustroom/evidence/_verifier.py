"""The Verifier: one entry point for every TEE's evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509

from trustroom._core.timeutil import require_aware
from trustroom.evidence import _snp
from trustroom.evidence._cache import VerificationCache
from trustroom.evidence._collateral import Collateral
from trustroom.evidence._dcap import verify_quote
from trustroom.evidence._dcap_quote import CERT_DATA_PCK_CHAIN, Quote, is_dcap_quote, parse_quote
from trustroom.evidence._errors import EvidenceError, InternalError, UnsupportedFormat
from trustroom.evidence._outcome import Outcome
from trustroom.evidence._result import VerificationResult
from trustroom.evidence._roots import intel_root
from trustroom.evidence._sim import is_sim_root
from trustroom.evidence._x509 import certificate_fields, load_der_certificate, load_pem_chain

__all__ = ["Evidence", "Verifier", "is_evidence", "is_sim_evidence", "parse"]

Evidence = Quote | _snp.SnpReport


def is_evidence(data: bytes) -> bool:
    """Whether ``data`` looks like evidence of a supported TEE (a cheap check of its header)."""
    return _snp.is_snp_report(data) or is_dcap_quote(data)


def is_sim_evidence(data: bytes) -> bool:
    """Whether ``data`` is a quote of trustroom's simulated TEE (its chain ends at a sim root)."""
    try:
        quote = parse(data)
        if not isinstance(quote, Quote) or quote.qe.cert_type != CERT_DATA_PCK_CHAIN:
            return False
        with certificate_fields("the PCK certificate chain"):
            return is_sim_root(load_pem_chain(quote.qe.cert_data, "PCK chain")[-1])
    except EvidenceError:
        return False


def parse(data: bytes) -> Evidence:
    """Parse evidence of any supported TEE, detected from its bytes; no verification.

    Raises ParseError or UnsupportedFormat.
    """
    if _snp.is_snp_report(data):
        return _snp.parse_report(data)
    if is_dcap_quote(data):
        return parse_quote(data)
    raise UnsupportedFormat(
        "not a recognised evidence format: neither an Intel DCAP quote (version 3-5) nor an "
        "AMD SEV-SNP attestation report",
        hint="trustroom reads raw binary quotes and reports; decode base64 or hex first.",
    )


class Verifier:
    """Verifies TEE evidence against pinned vendor roots, offline and at a given time.

    A Verifier remembers what it has verified (collateral signatures and CRLs, PCK and VCEK
    chains, QE reports) keyed by their exact bytes, so reusing one for many quotes of the
    same platforms skips repeated signature checks. Validity windows are still checked on
    every call, so a cached item stops being accepted the moment its window closes.

    ``trust_sim`` accepts evidence of trustroom's simulated TEE (results say ``tee: "sim"``);
    it is off by default, and then such evidence fails with ``untrusted_root``. Simulated
    evidence protects nothing: enable it for development and tests only. ``intel_root``
    replaces the pinned Intel SGX Root CA (DER), for test platforms only.
    """

    def __init__(
        self, *, trust_sim: bool = False, intel_root: bytes | None = None, cache_size: int = 1024
    ) -> None:
        self._intel_root = (
            load_der_certificate(intel_root, "Intel root") if intel_root is not None else None
        )
        self._trust_sim = trust_sim
        self._cache = VerificationCache(cache_size)

    def _root(self) -> x509.Certificate:
        return self._intel_root if self._intel_root is not None else intel_root()

    def verify(
        self,
        data: bytes,
        *,
        collateral: Collateral | None = None,
        at: datetime | None = None,
        product: str | None = None,
        stepping: int | None = None,
    ) -> VerificationResult:
        """Verify ``data`` at time ``at`` (default: now); never raises for bad evidence.

        ``product`` and ``stepping`` are optional expectations for SEV-SNP evidence
        (``"Milan"``, ``"Genoa"``, ``"Turin"``; the CPU stepping number).
        """
        when = require_aware(at) if at is not None else datetime.now(UTC)
        try:
            evidence = parse(bytes(data))
        except EvidenceError as exc:
            return VerificationResult(False, "unknown", "unknown", when, errors=(exc,))
        outcome = Outcome()
        try:
            if isinstance(evidence, Quote):
                verify_quote(
                    evidence, collateral, outcome,
                    root=self._root(), trust_sim=self._trust_sim, cache=self._cache,
                )  # fmt: skip
            else:
                _snp.verify_report(
                    evidence, collateral, outcome,  # type: ignore[arg-type]
                    cache=self._cache, product=product, stepping=stepping,
                )  # fmt: skip
        except EvidenceError as exc:
            outcome.fail(exc)
        except Exception as exc:  # a bug must still give the caller a typed answer
            outcome.fail(InternalError(f"unexpected {type(exc).__name__}: {exc}"))
        windows = tuple(dict.fromkeys(outcome.windows))
        time_errors = [e for w in windows if (e := w.check(when)) is not None]
        errors = (*outcome.errors, *time_errors)
        return VerificationResult(
            verified=not errors,
            tee="sim" if outcome.simulated else evidence.tee,
            format=evidence.format,
            evaluated_at=when,
            tcb_status=outcome.tcb_status,
            advisory_ids=outcome.advisory_ids,
            measurements=evidence.measurements(),
            report_data=evidence.report_data.hex(),
            attributes=evidence.attribute_claims(),
            platform=outcome.platform,
            collateral=windows,
            errors=errors,
        )

"""Collateral sources: fetch verification collateral from Intel PCS, a PCCS or AMD KDS.

Parsing and verification in trustroom never touch the network. Fetching collateral is a
separate step behind the one-method :class:`CollateralSource` protocol, so that an application
can swap where collateral comes from (Intel's PCS, its own PCCS, a file store, a test double)
without the verifier changing. :class:`DefaultSource` reads just enough of the evidence to know
what to ask for (FMSPC, PCK CA and TEE type of a DCAP quote; product, chip id and reported TCB of
an SEV-SNP report) and asks :class:`IntelPcs` or :class:`AmdKds`.

:class:`CachedSource` keeps what any source returned on disk, keyed by a hash of what identifies
the collateral (TEE + FMSPC + CA; or product + signer + chip id + TCB), for ``max_age``:
Intel collateral as dcap-qvl JSON, AMD collateral as the certificate and CRL files, each entry
with a ``meta.json`` holding the fetch time and the SHA-256 of every file.

Threat note: a source is not trusted, the signatures are. Collateral from the network or the
cache is verified exactly like collateral from a file, against the pinned Intel and AMD roots
and at the evaluation time. A hostile network, PCCS or cache directory can withhold collateral,
or replay older genuine collateral that is still inside its validity window, but cannot make
forged evidence verify.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trustroom._core.paths import trustroom_home
from trustroom._core.timeutil import format_time, require_aware
from trustroom.evidence import _snp
from trustroom.evidence._collateral import (
    Collateral,
    DcapCollateral,
    SnpCollateral,
    split_signed_json,
)
from trustroom.evidence._dcap_quote import CERT_DATA_PCK_CHAIN, Quote, is_dcap_quote, parse_quote
from trustroom.evidence._errors import (
    CollateralUnavailable,
    EvidenceError,
    ParseError,
    UnsupportedFormat,
)
from trustroom.evidence._json import load_object
from trustroom.evidence._pck import PckCa, parse_pck_extensions, pck_ca
from trustroom.evidence._x509 import load_crl, load_der_certificate, load_pem_chain

__all__ = [
    "AMD_KDS_URL",
    "INTEL_PCS_URL",
    "INTEL_ROOT_CA_CRL_URL",
    "AmdKds",
    "CachedSource",
    "CollateralSource",
    "DefaultSource",
    "IntelPcs",
    "default_cache_dir",
]

INTEL_PCS_URL = "https://api.trustedservices.intel.com"
INTEL_ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
AMD_KDS_URL = "https://kdsintf.amd.com"
DEFAULT_TIMEOUT_S = 10.0

Tee = Literal["sgx", "tdx"]
SnpSigner = Literal["vcek", "vlek"]

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_log = logging.getLogger(__name__)


class CollateralSource(Protocol):
    """Anything that returns the collateral needed to verify a piece of evidence."""

    def collateral_for(self, evidence: bytes) -> Collateral:
        """Collateral for ``evidence`` (an Intel DCAP quote or an SEV-SNP report)."""
        ...


@dataclass(frozen=True, slots=True)
class _DcapKey:
    tee: Tee
    fmspc: bytes
    ca: PckCa


@dataclass(frozen=True, slots=True)
class _SnpKey:
    product: str | None  # None for reports that do not name it (before version 3)
    signer: SnpSigner
    chip_id: bytes
    reported_tcb: int  # raw TCB_VERSION: its layout depends on the product


def _identify(evidence: bytes) -> _DcapKey | _SnpKey:
    """What identifies the collateral of ``evidence``, read from its bytes alone."""
    if is_dcap_quote(evidence):
        return _dcap_key(parse_quote(evidence))
    if _snp.is_snp_report(evidence):
        return _snp_key(_snp.parse_report(evidence))
    raise UnsupportedFormat("the evidence is neither an Intel DCAP quote nor an SEV-SNP report")


def _dcap_key(quote: Quote) -> _DcapKey:
    if quote.qe.cert_type != CERT_DATA_PCK_CHAIN:
        raise UnsupportedFormat(
            f"the quote carries certification data type {quote.qe.cert_type}, not the PCK "
            f"certificate chain ({CERT_DATA_PCK_CHAIN}), so its FMSPC cannot be read",
            hint="Call IntelPcs.dcap_collateral() with the platform's FMSPC and PCK CA.",
        )
    leaf = load_pem_chain(quote.qe.cert_data, "PCK certificate chain")[0]
    names = leaf.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    ca = pck_ca(str(names[0].value)) if names else None
    if ca is None:
        raise ParseError(
            f"the PCK certificate is issued by '{leaf.issuer.rfc4514_string()}', which is "
            "neither the Intel SGX PCK Processor CA nor the Platform CA"
        )
    return _DcapKey(quote.tee, parse_pck_extensions(leaf).fmspc, ca)


def _snp_key(report: _snp.SnpReport) -> _SnpKey:
    # parse_report refuses unsigned reports and reserved signing keys: this is VCEK or VLEK.
    signer: SnpSigner = "vlek" if report.signing_key == "vlek" else "vcek"
    return _SnpKey(report.product, signer, report.chip_id, report.reported_tcb)


def _kds_product(product: str) -> str:
    # VCEKs name the stepping too ("Milan-B0"); KDS paths use the product line alone.
    name = product.split("-", 1)[0].strip().capitalize()
    if name not in _snp.PRODUCTS:
        raise UnsupportedFormat(
            f"AMD product {product!r} is not one AMD KDS serves ({', '.join(_snp.PRODUCTS)})"
        )
    return name


def _entry_name(key: _DcapKey | _SnpKey) -> tuple[str, dict[str, Any]]:
    """The cache entry's directory name and the identity it was derived from."""
    identity: dict[str, Any]
    if isinstance(key, _DcapKey):
        identity = {"kind": "dcap", "tee": key.tee, "fmspc": key.fmspc.hex(), "ca": key.ca}
    else:
        identity = {
            "kind": "snp",
            "product": None if key.product is None else _kds_product(key.product),
            "signer": key.signer,
            "chip_id": key.chip_id.hex(),
            "reported_tcb": f"{key.reported_tcb:016x}",
        }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{identity['kind']}-{digest[:32]}", identity


class _Http:
    """GET with one error policy: any failure is CollateralUnavailable naming the URL."""

    def __init__(self, client: httpx.Client | None, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    @contextmanager
    def session(self) -> Iterator[httpx.Client]:
        # A client of our own lives for one collateral set, so nothing is left open; a
        # caller's client is the caller's to configure and close.
        if self._client is not None:
            yield self._client
        else:
            with httpx.Client(timeout=self._timeout) as client:
                yield client

    @staticmethod
    def get(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
        try:
            response = client.get(url, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise CollateralUnavailable(f"GET {url} failed: {exc}", url=url) from exc
        if response.status_code != 200:
            # Intel PCS explains refusals in a header; AMD KDS has nothing comparable.
            detail = response.headers.get("Error-Message")
            raise CollateralUnavailable(
                f"GET {url} answered HTTP {response.status_code} {response.reason_phrase}"
                + (f": {detail}" if detail else ""),
                url=url,
                status=response.status_code,
            )
        return response


def _text(response: httpx.Response) -> str:
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"the response from {response.url} is not UTF-8 text") from exc


def _issuer_chain(response: httpx.Response, *names: str) -> str:
    for name in names:
        value = response.headers.get(name)
        if value is not None:
            chain = unquote(value)
            load_pem_chain(chain.encode(), f"{name} header from {response.url}")
            return chain
    raise ParseError(f"the response from {response.url} lacks the {names[0]} header")


def _crl_der(response: httpx.Response) -> bytes:
    body = response.content
    # Intel PCS and AMD KDS serve DER; a PCCS serves its root CA CRL as hex text.
    stripped = body.strip()
    if stripped and len(stripped) % 2 == 0 and set(stripped) <= _HEX_DIGITS:
        body = bytes.fromhex(stripped.decode())
    crl = load_crl(body, f"the CRL from {response.url}")
    return body if body[:1] == b"\x30" else crl.public_bytes(Encoding.DER)


class IntelPcs:
    """Intel PCS v4 (``api.trustedservices.intel.com``) or a PCCS serving the same v4 API.

    ``base_url`` is the service root; a PCCS URL ending in ``/sgx/certification/v4`` is
    accepted too. The root CA CRL comes from ``root_crl_url``: by default Intel's published
    URL for the PCS and the PCCS's own ``rootcacrl`` endpoint for anything else, so that a PCCS
    inside a closed network needs nothing from the internet. ``api_key`` is sent as
    ``Ocp-Apim-Subscription-Key`` to ``base_url`` only. ``timeout`` applies to the client this
    class creates when none is given.
    """

    def __init__(
        self,
        base_url: str = INTEL_PCS_URL,
        *,
        client: httpx.Client | None = None,
        api_key: str | None = None,
        root_crl_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        base = base_url.rstrip("/")
        for suffix in ("/sgx/certification/v4", "/tdx/certification/v4"):
            base = base.removesuffix(suffix)
        self.base_url = base
        if root_crl_url is None:
            root_crl_url = (
                INTEL_ROOT_CA_CRL_URL
                if base == INTEL_PCS_URL
                else f"{base}/sgx/certification/v4/rootcacrl"
            )
        self.root_crl_url = root_crl_url
        self._headers = {"Ocp-Apim-Subscription-Key": api_key} if api_key else {}
        self._http = _Http(client, timeout)

    def collateral_for(self, evidence: bytes) -> DcapCollateral:
        key = _identify(evidence)
        if not isinstance(key, _DcapKey):
            raise UnsupportedFormat("Intel PCS serves collateral for Intel DCAP quotes only")
        return self.dcap_collateral(tee=key.tee, fmspc=key.fmspc, ca=key.ca)

    def dcap_collateral(self, *, tee: Tee, fmspc: bytes, ca: PckCa) -> DcapCollateral:
        """TCB info and QE identity for ``tee`` and ``fmspc``, the PCK CRL of ``ca``, root CRL."""
        if tee not in ("sgx", "tdx") or ca not in ("processor", "platform") or len(fmspc) != 6:
            raise ValueError(f"invalid collateral request: tee={tee!r} ca={ca!r} fmspc={fmspc!r}")
        sgx = f"{self.base_url}/sgx/certification/v4"
        own = f"{self.base_url}/{tee}/certification/v4"
        root_headers = self._headers if self.root_crl_url.startswith(f"{self.base_url}/") else {}
        with self._http.session() as client:
            crl = self._http.get(client, f"{sgx}/pckcrl?ca={ca}&encoding=der", self._headers)
            tcb = self._http.get(client, f"{own}/tcb?fmspc={fmspc.hex().upper()}", self._headers)
            qe = self._http.get(client, f"{own}/qe/identity", self._headers)
            root = self._http.get(client, self.root_crl_url, root_headers)
        tcb_info, tcb_info_signature = split_signed_json(_text(tcb), "tcbInfo")
        qe_identity, qe_identity_signature = split_signed_json(_text(qe), "enclaveIdentity")
        return DcapCollateral(
            pck_crl_issuer_chain=_issuer_chain(crl, "SGX-PCK-CRL-Issuer-Chain"),
            root_ca_crl=_crl_der(root),
            pck_crl=_crl_der(crl),
            tcb_info_issuer_chain=_issuer_chain(
                tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"
            ),
            tcb_info=tcb_info,
            tcb_info_signature=tcb_info_signature,
            qe_identity_issuer_chain=_issuer_chain(qe, "SGX-Enclave-Identity-Issuer-Chain"),
            qe_identity=qe_identity,
            qe_identity_signature=qe_identity_signature,
        )


class AmdKds:
    """AMD's Key Distribution Service: VCEK certificates, the ASK + ARK chain and the CRL.

    ``product`` names the product line for reports that do not carry it (versions before 3
    have no CPUID fields). ``timeout`` applies to the client this class creates when none is
    given.
    """

    def __init__(
        self,
        base_url: str = AMD_KDS_URL,
        *,
        client: httpx.Client | None = None,
        product: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.product = product
        self._http = _Http(client, timeout)

    def collateral_for(self, evidence: bytes) -> SnpCollateral:
        key = _identify(evidence)
        if not isinstance(key, _SnpKey):
            raise UnsupportedFormat("AMD KDS serves collateral for SEV-SNP reports only")
        return self._for_key(key)

    def _for_key(self, key: _SnpKey) -> SnpCollateral:
        if key.signer == "vlek":
            raise _vlek_unavailable()
        product = key.product or self.product
        if product is None:
            raise CollateralUnavailable(
                "the report does not name its AMD product (reports before version 3 carry no "
                "CPUID), so the KDS URL is unknown",
                hint="Configure the product line, e.g. AmdKds(product='Milan').",
            )
        tcb = _snp.tcb_components(key.reported_tcb, _kds_product(product))
        return self.snp_collateral(product=product, signer="vcek", chip_id=key.chip_id, tcb=tcb)

    def snp_collateral(
        self, *, product: str, signer: SnpSigner, chip_id: bytes, tcb: Mapping[str, int]
    ) -> SnpCollateral:
        """The VCEK of ``chip_id`` at ``tcb``, with the ASK + ARK chain and AMD's CRL.

        ``tcb`` holds the SPLs ``bootloader``, ``tee``, ``snp``, ``microcode`` and, on Turin,
        ``fmc`` (as in the report's ``platform_claims()["reported_tcb"]``).
        """
        if signer == "vlek":
            raise _vlek_unavailable()
        name = _kds_product(product)
        # Turin KDS URLs take the 8-byte hardware id that starts the report's CHIP_ID.
        sizes = (8, 64) if name == "Turin" else (64,)
        if len(chip_id) not in sizes:
            raise ValueError(f"a {name} chip id is {' or '.join(map(str, sizes))} bytes")
        hwid = chip_id[:8] if name == "Turin" else chip_id
        if not any(hwid):
            raise CollateralUnavailable(
                "the report's chip id is masked (all zero), so its VCEK cannot be looked up",
                hint="Take the VCEK from the host's extended report and pass it as collateral.",
            )
        missing = set(_snp.tcb_components(0, name)) - set(tcb)
        if missing:
            raise ValueError(f"the {name} TCB lacks the SPLs {', '.join(sorted(missing))}")
        base = f"{self.base_url}/vcek/v1/{name}"
        with self._http.session() as client:
            path = _snp.vcek_path(name, hwid, {k: int(v) for k, v in tcb.items()})
            vek = self._http.get(client, f"{self.base_url}{path}", {})
            chain = self._http.get(client, f"{base}/cert_chain", {})
            crl = self._http.get(client, f"{base}/crl", {})
        load_der_certificate(vek.content, f"the VCEK from {vek.url}")
        load_pem_chain(chain.content, f"the certificate chain from {chain.url}")
        return SnpCollateral(vek=vek.content, chain=chain.content, crl=_crl_der(crl))


def _vlek_unavailable() -> CollateralUnavailable:
    return CollateralUnavailable(
        "AMD KDS does not publish VLEK certificates per chip",
        hint=(
            "A VLEK-signed report is verified with the VLEK the cloud provider loaded into the "
            "host, which hands it out in the extended report's certificate table. Pass it with "
            "Collateral.from_snp_certificates()."
        ),
    )


class DefaultSource:
    """Intel PCS for DCAP quotes and AMD KDS for SEV-SNP reports, chosen from the evidence."""

    def __init__(self, intel: IntelPcs | None = None, amd: AmdKds | None = None) -> None:
        self.intel = intel or IntelPcs()
        self.amd = amd or AmdKds()

    def collateral_for(self, evidence: bytes) -> Collateral:
        key = _identify(evidence)
        if isinstance(key, _DcapKey):
            return self.intel.dcap_collateral(tee=key.tee, fmspc=key.fmspc, ca=key.ca)
        return self.amd._for_key(key)


def default_cache_dir() -> Path:
    """Where collateral is cached: ``$TRUSTROOM_HOME/cache/collateral``.

    ``TRUSTROOM_HOME`` defaults to ``~/.local/share/trustroom``.
    """
    return trustroom_home() / "cache" / "collateral"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CachedSource:
    """Keeps what ``inner`` returns in ``directory`` and serves it again for ``max_age``.

    The cache key is computed from the evidence without a network call. Only successes are
    stored. A missing, unreadable or corrupt entry is a miss, fetched again and replaced; each
    file is written to a temporary name and renamed into place, and ``meta.json`` (written
    last) records the SHA-256 of every file, so a reader never takes a half-written entry. A
    cache that cannot be written is logged and otherwise ignored.
    """

    def __init__(
        self,
        inner: CollateralSource,
        directory: Path,
        *,
        max_age: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.inner = inner
        self.directory = Path(directory)
        self.max_age = max_age
        self._clock = clock

    def collateral_for(self, evidence: bytes) -> Collateral:
        name, identity = _entry_name(_identify(evidence))
        entry = self.directory / name
        cached = self._read(entry, require_aware(self._clock()))
        if cached is not None:
            return cached
        collateral = self.inner.collateral_for(evidence)
        try:
            _write_entry(entry, collateral, identity, require_aware(self._clock()))
        except OSError as exc:
            _log.warning("could not write the collateral cache entry %s: %s", entry, exc)
        return collateral

    def _read(self, entry: Path, now: datetime) -> Collateral | None:
        try:
            meta = load_object((entry / "meta.json").read_bytes(), "collateral cache metadata")
            age = now - meta.time("fetched_at")
            if not timedelta(0) <= age <= self.max_age:
                return None
            files = meta.obj("files")
            blobs: dict[str, bytes] = {}
            for role in files.value:
                info = files.obj(role)
                file_name = info.string("name")
                if Path(file_name).name != file_name:
                    return None
                data = (entry / file_name).read_bytes()
                if hashlib.sha256(data).hexdigest() != info.string("sha256"):
                    return None
                blobs[role] = data
            kind = meta.string("kind")
            if kind == "dcap":
                return DcapCollateral.from_dcap_qvl_json(blobs["collateral"])
            if kind == "snp":
                return SnpCollateral(blobs["vek"], blobs.get("chain"), blobs.get("crl"))
        except (OSError, ValueError, KeyError, EvidenceError):
            return None
        return None


def _write_entry(
    entry: Path, collateral: Collateral, identity: dict[str, Any], fetched_at: datetime
) -> None:
    blobs: dict[str, tuple[str, bytes]]
    if isinstance(collateral, DcapCollateral):
        kind = "dcap"
        blobs = {"collateral": ("collateral.json", collateral.to_dcap_qvl_json().encode())}
    elif isinstance(collateral, SnpCollateral):
        kind = "snp"
        parts = {"vek": collateral.vek, "chain": collateral.chain, "crl": collateral.crl}
        blobs = {
            role: (f"{role}{_suffix(data)}", data)
            for role, data in parts.items()
            if data is not None
        }
    else:
        return  # a collateral kind this cache has no file layout for is passed on uncached
    entry.mkdir(parents=True, exist_ok=True)
    for file_name, data in blobs.values():
        _atomic_write(entry / file_name, data)
    meta = {
        "kind": kind,
        "fetched_at": format_time(fetched_at),
        "identity": identity,
        "files": {
            role: {"name": file_name, "sha256": hashlib.sha256(data).hexdigest()}
            for role, (file_name, data) in blobs.items()
        },
    }
    _atomic_write(entry / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())


def _suffix(data: bytes) -> str:
    return ".pem" if data.lstrip().startswith(b"-----BEGIN") else ".der"


def _atomic_write(path: Path, data: bytes) -> None:
    # No fsync: after a crash a torn file fails its SHA-256 in meta.json and is fetched again.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

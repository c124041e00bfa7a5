"""The simulated TEE: SGX DCAP v3 quotes in the real layout, under a per-host simulated root.

Every code path that needs a TEE (evidence, verification, policy, key release, sealing, RA-TLS)
runs on machines without one, as Occlum's and the SGX SDK's SIM modes and Confidential
Containers' "sample" TEE let developers do. Unlike those, the simulated platform produces real
evidence: an SGX DCAP v3 quote signed through a PKI shaped like Intel's (root CA, PCK CA, PCK
certificate with Intel's SGX extension, TCB signing certificate) and the collateral for it (TCB
info, QE identity, CRLs), so ``trustroom.evidence`` verifies it with the very same code as
hardware quotes. Only the trust anchor differs: a root whose name says it is simulated, which
verifiers accept only when asked (``Verifier(trust_sim=True)``) and then report ``tee: "sim"``.

It protects nothing. Its keys, including the platform secret that sealing keys derive from, sit
in files under ``$TRUSTROOM_HOME/sim/`` readable by whoever runs the simulator; the host sees
all memory. Use it to develop and test, never to hold real secrets.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from trustroom._core.files import create_exclusively, write_atomically
from trustroom._core.paths import trustroom_home
from trustroom._core.timeutil import format_time
from trustroom.evidence import DcapCollateral, EvidenceError, _der
from trustroom.evidence._dcap_quote import INTEL_QE_VENDOR_ID, pack_enclave_report
from trustroom.evidence._sim import SIM_ORGANIZATION, SIM_ROOT_COMMON_NAME
from trustroom.tee._attester import REPORT_DATA_SIZE, SealPolicy
from trustroom.tee._errors import InvalidReportData, SealPolicyDenied, TeeUnavailable

__all__ = ["SimAttester", "SimPlatform", "SimWorkload", "sim_collateral"]

# The simulated platform's fixed identity. Values are plausible for an SGX server, and the
# FMSPC spells "SIM" so that nobody mistakes it for a real platform's.
_FMSPC = b"SIM\x00\x00\x00"
_PCE_ID = b"\x00\x00"
_COMPONENTS = (7, 7, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0)
_PCE_SVN = 13
_QE_SVN = 8
_QE_PROD_ID = 1
_QE_MRSIGNER = hashlib.sha256(b"trustroom simulated quoting enclave").digest()
_QE_MRENCLAVE = hashlib.sha256(b"trustroom simulated quoting enclave, version 1").digest()
_QE_ATTRIBUTES = bytes.fromhex("11000000000000000000000000000000")
_QE_ATTRIBUTES_MASK = bytes.fromhex("fbffffffffffffff0000000000000000")
_QE_AUTH_DATA = bytes(range(32))
_SGX_EXTENSION = "1.2.840.113741.1.13.1"
_COLLATERAL_LIFETIME = timedelta(days=30)
_SEAL_SALT = b"trustroom simulated TEE sealing key v1"
# SGX ATTRIBUTES.FLAGS: INIT and MODE64BIT, plus DEBUG for debug workloads; XFRM: x87, SSE, AVX.
_FLAG_INIT, _FLAG_DEBUG, _FLAG_MODE64 = 0x01, 0x02, 0x04
_XFRM = 0x07
_KEYS = ("root", "pck_ca", "pck", "tcb_signing", "attestation")


@dataclass(frozen=True)
class SimWorkload:
    """The identity of the code a simulated enclave runs: what hardware would measure.

    Callers declare it: the enclave runner passes the measurement of its manifest, tests pass
    whatever they compare against. ``measure`` hashes files the way an enclave's trusted files
    are measured.
    """

    mrenclave: bytes
    mrsigner: bytes
    isv_prod_id: int = 0
    isv_svn: int = 0
    debug: bool = False

    def __post_init__(self) -> None:
        if len(self.mrenclave) != 32 or len(self.mrsigner) != 32:
            raise ValueError("MRENCLAVE and MRSIGNER are 32 bytes each")
        if not (0 <= self.isv_prod_id < 1 << 16 and 0 <= self.isv_svn < 1 << 16):
            raise ValueError("ISV product id and SVN are 16-bit numbers")

    @classmethod
    def measure(
        cls,
        path: Path,
        *,
        signer: str = "unsigned",
        isv_prod_id: int = 0,
        isv_svn: int = 0,
        debug: bool = False,
    ) -> SimWorkload:
        """MRENCLAVE over the files at ``path`` (names and contents), MRSIGNER over ``signer``."""
        digest = hashlib.sha256(b"trustroom sim workload v1\0")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            name = file.relative_to(path).as_posix() if path.is_dir() else file.name
            digest.update(name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
        mrsigner = hashlib.sha256(b"trustroom sim signer v1\0" + signer.encode()).digest()
        return cls(digest.digest(), mrsigner, isv_prod_id, isv_svn, debug)


def _name(common_name: str, platform_id: str) -> x509.Name:
    # The platform id makes every host's names distinct, so that evidence of one simulated
    # platform checked against another's collateral reads as the wrong root it is.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIM_ORGANIZATION),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, platform_id),
        ]
    )


def _raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]


def _sgx_extension(ppid: bytes) -> x509.UnrecognizedExtension:
    """Intel's SGX extension (PCK certificate profile) for the simulated platform."""

    def pair(suffix: str, value: bytes) -> bytes:
        oid = _der.encode(_der.OID, _der.encode_oid(f"{_SGX_EXTENSION}.{suffix}"))
        return _der.encode_sequence(oid, value)

    tcb = [pair(f"2.{i}", _der.encode_int(svn)) for i, svn in enumerate(_COMPONENTS, 1)]
    tcb += [
        pair("2.17", _der.encode_int(_PCE_SVN)),
        pair("2.18", _der.encode(_der.OCTET_STRING, bytes(_COMPONENTS))),
    ]
    value = _der.encode_sequence(
        pair("1", _der.encode(_der.OCTET_STRING, ppid)),
        pair("2", _der.encode_sequence(*tcb)),
        pair("3", _der.encode(_der.OCTET_STRING, _PCE_ID)),
        pair("4", _der.encode(_der.OCTET_STRING, _FMSPC)),
        pair("5", _der.encode_int(0, _der.ENUMERATED)),
    )
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(_SGX_EXTENSION), value)


class SimPlatform:
    """One host's simulated SGX platform, kept under ``directory`` (created on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        state = self._load_or_create()
        self._keys = {
            name: serialization.load_pem_private_key(state[f"{name}_key"].encode(), None)
            for name in _KEYS
        }
        self.root, self.pck_ca, self.pck, self.tcb_signing = (
            x509.load_pem_x509_certificate(state[f"{name}_cert"].encode())
            for name in ("root", "pck_ca", "pck", "tcb_signing")
        )
        self._secret = bytes.fromhex(state["platform_secret"])
        if not (directory / "collateral.json").exists():
            self.collateral()  # published at once, for verifiers on this host to find

    @classmethod
    def default(cls) -> SimPlatform:
        """This host's simulated platform, in ``$TRUSTROOM_HOME/sim``."""
        return cls(trustroom_home() / "sim")

    def _key(self, name: str) -> ec.EllipticCurvePrivateKey:
        key = self._keys[name]
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    # -- state --------------------------------------------------------------------------

    def _load_or_create(self) -> dict[str, str]:
        path = self.directory / "platform.json"
        try:
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                create_exclusively(path, _new_platform(), mode=0o600)
            state: dict[str, str] = json.loads(path.read_text())
            root = self.directory / "root.pem"
            if not root.exists():
                create_exclusively(root, state["root_cert"].encode(), mode=0o644)
            return state
        except (OSError, ValueError, KeyError) as exc:
            raise TeeUnavailable(
                f"the simulated platform in {self.directory} cannot be read or created: {exc}",
                hint="Check the permissions of $TRUSTROOM_HOME, or remove its sim/ directory "
                "to start a new simulated platform (sealed data of the old one is then lost).",
            ) from exc

    # -- collateral ---------------------------------------------------------------------

    def collateral(self, at: datetime | None = None) -> DcapCollateral:
        """TCB info, QE identity and CRLs for this platform, valid at ``at`` (default now).

        They are re-issued, and kept in ``collateral.json``, whenever the stored ones would
        not be valid at ``at``, as Intel re-issues its collateral every month.
        """
        when = at or datetime.now(UTC)
        path = self.directory / "collateral.json"
        stored = _published_collateral(path, when)
        if stored is not None:
            return stored
        fresh = self._issue_collateral(when)
        write_atomically(path, fresh.to_dcap_qvl_json().encode(), mode=0o644)
        return fresh

    def _issue_collateral(self, at: datetime) -> DcapCollateral:
        issued, until = at - timedelta(hours=1), at + _COLLATERAL_LIFETIME
        dates = {"issueDate": format_time(issued), "nextUpdate": format_time(until)}
        level_date = format_time(self.root.not_valid_before_utc)
        tcb_info = _json({
            "id": "SGX", "version": 3, **dates, "fmspc": _FMSPC.hex().upper(),
            "pceId": _PCE_ID.hex().upper(), "tcbType": 0, "tcbEvaluationDataNumber": 1,
            "tcbLevels": [{
                "tcb": {"sgxtcbcomponents": [{"svn": svn} for svn in _COMPONENTS],
                        "pcesvn": _PCE_SVN},
                "tcbDate": level_date, "tcbStatus": "UpToDate",
            }],
        })  # fmt: skip
        qe_identity = _json({
            "id": "QE", "version": 2, **dates, "tcbEvaluationDataNumber": 1,
            "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
            "attributes": _QE_ATTRIBUTES.hex().upper(),
            "attributesMask": _QE_ATTRIBUTES_MASK.hex().upper(),
            "mrsigner": _QE_MRSIGNER.hex().upper(), "isvprodid": _QE_PROD_ID,
            "tcbLevels": [{"tcb": {"isvsvn": _QE_SVN}, "tcbDate": level_date,
                           "tcbStatus": "UpToDate"}],
        })  # fmt: skip
        pem = serialization.Encoding.PEM
        root_pem = self.root.public_bytes(pem).decode()
        signer_chain = self.tcb_signing.public_bytes(pem).decode() + root_pem
        return DcapCollateral(
            pck_crl_issuer_chain=self.pck_ca.public_bytes(pem).decode() + root_pem,
            root_ca_crl=self._crl(self.root, "root", issued, until),
            pck_crl=self._crl(self.pck_ca, "pck_ca", issued, until),
            tcb_info_issuer_chain=signer_chain,
            tcb_info=tcb_info,
            tcb_info_signature=_raw_signature(self._key("tcb_signing"), tcb_info.encode()),
            qe_identity_issuer_chain=signer_chain,
            qe_identity=qe_identity,
            qe_identity_signature=_raw_signature(self._key("tcb_signing"), qe_identity.encode()),
        )

    def _crl(self, issuer: x509.Certificate, key: str, issued: datetime, until: datetime) -> bytes:
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(issued)
            .next_update(until)
            .sign(self._key(key), hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER)

    # -- quotes -------------------------------------------------------------------------

    @cached_property
    def _qe_certification(self) -> bytes:
        """What the simulated quoting enclave appends to every quote: its signed report."""
        attestation_key = _raw_point(self._key("attestation"))
        bound = hashlib.sha256(attestation_key + _QE_AUTH_DATA).digest() + bytes(32)
        qe_report = pack_enclave_report(
            cpusvn=bytes(_COMPONENTS), attributes=_QE_ATTRIBUTES, mrenclave=_QE_MRENCLAVE,
            mrsigner=_QE_MRSIGNER, isv_prod_id=_QE_PROD_ID, isv_svn=_QE_SVN, report_data=bound,
        )  # fmt: skip
        pem = serialization.Encoding.PEM
        chain = b"".join(c.public_bytes(pem) for c in (self.pck, self.pck_ca, self.root)) + b"\0"
        return (
            attestation_key
            + qe_report
            + _raw_signature(self._key("pck"), qe_report)
            + struct.pack("<H", len(_QE_AUTH_DATA))
            + _QE_AUTH_DATA
            + struct.pack("<HI", 5, len(chain))
            + chain
        )

    def quote(self, workload: SimWorkload, report_data: bytes) -> bytes:
        """An SGX DCAP v3 quote of ``workload`` binding ``report_data``."""
        if len(report_data) != REPORT_DATA_SIZE:
            raise InvalidReportData(f"report data is {len(report_data)} bytes, not 64")
        qe_id = hashlib.sha256(b"qe-id" + self._secret).digest()[:16]
        header = struct.pack("<HHIHH", 3, 2, 0, _QE_SVN, _PCE_SVN) + INTEL_QE_VENDOR_ID
        header += qe_id + bytes(4)
        flags = _FLAG_INIT | _FLAG_MODE64 | (_FLAG_DEBUG if workload.debug else 0)
        body = pack_enclave_report(
            cpusvn=bytes(_COMPONENTS), attributes=struct.pack("<QQ", flags, _XFRM),
            mrenclave=workload.mrenclave, mrsigner=workload.mrsigner,
            isv_prod_id=workload.isv_prod_id, isv_svn=workload.isv_svn, report_data=report_data,
        )  # fmt: skip
        signed = header + body
        signature_data = _raw_signature(self._key("attestation"), signed) + self._qe_certification
        return signed + struct.pack("<I", len(signature_data)) + signature_data

    # -- sealing ------------------------------------------------------------------------

    def seal_key(
        self, workload: SimWorkload, policy: SealPolicy, label: bytes, svn: int | None
    ) -> bytes:
        """A key derived from the platform secret and the policy's part of the identity."""
        if policy is SealPolicy.MEASUREMENT:
            if svn not in (None, workload.isv_svn):
                raise SealPolicyDenied("an older SVN applies to the signer policy only")
            identity = b"measurement\0" + workload.mrenclave
        else:
            svn = workload.isv_svn if svn is None else svn
            if not 0 <= svn <= workload.isv_svn:
                raise SealPolicyDenied(
                    f"ISVSVN {workload.isv_svn} cannot derive keys of the newer ISVSVN {svn}"
                )
            identity = (
                b"signer\0" + workload.mrsigner + struct.pack("<HH", workload.isv_prod_id, svn)
            )
        # Like SGX's EGETKEY, the debug attribute is part of every key: a debug enclave (whose
        # memory the host reads) never derives a production enclave's keys.
        identity += b"\1" if workload.debug else b"\0"
        info = identity + b"\0" + label
        return HKDF(hashes.SHA256(), 32, _SEAL_SALT, info).derive(self._secret)


class SimAttester:
    """The simulated TEE, as a workload sees it: implements :class:`~trustroom.tee.Attester`."""

    tee = "sim"

    def __init__(self, workload: SimWorkload, platform: SimPlatform | None = None) -> None:
        self.workload = workload
        self.platform = platform or SimPlatform.default()

    def evidence(self, report_data: bytes) -> bytes:
        return self.platform.quote(self.workload, report_data)

    def measurements(self) -> dict[str, str]:
        return {
            "mrenclave": self.workload.mrenclave.hex(),
            "mrsigner": self.workload.mrsigner.hex(),
        }

    @property
    def security_version(self) -> int:
        return self.workload.isv_svn

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        return self.platform.seal_key(self.workload, SealPolicy(policy), label, svn)


def sim_collateral(at: datetime | None = None) -> DcapCollateral:
    """This host's simulated platform collateral (see :meth:`SimPlatform.collateral`).

    Verifiers call this per connection: the published file is parsed once per version of it
    (a broker attests every client against it), and the platform (its keys) loaded only when
    the collateral must be issued anew.
    """
    when = at or datetime.now(UTC)
    published = _published_collateral(trustroom_home() / "sim" / "collateral.json", when)
    return published or SimPlatform.default().collateral(when)


_parsed: dict[Path, tuple[tuple[int, int, int], DcapCollateral]] = {}


def _published_collateral(path: Path, at: datetime) -> DcapCollateral | None:
    """The collateral in ``path`` if it is valid at ``at``; None if it is stale, absent or
    damaged. Parsed again only when the file changed (it is replaced atomically, so a new
    inode, size or time marks a new version)."""
    try:
        status = path.stat()
        version = (status.st_ino, status.st_size, status.st_mtime_ns)
        cached = _parsed.get(path)
        if cached is None or cached[0] != version:
            cached = (version, DcapCollateral.from_dcap_qvl_json(path.read_bytes()))
            _parsed[path] = cached
        issued, until = _window(cached[1])
    except (OSError, EvidenceError, ValueError, KeyError, TypeError):
        return None
    return cached[1] if issued <= at <= until else None


def _new_platform() -> bytes:
    """A new simulated PKI (keys, certificates) and platform secret, as JSON."""
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in _KEYS}
    start = datetime.now(UTC) - timedelta(days=1)
    platform_id = secrets.token_hex(8)

    def issue(
        subject: str, key: str, issuer: x509.Certificate | None, signer: str
    ) -> x509.Certificate:
        ca = key in ("root", "pck_ca")
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject, platform_id))
            .issuer_name(issuer.subject if issuer else _name(subject, platform_id))
            .public_key(keys[key].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650 if ca else 1825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if key == "pck":
            builder = builder.add_extension(_sgx_extension(secrets.token_bytes(16)), False)
        return builder.sign(keys[signer], hashes.SHA256())

    root = issue(SIM_ROOT_COMMON_NAME, "root", None, "root")
    certs = {
        "root": root,
        "pck_ca": (pck_ca := issue("trustroom SIM SGX PCK Processor CA", "pck_ca", root, "root")),
        "pck": issue("trustroom SIM SGX PCK Certificate", "pck", pck_ca, "pck_ca"),
        "tcb_signing": issue("trustroom SIM SGX TCB Signing", "tcb_signing", root, "root"),
    }
    pem = serialization.Encoding.PEM
    state = {
        f"{name}_key": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        for name, key in keys.items()
    }
    state.update({f"{name}_cert": cert.public_bytes(pem).decode() for name, cert in certs.items()})
    state["platform_secret"] = secrets.token_hex(32)
    return json.dumps(state, indent=1).encode()


def _json(document: object) -> str:
    # Compact, as Intel PCS serves its documents; signatures cover this exact text.
    return json.dumps(document, separators=(",", ":"))


def _window(collateral: DcapCollateral) -> tuple[datetime, datetime]:
    tcb = json.loads(collateral.tcb_info)
    return (
        datetime.fromisoformat(tcb["issueDate"]),
        datetime.fromisoformat(tcb["nextUpdate"]),
    )

"""The hardware TEE backends (Gramine SGX, configfs-tsm, guest ioctls) and their detection.

No TEE hardware here: each backend runs against a fake of its kernel or LibOS interface,
filled with real recorded evidence (vectors/intel, vectors/amd). The fakes are plain files, so
they cannot generate evidence over the report data written: tests check that the data was
written and that what the interface returned is passed on, and write the report data the
recorded evidence carries where a backend checks the binding.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from vector_loader import ROOT

from trustroom.evidence import Verifier, parse
from trustroom.tee import InvalidReportData, SealPolicy, SealPolicyDenied, TeeUnavailable, _tsm
from trustroom.tee._detect import describe, detect_hardware
from trustroom.tee._gramine import GramineSgxAttester
from trustroom.tee._ioctl import (
    SNP_GET_DERIVED_KEY,
    SNP_GET_REPORT,
    TDX_CMD_GET_REPORT0,
    SevGuestAttester,
    SevGuestDevice,
    TdxGuestAttester,
    TdxGuestDevice,
    tdreport_measurements,
)
from trustroom.tee._seal import seal, unseal
from trustroom.tee._tsm import (
    SNP_CERT_GUIDS,
    TsmAttester,
    configfs_entry,
    parse_cert_table,
    snp_collateral,
)

SGX_QUOTE = (ROOT / "intel" / "sgx_v3_dcapqvl.quote").read_bytes()
TDX_QUOTE = (ROOT / "intel" / "tdx_v4_dcapqvl.quote").read_bytes()
SNP_V2 = (ROOT / "amd" / "snp_v2_milan_gosev.report.bin").read_bytes()
SNP_V2_VCEK = (ROOT / "amd" / "snp_v2_milan_gosev.vcek.der").read_bytes()
SNP_V3 = (ROOT / "amd" / "snp_v3_milan_vlek_trustee.report.bin").read_bytes()
MILAN_ASK_ARK = (ROOT / "amd" / "milan_ask_ark.pem").read_bytes()
SNP_V2_INSIDE = datetime(2024, 1, 1, tzinfo=UTC)

SGX_DATA = parse(SGX_QUOTE).report_data
TDX_DATA = parse(TDX_QUOTE).report_data
SNP_V2_DATA = parse(SNP_V2).report_data
GUID = {name: guid for guid, name in SNP_CERT_GUIDS.items()}


def expected_key(root_key: bytes, backend: str, policy: str, label: bytes) -> bytes:
    """The sealing-key derivation, spelled out: sealed data outlives trustroom versions."""
    salt = b"trustroom hardware sealing key v1\0" + backend.encode() + b"\0" + policy.encode()
    return HKDF(hashes.SHA256(), 32, salt, label).derive(root_key)


# --- Gramine ------------------------------------------------------------------------------


def gramine_tree(tmp_path: Path, *, attestation_type: str = "dcap") -> Path:
    """A fake /dev/attestation: a recorded quote, the REPORT it was made from, seal keys."""
    root = tmp_path / "attestation"
    (root / "keys").mkdir(parents=True)
    (root / "attestation_type").write_text(attestation_type)
    (root / "user_report_data").write_bytes(bytes(64))
    (root / "quote").write_bytes(SGX_QUOTE)
    # An SGX quote's body is the enclave's REPORT body; KEYID and MAC follow it in a REPORT.
    (root / "report").write_bytes(SGX_QUOTE[48 : 48 + 384] + bytes(48))
    (root / "keys" / "_sgx_mrenclave").write_bytes(b"E" * 16)
    (root / "keys" / "_sgx_mrsigner").write_bytes(b"S" * 16)
    return root


def test_gramine_writes_report_data_and_returns_the_quote(tmp_path: Path) -> None:
    root = gramine_tree(tmp_path)
    attester = GramineSgxAttester(root)
    assert attester.tee == "sgx"
    assert attester.evidence(SGX_DATA) == SGX_QUOTE
    assert (root / "user_report_data").read_bytes() == SGX_DATA


def test_gramine_rejects_a_quote_for_other_report_data(tmp_path: Path) -> None:
    attester = GramineSgxAttester(gramine_tree(tmp_path))
    with pytest.raises(TeeUnavailable, match="other report data"):
        attester.evidence(b"\x01" * 64)


def test_gramine_measurements_are_the_quotes(tmp_path: Path) -> None:
    attester = GramineSgxAttester(gramine_tree(tmp_path))
    expected = parse(SGX_QUOTE).measurements()
    assert attester.measurements() == expected
    assert attester.measurements()["mrenclave"].startswith("33d8736d")
    assert attester.security_version == parse(SGX_QUOTE).attribute_claims()["isv_svn"] == 0


@pytest.mark.parametrize(("kind", "message"), [("none", "cannot produce quotes"), ("epid", "EPID")])
def test_gramine_without_dcap_has_no_evidence(tmp_path: Path, kind: str, message: str) -> None:
    root = gramine_tree(tmp_path, attestation_type=kind)
    attester = GramineSgxAttester(root)
    with pytest.raises(TeeUnavailable, match=message) as caught:
        attester.evidence(SGX_DATA)
    assert "dcap" in caught.value.hint
    # No DCAP needed for these: they come from the local REPORT and EGETKEY.
    assert attester.measurements()["mrsigner"] == parse(SGX_QUOTE).measurements()["mrsigner"]
    assert len(attester.seal_key(SealPolicy.MEASUREMENT, b"x")) == 32


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("quote", None, "cannot read Gramine's quote"),
        ("quote", b"\x00" * 100, "not sgx evidence"),
        ("quote", TDX_QUOTE, "tdx evidence where sgx"),
        ("attestation_type", None, "attestation type"),
    ],
)
def test_gramine_broken_files_are_tee_unavailable(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    root = gramine_tree(tmp_path)
    if content is None:
        (root / name).unlink()
    else:
        (root / name).write_bytes(content)
    with pytest.raises(TeeUnavailable, match=message):
        GramineSgxAttester(root).evidence(SGX_DATA)


@pytest.mark.parametrize("content", [None, b"short"])
def test_gramine_broken_report_is_tee_unavailable(tmp_path: Path, content: bytes | None) -> None:
    root = gramine_tree(tmp_path)
    if content is None:
        (root / "report").unlink()
    else:
        (root / "report").write_bytes(content)
    with pytest.raises(TeeUnavailable):
        GramineSgxAttester(root).measurements()


@pytest.mark.parametrize("data", [b"", bytes(63), bytes(65), "x" * 64])
def test_report_data_must_be_64_bytes(tmp_path: Path, data: bytes) -> None:
    root = gramine_tree(tmp_path)
    with pytest.raises(InvalidReportData):
        GramineSgxAttester(root).evidence(data)
    assert (root / "user_report_data").read_bytes() == bytes(64)  # nothing written


def test_gramine_seal_keys(tmp_path: Path) -> None:
    root = gramine_tree(tmp_path)
    attester = GramineSgxAttester(root)
    key = attester.seal_key(SealPolicy.MEASUREMENT, b"db")
    assert key == expected_key(b"E" * 16, "gramine-sgx", "measurement", b"db")
    signer = attester.seal_key(SealPolicy.SIGNER, b"db")
    assert signer == expected_key(b"S" * 16, "gramine-sgx", "signer", b"db")
    assert attester.seal_key(SealPolicy.MEASUREMENT, b"other") != key
    assert attester.seal_key(SealPolicy.SIGNER, b"db", svn=0) == signer
    assert unseal(attester, seal(attester, b"secret", policy=SealPolicy.SIGNER)) == b"secret"


def test_gramine_cannot_derive_other_svns(tmp_path: Path) -> None:
    root = gramine_tree(tmp_path)
    report = bytearray((root / "report").read_bytes())
    report[258:260] = struct.pack("<H", 3)  # ISVSVN 3
    (root / "report").write_bytes(bytes(report))
    attester = GramineSgxAttester(root)
    assert attester.security_version == 3
    with pytest.raises(SealPolicyDenied, match="own ISVSVN 3 only") as caught:
        attester.seal_key(SealPolicy.SIGNER, b"db", svn=2)
    assert "older ISVSVNs" in caught.value.hint
    with pytest.raises(SealPolicyDenied, match="newer"):
        attester.seal_key(SealPolicy.SIGNER, b"db", svn=4)
    with pytest.raises(SealPolicyDenied, match="SIGNER only"):
        attester.seal_key(SealPolicy.MEASUREMENT, b"db", svn=2)


@pytest.mark.parametrize("content", [None, b"E" * 15])
def test_gramine_broken_seal_key_is_tee_unavailable(tmp_path: Path, content: bytes | None) -> None:
    root = gramine_tree(tmp_path)
    path = root / "keys" / "_sgx_mrenclave"
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    with pytest.raises(TeeUnavailable):
        GramineSgxAttester(root).seal_key(SealPolicy.MEASUREMENT, b"db")


# --- SEV-SNP guest requests ---------------------------------------------------------------


class FakeSevGuest:
    """The AMD Secure Processor behind /dev/sev-guest: answers with a recorded report, and
    with keys that depend on the whole request, as the firmware's derivation does."""

    def __init__(self, report: bytes, *, status: int = 0) -> None:
        self.report = report
        self.status = status
        self.requests: list[tuple[int, bytes]] = []

    def __call__(self, command: int, request: bytes, response_size: int) -> bytes:
        self.requests.append((command, request))
        if command == SNP_GET_REPORT:
            response = struct.pack("<II24x", self.status, len(self.report)) + self.report
        else:
            assert command == SNP_GET_DERIVED_KEY
            response = struct.pack("<I28x", self.status) + hashlib.sha256(request).digest()
        return response.ljust(response_size, b"\0")

    def key_requests(self) -> list[tuple[int, int, int, int, int, int]]:
        return [
            struct.unpack("<IIQIIQ", request)
            for command, request in self.requests
            if command == SNP_GET_DERIVED_KEY
        ]


def test_ioctl_numbers_match_the_kernel_headers() -> None:
    assert SNP_GET_REPORT == 0xC0205300
    assert SNP_GET_DERIVED_KEY == 0xC0205301
    assert TDX_CMD_GET_REPORT0 == 0xC4405401


def test_sev_guest_report_request() -> None:
    fake = FakeSevGuest(SNP_V2)
    attester = SevGuestAttester(vmpl=0, request=fake)
    assert attester.evidence(SNP_V2_DATA) == SNP_V2
    command, request = fake.requests[0]
    assert command == SNP_GET_REPORT and len(request) == 96
    assert request[:64] == SNP_V2_DATA and request[64:68] == b"\0\0\0\0" and not any(request[68:])
    assert attester.measurements() == parse(SNP_V2).measurements()
    with pytest.raises(TeeUnavailable, match="other report data"):
        attester.evidence(bytes(64))


def test_sev_guest_seal_key_fields() -> None:
    fake = FakeSevGuest(SNP_V3)  # VMPL 1, guest SVN 0
    attester = SevGuestAttester(vmpl=1, request=fake)
    measurement = attester.seal_key(SealPolicy.MEASUREMENT, b"db")
    signer = attester.seal_key(SealPolicy.SIGNER, b"db")
    (root, _, m_fields, m_vmpl, _, tcb), (_, _, s_fields, s_vmpl, s_svn, _) = fake.key_requests()
    assert root == 0 and tcb == 0  # the chip's VCEK, no TCB mixed in
    assert m_fields == 0b01001  # measurement, guest policy
    assert s_fields == 0b10111  # guest SVN, family id, image id, guest policy
    assert m_vmpl == s_vmpl == 1 and s_svn == 0
    assert len(measurement) == len(signer) == 32 and measurement != signer
    assert attester.seal_key(SealPolicy.MEASUREMENT, b"other") != measurement
    assert unseal(attester, seal(attester, b"secret")) == b"secret"
    with pytest.raises(SealPolicyDenied):
        attester.seal_key(SealPolicy.SIGNER, b"db", svn=1)


def test_sev_guest_firmware_errors() -> None:
    with pytest.raises(TeeUnavailable, match="status 0x16"):
        SevGuestAttester(request=FakeSevGuest(SNP_V2, status=0x16)).evidence(SNP_V2_DATA)
    with pytest.raises(TeeUnavailable, match="announces"):
        SevGuestAttester(request=FakeSevGuest(SNP_V2[:100])).evidence(SNP_V2_DATA)
    with pytest.raises(TeeUnavailable, match="VMPL 4"):
        SevGuestAttester(vmpl=4, request=FakeSevGuest(SNP_V2))


def test_devices_turn_os_errors_into_tee_unavailable(tmp_path: Path) -> None:
    with pytest.raises(TeeUnavailable, match="cannot open"):
        SevGuestDevice(tmp_path / "sev-guest")(SNP_GET_REPORT, bytes(96), 4000)
    # A regular file takes no ioctls (ENOTTY): the real ioctl path runs up to the kernel.
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with pytest.raises(TeeUnavailable, match="refused the SEV-SNP guest request"):
        SevGuestDevice(plain)(SNP_GET_REPORT, bytes(96), 4000)
    with pytest.raises(TeeUnavailable, match="refused TDX_CMD_GET_REPORT0"):
        TdxGuestDevice(plain)(bytes(64))


# --- TDX ioctl ----------------------------------------------------------------------------


def tdreport_from_quote(quote: bytes) -> bytes:
    """The TDREPORT a TD 1.0 quote body was made from (TDX module ABI, TDREPORT_STRUCT)."""
    body = quote[48 : 48 + 584]
    report = bytearray(1024)
    report[0] = 0x81  # REPORTTYPE.TYPE: TDX
    report[0x80:0xC0] = body[520:584]  # REPORTMACSTRUCT.REPORTDATA
    report[0x108:0x180] = body[0:120]  # TEE_TCB_INFO: TEE_TCB_SVN .. ATTRIBUTES
    report[0x200:0x390] = body[120:520]  # TDINFO: ATTRIBUTES .. RTMR3
    return bytes(report)


def test_tdx_guest_measurements_from_tdreport() -> None:
    tdreport = tdreport_from_quote(TDX_QUOTE)
    expected = parse(TDX_QUOTE).measurements()
    assert tdreport[528:576].hex() == expected["mrtd"]  # TDINFO.MRTD at 0x210
    assert tdreport[720:768].hex() == expected["rtmr0"]  # TDINFO.RTMR[0] at 0x2D0
    asked: list[bytes] = []
    attester = TdxGuestAttester(get_report=lambda data: asked.append(data) or tdreport)
    assert attester.tee == "tdx" and attester.security_version == 0
    assert attester.measurements() == expected
    assert asked == [bytes(64)]


def test_tdx_guest_has_no_evidence_and_no_seal_key() -> None:
    attester = TdxGuestAttester(get_report=lambda data: tdreport_from_quote(TDX_QUOTE))
    with pytest.raises(TeeUnavailable, match="Quote Generation Service") as caught:
        attester.evidence(bytes(64))
    assert "configfs-tsm" in caught.value.hint
    with pytest.raises(InvalidReportData):
        attester.evidence(bytes(10))
    with pytest.raises(TeeUnavailable, match="no sealing key") as caught:
        attester.seal_key(SealPolicy.MEASUREMENT, b"db")
    assert "KBS" in caught.value.hint
    with pytest.raises(TeeUnavailable, match="not a TDREPORT"):
        tdreport_measurements(bytes(1024))


# --- configfs-tsm -------------------------------------------------------------------------


class FakeConfigfs:
    """configfs-tsm as a guest kernel presents it: creating an entry fills it with attributes
    (a recorded outblob), removing it drops them. It records what was written to each entry."""

    def __init__(self, provider: str, outblob: bytes, auxblob: bytes = b"") -> None:
        self.files = {
            "provider": f"{provider}\n".encode(),
            "generation": b"1\n",
            "outblob": outblob,
            "auxblob": auxblob,
        }
        self.created: list[Path] = []
        self.written: list[dict[str, bytes]] = []

    @contextmanager
    def entry(self, root: Path) -> Iterator[Path]:
        path = root / f"entry{len(self.created)}"
        path.mkdir()
        self.created.append(path)
        for name, value in self.files.items():
            (path / name).write_bytes(value)
        try:
            yield path
        finally:
            written = {"inblob", "privlevel"}
            self.written.append(
                {p.name: p.read_bytes() for p in path.iterdir() if p.name in written}
            )
            shutil.rmtree(path)


def tsm(
    tmp_path: Path,
    fake: FakeConfigfs,
    *,
    vmpl: int | None = None,
    guest_request: FakeSevGuest | None = None,
) -> TsmAttester:
    root = tmp_path / "tsm" / "report"
    root.mkdir(parents=True)
    return TsmAttester(root, vmpl=vmpl, guest_request=guest_request, entry=fake.entry)


def test_tsm_tdx_evidence(tmp_path: Path) -> None:
    fake = FakeConfigfs("tdx_guest", TDX_QUOTE)
    attester = tsm(tmp_path, fake)
    assert attester.tee == "tdx" and attester.provider == "tdx_guest"
    assert attester.evidence(TDX_DATA) == TDX_QUOTE
    assert fake.written[-1] == {"inblob": TDX_DATA}
    assert attester.measurements() == parse(TDX_QUOTE).measurements()
    assert attester.security_version == 0
    assert list(attester.root.iterdir()) == []  # every entry removed
    with pytest.raises(TeeUnavailable, match="no sealing key"):
        attester.seal_key(SealPolicy.MEASUREMENT, b"db")
    with pytest.raises(TeeUnavailable, match="only SEV-SNP"):
        attester.evidence_with_certificates(TDX_DATA)


def test_tsm_snp_evidence_privlevel_and_seal_key(tmp_path: Path) -> None:
    fake = FakeConfigfs("sev_guest", SNP_V2)
    guest = FakeSevGuest(SNP_V2)
    attester = tsm(tmp_path, fake, vmpl=2, guest_request=guest)
    assert attester.tee == "snp"
    assert attester.evidence(SNP_V2_DATA) == SNP_V2
    assert fake.written[-1] == {"inblob": SNP_V2_DATA, "privlevel": b"2\n"}
    key = attester.seal_key(SealPolicy.MEASUREMENT, b"db")
    assert len(key) == 32
    assert [r[2] for r in guest.key_requests()] == [0b01001]
    assert attester.security_version == 0


def test_tsm_vmpl_is_for_snp_only(tmp_path: Path) -> None:
    attester = tsm(tmp_path, FakeConfigfs("tdx_guest", TDX_QUOTE), vmpl=0)
    with pytest.raises(TeeUnavailable, match="SEV-SNP only"):
        attester.evidence(TDX_DATA)
    with pytest.raises(TeeUnavailable, match="VMPL 7"):
        TsmAttester(tmp_path, vmpl=7)


def test_tsm_generation_race_retries_in_a_fresh_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeConfigfs("tdx_guest", TDX_QUOTE)
    attester = tsm(tmp_path, fake)
    assert attester.tee == "tdx"  # entry0: the provider probe
    reads: Counter[Path] = Counter()
    real = _tsm.read_file

    def racing(path: Path, what: str, **kwargs: str | None) -> bytes:
        # Another writer touches entry1 between trustroom's write and its read of outblob.
        if path.name == "generation":
            reads[path] += 1
            if path.parent.name == "entry1" and reads[path] == 2:
                return b"2\n"
        return real(path, what, **kwargs)

    monkeypatch.setattr(_tsm, "read_file", racing)
    assert attester.evidence(TDX_DATA) == TDX_QUOTE
    assert [p.name for p in fake.created] == ["entry0", "entry1", "entry2"]
    assert [w.get("inblob") for w in fake.written] == [None, TDX_DATA, TDX_DATA]
    assert list(attester.root.iterdir()) == []


def test_tsm_gives_up_after_three_races(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConfigfs("tdx_guest", TDX_QUOTE)
    attester = tsm(tmp_path, fake)
    assert attester.tee == "tdx"
    counter = iter(range(100))
    real = _tsm.read_file

    def always_racing(path: Path, what: str, **kwargs: str | None) -> bytes:
        if path.name == "generation":
            return str(next(counter)).encode()
        return real(path, what, **kwargs)

    monkeypatch.setattr(_tsm, "read_file", always_racing)
    with pytest.raises(TeeUnavailable, match="3 times in a row"):
        attester.evidence(TDX_DATA)
    assert len(fake.created) == 4
    assert list(attester.root.iterdir()) == []


@pytest.mark.parametrize(
    ("provider", "outblob", "message"),
    [
        ("arm_cca_guest", TDX_QUOTE, "not one trustroom reads"),
        ("tdx_guest", b"garbage", "not tdx evidence"),
        ("tdx_guest", SNP_V2, "snp evidence where tdx"),
        ("sev_guest", SNP_V2, "other report data"),
    ],
)
def test_tsm_bad_outputs_are_tee_unavailable(
    tmp_path: Path, provider: str, outblob: bytes, message: str
) -> None:
    attester = tsm(tmp_path, FakeConfigfs(provider, outblob))
    with pytest.raises(TeeUnavailable, match=message):
        attester.evidence(TDX_DATA)
    assert list(attester.root.iterdir()) == []


def test_tsm_missing_outblob_is_tee_unavailable(tmp_path: Path) -> None:
    fake = FakeConfigfs("tdx_guest", TDX_QUOTE)
    del fake.files["outblob"]
    with pytest.raises(TeeUnavailable, match="outblob"):
        tsm(tmp_path, fake).evidence(TDX_DATA)


def test_configfs_entries_outside_configfs(tmp_path: Path) -> None:
    # A plain directory is no configfs: mkdir works, but no provider appears in the entry.
    root = tmp_path / "report"
    root.mkdir()
    with pytest.raises(TeeUnavailable, match="provider"):
        TsmAttester(root).tee  # noqa: B018
    assert list(root.iterdir()) == []
    with pytest.raises(TeeUnavailable, match="cannot create") as caught:
        TsmAttester(tmp_path / "absent").tee  # noqa: B018
    assert "6.7" in caught.value.hint
    # configfs drops an entry's attributes on rmdir; a plain directory refuses, and says so.
    with pytest.raises(TeeUnavailable, match="cannot remove"), configfs_entry(root) as entry:
        (entry / "inblob").write_bytes(bytes(64))


# --- SEV-SNP certificate table ------------------------------------------------------------


def der_certificates(pem: bytes) -> list[bytes]:
    encoding = serialization.Encoding.DER
    return [c.public_bytes(encoding) for c in x509.load_pem_x509_certificates(pem)]


def cert_table(entries: list[tuple[str, bytes]]) -> bytes:
    """A GHCB certificate table: (GUID, offset, length) entries, a zero entry, then data."""
    start = 24 * (len(entries) + 1)
    header, data = b"", b""
    for guid, cert in entries:
        header += struct.pack("<16sII", uuid.UUID(guid).bytes, start + len(data), len(cert))
        data += cert
    return header + bytes(24) + data


def test_tsm_snp_certificates_make_collateral_that_verifies(tmp_path: Path) -> None:
    ask, ark = der_certificates(MILAN_ASK_ARK)
    table = cert_table([(GUID["vcek"], SNP_V2_VCEK), (GUID["ask"], ask), (GUID["ark"], ark)])
    attester = tsm(tmp_path, FakeConfigfs("sev_guest", SNP_V2, table))
    report, certificates = attester.evidence_with_certificates(SNP_V2_DATA)
    assert report == SNP_V2
    assert certificates == {GUID["vcek"]: SNP_V2_VCEK, GUID["ask"]: ask, GUID["ark"]: ark}
    collateral = snp_collateral(report, certificates)
    assert collateral is not None and collateral.vek == SNP_V2_VCEK
    assert collateral.chain is not None and collateral.chain.count(b"BEGIN CERTIFICATE") == 2
    result = Verifier().verify(report, collateral=collateral, at=SNP_V2_INSIDE)
    assert result.verified, result.errors


def test_snp_collateral_needs_the_signing_certificate() -> None:
    # The v3 vector is VLEK-signed: a VCEK in the table does not help.
    assert snp_collateral(SNP_V3, {GUID["vcek"]: SNP_V2_VCEK}) is None
    only_vcek = snp_collateral(SNP_V2, {GUID["vcek"]: SNP_V2_VCEK})
    assert only_vcek is not None and only_vcek.chain is None


def test_cert_table_parsing() -> None:
    assert parse_cert_table(b"") == {}
    other = "00112233-4455-6677-8899-aabbccddeeff"
    assert parse_cert_table(cert_table([(other, b"cert")])) == {other: b"cert"}
    table = bytearray(cert_table([(other, b"cert")]))
    table[20:24] = struct.pack("<I", 1000)  # length past the end
    with pytest.raises(TeeUnavailable, match="outside"):
        parse_cert_table(bytes(table))
    unterminated = struct.pack("<16sII", uuid.UUID(other).bytes, 24, 4) + b"cert"
    with pytest.raises(TeeUnavailable, match="no terminating entry"):
        parse_cert_table(unterminated)


# --- detection ----------------------------------------------------------------------------


def trees(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "dev").mkdir()
    return {
        "attestation_root": tmp_path / "attestation",
        "tsm_root": tmp_path / "tsm" / "report",
        "dev_root": tmp_path / "dev",
    }


def test_detect_nothing(tmp_path: Path) -> None:
    roots = trees(tmp_path)
    assert detect_hardware(**roots) is None
    probes = describe(**roots)
    assert [p["name"] for p in probes] == ["gramine", "configfs-tsm", "sev-guest", "tdx_guest"]
    assert not any(p["present"] or p["usable"] for p in probes)
    assert all(p["detail"] for p in probes)


def test_detect_prefers_gramine(tmp_path: Path) -> None:
    roots = trees(tmp_path)
    gramine_tree(tmp_path, attestation_type="none")
    (roots["dev_root"] / "sev-guest").write_bytes(b"")
    attester = detect_hardware(**roots)
    assert isinstance(attester, GramineSgxAttester)
    gramine, *_ = describe(**roots)
    assert gramine["usable"] and gramine["tee"] == "sgx" and "'none'" in gramine["detail"]


def test_detect_configfs_tsm(tmp_path: Path) -> None:
    roots = trees(tmp_path)
    roots["tsm_root"].mkdir(parents=True)
    (roots["dev_root"] / "sev-guest").write_bytes(b"")
    fake = FakeConfigfs("sev_guest", SNP_V2)
    attester = detect_hardware(**roots, tsm_entry=fake.entry)
    assert isinstance(attester, TsmAttester) and attester.tee == "snp"
    probes = describe(**roots, tsm_entry=fake.entry)
    assert [p["usable"] for p in probes] == [False, True, True, False]
    assert probes[1]["detail"] == "provider sev_guest"


def test_detect_falls_back_to_the_devices(tmp_path: Path) -> None:
    roots = trees(tmp_path)
    roots["tsm_root"].mkdir(parents=True)  # present, but no provider answers
    (roots["dev_root"] / "tdx_guest").write_bytes(b"")
    attester = detect_hardware(**roots)
    assert isinstance(attester, TdxGuestAttester)
    tsm_probe = describe(**roots)[1]
    assert tsm_probe["present"] and not tsm_probe["usable"]
    assert "provider" in tsm_probe["detail"]
    assert list(roots["tsm_root"].iterdir()) == []
    (roots["dev_root"] / "sev-guest").write_bytes(b"")
    assert isinstance(detect_hardware(**roots), SevGuestAttester)

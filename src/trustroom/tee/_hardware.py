"""What the hardware TEE backends share: checked report data, interface files, key derivation."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trustroom.evidence import Evidence, EvidenceError, parse
from trustroom.tee._attester import REPORT_DATA_SIZE, SealPolicy
from trustroom.tee._errors import InvalidReportData, SealPolicyDenied, TeeUnavailable

__all__ = [
    "check_report_data",
    "check_seal_request",
    "derive_seal_key",
    "parse_bound",
    "read_file",
    "write_file",
]

_SEAL_SALT = b"trustroom hardware sealing key v1\0"


def check_report_data(report_data: bytes) -> bytes:
    """``report_data`` as bytes, if it is exactly 64 bytes; InvalidReportData otherwise."""
    if not isinstance(report_data, bytes | bytearray | memoryview):
        raise InvalidReportData(f"report data must be bytes, not {type(report_data).__name__}")
    if len(report_data) != REPORT_DATA_SIZE:
        raise InvalidReportData(f"report data is {len(report_data)} bytes, not 64")
    return bytes(report_data)


def read_file(path: Path, what: str, *, hint: str | None = None) -> bytes:
    """The contents of a TEE interface file; TeeUnavailable instead of OSError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TeeUnavailable(
            f"cannot read {what} ({path}): {exc.strerror or exc}", hint=hint, path=str(path)
        ) from exc


def write_file(path: Path, data: bytes, what: str, *, hint: str | None = None) -> None:
    """Write a TEE interface file in one write (the kernel acts when it is closed)."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise TeeUnavailable(
            f"cannot write {what} ({path}): {exc.strerror or exc}", hint=hint, path=str(path)
        ) from exc


def parse_bound(data: bytes, *, tee: str, source: str, report_data: bytes | None) -> Evidence:
    """Parse evidence a TEE interface returned and check it is ``tee``'s, binding ``report_data``.

    The binding check catches what the interfaces cannot prevent: another writer changing the
    report data between this process's write and read.
    """
    try:
        parsed = parse(data)
    except EvidenceError as exc:
        raise TeeUnavailable(
            f"{source} returned {len(data)} bytes that are not {tee} evidence: {exc.message}",
            hint="The TEE interface is broken or is not what it claims to be; "
            "`trustroom tee detect` shows what was found.",
        ) from exc
    if parsed.tee != tee:
        raise TeeUnavailable(f"{source} returned {parsed.tee} evidence where {tee} was expected")
    if report_data is not None and parsed.report_data != report_data:
        raise TeeUnavailable(
            f"{source} returned evidence for other report data",
            hint="Another thread or process wrote report data at the same time; try again.",
        )
    return parsed


def check_seal_request(policy: SealPolicy, svn: int | None, current: int) -> tuple[SealPolicy, int]:
    """The policy, and the security version a sealing key is for: ``svn`` checked, or current."""
    try:
        policy = SealPolicy(policy)
    except ValueError as exc:
        raise SealPolicyDenied(f"unknown seal policy {policy!r}") from exc
    if svn is None or svn == current:
        return policy, current
    if policy is SealPolicy.MEASUREMENT:
        raise SealPolicyDenied("an older security version applies to SealPolicy.SIGNER only")
    if not 0 <= svn < current:
        raise SealPolicyDenied(
            f"security version {current} cannot derive keys of the newer version {svn}"
        )
    return policy, svn


def derive_seal_key(root_key: bytes, *, backend: str, policy: SealPolicy, label: bytes) -> bytes:
    """A 32-byte sealing key: HKDF-SHA256 over a hardware key, with the label as context.

    The salt names the backend and the policy, so one hardware key never yields the same
    sealing key for two policies.
    """
    salt = _SEAL_SALT + backend.encode() + b"\0" + policy.value.encode()
    return HKDF(hashes.SHA256(), 32, salt, label).derive(root_key)

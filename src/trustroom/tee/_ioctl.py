"""Linux guest ioctls for AMD SEV-SNP and Intel TDX.

NOT RUN ON REAL HARDWARE: this module was written against the kernel's UAPI headers
(``include/uapi/linux/sev-guest.h``, Linux >= 5.19; ``include/uapi/linux/tdx-guest.h``,
Linux >= 6.2), the driver ``drivers/virt/coco/sev-guest/sev-guest.c`` and AMD's SEV-SNP
firmware ABI (MSG_REPORT_RSP, MSG_KEY_REQ, MSG_KEY_RSP), and is tested with fake devices
that answer with real recorded reports.

The ioctls are the fallback where configfs-tsm (:mod:`trustroom.tee._tsm`) is absent, and
SEV-SNP's only way to derive keys:

* ``/dev/sev-guest`` ``SNP_GET_REPORT`` returns a complete SNP attestation report, verifiable
  like one from configfs-tsm; ``SNP_GET_DERIVED_KEY`` returns a 32-byte key the AMD Secure
  Processor derives from this chip's VCEK and the guest fields the request selects.
* ``/dev/tdx_guest`` ``TDX_CMD_GET_REPORT0`` returns a TDREPORT, which is MACed for this
  platform only and cannot be verified remotely. A quote needs the host's Quote Generation
  Service (QGS); configfs-tsm (Linux >= 6.7) asks it on the guest's behalf, and trustroom does
  not talk to a QGS itself, so :class:`TdxGuestAttester` gives measurements and no evidence.
  Pre-upstream TDX kernels (``/dev/tdx-guest``, ``/dev/tdx-attest``) had other ABIs and are
  not supported.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from trustroom.evidence import Evidence
from trustroom.evidence._dcap_quote import parse_td_report
from trustroom.tee._attester import REPORT_DATA_SIZE, SealPolicy
from trustroom.tee._errors import TeeUnavailable
from trustroom.tee._hardware import (
    check_report_data,
    check_seal_request,
    derive_seal_key,
    parse_bound,
)

__all__ = [
    "SEV_GUEST_DEVICE",
    "SNP_GET_DERIVED_KEY",
    "SNP_GET_REPORT",
    "TDX_CMD_GET_REPORT0",
    "TDX_GUEST_DEVICE",
    "GuestRequest",
    "SevGuestAttester",
    "SevGuestDevice",
    "TdxGuestAttester",
    "TdxGuestDevice",
    "TdxReportFn",
    "open_device",
    "snp_seal_key",
    "tdreport_measurements",
    "tdx_has_no_seal_key",
]

SEV_GUEST_DEVICE = Path("/dev/sev-guest")
TDX_GUEST_DEVICE = Path("/dev/tdx_guest")


def _iowr(kind: str, number: int, size: int) -> int:
    """Linux ``_IOWR(type, nr, size)``: direction read|write (3) in the top two bits."""
    return 3 << 30 | size << 16 | ord(kind) << 8 | number


# struct snp_guest_request_ioctl: msg_version u8 (padded to 8), req_data, resp_data, exitinfo2
# (fw_error u32, vmm_error u32). The kernel copies the request from and the response to the two
# addresses, so they point at buffers this process owns.
_GUEST_REQUEST = struct.Struct("<B7xQQQ")
SNP_GET_REPORT = _iowr("S", 0, _GUEST_REQUEST.size)
SNP_GET_DERIVED_KEY = _iowr("S", 1, _GUEST_REQUEST.size)
_SNP_REPORT_REQ = struct.Struct("<64sI28x")  # struct snp_report_req: user_data, vmpl, rsvd
_SNP_REPORT_RESP_SIZE = 4000  # struct snp_report_resp
# struct snp_derived_key_req: root_key_select, rsvd, guest_field_select, vmpl, guest_svn,
# tcb_version
_SNP_KEY_REQ = struct.Struct("<IIQIIQ")
_SNP_KEY_RESP_SIZE = 64  # struct snp_derived_key_resp
_MSG_REPORT_RSP = struct.Struct("<II24x")  # status, report_size; the report follows at 0x20
_MSG_KEY_RSP_KEY = slice(0x20, 0x40)  # MSG_KEY_RSP: status u32, 28 reserved, derived key
_SNP_REPORT_SIZE = 0x4A0
_SNP_MAX_VMPL = 3

# MSG_KEY_REQ GUEST_FIELD_SELECT bits: which of the guest's launch values the key mixes in.
_FIELD_POLICY = 1 << 0
_FIELD_IMAGE_ID = 1 << 1
_FIELD_FAMILY_ID = 1 << 2
_FIELD_MEASUREMENT = 1 << 3
_FIELD_GUEST_SVN = 1 << 4
# ROOT_KEY_SELECT 0 is the chip's VCEK, so derived keys never exist on another machine (1, the
# VM root key, can be handed to a migration agent).
_ROOT_KEY_VCEK = 0

_TDREPORT_SIZE = 1024
TDX_CMD_GET_REPORT0 = _iowr("T", 1, REPORT_DATA_SIZE + _TDREPORT_SIZE)  # struct tdx_report_req
_TDREPORT_TYPE_TDX = 0x81

GuestRequest = Callable[[int, bytes, int], bytes]
"""One SEV-SNP guest request: (ioctl number, request struct, response size) -> response."""

TdxReportFn = Callable[[bytes], bytes]
"""TDX_CMD_GET_REPORT0: 64 bytes of report data -> the 1024-byte TDREPORT."""


# --- the kernel's devices -----------------------------------------------------------------


def open_device(path: Path) -> int:
    """A file descriptor for a guest device; TeeUnavailable if it cannot be opened."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise TeeUnavailable(
            f"cannot open {path}: {exc.strerror or exc}",
            hint=f"{path} exists only inside a confidential VM and is usually root-only: run "
            "as root or grant this user access to the device.",
            path=str(path),
        ) from exc


class SevGuestDevice:
    """``/dev/sev-guest`` as a :data:`GuestRequest`: one SNP guest message per call."""

    def __init__(self, path: Path = SEV_GUEST_DEVICE) -> None:
        self.path = path

    def __call__(self, command: int, request: bytes, response_size: int) -> bytes:
        import fcntl  # POSIX only; imported here so that the package imports everywhere

        req = ctypes.create_string_buffer(request, len(request))
        resp = ctypes.create_string_buffer(response_size)
        arg = bytearray(_GUEST_REQUEST.pack(1, ctypes.addressof(req), ctypes.addressof(resp), 0))
        fd = open_device(self.path)
        try:
            fcntl.ioctl(fd, command, arg, True)
        except OSError as exc:
            fw_error, vmm_error = struct.unpack_from("<II", arg, 24)
            raise TeeUnavailable(
                f"{self.path} refused the SEV-SNP guest request: {exc.strerror or exc} "
                f"(firmware error 0x{fw_error:x}, VMM error 0x{vmm_error:x})",
                hint="The AMD Secure Processor or the host rejected the request. A VMPL below "
                "the guest's own, or a hypervisor that does not relay guest requests, are the "
                "usual causes.",
            ) from exc
        finally:
            os.close(fd)
        return resp.raw


class TdxGuestDevice:
    """``/dev/tdx_guest`` as a :data:`TdxReportFn`."""

    def __init__(self, path: Path = TDX_GUEST_DEVICE) -> None:
        self.path = path

    def __call__(self, report_data: bytes) -> bytes:
        import fcntl

        # struct tdx_report_req: reportdata[64] in, tdreport[1024] out, in one buffer. Longer
        # than 1024 bytes, so fcntl passes it to the kernel directly rather than copying.
        buf = bytearray(report_data + bytes(_TDREPORT_SIZE))
        fd = open_device(self.path)
        try:
            fcntl.ioctl(fd, TDX_CMD_GET_REPORT0, buf, True)
        except OSError as exc:
            raise TeeUnavailable(
                f"{self.path} refused TDX_CMD_GET_REPORT0: {exc.strerror or exc}"
            ) from exc
        finally:
            os.close(fd)
        return bytes(buf[REPORT_DATA_SIZE:])


# --- SEV-SNP ------------------------------------------------------------------------------


def _check_vmpl(vmpl: int) -> int:
    if not 0 <= vmpl <= _SNP_MAX_VMPL:
        raise TeeUnavailable(
            f"VMPL {vmpl} does not exist", hint="SEV-SNP privilege levels are 0 to 3."
        )
    return vmpl


def snp_report(request: GuestRequest, report_data: bytes, vmpl: int) -> bytes:
    """An SNP attestation report binding ``report_data``, through SNP_GET_REPORT."""
    resp = request(SNP_GET_REPORT, _SNP_REPORT_REQ.pack(report_data, vmpl), _SNP_REPORT_RESP_SIZE)
    if len(resp) < _MSG_REPORT_RSP.size:
        raise TeeUnavailable(f"the SNP report response is truncated ({len(resp)} bytes)")
    status, size = _MSG_REPORT_RSP.unpack_from(resp)
    if status != 0:
        raise TeeUnavailable(
            f"the SEV-SNP firmware refused the report request (status 0x{status:x})",
            hint="Status 0x16 (invalid parameter) usually means a VMPL below the guest's own.",
        )
    if size != _SNP_REPORT_SIZE or _MSG_REPORT_RSP.size + size > len(resp):
        raise TeeUnavailable(f"the SNP report response announces a {size}-byte report")
    return resp[_MSG_REPORT_RSP.size : _MSG_REPORT_RSP.size + size]


def _snp_derived_key(request: GuestRequest, *, fields: int, vmpl: int, guest_svn: int) -> bytes:
    req = _SNP_KEY_REQ.pack(_ROOT_KEY_VCEK, 0, fields, vmpl, guest_svn, 0)
    resp = request(SNP_GET_DERIVED_KEY, req, _SNP_KEY_RESP_SIZE)
    if len(resp) < _MSG_KEY_RSP_KEY.stop:
        raise TeeUnavailable(f"the SNP key response is truncated ({len(resp)} bytes)")
    status = int.from_bytes(resp[:4], "little")
    if status != 0:
        raise TeeUnavailable(f"the SEV-SNP firmware refused the key request (status 0x{status:x})")
    return resp[_MSG_KEY_RSP_KEY]


def snp_seal_key(
    request: GuestRequest,
    own: Evidence,
    policy: SealPolicy,
    label: bytes,
    svn: int | None,
) -> bytes:
    """A sealing key from SNP_GET_DERIVED_KEY, for the guest whose own report is ``own``.

    ``MEASUREMENT`` mixes in the launch measurement, ``SIGNER`` the family and image ids of the
    ID block and the guest SVN. Both mix in the guest policy, so a guest launched with DEBUG
    (whose memory the host can read) never derives a production guest's keys. The firmware
    offers no ID-key field to mix in: under ``SIGNER``, any guest whose ID block carries the
    same family and image ids, whoever signed it, derives the same key, so verifiers must pin
    the ID key digest for ``SIGNER`` sealing to mean "same signer". Keys are not bound to the
    platform TCB, so a firmware update keeps them.
    """
    claims = own.attribute_claims()
    policy, guest_svn = check_seal_request(policy, svn, int(claims["guest_svn"]))
    if policy is SealPolicy.MEASUREMENT:
        fields, guest_svn = _FIELD_MEASUREMENT | _FIELD_POLICY, 0
    else:
        fields = _FIELD_FAMILY_ID | _FIELD_IMAGE_ID | _FIELD_GUEST_SVN | _FIELD_POLICY
    # The VMPL the own report was requested at: at least the guest's, as the firmware demands.
    key = _snp_derived_key(request, fields=fields, vmpl=int(claims["vmpl"]), guest_svn=guest_svn)
    return derive_seal_key(key, backend="snp", policy=policy, label=label)


class SevGuestAttester:
    """AMD SEV-SNP through ``/dev/sev-guest``, where configfs-tsm is absent (Linux < 6.7).

    ``vmpl`` is the privilege level reports are requested at: at least the guest's own (0
    without an SVSM). ``request`` replaces the kernel device (tests).
    """

    tee = "snp"

    def __init__(
        self,
        device: Path = SEV_GUEST_DEVICE,
        *,
        vmpl: int = 0,
        request: GuestRequest | None = None,
    ) -> None:
        self.device = device
        self._vmpl = _check_vmpl(vmpl)
        self._request = request or SevGuestDevice(device)

    def _report(self, report_data: bytes, *, bind: bool) -> tuple[bytes, Evidence]:
        data = snp_report(self._request, report_data, self._vmpl)
        source = f"{self.device} (SNP_GET_REPORT)"
        bound = report_data if bind else None
        return data, parse_bound(data, tee="snp", source=source, report_data=bound)

    @cached_property
    def _own(self) -> Evidence:
        # Measurements do not depend on the report data, so any report shows them.
        return self._report(bytes(REPORT_DATA_SIZE), bind=False)[1]

    def evidence(self, report_data: bytes) -> bytes:
        return self._report(check_report_data(report_data), bind=True)[0]

    def measurements(self) -> dict[str, str]:
        return self._own.measurements()

    @property
    def security_version(self) -> int:
        return int(self._own.attribute_claims()["guest_svn"])

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        return snp_seal_key(self._request, self._own, policy, label, svn)


# --- TDX ----------------------------------------------------------------------------------


def tdx_has_no_seal_key() -> TeeUnavailable:
    """The error for sealing on TDX, which has no sealing-key derivation for guests."""
    return TeeUnavailable(
        "Intel TDX gives guests no sealing key",
        hint="Keep the data key in a key broker (KBS) that releases it to attested TDs with "
        "these measurements, or use SGX or SEV-SNP for local sealing.",
    )


def tdreport_measurements(tdreport: bytes) -> dict[str, str]:
    """The measurements in a TDREPORT, keyed as in a TDX quote's verification result."""
    if len(tdreport) != _TDREPORT_SIZE or tdreport[0] != _TDREPORT_TYPE_TDX:
        raise TeeUnavailable(
            f"the TDX module returned {len(tdreport)} bytes that are not a TDREPORT"
        )
    # A TD quote body holds the TDREPORT's fields in another order: TEE_TCB_INFO's SVN, MRSEAM,
    # MRSIGNERSEAM and attributes (0x108-0x180), TDINFO up to the RTMRs (0x200-0x390), and the
    # report data of REPORTMACSTRUCT (0x80-0xC0). Building the body reuses the quote parser.
    body = tdreport[0x108:0x180] + tdreport[0x200:0x390] + tdreport[0x80:0xC0]
    return parse_td_report(body, "td10").measurements()


class TdxGuestAttester:
    """Intel TDX through ``/dev/tdx_guest``: measurements only, evidence needs configfs-tsm.

    ``get_report`` replaces the kernel device (tests).
    """

    tee = "tdx"
    security_version = 0  # TDX has no guest security version

    def __init__(
        self, device: Path = TDX_GUEST_DEVICE, *, get_report: TdxReportFn | None = None
    ) -> None:
        self.device = device
        self._get_report = get_report or TdxGuestDevice(device)

    def evidence(self, report_data: bytes) -> bytes:
        check_report_data(report_data)
        raise TeeUnavailable(
            f"{self.device} gives TDREPORTs, which only this platform can check; a remotely "
            "verifiable quote needs the host's Quote Generation Service",
            hint="Use a kernel with configfs-tsm (Linux >= 6.7, CONFIG_TSM_REPORTS, configfs "
            "mounted at /sys/kernel/config): it gets quotes from the QGS for the guest.",
        )

    @cached_property
    def _measurements(self) -> dict[str, str]:
        return tdreport_measurements(self._get_report(bytes(REPORT_DATA_SIZE)))

    def measurements(self) -> dict[str, str]:
        return dict(self._measurements)

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        raise tdx_has_no_seal_key()

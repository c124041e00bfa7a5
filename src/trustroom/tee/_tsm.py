"""Intel TDX and AMD SEV-SNP evidence through Linux configfs-tsm (``/sys/kernel/config/tsm``).

NOT RUN ON REAL HARDWARE: this module was written against the kernel's interface
(``Documentation/ABI/testing/configfs-tsm-report``, Linux >= 6.7; ``sev_report_new`` in
``drivers/virt/coco/sev-guest/sev-guest.c``) and is tested with fake configfs trees filled
with real recorded TDX quotes and SNP reports.

A report is an entry directory: ``mkdir`` creates it with its attributes, the guest writes 64
bytes to ``inblob`` (and, on SEV-SNP, optionally the VMPL to ``privlevel``), and reading
``outblob`` makes the kernel ask the TEE: a DCAP quote from the host's Quote Generation Service
on TDX (provider ``tdx_guest``), an attestation report from the AMD Secure Processor on SEV-SNP
(``sev_guest``), whose ``auxblob`` holds the certificate table the host supplied, if any.
``generation`` counts writes; a change between writing and reading means another writer
raced, and the attempt is repeated in a fresh entry. Every entry is removed afterwards.

configfs-tsm derives no keys: SEV-SNP sealing keys come from ``/dev/sev-guest``
(:mod:`trustroom.tee._ioctl`); TDX has none. The SVSM service attributes (Linux >= 6.10) are
not used.
"""

from __future__ import annotations

import base64
import os
import secrets
import struct
import textwrap
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from types import TracebackType

from trustroom.evidence import Evidence, SnpCollateral
from trustroom.tee._attester import REPORT_DATA_SIZE, SealPolicy
from trustroom.tee._errors import TeeUnavailable
from trustroom.tee._hardware import (
    check_report_data,
    parse_bound,
    read_file,
    write_file,
)
from trustroom.tee._ioctl import (
    GuestRequest,
    SevGuestDevice,
    snp_seal_key,
    tdx_has_no_seal_key,
)

__all__ = [
    "SNP_CERT_GUIDS",
    "TSM_ROOT",
    "EntryFactory",
    "TsmAttester",
    "configfs_entry",
    "parse_cert_table",
    "snp_collateral",
]

TSM_ROOT = Path("/sys/kernel/config/tsm/report")
_PROVIDERS = {"tdx_guest": "tdx", "sev_guest": "snp"}
_ATTEMPTS = 3
_SNP_MAX_VMPL = 3
_ROOT_HINT = (
    "configfs-tsm needs Linux >= 6.7 with CONFIG_TSM_REPORTS, the tdx_guest or sev_guest "
    "driver, configfs mounted at /sys/kernel/config, and root (entries are root-only)."
)

# The extended-report certificate table's GUIDs (GHCB specification 4.1.8.1, as go-sev-guest
# reads them: in RFC 4122 byte order).
SNP_CERT_GUIDS: dict[str, str] = {
    "63da758d-e664-4564-adc5-f4b93be8accd": "vcek",
    "a8074bc2-a25a-483e-aae6-39c045a0b8a1": "vlek",
    "4ab7b379-bbac-4fe4-a02f-05aef327c782": "ask",
    "c0b406a4-a803-4952-9743-3fb6014cd0ae": "ark",
}
_CERT_ENTRY = struct.Struct("<16sII")  # guid, offset from the table start, length

EntryFactory = Callable[[Path], AbstractContextManager[Path]]
"""Creates a report entry under the configfs root and removes it on exit (tests fake it)."""


class _ConfigfsEntry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        try:
            self.path.mkdir()
        except OSError as exc:
            raise TeeUnavailable(
                f"cannot create a configfs-tsm report entry ({self.path}): {exc.strerror or exc}",
                hint=_ROOT_HINT,
                path=str(self.path),
            ) from exc
        return self.path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.path.rmdir()
        except OSError as err:
            # With an error already on its way, that one says more than a leftover entry.
            if exc is None:
                raise TeeUnavailable(
                    f"cannot remove the configfs-tsm report entry {self.path}: "
                    f"{err.strerror or err}"
                ) from err


def configfs_entry(root: Path) -> AbstractContextManager[Path]:
    """A new report entry, named for this process and a random tag so no one else uses it."""
    return _ConfigfsEntry(root / f"trustroom-{os.getpid()}-{secrets.token_hex(8)}")


class TsmAttester:
    """Intel TDX or AMD SEV-SNP through configfs-tsm; implements :class:`~trustroom.tee.Attester`.

    ``vmpl`` (SEV-SNP only) is written to ``privlevel``; left out, the kernel's default
    applies. ``guest_request`` replaces ``/dev/sev-guest`` for SNP sealing keys, and ``entry``
    the creation of report entries (tests).
    """

    def __init__(
        self,
        root: Path = TSM_ROOT,
        *,
        vmpl: int | None = None,
        guest_request: GuestRequest | None = None,
        entry: EntryFactory = configfs_entry,
    ) -> None:
        if vmpl is not None and not 0 <= vmpl <= _SNP_MAX_VMPL:
            raise TeeUnavailable(
                f"VMPL {vmpl} does not exist", hint="SEV-SNP privilege levels are 0 to 3."
            )
        self.root = root
        self._vmpl = vmpl
        self._guest_request = guest_request or SevGuestDevice()
        self._entry = entry

    @cached_property
    def provider(self) -> str:
        """The kernel's TSM provider: ``"tdx_guest"`` or ``"sev_guest"``."""
        with self._entry(self.root) as entry:
            raw = read_file(entry / "provider", "the configfs-tsm provider", hint=_ROOT_HINT)
        return raw.decode("ascii", "replace").strip()

    @property
    def tee(self) -> str:
        try:
            return _PROVIDERS[self.provider]
        except KeyError:
            raise TeeUnavailable(
                f"configfs-tsm provider {self.provider!r} is not one trustroom reads",
                hint="trustroom reads tdx_guest (Intel TDX) and sev_guest (AMD SEV-SNP).",
            ) from None

    def _report(
        self, report_data: bytes, *, bind: bool, aux: bool
    ) -> tuple[bytes, Evidence, bytes]:
        tee = self.tee
        if self._vmpl is not None and tee != "snp":
            raise TeeUnavailable("a VMPL applies to SEV-SNP only")
        for _ in range(_ATTEMPTS):
            with self._entry(self.root) as entry:
                if self._vmpl is not None:
                    write_file(
                        entry / "privlevel",
                        f"{self._vmpl}\n".encode(),
                        "configfs-tsm privlevel",
                        hint="The VMPL must be at least privlevel_floor, the guest's own.",
                    )
                write_file(entry / "inblob", report_data, "configfs-tsm inblob")
                generation = read_file(entry / "generation", "configfs-tsm generation")
                outblob = read_file(entry / "outblob", "configfs-tsm outblob", hint=_ROOT_HINT)
                auxblob = read_file(entry / "auxblob", "configfs-tsm auxblob") if aux else b""
                if read_file(entry / "generation", "configfs-tsm generation") != generation:
                    continue
            source = f"configfs-tsm ({self.provider})"
            bound = report_data if bind else None
            return outblob, parse_bound(outblob, tee=tee, source=source, report_data=bound), auxblob
        raise TeeUnavailable(
            f"the configfs-tsm report changed while it was read, {_ATTEMPTS} times in a row",
            hint="Something else writes to trustroom's report entries under "
            f"{self.root}; find it and stop it.",
        )

    @cached_property
    def _own(self) -> Evidence:
        # Measurements do not depend on the report data, so any report shows them.
        return self._report(bytes(REPORT_DATA_SIZE), bind=False, aux=False)[1]

    def evidence(self, report_data: bytes) -> bytes:
        return self._report(check_report_data(report_data), bind=True, aux=False)[0]

    def evidence_with_certificates(self, report_data: bytes) -> tuple[bytes, dict[str, bytes]]:
        """Evidence and the certificates the host supplied with it, by GUID (SEV-SNP only).

        :data:`SNP_CERT_GUIDS` names the GUIDs; :func:`snp_collateral` turns the result into
        collateral. Hosts that supply no certificates give an empty mapping.
        """
        if self.tee != "snp":
            raise TeeUnavailable("only SEV-SNP reports come with certificates")
        data = check_report_data(report_data)
        outblob, _, auxblob = self._report(data, bind=True, aux=True)
        return outblob, parse_cert_table(auxblob)

    def measurements(self) -> dict[str, str]:
        return self._own.measurements()

    @property
    def security_version(self) -> int:
        if self.tee == "tdx":
            return 0  # TDX has no guest security version
        return int(self._own.attribute_claims()["guest_svn"])

    def seal_key(self, policy: SealPolicy, label: bytes, *, svn: int | None = None) -> bytes:
        if self.tee == "tdx":
            raise tdx_has_no_seal_key()
        return snp_seal_key(self._guest_request, self._own, policy, label, svn)


def parse_cert_table(blob: bytes) -> dict[str, bytes]:
    """The certificates of an SEV-SNP certificate table (``auxblob``), by lowercase GUID."""
    certificates: dict[str, bytes] = {}
    if not blob:
        return certificates
    for offset in range(0, len(blob) - _CERT_ENTRY.size + 1, _CERT_ENTRY.size):
        guid, start, length = _CERT_ENTRY.unpack_from(blob, offset)
        if guid == bytes(16) and start == 0 and length == 0:
            return certificates
        if start < offset + _CERT_ENTRY.size or start + length > len(blob):
            raise TeeUnavailable(
                f"the SEV-SNP certificate table's entry {len(certificates)} points outside "
                "the certificate data"
            )
        certificates[str(uuid.UUID(bytes=guid))] = blob[start : start + length]
    raise TeeUnavailable("the SEV-SNP certificate table has no terminating entry")


def _pem(der: bytes) -> bytes:
    if der.lstrip().startswith(b"-----BEGIN"):
        return der
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def snp_collateral(report: bytes, certificates: Mapping[str, bytes]) -> SnpCollateral | None:
    """Collateral for ``report`` from a certificate table, or None if it lacks the signer.

    The signing certificate (VCEK or VLEK, as the report says) becomes ``vek``; the ASK and ARK
    slots, when both are filled, the PEM chain. Without them trustroom uses its pinned AMD
    intermediates.
    """
    parsed = parse_bound(report, tee="snp", source="the SEV-SNP report", report_data=None)
    by_name = {SNP_CERT_GUIDS[g]: c for g, c in certificates.items() if g in SNP_CERT_GUIDS}
    vek = by_name.get(str(parsed.attribute_claims()["signing_key"]))
    if vek is None:
        return None
    chain = (
        _pem(by_name["ask"]) + _pem(by_name["ark"]) if {"ask", "ark"} <= by_name.keys() else None
    )
    return SnpCollateral(vek=vek, chain=chain)

"""Signed notes (c2sp.org/signed-note v1.0.0): text signed by named keys.

A note is a text ending in a newline, a blank line, then one line per signature,
``— <key name> base64(key ID || signature)``. A key is known by its name and its 4-byte key
ID, SHA-256(name || 0x0A || signature type || public key)[:4], so a reader looks up the key
of each line by (name, key ID), ignores the lines of keys it does not know, and rejects the
note if a known key's signature fails::

    signer = NoteSigner.generate("example.org/log")
    note = sign_note("hello\\n", signer)
    opened = open_note(note, [signer.verifier()])      # or NoteInvalid
    opened.text == "hello\\n"

Two signature types are implemented, both Ed25519: plain signatures (type 0x01,
:class:`NoteSigner`, :class:`NoteVerifier`), which the log puts on its checkpoints, and the
timestamped witness cosignatures of c2sp.org/tlog-cosignature v1 (type 0x04,
:class:`CosignatureSigner`, :class:`CosignatureVerifier`), which sign
``"cosignature/v1\\ntime <T>\\n" + text`` and put the 8-byte time before the signature.

Reading follows Go's golang.org/x/mod/sumdb/note (``Open``), stricter in two ways: base64
must be canonical, and every line of a known key is verified, not only its first.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trustroom.ledger._errors import KeyInvalid, NoteInvalid

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "Signer",
    "Verifier",
    "cosignature_message",
    "key_id",
    "open_note",
    "sign_note",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
# Go's limit: parsing stops there, so a note cannot make its reader verify without end.
MAX_SIGNATURES = 100
MAX_TIMESTAMP = 2**63 - 1

_DASH = "\u2014 "
_PRIVATE = "PRIVATE+KEY+"
_ED25519_SIZE = 32
_SIGNATURE_SIZE = 64
_TIMESTAMP_SIZE = 8
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")
# Control characters other than newline, and lone surrogates (a str that is no UTF-8).
_FORBIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\ud800-\udfff]")
# Key names: no Unicode space (``\s`` is str.isspace), no plus, nothing _FORBIDDEN.
_NOT_IN_NAME = re.compile(r"[\s+\x00-\x1f\ud800-\udfff]")


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || signature type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a key: non-empty, no Unicode space, no plus."""
    return bool(name) and not _NOT_IN_NAME.search(name)


def has_forbidden_characters(text: str) -> bool:
    """Whether ``text`` cannot be in a note: a control character other than newline, or
    something that is not UTF-8."""
    return bool(_FORBIDDEN.search(text))


def b64decode_strict(text: str) -> bytes | None:
    """The bytes of ``text`` if it is canonical standard base64 (RFC 4648 §4), else None.

    Canonical only, so that one value has one spelling: a reader never accepts two texts
    for the same bytes, and what it parses it writes back unchanged."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def cosignature_message(timestamp: int, text: bytes) -> bytes:
    """What a tlog-cosignature v1 cosigner signs for ``text`` (a checkpoint's note text)."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


class Signer(Protocol):
    """A key that signs notes (both signer classes here are)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    """A key that checks note signatures (both verifier classes here are)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    @property
    def vkey(self) -> str: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


# -- keys ----------------------------------------------------------------------------------


def _parse_key(text: str, kind: str) -> tuple[str, int, int, bytes]:
    """Name, key ID, signature type and key bytes of ``<name>+<hex ID>+<base64>``."""
    name, _, rest = text.partition("+")
    hex_id, _, b64 = rest.partition("+")
    raw = b64decode_strict(b64)
    if not valid_name(name) or not _HEX_ID.fullmatch(hex_id) or not raw:
        raise KeyInvalid(f"this is not a {kind} key <name>+<8 hex key ID>+<base64 key>")
    return name, int(hex_id, 16), raw[0], raw[1:]


def _check_type(cls: type[_Ed25519Key], sig_type: int, name: str) -> None:
    if sig_type not in cls.accepted_types:
        raise KeyInvalid(
            f"the key {name} is of signature type 0x{sig_type:02x}, not "
            f"0x{cls.sig_type:02x} as a {cls.__name__} needs"
        )


class _Ed25519Key:
    """What the keys of both signature types share: a valid name and the key ID they make."""

    sig_type: ClassVar[int]
    # Types whose key text a class takes. The witness classes also take a plain Ed25519 key
    # (0x01) and use it for cosignatures, as transparency-dev/formats does.
    accepted_types: ClassVar[tuple[int, ...]]

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not valid_name(name):
            raise KeyInvalid("a key name is non-empty, with no Unicode space and no plus")
        self._name = name
        self._public_key = public_key
        self._public_bytes = public_key.public_bytes_raw()
        self._key_id = key_id(name, self.sig_type, self._public_bytes)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def vkey(self) -> str:
        """The verifier key text, ``<name>+<hex key ID>+base64(type || public key)``."""
        material = _b64(bytes([self.sig_type]) + self._public_bytes)
        return f"{self._name}+{self._key_id:08x}+{material}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name}+{self._key_id:08x})"


class _Ed25519Verifier(_Ed25519Key):
    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """The verifier of a vkey text; KeyInvalid if malformed, of another type, or if its
        key ID does not match its name and key."""
        name, claimed, sig_type, key = _parse_key(vkey, "verifier")
        if claimed != key_id(name, sig_type, key):
            raise KeyInvalid(f"the key ID of {name}+{claimed:08x} does not match its key")
        _check_type(cls, sig_type, name)
        if len(key) != _ED25519_SIZE:
            raise KeyInvalid(f"the key {name} is not a 32-byte Ed25519 public key")
        return cls(name, Ed25519PublicKey.from_public_bytes(key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ed25519Verifier) and (type(other), other.vkey) == (
            type(self),
            self.vkey,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.vkey))

    def _ed25519(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NoteVerifier(_Ed25519Verifier):
    """An Ed25519 note key (type 0x01): checks the log's signature on checkpoints."""

    sig_type = ED25519
    accepted_types = (ED25519,)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return len(signature) == _SIGNATURE_SIZE and self._ed25519(message, signature)


class CosignatureVerifier(_Ed25519Verifier):
    """A witness's Ed25519 cosignature key (tlog-cosignature v1, type 0x04)."""

    sig_type = COSIGNATURE_V1
    accepted_types = (COSIGNATURE_V1, ED25519)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != _TIMESTAMP_SIZE + _SIGNATURE_SIZE:
            return False
        at = self.timestamp(signature)
        return at <= MAX_TIMESTAMP and self._ed25519(
            cosignature_message(at, message), signature[_TIMESTAMP_SIZE:]
        )

    @staticmethod
    def timestamp(signature: bytes) -> int:
        """The time (POSIX seconds) a cosignature says it was made at, which it signs."""
        if len(signature) != _TIMESTAMP_SIZE + _SIGNATURE_SIZE:
            raise NoteInvalid("a cosignature is an 8-byte time and a 64-byte Ed25519 signature")
        return int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")


class _Ed25519Signer(_Ed25519Key):
    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        super().__init__(name, private_key.public_key())
        self._private_key = private_key

    @classmethod
    def generate(cls, name: str) -> Self:
        """A new random key named ``name``."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, skey: str) -> Self:
        """The signer of a ``PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed)`` text (Go's
        note.NewSigner form); KeyInvalid if malformed or if the key ID does not match."""
        if not skey.startswith(_PRIVATE):
            raise KeyInvalid("a signer key starts with PRIVATE+KEY+")
        name, claimed, sig_type, seed = _parse_key(skey[len(_PRIVATE) :], "signer")
        _check_type(cls, sig_type, name)
        if len(seed) != _ED25519_SIZE:
            raise KeyInvalid(f"the signer key {name} is not a 32-byte Ed25519 seed")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        public = private_key.public_key().public_bytes_raw()
        if claimed != key_id(name, sig_type, public):
            raise KeyInvalid(f"the key ID of the signer key {name} does not match its key")
        return cls(name, private_key)

    def to_text(self) -> str:
        """The signer key text (secret): what :meth:`from_text` reads."""
        seed = _b64(bytes([self.sig_type]) + self._private_key.private_bytes_raw())
        return f"{_PRIVATE}{self.name}+{self.key_id:08x}+{seed}"


class NoteSigner(_Ed25519Signer):
    """An Ed25519 note key (type 0x01), the log's: signs checkpoints."""

    sig_type = ED25519
    accepted_types = (ED25519,)

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self._public_key)


class CosignatureSigner(_Ed25519Signer):
    """A witness's cosignature key (tlog-cosignature v1, type 0x04)."""

    sig_type = COSIGNATURE_V1
    accepted_types = (COSIGNATURE_V1, ED25519)

    def sign(self, message: bytes, at: int | None = None) -> bytes:
        """The timestamped cosignature of ``message`` made at time ``at`` (POSIX seconds,
        default now): 8-byte big-endian time || Ed25519 signature."""
        at = int(time.time()) if at is None else at
        if not 0 <= at <= MAX_TIMESTAMP:
            raise ValueError(f"a cosignature time is in [0, 2**63 - 1], not {at}")
        signature = self._private_key.sign(cosignature_message(at, message))
        return at.to_bytes(_TIMESTAMP_SIZE, "big") + signature

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self._public_key)


# -- notes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and ID, and the signature after the ID."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise NoteInvalid("a key name is non-empty, with no Unicode space and no plus")
        if not 0 <= self.key_id < 2**32:
            raise NoteInvalid("a key ID is 4 bytes")
        if not self.signature:
            raise NoteInvalid(f"the signature line of {self.name} has no signature")

    def line(self) -> str:
        raw = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {_b64(raw)}\n"


def _parse_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(_DASH):
        raise NoteInvalid(f"signature line {number} does not start with an em dash and a space")
    name, _, b64 = line[len(_DASH) :].partition(" ")
    raw = b64decode_strict(b64)
    if not valid_name(name):
        raise NoteInvalid(f"signature line {number} does not start with a valid key name")
    if raw is None or len(raw) < 5:
        raise NoteInvalid(f"signature line {number} has no base64 key ID and signature")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


@dataclass(frozen=True)
class Note:
    """A note as written, its signatures not checked (:func:`open_note` checks them)."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        if has_forbidden_characters(self.text):
            raise NoteInvalid("a note holds UTF-8 text with no control character but newline")
        if not self.text.endswith("\n"):
            raise NoteInvalid("a note's text ends with a newline")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise NoteInvalid(f"a note has 1 to {MAX_SIGNATURES} signature lines")

    @classmethod
    def parse(cls, note: str | bytes) -> Note:
        """Split a signed note into its text and signature lines; NoteInvalid if malformed."""
        if isinstance(note, bytes):
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteInvalid("the note is not UTF-8") from exc
        if has_forbidden_characters(note):
            raise NoteInvalid("the note holds a control character other than newline")
        split = note.rfind("\n\n")
        if split < 0:
            raise NoteInvalid("the note has no blank line before its signatures")
        text, block = note[: split + 1], note[split + 2 :]
        if not block.endswith("\n"):
            raise NoteInvalid("the note does not end with a signature line and a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteInvalid(f"the note has more than {MAX_SIGNATURES} signature lines")
        return cls(text, tuple(_parse_line(line, n) for n, line in enumerate(lines, 1)))

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signature(self, signature: NoteSignature) -> Note:
        """This note with ``signature`` last, instead of any line of the same key."""
        key = (signature.name, signature.key_id)
        kept = tuple(s for s in self.signatures if (s.name, s.key_id) != key)
        return Note(self.text, (*kept, signature))


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note of ``text`` (which ends with a newline), one line per signer."""
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    message = text.encode()
    signatures = tuple(NoteSignature(s.name, s.key_id, s.sign(message)) for s in signers)
    return Note(text, signatures).to_text()


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures from known keys all verified; ``verified`` holds one line per
    known key that signed, ``unverified`` the distinct lines of unknown keys."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]

    def signature_of(self, verifier: Verifier) -> NoteSignature | None:
        """The verified signature of ``verifier``'s key, if it signed."""
        key = (verifier.name, verifier.key_id)
        return next((s for s in self.verified if (s.name, s.key_id) == key), None)


def open_note(
    note: str | bytes, verifiers: Iterable[Verifier], *, require_verified: bool = True
) -> OpenedNote:
    """Parse ``note`` and check the signatures of the ``verifiers``' keys (c2sp.org/signed-note).

    Lines of unknown keys are kept as unverified; a known key's line that does not verify
    rejects the note (NoteInvalid), and so does a note no known key signed, unless
    ``require_verified`` is false. Two different keys with the same name and key ID among
    ``verifiers`` are KeyInvalid: which one a line means would be a guess.
    """
    parsed = Note.parse(note)
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if key in known and known[key].vkey != verifier.vkey:
            raise KeyInvalid(f"two verifier keys are named {verifier.name}+{verifier.key_id:08x}")
        known[key] = verifier
    message = parsed.text.encode()
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[NoteSignature, None] = {}  # an ordered set: repeated lines once
    for signature in parsed.signatures:
        key = (signature.name, signature.key_id)
        checker = known.get(key)
        if checker is None:
            unverified.setdefault(signature)
        elif checker.verify(message, signature.signature):
            verified.setdefault(key, signature)
        else:
            raise NoteInvalid(
                f"the signature of {signature.name}+{signature.key_id:08x} does not verify"
            )
    if require_verified and not verified:
        raise NoteInvalid("no key the reader trusts signed the note")
    return OpenedNote(parsed.text, tuple(verified.values()), tuple(unverified))

"""A minimal DER reader for the vendor certificate extensions `cryptography` leaves opaque.

Intel's SGX extension (OID 1.2.840.113741.1.13.1) is a nested SEQUENCE of {OID, value} pairs
and AMD's VCEK extensions are bare DER INTEGERs and IA5Strings. Both need only definite-length
TLVs with single-byte tags, so a forty-line reader is safer and far faster than a general
ASN.1 library; anything outside that subset is refused as malformed.
"""

from __future__ import annotations

from trustroom.evidence._errors import ParseError

__all__ = [
    "BOOLEAN",
    "ENUMERATED",
    "IA5STRING",
    "INTEGER",
    "OCTET_STRING",
    "OID",
    "SEQUENCE",
    "decode_int",
    "decode_oid",
    "encode",
    "encode_int",
    "encode_oid",
    "encode_sequence",
    "single",
    "tlvs",
]

INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
ENUMERATED = 0x0A
BOOLEAN = 0x01
IA5STRING = 0x16
SEQUENCE = 0x30


def tlvs(data: bytes, what: str) -> list[tuple[int, bytes]]:
    """(tag, value) of each TLV laid end to end in ``data``."""
    out = []
    offset, end = 0, len(data)
    while offset < end:
        if offset + 2 > end:
            raise ParseError(f"{what}: truncated DER header", structure=what)
        tag, length = data[offset], data[offset + 1]
        if tag & 0x1F == 0x1F:
            raise ParseError(f"{what}: multi-byte DER tags are not expected", structure=what)
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or offset + count > end:
                raise ParseError(f"{what}: invalid DER length", structure=what)
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > end:
            raise ParseError(f"{what}: DER value runs past its container", structure=what)
        out.append((tag, data[offset : offset + length]))
        offset += length
    return out


def single(data: bytes, tag: int, what: str) -> bytes:
    """The value of ``data`` when it is exactly one TLV with ``tag``."""
    items = tlvs(data, what)
    if len(items) != 1 or items[0][0] != tag:
        raise ParseError(f"{what}: expected one DER element with tag 0x{tag:02x}", structure=what)
    return items[0][1]


def decode_int(value: bytes, what: str) -> int:
    if not value:
        raise ParseError(f"{what}: empty DER INTEGER", structure=what)
    return int.from_bytes(value, "big", signed=True)


def encode_oid(dotted: str) -> bytes:
    """The DER content bytes of an OBJECT IDENTIFIER, to compare raw values without decoding."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(value: bytes, what: str) -> str:
    if not value or value[-1] & 0x80:
        raise ParseError(f"{what}: malformed OBJECT IDENTIFIER", structure=what)
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


# Encoding, for the few structures trustroom writes itself (the simulated platform's PCK
# certificates carry Intel's SGX extension).


def encode(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + value


def encode_int(value: int, tag: int = INTEGER) -> bytes:
    # Minimal two's complement, as DER requires: 255 is 00 FF, 127 is 7F, 0 is 00.
    return encode(tag, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def encode_sequence(*items: bytes) -> bytes:
    return encode(SEQUENCE, b"".join(items))

"""ristretto255, the prime-order group private set intersection works in (RFC 9496).

Elements are 32-byte canonical encodings; scalars 32 bytes, little-endian. The arithmetic is
libsodium's (through pysodium), which releases the GIL, so threads spread a batch over cores.
``hash_to_group`` is RFC 9380's hash_to_ristretto255: expand_message_xmd with SHA-512 to 64
bytes, then RFC 9496's one-way map (libsodium's ``crypto_core_ristretto255_from_hash``); its
output for RFC 9497's ristretto255-SHA512 test vectors is checked in the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pysodium

__all__ = ["ELEMENT_SIZE", "hash_to_group", "map_batches", "random_scalar", "scalar_mult"]

ELEMENT_SIZE = 32
_EXPANDED = 64  # bytes the one-way map takes
_BLOCK = 128  # SHA-512's input block: expand_message_xmd's zero padding


def _dst_prime(dst: bytes) -> bytes:
    if not 0 < len(dst) <= 255:
        raise ValueError("a domain separation tag is 1 to 255 bytes")
    return dst + bytes([len(dst)])


def hash_to_group(dst: bytes) -> Callable[[bytes], bytes]:
    """The function taking a message to its ristretto255 element under the domain
    separation tag ``dst`` (the padding's hash state computed once: a party hashes every one
    of its items)."""
    dst_prime = _dst_prime(dst)
    padded = hashlib.sha512(bytes(_BLOCK))
    suffix = b"\x00\x40\x00" + dst_prime
    tail = b"\x01" + dst_prime
    from_hash = pysodium.crypto_core_ristretto255_from_hash
    sha512 = hashlib.sha512

    def hash_one(message: bytes) -> bytes:
        b0 = padded.copy()
        b0.update(message + suffix)
        return from_hash(sha512(b0.digest() + tail).digest())  # type: ignore[no-any-return]

    return hash_one


def random_scalar() -> bytes:
    """A uniformly random non-zero scalar, from libsodium's generator."""
    return pysodium.crypto_core_ristretto255_scalar_random()  # type: ignore[no-any-return]


def scalar_mult(scalar: bytes, element: bytes) -> bytes:
    """``scalar`` times ``element``; ValueError if ``element`` is not a canonical encoding
    of a group element (or the product is the identity)."""
    return pysodium.crypto_scalarmult_ristretto255(scalar, element)  # type: ignore[no-any-return]


def map_batches(
    function: Callable[[bytes], bytes], values: Sequence[bytes], workers: int
) -> list[bytes]:
    """``[function(v) for v in values]``, on ``workers`` threads in large chunks."""
    if workers <= 1 or len(values) < 2 * _CHUNK:
        return [function(v) for v in values]
    chunks = [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(lambda chunk: [function(v) for v in chunk], chunks)
        return [result for chunk in done for result in chunk]


_CHUNK = 4096

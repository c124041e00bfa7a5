"""Correlated randomness: AES-128-CTR streams that two parties expand from one shared seed.

Both holders of a seed draw the same elements in the same order, so the protocols stay in
step by drawing from a stream exactly when every holder does. AES-CTR through OpenSSL
(AES-NI) gives about 0.5 G ring elements a second here, twice numpy's PCG64 ``random_raw``.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from trustroom.mpc._ring import Ring

__all__ = ["SEED_BYTES", "Stream"]

SEED_BYTES = 16
_BLOCK = 16


class Stream:
    """Pseudo-random ring elements from a 16-byte seed."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"a stream seed is {SEED_BYTES} bytes")
        self._cipher = Cipher(algorithms.AES(seed), modes.CTR(bytes(_BLOCK))).encryptor()
        self._zeros = np.zeros(0, dtype=np.uint8)

    def ring(self, shape: tuple[int, ...]) -> Ring:
        """The next ``prod(shape)`` elements of the stream."""
        count = int(np.prod(shape, dtype=np.int64))
        size = 8 * count
        if self._zeros.size < size:
            self._zeros = np.zeros(size, dtype=np.uint8)
        # update_into wants room for a block more than it writes.
        out = np.empty(count + 2, dtype=np.uint64)
        self._cipher.update_into(self._zeros.data[:size], out.view(np.uint8).data)
        return out[:count].reshape(shape)

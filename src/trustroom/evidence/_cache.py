"""A small LRU for results of verification work that does not depend on time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import suppress
from typing import Any, TypeVar

__all__ = ["VerificationCache"]

T = TypeVar("T")
_MISSING = object()


class VerificationCache:
    """Maps exact input bytes to what was verified from them.

    Keys include every byte that was checked, so a changed byte is a miss. Only successes are
    stored (failures raise out of ``compute`` and are recomputed next time, so an attacker
    cannot pin a failure). Entries carry no time: callers keep the validity windows in the
    cached value and check them against the evaluation time on every call.

    Threads may share one cache without a lock: each dict operation is atomic, and the races
    (two threads computing the same entry, an entry evicted while it is read) only cost work.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._maxsize = maxsize

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self._maxsize <= 0:
            return compute()
        value = self._items.get(key, _MISSING)
        if value is not _MISSING:
            with suppress(KeyError):  # evicted by another thread meanwhile: still a hit
                self._items.move_to_end(key)
            return value  # type: ignore[no-any-return]
        value = compute()
        self._items[key] = value
        if len(self._items) > self._maxsize:
            self._items.popitem(last=False)
        return value

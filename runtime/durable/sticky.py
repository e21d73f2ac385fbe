"""The sticky cache: replays kept warm between steps, least recently used dropped first.

A driver keeps the replay of a coroutine after an append of it landed, so the next input on
this warm container resumes the suspended coroutine instead of replaying the journal. Whatever
a driver keeps with it (the journal's last seq, ids it has seen) rides along as ``value``.
Taking an entry out (:meth:`StickyCache.take`) is how a driver uses it: the coroutine is about
to change, and it comes back only with an append that makes it true again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


K = TypeVar("K", bound=_Closable)


class StickyCache(Generic[K]):
    """At most ``size`` kept entries, each closed when it is dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[str, K] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, key: str) -> bool:
        return key in self._kept

    def take(self, key: str) -> K | None:
        """Remove and return the entry of ``key`` (None: not kept)."""
        return self._kept.pop(key, None)

    def peek(self, key: str) -> K | None:
        """The entry of ``key`` (None: not kept), left where it is."""
        return self._kept.get(key)

    def keep(self, key: str, value: K) -> None:
        """Keep ``value`` as the most recently used; a cache of size 0 closes it at once."""
        if self.size <= 0:
            value.close()
            return
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            _, dropped = self._kept.popitem(last=False)
            dropped.close()

    def forget(self, key: str) -> None:
        """Drop and close the entry of ``key``, if any."""
        dropped = self._kept.pop(key, None)
        if dropped is not None:
            dropped.close()

    def clear(self) -> None:
        """Drop and close every entry."""
        for key in list(self._kept):
            self.forget(key)

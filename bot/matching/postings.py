"""Postings: a map from keys to sets of values that keeps a key with one value without a
set, since most keys of a text index have one and a set is large."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Hashable)


class Postings(Generic[K, V]):
    """Key → the distinct values added under it and not discarded since. Values must not
    be sets themselves."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[K, V | set[V]] = {}

    def __len__(self) -> int:
        """The number of keys with a value."""
        return len(self._entries)

    def add(self, key: K, value: V) -> None:
        """Add `value` under `key`."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = value
        elif isinstance(entry, set):
            entry.add(value)
        elif entry != value:
            self._entries[key] = {entry, value}

    def discard(self, key: K, value: V) -> None:
        """Remove `value` from under `key`, if there."""
        entry = self._entries.get(key)
        if isinstance(entry, set):
            entry.discard(value)
            if len(entry) == 1:
                self._entries[key] = next(iter(entry))
        elif entry is not None and entry == value:
            del self._entries[key]

    def get(self, key: K) -> Collection[V]:
        """The values under `key` (empty if none). Do not modify the result."""
        entry = self._entries.get(key)
        if entry is None:
            return ()
        return entry if isinstance(entry, set) else (entry,)

    def count(self, key: K) -> int:
        """How many values are under `key`."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        return len(entry) if isinstance(entry, set) else 1

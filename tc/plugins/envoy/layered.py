"""Layered: an immutable mapping that shares its bulk with the mapping it was made from.

A snapshot that changes 3 of 10,000 resources must not copy the other 9,997 (a dict copy
costs a tenth of a millisecond at that size, and as much again to free the old one once
the next snapshot replaces it), yet every snapshot must stay as it was published. So a
Layered mapping is a dict it shares with the mappings before it plus the few entries
changed since; the changes are folded into a new shared dict once they grow past a small
share of it (about the square root of its size), which keeps a lookup at two dict probes
and a change at O(changes + sqrt(size)). Whoever iterates the whole mapping (a
state-of-the-world push, a full check) gets a flat dict, made at most once per mapping and
then shared by every reader and by the next mapping.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from math import isqrt
from typing import TypeVar, overload

_V = TypeVar("_V")
_D = TypeVar("_D")

_GONE: object = object()


class Layered(Mapping[str, _V]):
    """Use `changed` to make the next mapping; this one never changes."""

    __slots__ = ("_base", "_flat", "_len", "_top")

    def __init__(self, entries: Mapping[str, _V] | None = None) -> None:
        self._base: dict[str, _V] = dict(entries) if entries else {}
        self._top: dict[str, object] = {}
        """Entries changed since `_base`; _GONE where removed."""
        self._flat: dict[str, _V] | None = self._base
        self._len = len(self._base)

    def __getitem__(self, key: str) -> _V:
        top = self._top
        if key in top:
            value = top[key]
            if value is _GONE:
                raise KeyError(key)
            return value  # type: ignore[return-value]
        return self._base[key]

    @overload
    def get(self, key: str, /) -> _V | None: ...
    @overload
    def get(self, key: str, default: _V | _D, /) -> _V | _D: ...
    def get(self, key: str, default: object = None, /) -> object:
        top = self._top
        if key in top:
            value = top[key]
            return default if value is _GONE else value
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        top = self._top
        if key in top:
            return top[key] is not _GONE
        return key in self._base

    def __len__(self) -> int:
        return self._len

    def flat(self) -> dict[str, _V]:
        """Every entry as one dict (made once; do not modify it)."""
        if self._flat is None:
            flat = dict(self._base)
            for key, value in self._top.items():
                if value is _GONE:
                    del flat[key]
                else:
                    flat[key] = value  # type: ignore[assignment]
            self._flat = flat
        return self._flat

    def __iter__(self) -> Iterator[str]:
        return iter(self.flat())

    def keys(self) -> KeysView[str]:
        return self.flat().keys()

    def items(self) -> ItemsView[str, _V]:
        return self.flat().items()

    def values(self) -> ValuesView[_V]:
        return self.flat().values()

    def __repr__(self) -> str:
        return f"Layered({self.flat()!r})"

    def changed(self, changes: Mapping[str, _V | None]) -> Layered[_V]:
        """A mapping with the entries in `changes` set, or removed where None."""
        out: Layered[_V] = Layered.__new__(Layered)
        if self._flat is not None:
            base, top = self._flat, {}
        else:
            base, top = self._base, dict(self._top)
        length = self._len
        for key, value in changes.items():
            present = top[key] is not _GONE if key in top else key in base
            if value is None:
                length -= present
                if key in base:
                    top[key] = _GONE
                else:
                    top.pop(key, None)
            else:
                length += not present
                top[key] = value
        out._base, out._top, out._len = base, top, length
        out._flat = base if not top else None
        if len(top) > max(16, isqrt(len(base))):
            out._base, out._top = out.flat(), {}
        return out

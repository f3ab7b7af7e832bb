"""Which zone a name belongs to, matched the way DNS delegates: on label boundaries.

A plain suffix test would put "badexample.com" in "example.com" and send its records to
someone else's zone, so every zone test in the plugin goes through here. The root zone is
never a match: the plugin updates real zones only, and a root entry in a zone list would
otherwise swallow every name.
"""

from __future__ import annotations

from collections.abc import Collection


def _normal(name: str) -> str:
    return name.rstrip(".").lower()


def is_under(name: str, zone: str) -> bool:
    """Whether `name` is `zone` or a name below it (case-insensitive, trailing dots
    ignored); never true for the root zone."""
    name, zone = _normal(name), _normal(zone)
    if not zone:
        return False
    return name == zone or name.endswith("." + zone)


def zone_for(name: str, zones: Collection[str]) -> str | None:
    """The longest of `zones` that `name` is in (lower case, no trailing dot), or None.

    The longest wins because a delegated child zone ("sub.example.com") holds its names,
    not its parent."""
    best: str | None = None
    for zone in zones:
        candidate = _normal(zone)
        if is_under(name, candidate) and (best is None or len(candidate) > len(best)):
            best = candidate
    return best

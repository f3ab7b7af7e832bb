"""From the services that changed to a published snapshot, doing work for those alone.

The envoy plugin re-renders only the services a change touches; this carries that through
assembly (assembly.Assembly re-decides only what those services can affect) and the
snapshot (Snapshot.updated encodes, hashes and checks only the resources that changed), so
that applying one intent costs about the same with 10 or 10,000 services loaded. A Sync, the
first publish and the publish after a refused one start from everything instead, which
gives the same snapshot (the tests hold the two paths to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tc.plugins.envoy.assembly import Assembly
from tc.plugins.envoy.cache import Snapshot, SnapshotCache
from tc.plugins.envoy.listeners import DEFAULT_LAYOUT, Layout
from tc.plugins.envoy.render import ServiceParts


class Publisher:
    """Publishes the resources of every service's parts to `cache`. Use from one task."""

    def __init__(self, cache: SnapshotCache, layout: Layout = DEFAULT_LAYOUT) -> None:
        self._cache = cache
        self._layout = layout
        self._assembly = self._new_assembly()
        # The assembly may be ahead of the cache (a publish was refused): then the next
        # publish starts from everything.
        self._in_step = False

    def _new_assembly(self) -> Assembly:
        return Assembly(self._layout)

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """By service intent name: what it lost to a service earlier in name order, as of
        the last publish (refused or not)."""
        return self._assembly.conflicts

    def publish(self, parts: Mapping[str, ServiceParts], changed: Iterable[str] | None) -> Snapshot:
        """Publishes the resources of `parts` (every service; those with errors contribute
        nothing), given that only the services in `changed` differ from the last publish
        (None: anything may). Returns what was published; raises InconsistentSnapshot and
        publishes nothing when the cache refuses it."""
        current = self._cache.snapshot
        self._in_step, in_step = False, self._in_step
        if changed is None or current is None or not in_step:
            self._assembly = self._new_assembly()
            self._assembly.update({n: p for n, p in parts.items() if not p.errors})
            published = self._cache.set_snapshot(Snapshot.build(self._assembly.resources()))
        else:
            good = {
                n: p if (p := parts.get(n)) is not None and not p.errors else None for n in changed
            }
            published = self._cache.set_snapshot(current.updated(self._assembly.update(good)))
        self._in_step = True
        return published

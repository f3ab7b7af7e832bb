"""The xDS snapshot cache: what every proxy should have, encoded once, knowing nothing of gRPC.

Rendering produces messages; this module turns them into an immutable `Snapshot` of
encoded resources with content-derived versions, and `SnapshotCache` publishes one
snapshot at a time to whoever waits (the ADS server, benchmarks, tests). Keeping gRPC out
means the server can be swapped or tested against the cache alone, and the cache can be
tested without a network.

Versions are hashes of the deterministic encoding, never counters: every plugin instance
given the same intents computes the same versions, so a proxy failing over between
instances sees nothing new and re-applies nothing.

A change of one service makes the next snapshot with `Snapshot.updated` from the
published one: only the changed resources are encoded, hashed and checked, so the cost of
a change does not grow with the number of services (beyond copying a dict per changed
type). `Snapshot.build` makes one from everything (start-up, Sync, tests); both give the
same snapshot for the same resources.

A snapshot is checked before it is published: a cluster whose ClusterLoadAssignment, or a
listener or scope whose RouteConfiguration, is missing would leave Envoy warming forever,
which is worse than refusing the change up front.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import scoped_route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from google.protobuf.message import Message

from tc.plugins.envoy.layered import Layered
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    TYPE_URLS,
    Resources,
)

_M = TypeVar("_M", bound=Message)

_HCM_TYPE_URL = "type.googleapis.com/" + (
    http_connection_manager_pb2.HttpConnectionManager.DESCRIPTOR.full_name
)

REFERS_TO = {CLUSTER: ENDPOINT, LISTENER: ROUTE, SCOPED_ROUTE: ROUTE}
"""The types whose resources name resources of another type Envoy then waits for."""

_KIND = {CLUSTER: "cluster", LISTENER: "listener", SCOPED_ROUTE: "scope"}

_NOTHING: frozenset[str] = frozenset()  # one for every resource that waits for nothing


class InconsistentSnapshot(ValueError):
    """A snapshot refers to a resource it does not hold; it is never published."""


class Encoded(NamedTuple):
    """One resource as sent on the wire: its content version and its serialized bytes."""

    version: str
    value: bytes
    needs: frozenset[str] = _NOTHING
    """For the types in REFERS_TO: the names of that type the resource waits for."""


def _encode(type_url: str, message: Message) -> Encoded:
    value = message.SerializeToString(deterministic=True)
    version = hashlib.blake2b(value, digest_size=8).hexdigest()
    return Encoded(version, value, _needs(type_url, message))


# A type's version is the sum, modulo 2**64, of a 64-bit hash of each (name, resource
# version) pair. A sum does not depend on the order resources come in, and a change of a
# few resources updates it in O(changed): subtract the old pairs, add the new. Names are
# unique within a type, so no pair counts twice; any added, removed or changed resource
# changes the sum unless hashes collide (odds of 2**-64 per change).
_MOD = 1 << 64


def _pair_hash(name: str, version: str) -> int:
    digest = hashlib.blake2b(name.encode() + b"\0" + version.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def _type_version(total: int) -> str:
    return f"{total:016x}"


def _sum(entries: Mapping[str, Encoded]) -> int:
    return sum(_pair_hash(name, e.version) for name, e in entries.items()) % _MOD


def _eds_name(cluster: cluster_pb2.Cluster) -> str | None:
    """The CLA name an EDS cluster waits for, or None when it is not an EDS cluster."""
    if cluster.WhichOneof("cluster_discovery_type") != "type" or cluster.type != cluster.EDS:
        return None
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def _rds_names(listener: listener_pb2.Listener) -> Iterable[str]:
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.type_url != _HCM_TYPE_URL:
                continue
            hcm = http_connection_manager_pb2.HttpConnectionManager()
            network_filter.typed_config.Unpack(hcm)
            if hcm.WhichOneof("route_specifier") == "rds":
                yield hcm.rds.route_config_name


def _needs(type_url: str, message: Message) -> frozenset[str]:
    """The names of REFERS_TO[type_url] that `message` waits for."""
    if type_url == CLUSTER:
        eds = _eds_name(_as(message, cluster_pb2.Cluster))
        return _NOTHING if eds is None else frozenset({eds})
    if type_url == LISTENER:
        return frozenset(_rds_names(_as(message, listener_pb2.Listener))) or _NOTHING
    if type_url == SCOPED_ROUTE:
        scope = _as(message, scoped_route_pb2.ScopedRouteConfiguration)
        # A scope with its route configuration inline waits for nothing.
        name = scope.route_configuration_name
        inline = scope.HasField("route_configuration")
        return frozenset({name}) if name and not inline else _NOTHING
    return _NOTHING


NeededBy = Mapping[str, frozenset[str]]
"""Name waited for -> the resources (of one type) waiting for it."""


def _needed_by(entries: Mapping[str, Encoded]) -> Layered[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for referrer, entry in entries.items():
        for name in entry.needs:
            out.setdefault(name, set()).add(referrer)
    return Layered({name: frozenset(referrers) for name, referrers in out.items()})


def _renew_needed_by(
    needed_by: NeededBy,
    before: Mapping[str, Encoded],
    after: Mapping[str, Encoded],
    referrers: Iterable[str],
) -> tuple[Layered[frozenset[str]], set[str]]:
    """`needed_by` once `referrers` went from `before` to `after`; and the names whose
    referrers changed."""
    changes: dict[str, frozenset[str]] = {}
    for referrer in referrers:
        old = before[referrer].needs if referrer in before else _NOTHING
        new = after[referrer].needs if referrer in after else _NOTHING
        for name in old ^ new:
            current = changes[name] if name in changes else needed_by.get(name, _NOTHING)
            changes[name] = current - {referrer} if name in old else current | {referrer}
    layered = needed_by if isinstance(needed_by, Layered) else Layered(needed_by)
    return layered.changed({n: r or None for n, r in changes.items()}), set(changes)


@dataclass(frozen=True)
class Snapshot:
    """Every resource of every type, encoded, with per-resource and per-type versions.

    `resources[type_url][name]` is the encoded resource; `versions[type_url]` changes
    exactly when some resource of that type is added, removed or changed. All ADS types
    are always present (possibly empty), since a proxy waits for an answer on each.
    `needed_by[type_url]` (for the types in REFERS_TO) says which resources wait for each
    name, so that a check after a change need not look at every resource.
    """

    resources: Mapping[str, Mapping[str, Encoded]]
    versions: Mapping[str, str]
    needed_by: Mapping[str, NeededBy] = field(default_factory=dict)
    previous_versions: Mapping[str, str] = field(default_factory=dict)
    """The type versions of the snapshot published before this one (empty for the first)."""
    changed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """By type, the names added, changed or removed since the snapshot published before:
    a stream in step with that one looks only at these, not at every resource, and the
    comparison is made once per snapshot instead of once per stream."""
    sums: Mapping[str, int] = field(default_factory=dict)
    """By type, the sum the version is written from (see _pair_hash)."""
    to_check: Mapping[str, frozenset[str]] | None = None
    """For a snapshot made by `updated`: by referred-to type, the names whose presence or
    referrers changed since the snapshot it was made from, all a check needs to look at
    when that one was consistent. None: a check looks at everything."""

    @classmethod
    def build(cls, resources: Resources) -> Snapshot:
        encoded: dict[str, Layered[Encoded]] = {}
        for type_url in {*TYPE_URLS, *resources}:
            messages = resources.get(type_url, {})
            encoded[type_url] = Layered(
                {name: _encode(type_url, m) for name, m in messages.items()}
            )
        needed_by = {type_url: _needed_by(encoded[type_url]) for type_url in REFERS_TO}
        sums = {type_url: _sum(entries) for type_url, entries in encoded.items()}
        versions = {type_url: _type_version(total) for type_url, total in sums.items()}
        return cls(encoded, versions, needed_by, sums=sums)

    def updated(self, changes: Mapping[str, Mapping[str, Message | None]]) -> Snapshot:
        """This snapshot with the resources in `changes` (type URL -> name -> message, or
        None to remove it) replaced, and `changed` and `previous_versions` relative to it.
        Only what `changes` names is encoded and hashed."""
        resources, sums = dict(self.resources), dict(self.sums)
        needed_by = dict(self.needed_by)
        changed = {type_url: frozenset[str]() for type_url in resources}
        to_check: dict[str, set[str]] = {}
        for type_url, messages in changes.items():
            before = self.of_type(type_url)
            entries, names = self._replaced(type_url, messages)
            if not names:
                continue
            resources[type_url], changed[type_url] = entries, frozenset(names)
            sums[type_url] = self._resummed(type_url, entries, names)
            to_check.setdefault(type_url, set()).update(n for n in names if n not in entries)
            if type_url in REFERS_TO:
                needed_by[type_url], touched = _renew_needed_by(
                    self.needed_by.get(type_url, {}), before, entries, names
                )
                to_check.setdefault(REFERS_TO[type_url], set()).update(touched)
        return Snapshot(
            resources,
            {type_url: _type_version(total) for type_url, total in sums.items()},
            needed_by,
            previous_versions=dict(self.versions),
            changed=changed,
            sums=sums,
            to_check={type_url: frozenset(names) for type_url, names in to_check.items()},
        )

    def _replaced(
        self, type_url: str, messages: Mapping[str, Message | None]
    ) -> tuple[Layered[Encoded], set[str]]:
        before = self.of_type(type_url)
        changes: dict[str, Encoded | None] = {}
        for name, message in messages.items():
            new = _encode(type_url, message) if message is not None else None
            if before.get(name) != new:
                changes[name] = new
        layered = before if isinstance(before, Layered) else Layered(before)
        return layered.changed(changes), set(changes)

    def _resummed(self, type_url: str, entries: Mapping[str, Encoded], names: set[str]) -> int:
        total = self.sums.get(type_url, 0)
        before = self.of_type(type_url)
        for name in names:
            if name in before:
                total -= _pair_hash(name, before[name].version)
            if name in entries:
                total += _pair_hash(name, entries[name].version)
        return total % _MOD

    def since(self, previous: Snapshot) -> Snapshot:
        """This snapshot with `previous_versions` and `changed` relative to `previous`."""
        changed: dict[str, frozenset[str]] = {}
        for type_url, entries in self.resources.items():
            if previous.version(type_url) == self.version(type_url):
                changed[type_url] = frozenset()
                continue
            before = previous.of_type(type_url)
            names = {n for n, e in entries.items() if before.get(n) != e}
            names.update(n for n in before if n not in entries)
            changed[type_url] = frozenset(names)
        return dataclasses.replace(self, previous_versions=dict(previous.versions), changed=changed)

    def version(self, type_url: str) -> str:
        return self.versions.get(type_url, _type_version(0))

    def of_type(self, type_url: str) -> Mapping[str, Encoded]:
        return self.resources.get(type_url, {})

    def eds_name(self, cluster: str) -> str | None:
        """The ClusterLoadAssignment an EDS cluster waits for (None: not an EDS cluster)."""
        entry = self.of_type(CLUSTER).get(cluster)
        return next(iter(entry.needs)) if entry is not None and entry.needs else None

    def check(self, only: Mapping[str, frozenset[str]] | None = None) -> None:
        """Raises InconsistentSnapshot naming every dangling reference; with `only`, looks
        at those names (by referred-to type) alone."""
        problems: list[str] = []
        for referrer_type, type_url in REFERS_TO.items():
            needed_by = self.needed_by.get(referrer_type, {})
            present = self.of_type(type_url)
            names = needed_by if only is None else only.get(type_url, frozenset())
            kind, wanted = _KIND[referrer_type], type_url.rsplit(".", 1)[-1]
            for name in names:
                if name not in present:
                    problems.extend(
                        f"{kind} {r!r} needs {wanted} {name!r}" for r in needed_by.get(name, ())
                    )
        if problems:
            raise InconsistentSnapshot("; ".join(sorted(problems)))


def _as(message: Message, kind: type[_M]) -> _M:
    if isinstance(message, kind):
        return message
    # A caller may hand in a message of another generated copy of the class; go by bytes.
    converted = kind()
    converted.ParseFromString(message.SerializeToString())
    return converted


class SnapshotCache:
    """Holds the published snapshot and wakes whoever waits for a newer one.

    One snapshot serves every proxy: the plugin's fan-out is BROADCAST, so all proxies of
    all instances follow the same state. Use from one event loop.
    """

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._changed = asyncio.Event()

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def set_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Checks `snapshot`, then publishes it with what changed since the one before, and
        returns what was published; raises InconsistentSnapshot instead."""
        current = self._snapshot
        if (
            current is not None
            and snapshot.to_check is not None
            and snapshot.previous_versions == current.versions
        ):
            # Made from a snapshot with the same content as the published one, which was
            # checked: only what changed since can dangle, and `changed` holds already.
            snapshot.check(snapshot.to_check)
        else:
            snapshot.check()
            if current is not None:
                snapshot = snapshot.since(current)
        self._snapshot = snapshot
        # Waiters hold the old event; a fresh one is for those who come after.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return snapshot

    async def wait_for_snapshot(self, known: Snapshot | None) -> Snapshot:
        """Returns the published snapshot as soon as it is not `known` (at once if so already)."""
        while self._snapshot is None or self._snapshot is known:
            await self._changed.wait()
        return self._snapshot

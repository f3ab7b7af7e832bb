"""The xDS snapshot cache: what every proxy should have, encoded once, knowing nothing of gRPC.

Rendering produces messages; this module turns them into an immutable `Snapshot` of
encoded resources with content-derived versions, and `SnapshotCache` publishes one
snapshot at a time to whoever waits (the ADS server, benchmarks, tests). Keeping gRPC out
means the server can be swapped or tested against the cache alone, and the cache can be
tested without a network.

Versions are hashes of the deterministic encoding, never counters: every plugin instance
given the same intents computes the same versions, so a proxy failing over between
instances sees nothing new and re-applies nothing.

A snapshot is checked before it is published: a cluster whose ClusterLoadAssignment or a
listener whose RouteConfiguration is missing would leave Envoy warming forever, which is
worse than refusing the change up front.
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
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from google.protobuf.message import Message

from tc.plugins.envoy.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, TYPE_URLS, Resources

_M = TypeVar("_M", bound=Message)

_HCM_TYPE_URL = "type.googleapis.com/" + (
    http_connection_manager_pb2.HttpConnectionManager.DESCRIPTOR.full_name
)


class InconsistentSnapshot(ValueError):
    """A snapshot refers to a resource it does not hold; it is never published."""


class Encoded(NamedTuple):
    """One resource as sent on the wire: its content version and its serialized bytes."""

    version: str
    value: bytes


def _short_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _type_version(entries: Mapping[str, Encoded]) -> str:
    # Over (name, version) pairs, sorted, so the order rendering produced them in is irrelevant.
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(entries):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(entries[name].version.encode())
        digest.update(b"\n")
    return digest.hexdigest()


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


class EncodingMemo:
    """Encodings from the last build, by message identity.

    A plugin keeps the rendered messages of every unchanged service from one publish to the
    next, so only what a change touched needs encoding and hashing again: without this, each
    change re-encodes every resource of a 10,000-service snapshot. Messages handed to
    Snapshot.build must not be mutated afterwards (render builds new ones each time). Only
    the last build's messages are kept, so the memo never grows past one snapshot.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Message, Encoded, str | None]] = {}

    def lookup(self, message: Message) -> tuple[Message, Encoded, str | None] | None:
        hit = self._seen.get(id(message))
        return hit if hit is not None and hit[0] is message else None

    def replace(self, fresh: dict[int, tuple[Message, Encoded, str | None]]) -> None:
        self._seen = fresh


@dataclass(frozen=True)
class Snapshot:
    """Every resource of every type, encoded, with per-resource and per-type versions.

    `resources[type_url][name]` is the encoded resource; `versions[type_url]` changes
    exactly when some resource of that type is added, removed or changed. All four ADS
    types are always present (possibly empty), since a proxy waits for an answer on each.
    `eds_names[cluster]` is the CLA name each EDS cluster waits for, which the server needs
    to re-send a warming cluster's endpoints.
    """

    resources: Mapping[str, Mapping[str, Encoded]]
    versions: Mapping[str, str]
    eds_names: Mapping[str, str] = field(default_factory=dict)
    rds_names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    previous_versions: Mapping[str, str] = field(default_factory=dict)
    """The type versions of the snapshot published before this one (empty for the first)."""
    changed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """By type, the names added, changed or removed since the snapshot published before:
    a stream in step with that one looks only at these, not at every resource, and the
    comparison is made once per snapshot instead of once per stream."""

    @classmethod
    def build(cls, resources: Resources, memo: EncodingMemo | None = None) -> Snapshot:
        memo = memo if memo is not None else EncodingMemo()
        fresh: dict[int, tuple[Message, Encoded, str | None]] = {}
        encoded: dict[str, dict[str, Encoded]] = {}
        eds_names: dict[str, str] = {}
        for type_url in {*TYPE_URLS, *resources}:
            by_name: dict[str, Encoded] = {}
            for name, message in resources.get(type_url, {}).items():
                entry = memo.lookup(message)
                if entry is None:
                    value = message.SerializeToString(deterministic=True)
                    eds = (
                        _eds_name(_as(message, cluster_pb2.Cluster))
                        if type_url == CLUSTER
                        else None
                    )
                    entry = (message, Encoded(_short_hash(value), value), eds)
                fresh[id(message)] = entry
                by_name[name] = entry[1]
                if entry[2] is not None:
                    eds_names[name] = entry[2]
            encoded[type_url] = by_name
        memo.replace(fresh)
        rds_names = {
            name: frozenset(_rds_names(_as(message, listener_pb2.Listener)))
            for name, message in resources.get(LISTENER, {}).items()
        }
        return cls._from_encoded(encoded, eds_names, rds_names)

    @classmethod
    def _from_encoded(
        cls,
        encoded: Mapping[str, Mapping[str, Encoded]],
        eds_names: Mapping[str, str],
        rds_names: Mapping[str, frozenset[str]],
    ) -> Snapshot:
        versions = {type_url: _type_version(entries) for type_url, entries in encoded.items()}
        return cls(encoded, versions, eds_names, rds_names)

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
        return self.versions.get(type_url, _type_version({}))

    def of_type(self, type_url: str) -> Mapping[str, Encoded]:
        return self.resources.get(type_url, {})

    def check(self) -> None:
        """Raises InconsistentSnapshot naming every dangling EDS or RDS reference."""
        problems: list[str] = []
        assignments = self.of_type(ENDPOINT)
        for cluster, eds in sorted(self.eds_names.items()):
            if eds not in assignments:
                problems.append(f"cluster {cluster!r} needs ClusterLoadAssignment {eds!r}")
        routes = self.of_type(ROUTE)
        for listener, names in sorted(self.rds_names.items()):
            for route in sorted(names):
                if route not in routes:
                    problems.append(f"listener {listener!r} needs RouteConfiguration {route!r}")
        if problems:
            raise InconsistentSnapshot("; ".join(problems))

    def with_load_assignments(self, cla_by_name: Mapping[str, Message]) -> Snapshot:
        """A copy with the named CLAs replaced and every other type untouched.

        Names the snapshot does not hold are skipped: the cluster was removed meanwhile
        (a heartbeat racing a delete), and an orphan CLA would only be noise.
        """
        endpoints = dict(self.of_type(ENDPOINT))
        for name, message in cla_by_name.items():
            if name in endpoints:
                value = message.SerializeToString(deterministic=True)
                endpoints[name] = Encoded(_short_hash(value), value)
        resources = {**self.resources, ENDPOINT: endpoints}
        versions = {**self.versions, ENDPOINT: _type_version(endpoints)}
        return Snapshot(resources, versions, self.eds_names, self.rds_names)


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
        snapshot.check()
        if self._snapshot is not None:
            snapshot = snapshot.since(self._snapshot)
        self._snapshot = snapshot
        # Waiters hold the old event; a fresh one is for those who come after.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return snapshot

    def update_load_assignments(self, cla_by_name: Mapping[str, Message]) -> Snapshot:
        """Publishes the current snapshot with only the named CLAs replaced (endpoint health)."""
        if self._snapshot is None:
            raise LookupError("no snapshot to update yet")
        return self.set_snapshot(self._snapshot.with_load_assignments(cla_by_name))

    async def wait_for_snapshot(self, known: Snapshot | None) -> Snapshot:
        """Returns the published snapshot as soon as it is not `known` (at once if so already)."""
        while self._snapshot is None or self._snapshot is known:
            await self._changed.wait()
        return self._snapshot

"""EnvoyPlugin: the xDS server real Envoy proxies follow, fed by service and workload intents.

Fan-out is BROADCAST: every instance holds the whole desired state and serves the same
snapshot (versions are hashes of the encoding, so both instances give proxies the same
versions and a proxy can fail over between them). ADS is served on the plugin's own gRPC
port, beside PluginService: in config/plugins.d/envoy.yaml that is 127.0.0.1:18000 and
:18001, the addresses examples/envoy-proxy.yaml lists.

Each service renders to its parts (clusters, endpoints, a virtual host or TCP route per
port); every change re-assembles what the re-rendered services touch (publisher.py) and
publishes one snapshot, which the cache checks for consistency first. A workload that
fails the checks is refused on its own and its target renders without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from tc import ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.envoy.cache import InconsistentSnapshot, SnapshotCache
from tc.plugins.envoy.endpoints import eds_health
from tc.plugins.envoy.listeners import Layout
from tc.plugins.envoy.publisher import Publisher
from tc.plugins.envoy.registry import ProxyRegistry
from tc.plugins.envoy.render import ServiceParts, render_service
from tc.plugins.envoy.server import XdsServer
from tc.plugins.sdk import (
    Plugin,
    PluginInfo,
    PluginState,
    accepted_false,
    applied_intents,
    programmed,
    programmed_false,
)
from tc.plugins.sdk.render_groups import Known, RenderGroups, errors_text


def _flag(settings: dict[str, Any], name: str) -> bool:
    """A true-or-false setting, true when absent."""
    value = settings.get(name, True)
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false, not {value!r}")
    return value


class EnvoyPlugin(Plugin):
    """Settings: `listen_address` of the Envoy listeners it renders (default 0.0.0.0);
    `scoped_routes` (default true): a route configuration per service and host-keyed scopes
    on every HTTP port where the hosts allow it, so a change costs each proxy one small
    update; false keeps one route configuration per port (docs/benchmarks.md has both);
    `on_demand_routes` (default true): with scoped routes, a proxy fetches a service's route
    configuration at the first request for it instead of all of them when it starts, which
    costs that first request one round trip to the plugin (listeners.py)."""

    def __init__(self, settings: dict[str, Any], instance_id: str) -> None:
        super().__init__(settings, instance_id)
        # How long an Apply waits for connected proxies to ACK before it answers Pending
        # (the controller then retries with backoff, which asks again).
        self._ack_wait = float(settings.get("ack_wait_seconds", 1.0))
        self.cache = SnapshotCache()
        self._layout = Layout(
            listen_address=str(settings.get("listen_address", "0.0.0.0")),
            scoped_routes=_flag(settings, "scoped_routes"),
            on_demand_routes=_flag(settings, "on_demand_routes"),
        )
        self._publisher = Publisher(self.cache, self._layout)
        # Services re-rendered since the last publish (None: all of them may have been).
        self._dirty: set[str] | None = None
        self.registry = ProxyRegistry()
        self._groups = RenderGroups()
        self._parts: dict[str, ServiceParts] = {}
        # The Known entries each service's parts were rendered from: a retried Apply (the
        # controller asks again while proxies have not ACKed yet) re-renders and
        # re-publishes nothing when they are the same objects.
        self._rendered_from: dict[str, tuple[Known, ...]] = {}
        self._published = ""
        # By service intent: what it lost to a service earlier in name order (a domain, a
        # port), as of the last publish.
        self._conflicts: dict[str, list[str]] = {}
        self._held: dict[str, intent_pb2.Intent] = {}
        self._last_sync_id = ""
        self._lock = asyncio.Lock()

    def add_services(self, server: grpc.aio.Server) -> list[str]:
        XdsServer(self.cache, self.registry).add_to(server)
        return [XdsServer.SERVICE_NAME]

    async def start(self) -> None:
        # Proxies that connect before the first Sync get an empty, consistent config.
        self._publisher.publish({}, None)

    def describe(self) -> PluginInfo:
        return PluginInfo(
            kind="envoy",
            intent_kinds=(plugin_pb2.INTENT_KIND_SERVICE, plugin_pb2.INTENT_KIND_WORKLOAD),
            fanout_mode=plugin_pb2.FANOUT_MODE_BROADCAST,
            endpoint_health=True,
        )

    # -- rendering ----------------------------------------------------------------------------

    def _render(self, service: str) -> bool:
        """Renders the service's parts again; False when nothing they depend on changed."""
        known = self._groups.known.get(service)
        if known is None or known.model is None or not isinstance(known.model.spec, ir.ServiceSpec):
            self._rendered_from.pop(service, None)
            self._note_dirty(service)
            return self._parts.pop(service, None) is not None
        group = (known, *self._groups.workloads_on(service))
        before = self._rendered_from.get(service)
        if (
            before is not None
            and len(before) == len(group)
            and all(a is b for a, b in zip(before, group, strict=True))
        ):
            return False
        workloads = [w.model for w in group[1:] if w.model is not None]
        health = eds_health(known.model.spec, self.endpoint_health.of(service))
        self._parts[service] = render_service(known.model, workloads, endpoint_health=health)
        self._rendered_from[service] = group
        self._note_dirty(service)
        return True

    def _note_dirty(self, service: str) -> None:
        if self._dirty is not None:
            self._dirty.add(service)

    def _publish(self) -> str:
        """Assembles and publishes a snapshot; returns a problem, or "" when published."""
        dirty, self._dirty = self._dirty, set()
        try:
            self._publisher.publish(self._parts, dirty)
        except InconsistentSnapshot as exc:
            self._published = f"rendered snapshot is inconsistent: {exc}"
        else:
            self._published = ""
        self._conflicts = self._publisher.conflicts
        return self._published

    async def _proxies_verdict(self) -> tuple[int, int, str]:
        """(proxies up to date, proxies connected, rejection) for the published snapshot.

        A proxy is up to date when every type it ACKed is at the snapshot's version; a
        rejection is a NACK of the snapshot's version, with Envoy's message."""
        snapshot = self.cache.snapshot
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ack_wait
        while True:
            proxies = self.registry.all()
            if snapshot is None:
                return 0, len(proxies), ""
            for proxy in proxies:
                for type_url, nack in sorted(proxy.last_nack.items()):
                    if nack.version == snapshot.version(type_url):
                        kind = type_url.rsplit(".", 1)[-1]
                        return (
                            0,
                            len(proxies),
                            f"proxy {proxy.node_id} rejected {kind}: {nack.message}",
                        )
            current = [
                p
                for p in proxies
                if p.acked and all(v == snapshot.version(t) for t, v in p.acked.items())
            ]
            remaining = deadline - loop.time()
            if len(current) == len(proxies) or remaining <= 0:
                return len(current), len(proxies), ""
            await self.registry.wait_change(remaining)

    def _result(
        self, pb: intent_pb2.Intent, published: str, verdict: tuple[int, int, str] = (0, 0, "")
    ) -> plugin_pb2.IntentResult:
        known = self._groups.known.get(pb.name)
        if known is None or known.model is None:
            return accepted_false(pb, "Invalid", known.problem if known else "unknown intent")
        parts = self._parts.get(known.owner)
        if known.target is not None:
            if parts is None:
                return programmed_false(
                    pb, "TargetNotFound", f"service intent {known.target!r} is not known"
                )
            if parts.errors:
                return programmed_false(
                    pb,
                    "TargetInvalid",
                    f"service intent {known.target!r} is refused",
                    retryable=False,
                )
            errors = parts.workload_errors.get(pb.name)
            if errors:
                return accepted_false(pb, "Invalid", errors_text(errors))
        elif parts is not None and parts.errors:
            return accepted_false(pb, "Invalid", errors_text(parts.errors))
        if published:
            return programmed_false(pb, "Inconsistent", published, retryable=False)
        lost = self._conflicts.get(known.owner)
        if lost:
            # Retryable: when the other intent goes, this one gets the traffic at the next
            # publish, and the controller's retry (cheap: nothing re-renders) reports it.
            return programmed_false(pb, "Conflict", "; ".join(lost), retryable=True)
        self._held[pb.name] = pb
        current, connected, rejection = verdict
        if rejection:
            return programmed_false(pb, "Rejected", rejection, retryable=False)
        if current < connected:
            return programmed_false(
                pb, "Pending", f"programmed on {current}/{connected} proxies", retryable=True
            )
        return programmed(pb, f"programmed on {current}/{connected} proxies")

    # -- operations ---------------------------------------------------------------------------

    async def apply(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        async with self._lock:
            for pb in [*references, *intents]:
                self._groups.learn(pb)
            self._groups.trust_only(intents, references)
            changed = [
                self._render(owner)
                for owner in sorted({self._groups.known[pb.name].owner for pb in intents})
            ]
            published = self._publish() if any(changed) else self._published
            verdict = await self._proxies_verdict() if not published else (0, 0, "")
            return [self._result(pb, published, verdict) for pb in intents]

    async def remove(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        async with self._lock:
            for pb in references:
                self._groups.learn(pb)
            self._groups.trust_only([], references)
            owners: set[str] = set()
            for pb in intents:
                known: Known | None = self._groups.forget(pb.name)
                self._held.pop(pb.name, None)
                owners.add(known.owner if known is not None else pb.name)
            for owner in sorted(owners):
                self._render(owner)
            published = self._publish()
            if published:
                return [programmed_false(pb, "Inconsistent", published) for pb in intents]
            return [programmed(pb, "removed") for pb in intents]

    async def sync(
        self, intents: Sequence[intent_pb2.Intent], sync_id: str
    ) -> tuple[list[plugin_pb2.IntentResult], list[str]]:
        async with self._lock:
            before = set(self._held)
            self._groups.clear()
            self._parts = {}
            self._rendered_from = {}
            self._dirty = None
            self._held = {}
            for pb in intents:
                self._groups.learn(pb)
            for service in self._groups.services():
                self._render(service.pb.name)
            published = self._publish()
            self._last_sync_id = sync_id
            results = [self._result(pb, published) for pb in intents]
            return results, sorted(before - {pb.name for pb in intents})

    def note_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], *, replace_all: bool
    ) -> set[str]:
        changed = super().note_endpoint_health(services, replace_all=replace_all)
        for service in changed:
            # Rendered with other health: the next render must not be skipped as unchanged.
            self._rendered_from.pop(service, None)
        return changed

    async def set_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], intents: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        """Re-renders only the services whose health changed; publishing is incremental, so
        what reaches proxies is their load assignments alone (clusters, listeners and routes
        render the same), one EDS update with nothing to warm."""
        async with self._lock:
            self.note_endpoint_health(services, replace_all=False)
            if any([self._render(s.service) for s in services]) or self._published:
                self._publish()
            return [programmed(pb, "endpoint health applied") for pb in intents]

    async def get_state(self) -> PluginState:
        async with self._lock:
            snapshot = self.cache.snapshot
            details = {
                "proxies": str(len(self.registry.all())),
                "listen_address": self._layout.listen_address,
            }
            if snapshot is not None:
                encoded = [e for by_name in snapshot.resources.values() for e in by_name.values()]
                details["snapshot.resources"] = str(len(encoded))
                details["snapshot.bytes"] = str(sum(len(e.value) for e in encoded))
                for type_url in snapshot.versions:
                    details[f"version.{type_url.rsplit('.', 1)[-1]}"] = snapshot.version(type_url)
            for proxy in self.registry.all():
                for type_url, version in sorted(proxy.acked.items()):
                    details[f"proxy.{proxy.node_id}.acked.{type_url.rsplit('.', 1)[-1]}"] = version
                for type_url, nack in sorted(proxy.last_nack.items()):
                    key = f"proxy.{proxy.node_id}.nack.{type_url.rsplit('.', 1)[-1]}"
                    details[key] = f"{nack.version}: {nack.message}"
            return PluginState(
                intents=applied_intents(self._held.values()),
                last_sync_id=self._last_sync_id,
                details=details,
            )

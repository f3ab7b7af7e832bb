"""The ADS server: Envoy's AggregatedDiscoveryService over grpc.aio, state-of-the-world and delta.

It knows only the snapshot cache (what proxies should have) and the proxy registry (what
they said about it); rendering, intents and plugin wiring live elsewhere. Each stream has
one loop fed by a queue of client requests and "a new snapshot exists" marks, so a stream's
state is touched by one task only and a burst of snapshots coalesces into one push.

Protocol choices, each for a reason Envoy gives:
- Types are pushed CDS, EDS, LDS, SRDS, RDS within every push: Envoy applies a cluster
  before its endpoints, a listener before its scopes and a scope before its routes, and
  otherwise drops or warms forever.
- After any CDS response the EDS resources are sent again even if unchanged: a cluster
  Envoy re-creates from CDS warms until it gets its ClusterLoadAssignment, and Envoy does
  not always ask for it again when its EDS subscription's names stayed the same.
- A response is decided by what this stream was last sent, never by the version a request
  carries: a NACK's request carries the previous version, and answering it with the
  rejected one again would loop.
- SotW requests whose nonce is not the latest sent for their type are stale and ignored;
  delta requests always update the subscription (they are deltas) and only their ACK/NACK
  part is subject to the nonce.
- A delta client that ACKed everything it was sent holds a new type version when nothing
  it subscribes to changed, though it was sent nothing: the registry hears so. An Envoy
  with on-demand route configurations subscribes to a few of them and would otherwise
  never count as up to date. A name subscribed to later is answered alone, without a scan
  of the whole type.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from tc.plugins.envoy.cache import Snapshot, SnapshotCache
from tc.plugins.envoy.registry import ProxyRegistry
from tc.plugins.envoy.resources import CLUSTER, ENDPOINT, LISTENER, SCOPED_ROUTE, TYPE_URLS
from tc.plugins.envoy.wire import delta_response, sotw_response

log = logging.getLogger(__name__)

# Types a proxy asks for as a whole; for the others it names what it wants. Scopes are
# asked for as a whole too: every scoped listener subscribes to all of them.
_WILDCARD_TYPES = frozenset({CLUSTER, LISTENER, SCOPED_ROUTE})

_stream_ids = itertools.count(1)


def _push_order(type_urls: Iterable[str]) -> list[str]:
    known = [type_url for type_url in TYPE_URLS if type_url in type_urls]
    return known + sorted(set(type_urls) - set(TYPE_URLS))


class _Stream(Protocol):
    def on_request(self, request: Any) -> None: ...

    def push(self, snapshot: Snapshot) -> list[bytes]:
        """Serialized responses (wire.py) for what changed for this stream."""
        ...


class _Nonces:
    def __init__(self) -> None:
        self._prefix = f"{next(_stream_ids)}-"
        self._counter = itertools.count(1)

    def next(self) -> str:
        # Unique across streams too, so a nonce from another stream is never taken as current.
        return f"{self._prefix}{next(self._counter)}"


class _Proxy:
    """The registry entry of the stream's node, registered at its first request."""

    def __init__(self, registry: ProxyRegistry, peer: str) -> None:
        self._registry = registry
        self._peer = peer
        self.node_id: str | None = None

    def identify(self, request: Any) -> None:
        if self.node_id is None:
            self.node_id = request.node.id or f"unknown@{self._peer}"
            self._registry.connected(self.node_id)

    def ack(self, type_url: str, version: str) -> None:
        if self.node_id is not None:
            self._registry.ack(self.node_id, type_url, version)

    def nack(self, type_url: str, version: str, message: str) -> None:
        log.warning(
            "proxy rejected config",
            extra={
                "node": self.node_id,
                "type_url": type_url,
                "version": version,
                "error": message,
            },
        )
        if self.node_id is not None:
            self._registry.nack(self.node_id, type_url, version, message)

    def close(self) -> None:
        if self.node_id is not None:
            self._registry.disconnected(self.node_id)


@dataclass
class _SotwType:
    names: frozenset[str] = frozenset()
    sent_version: str | None = None
    sent_names: frozenset[str] | None = None
    nonce: str = ""
    # Answer even if nothing changed: the client asked afresh, or a cluster is warming.
    due: bool = True
    # EDS and RDS are incremental even in SotW (a resource left out of a response is not
    # removed), so after the first full answer a push carries only what this stream has
    # not got yet: the resource versions it was sent, and names to send regardless
    # (the CLAs of clusters that are warming).
    sent: dict[str, str] = field(default_factory=dict)
    force: set[str] = field(default_factory=set)
    full: bool = True


class _SotwStream:
    def __init__(self, proxy: _Proxy) -> None:
        self._proxy = proxy
        self._nonces = _Nonces()
        self._types: dict[str, _SotwType] = {}
        self._sent_clusters: dict[str, str] = {}

    @property
    def node_id(self) -> str | None:
        return self._proxy.node_id

    def on_request(self, request: Any) -> None:
        self._proxy.identify(request)
        type_url: str = request.type_url
        state = self._types.get(type_url)
        if state is None:
            state = self._types[type_url] = _SotwType()
        elif state.sent_version is not None and request.response_nonce != state.nonce:
            if request.response_nonce:
                return  # stale: answers a response that a newer one has replaced
            # No nonce on a stream already answered: the client starts over.
            state.due = state.full = True
        elif request.HasField("error_detail"):
            self._proxy.nack(type_url, state.sent_version or "", request.error_detail.message)
        elif state.sent_version is not None:
            self._proxy.ack(type_url, request.version_info)
        state.names = frozenset(request.resource_names)

    def push(self, snapshot: Snapshot) -> list[bytes]:
        responses = []
        for type_url in _push_order(self._types):
            state = self._types[type_url]
            wildcard = type_url in _WILDCARD_TYPES
            version = snapshot.version(type_url)
            names_changed = not wildcard and state.names != state.sent_names
            if not (state.due or state.sent_version != version or names_changed):
                continue
            entries = snapshot.of_type(type_url)
            if wildcard:
                chosen = sorted(entries.items())
            else:
                wanted: set[str] = set(state.names & entries.keys())
                if not state.full and not names_changed:
                    wanted = {
                        n
                        for n in wanted
                        if state.sent.get(n) != entries[n].version or n in state.force
                    }
                chosen = [(n, entries[n]) for n in sorted(wanted)]
            state.nonce = self._nonces.next()
            responses.append(
                sotw_response(version, type_url, state.nonce, (e.value for _, e in chosen))
            )
            state.sent_version, state.sent_names, state.due = version, state.names, False
            if not wildcard:
                if state.full or names_changed:
                    state.sent = {}
                state.sent.update((n, e.version) for n, e in chosen)
                state.full, state.force = False, set()
            if type_url == CLUSTER:
                # Envoy warms every added or changed cluster until its CLA arrives, even
                # an unchanged one: send exactly those.
                changed = {n for n, e in entries.items() if self._sent_clusters.get(n) != e.version}
                self._sent_clusters = {n: e.version for n, e in entries.items()}
                eds = self._types.get(ENDPOINT)
                if eds is not None:
                    eds.force |= {e for n in changed if (e := snapshot.eds_name(n)) is not None}
                    eds.due = eds.due or bool(eds.force)
        return responses


@dataclass
class _DeltaType:
    known: dict[str, str]
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    # Names to send even if `known` says the client has them at their version: the CLAs
    # of clusters just sent (they warm until they get one), and names newly subscribed to.
    force: set[str] = field(default_factory=set)
    answered: bool = False
    nonce: str = ""
    nonce_version: str = ""
    # Whether the client ACKed the latest response (`nonce`).
    acked: bool = False
    # The type version `known` was last brought up to date with, while nothing since
    # (a change of wildcard, a forced resource) asks to look at every resource again: lets
    # the many requests that change nothing (ACKs) skip a scan of every resource of the type.
    synced: str | None = None

    def in_step(self) -> str | None:
        """The type version this client holds everything it subscribes to at: the one
        `known` was brought up to date with, once the client ACKed what that took. None
        while something is on its way, was rejected, or is still to be sent."""
        if self.acked and self.synced is not None and not self.force:
            return self.synced
        return None


class _DeltaStream:
    def __init__(self, proxy: _Proxy) -> None:
        self._proxy = proxy
        self._nonces = _Nonces()
        self._types: dict[str, _DeltaType] = {}

    @property
    def node_id(self) -> str | None:
        return self._proxy.node_id

    def on_request(self, request: Any) -> None:
        self._proxy.identify(request)
        type_url: str = request.type_url
        subscribe = set(request.resource_names_subscribe)
        unsubscribe = set(request.resource_names_unsubscribe)
        state = self._types.get(type_url)
        first = state is None
        if state is None:
            state = self._types[type_url] = _DeltaType(dict(request.initial_resource_versions))
            # Legacy wildcard: a first request naming nothing for a type asked for as a whole.
            state.wildcard = not subscribe and type_url in _WILDCARD_TYPES
        if "*" in subscribe or "*" in unsubscribe:
            state.synced = None  # the whole type is in or out of scope: look at all of it
        if "*" in subscribe:
            state.wildcard = True
        if "*" in unsubscribe:
            state.wildcard = False
        named = subscribe - {"*"}
        state.names |= named
        state.names -= unsubscribe
        if not first:
            # A name subscribed to later is sent whatever `known` says, and alone: an
            # on-demand route configuration is asked for by name at its first request,
            # which must not cost a scan of every route configuration. (A first request is
            # answered from a scan, against the versions the client says it holds.)
            state.force |= named - unsubscribe
        for name in unsubscribe:
            # An unsubscribed resource is forgotten by the client without a removal notice.
            state.known.pop(name, None)
            state.force.discard(name)
        if request.response_nonce and request.response_nonce == state.nonce:
            if request.HasField("error_detail"):
                state.acked = False
                self._proxy.nack(type_url, state.nonce_version, request.error_detail.message)
            else:
                state.acked = True
                self._proxy.ack(type_url, state.in_step() or state.nonce_version)

    def push(self, snapshot: Snapshot) -> list[bytes]:
        responses = []
        for type_url in _push_order(self._types):
            state = self._types[type_url]
            version = snapshot.version(type_url)
            if state.answered and state.synced == version and not state.force:
                continue
            entries = snapshot.of_type(type_url)
            in_scope: Callable[[str], bool] = (
                (lambda _name: True) if state.wildcard else state.names.__contains__
            )
            candidates: Iterable[str]
            if state.synced == version:
                candidates = state.force  # in step but for names asked for since
            elif state.synced is not None and state.synced == snapshot.previous_versions.get(
                type_url
            ):
                # In step with the snapshot before: only what changed since can differ.
                candidates = snapshot.changed.get(type_url, frozenset()) | state.force
            else:
                candidates = state.known.keys() | entries.keys() | state.force
            changed = sorted(
                name
                for name in candidates
                if name in entries
                and in_scope(name)
                and (state.known.get(name) != entries[name].version or name in state.force)
            )
            removed = sorted(
                name
                for name in candidates
                if name in state.known and name not in entries and in_scope(name)
            )
            state.synced = version
            if not changed and not removed and state.answered:
                # Nothing this client subscribes to changed: when it ACKed everything
                # before, it holds the new version too, though it was sent nothing (an
                # Envoy with on-demand route configurations subscribes to a few of them).
                state.force.clear()
                if (held := state.in_step()) is not None:
                    self._proxy.ack(type_url, held)
                continue
            state.nonce, state.nonce_version = self._nonces.next(), version
            state.acked = False
            responses.append(
                delta_response(
                    version,
                    type_url,
                    state.nonce,
                    ((name, entries[name].version, entries[name].value) for name in changed),
                    removed,
                )
            )
            for name in changed:
                state.known[name] = entries[name].version
            for name in removed:
                del state.known[name]
            state.force.clear()
            state.answered = True
            endpoints = self._types.get(ENDPOINT)
            if type_url == CLUSTER and endpoints is not None:
                endpoints.force.update(
                    e for name in changed if (e := snapshot.eds_name(name)) is not None
                )
        return responses


def _serialized(response: bytes) -> bytes:
    return response


_END = object()
_NEW_SNAPSHOT = object()


class XdsServer:
    """envoy.service.discovery.v3.AggregatedDiscoveryService for every proxy of one cache.

    Register with `add_to(server)` on a server from `tc.serving.new_server()`, whose
    options allow the 32 MiB messages a large snapshot needs.
    """

    SERVICE_NAME = "envoy.service.discovery.v3.AggregatedDiscoveryService"

    def __init__(self, cache: SnapshotCache, registry: ProxyRegistry) -> None:
        self._cache = cache
        self._registry = registry

    def add_to(self, server: grpc.aio.Server) -> None:
        # As ads_pb2_grpc registers the service, but responses leave as the bytes wire.py
        # wrote (a stream yields them already serialized).
        handlers = {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=_serialized,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=_serialized,
            ),
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(self.SERVICE_NAME, handlers),)
        )
        server.add_registered_method_handlers(self.SERVICE_NAME, handlers)

    async def StreamAggregatedResources(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        proxy = _Proxy(self._registry, context.peer())
        try:
            async for response in self._serve(_SotwStream(proxy), requests):
                yield response
        finally:
            proxy.close()

    async def DeltaAggregatedResources(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        proxy = _Proxy(self._registry, context.peer())
        try:
            async for response in self._serve(_DeltaStream(proxy), requests):
                yield response
        finally:
            proxy.close()

    async def _serve(self, stream: _Stream, requests: AsyncIterator[Any]) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[object] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in requests:
                    queue.put_nowait(request)
            finally:
                queue.put_nowait(_END)

        async def watch() -> None:
            known: Snapshot | None = None
            while True:
                known = await self._cache.wait_for_snapshot(known)
                queue.put_nowait(_NEW_SNAPSHOT)

        tasks = [asyncio.create_task(read()), asyncio.create_task(watch())]
        try:
            while True:
                items = [await queue.get()]
                while not queue.empty():
                    items.append(queue.get_nowait())
                for item in items:
                    if item is _END:
                        return
                    if item is not _NEW_SNAPSHOT:
                        stream.on_request(item)
                snapshot = self._cache.snapshot
                if snapshot is None:
                    continue  # requests are answered once there is something to answer with
                for response in stream.push(snapshot):
                    yield response
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

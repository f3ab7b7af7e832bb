"""The ADS server over a real grpc.aio connection, driven by a Python ADS client.

Silence is asserted without sleeping: the server handles a stream's requests in order, so
after a request that must not be answered the test sends a probe that always is (a first
request for a type no snapshot holds, a new one each time) and expects the probe's answer next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import scoped_route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from tc.plugins.envoy.cache import Snapshot, SnapshotCache
from tc.plugins.envoy.registry import ProxyRegistry
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    Resources,
)
from tc.plugins.envoy.server import XdsServer
from tc.serving import CHANNEL_OPTIONS, bind, new_server
from tests.support import wait_until
from tests.unit.test_xds_cache import (
    eds_cluster,
    load_assignment,
    rds_listener,
    route_config,
    scope,
)

PROBE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
NODE = "proxy-1"


def resources(*, port: int = 9000, timeout: int = 1, extra: tuple[str, ...] = ()) -> Resources:
    clusters = {name: eds_cluster(name) for name in extra}
    clusters["web"] = eds_cluster("web", connect_timeout=timeout)
    return {
        CLUSTER: clusters,
        ENDPOINT: {name: load_assignment(name, port) for name in ("web", *extra)},
        LISTENER: {"http": rds_listener("http", "routes")},
        ROUTE: {"routes": route_config("routes", "web"), "other": route_config("other", "web")},
    }


@dataclass
class Xds:
    cache: SnapshotCache
    registry: ProxyRegistry
    channel: grpc.aio.Channel

    def publish(self, resources: Resources) -> Snapshot:
        return self.cache.set_snapshot(Snapshot.build(resources))


@pytest.fixture
async def xds() -> AsyncIterator[Xds]:
    cache, registry = SnapshotCache(), ProxyRegistry()
    server = new_server()
    XdsServer(cache, registry).add_to(server)
    address = bind(server, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    yield Xds(cache, registry, channel)
    await channel.close()
    await server.stop(None)


class Client:
    """One ADS stream: requests go in through a queue, responses come out of another."""

    def __init__(self, channel: grpc.aio.Channel, *, delta: bool = False) -> None:
        self.delta = delta
        self._requests: asyncio.Queue[Any] = asyncio.Queue()
        self._responses: asyncio.Queue[Any] = asyncio.Queue()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        method = stub.DeltaAggregatedResources if delta else stub.StreamAggregatedResources
        self.call = method(self._outgoing())
        self._reader = asyncio.create_task(self._read())
        self._first = True
        self._probes = 0

    async def _outgoing(self) -> AsyncIterator[Any]:
        while (request := await self._requests.get()) is not None:
            yield request

    async def _read(self) -> None:
        async for response in self.call:
            self._responses.put_nowait(response)

    def send(self, **fields: Any) -> None:
        kind = discovery_pb2.DeltaDiscoveryRequest if self.delta else discovery_pb2.DiscoveryRequest
        request = kind(**fields)
        if self._first:
            request.node.id = NODE
            self._first = False
        self._requests.put_nowait(request)

    def ack(self, response: Any, **fields: Any) -> None:
        if self.delta:
            self.send(type_url=response.type_url, response_nonce=response.nonce, **fields)
        else:
            self.send(
                type_url=response.type_url,
                response_nonce=response.nonce,
                version_info=response.version_info,
                **fields,
            )

    def nack(self, response: Any, message: str, **fields: Any) -> None:
        self.send(
            type_url=response.type_url,
            response_nonce=response.nonce,
            error_detail=status_pb2.Status(code=3, message=message),
            **fields,
        )

    async def recv(self, type_url: str | None = None) -> Any:
        response = await asyncio.wait_for(self._responses.get(), 5)
        if type_url is not None:
            assert response.type_url == type_url
        return response

    async def expect_silence(self) -> None:
        """Fails if anything but the probe's answer comes next."""
        # A type never asked for before on this stream: answered by both variants.
        self._probes += 1
        probe = f"{PROBE}{self._probes}"
        self.send(type_url=probe)
        response = await self.recv()
        assert response.type_url == probe, f"unexpected {response.type_url} response"

    async def close(self) -> None:
        self._requests.put_nowait(None)
        self.call.cancel()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def names(response: Any) -> list[str]:
    """Resource names in a SotW or delta response (decoded, not trusted from the server)."""
    out = []
    for resource in response.resources:
        any_message = resource.resource if hasattr(resource, "resource") else resource
        if any_message.type_url == CLUSTER:
            message: Any = cluster_pb2.Cluster()
            any_message.Unpack(message)
            out.append(message.name)
        elif any_message.type_url == ENDPOINT:
            from envoy.config.endpoint.v3 import endpoint_pb2

            message = endpoint_pb2.ClusterLoadAssignment()
            any_message.Unpack(message)
            out.append(message.cluster_name)
        elif any_message.type_url == SCOPED_ROUTE:
            message = scoped_route_pb2.ScopedRouteConfiguration()
            any_message.Unpack(message)
            out.append(message.name)
        else:
            out.append(resource.name)
    return out


@pytest.fixture
async def clients(xds: Xds) -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


def open_client(xds: Xds, clients: list[Client], *, delta: bool = False) -> Client:
    client = Client(xds.channel, delta=delta)
    clients.append(client)
    return client


async def subscribe_all(client: Client) -> dict[str, Any]:
    """Asks for every type as Envoy does and ACKs each answer; returns the answers by type."""
    got = {}
    client.send(type_url=CLUSTER)
    got[CLUSTER] = await client.recv(CLUSTER)
    client.ack(got[CLUSTER])
    client.send(type_url=ENDPOINT, resource_names=["web"])
    got[ENDPOINT] = await client.recv(ENDPOINT)
    client.ack(got[ENDPOINT], resource_names=["web"])
    client.send(type_url=LISTENER)
    got[LISTENER] = await client.recv(LISTENER)
    client.ack(got[LISTENER])
    client.send(type_url=ROUTE, resource_names=["routes"])
    got[ROUTE] = await client.recv(ROUTE)
    client.ack(got[ROUTE], resource_names=["routes"])
    return got


async def test_sotw_answers_with_versions_and_only_the_requested_names(
    xds: Xds, clients: list[Client]
) -> None:
    snapshot = xds.publish(resources(extra=("api",)))
    client = open_client(xds, clients)
    got = await subscribe_all(client)
    assert sorted(names(got[CLUSTER])) == ["api", "web"]  # CDS: wildcard
    assert names(got[ENDPOINT]) == ["web"]  # EDS: only what was asked for
    assert len(got[ROUTE].resources) == 1  # RDS: "other" was not asked for
    for type_url, response in got.items():
        assert response.version_info == snapshot.version(type_url)
        assert response.nonce
    assert len({response.nonce for response in got.values()}) == 4
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert proxy.acked == {type_url: snapshot.version(type_url) for type_url in got}
    assert proxy.last_nack == {}


async def test_requests_wait_for_the_first_snapshot(xds: Xds, clients: list[Client]) -> None:
    client = open_client(xds, clients)
    client.send(type_url=CLUSTER)
    await wait_until(lambda: xds.registry.get(NODE) is not None, what="proxy registered")
    snapshot = xds.publish(resources())
    assert (await client.recv(CLUSTER)).version_info == snapshot.version(CLUSTER)


async def test_sotw_pushes_cds_before_eds_before_lds_before_rds(
    xds: Xds, clients: list[Client]
) -> None:
    xds.publish(resources())
    client = open_client(xds, clients)
    await subscribe_all(client)
    await client.expect_silence()
    changed = resources(port=9001, timeout=2)
    changed[LISTENER]["http"] = rds_listener("http", "routes", port=10001)
    routes = route_config("routes", "web")
    routes.virtual_hosts[0].domains.append("example.com")
    changed[ROUTE]["routes"] = routes
    snapshot = xds.publish(changed)
    order = [(await client.recv()).type_url for _ in range(4)]
    assert order == [CLUSTER, ENDPOINT, LISTENER, ROUTE]
    assert snapshot.version(ROUTE) != ""


async def test_sotw_resends_endpoints_after_clusters_even_when_unchanged(
    xds: Xds, clients: list[Client]
) -> None:
    before = xds.publish(resources())
    client = open_client(xds, clients)
    got = await subscribe_all(client)
    await client.expect_silence()
    after = xds.publish(resources(timeout=2))  # only the cluster changes
    assert after.version(ENDPOINT) == before.version(ENDPOINT)
    assert (await client.recv(CLUSTER)).version_info == after.version(CLUSTER)
    endpoints = await client.recv(ENDPOINT)
    assert names(endpoints) == ["web"]
    assert endpoints.version_info == got[ENDPOINT].version_info
    assert endpoints.nonce != got[ENDPOINT].nonce
    await client.expect_silence()


async def test_sotw_ignores_stale_nonces(xds: Xds, clients: list[Client]) -> None:
    xds.publish(resources())
    client = open_client(xds, clients)
    client.send(type_url=ENDPOINT, resource_names=["web"])
    first = await client.recv(ENDPOINT)
    second_snapshot = xds.publish(resources(port=9001))
    second = await client.recv(ENDPOINT)
    # Answers to the first response arrive after the second was sent: both are stale.
    client.nack(first, "late rejection", resource_names=["web"])
    client.send(type_url=ENDPOINT, response_nonce=first.nonce, resource_names=["web", "api"])
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert proxy.last_nack == {}
    client.ack(second, resource_names=["web"])
    await client.expect_silence()
    assert proxy.acked[ENDPOINT] == second_snapshot.version(ENDPOINT)


async def test_sotw_nack_is_recorded_and_the_rejected_version_not_resent(
    xds: Xds, clients: list[Client]
) -> None:
    xds.publish(resources())
    client = open_client(xds, clients)
    got = await subscribe_all(client)
    rejected = xds.publish(resources(timeout=2))
    response = await client.recv(CLUSTER)
    await client.recv(ENDPOINT)  # the warming re-send
    client.nack(response, "bad connect_timeout", version_info=got[CLUSTER].version_info)
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert proxy.last_nack[CLUSTER] == (rejected.version(CLUSTER), "bad connect_timeout")
    assert proxy.acked[CLUSTER] == got[CLUSTER].version_info
    # Republishing the same content is not a new version: still nothing sent.
    xds.publish(resources(timeout=2))
    await client.expect_silence()
    fixed = xds.publish(resources(timeout=3))
    response = await client.recv(CLUSTER)
    assert response.version_info == fixed.version(CLUSTER)
    client.ack(response)
    await client.recv(ENDPOINT)
    await client.expect_silence()
    assert proxy.acked[CLUSTER] == fixed.version(CLUSTER)
    assert CLUSTER not in proxy.last_nack


async def test_registry_forgets_a_proxy_when_its_stream_ends(
    xds: Xds, clients: list[Client]
) -> None:
    xds.publish(resources())
    client = open_client(xds, clients)
    client.send(type_url=CLUSTER)
    await client.recv(CLUSTER)
    assert [proxy.node_id for proxy in xds.registry.all()] == [NODE]
    await client.close()
    await wait_until(lambda: xds.registry.all() == [], what="proxy forgotten")


async def test_delta_honours_initial_versions_and_reports_removals(
    xds: Xds, clients: list[Client]
) -> None:
    snapshot = xds.publish(resources(extra=("api",)))
    client = open_client(xds, clients, delta=True)
    web = snapshot.of_type(CLUSTER)["web"].version
    client.send(type_url=CLUSTER, initial_resource_versions={"web": web, "gone": "0"})
    response = await client.recv(CLUSTER)
    assert [resource.name for resource in response.resources] == ["api"]
    assert names(response) == ["api"]
    assert response.resources[0].version == snapshot.of_type(CLUSTER)["api"].version
    assert list(response.removed_resources) == ["gone"]
    assert response.system_version_info == snapshot.version(CLUSTER)
    client.ack(response)
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert proxy.acked[CLUSTER] == snapshot.version(CLUSTER)

    after = xds.publish(resources())  # "api" is gone
    response = await client.recv(CLUSTER)
    assert list(response.resources) == []
    assert list(response.removed_resources) == ["api"]
    assert response.system_version_info == after.version(CLUSTER)


async def test_delta_subscribe_and_unsubscribe(xds: Xds, clients: list[Client]) -> None:
    xds.publish(resources(extra=("api",)))
    client = open_client(xds, clients, delta=True)
    client.send(type_url=ENDPOINT, resource_names_subscribe=["web"])
    response = await client.recv(ENDPOINT)
    assert names(response) == ["web"]
    client.ack(response)
    await client.expect_silence()
    # Only the newly subscribed resource is sent, not the one the client has.
    client.send(type_url=ENDPOINT, resource_names_subscribe=["api"])
    response = await client.recv(ENDPOINT)
    assert names(response) == ["api"]
    client.ack(response)
    client.send(type_url=ENDPOINT, resource_names_unsubscribe=["api"])
    await client.expect_silence()
    # A change to an unsubscribed resource is not sent; one to a subscribed resource is.
    xds.publish(resources(port=9001, extra=("api",)))
    response = await client.recv(ENDPOINT)
    assert names(response) == ["web"]
    client.ack(response)
    await client.expect_silence()


async def test_delta_nack_is_recorded_and_not_resent(xds: Xds, clients: list[Client]) -> None:
    xds.publish(resources())
    client = open_client(xds, clients, delta=True)
    client.send(type_url=CLUSTER)
    client.ack(await client.recv(CLUSTER))
    rejected = xds.publish(resources(timeout=2))
    response = await client.recv(CLUSTER)
    client.nack(response, "rejected")
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert proxy.last_nack[CLUSTER] == (rejected.version(CLUSTER), "rejected")


async def test_delta_resends_endpoints_of_changed_clusters(xds: Xds, clients: list[Client]) -> None:
    xds.publish(resources(extra=("api",)))
    client = open_client(xds, clients, delta=True)
    client.send(type_url=CLUSTER)
    client.ack(await client.recv(CLUSTER))
    client.send(type_url=ENDPOINT, resource_names_subscribe=["web", "api"])
    client.ack(await client.recv(ENDPOINT))
    await client.expect_silence()
    xds.publish(resources(timeout=2, extra=("api",)))  # "web" changes, endpoints do not
    response = await client.recv(CLUSTER)
    assert names(response) == ["web"]
    response = await client.recv(ENDPOINT)
    assert names(response) == ["web"]
    await client.expect_silence()


async def test_accepts_messages_over_32_mib(xds: Xds, clients: list[Client]) -> None:
    xds.publish(resources())
    client = open_client(xds, clients)
    client.send(type_url=CLUSTER)
    response = await client.recv(CLUSTER)
    message = "x" * (20 * 1024 * 1024)  # over grpc's 4 MiB default, under the 32 MiB limit
    client.nack(response, message)
    await client.expect_silence()
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    assert len(proxy.last_nack[CLUSTER].message) == len(message)


async def test_sotw_sends_only_the_endpoints_that_changed_or_warm(
    xds: Xds, clients: list[Client]
) -> None:
    """EDS is incremental in SotW: an unrelated change must not resend every CLA."""
    xds.publish(resources(extra=("api",)))
    client = open_client(xds, clients)
    client.send(type_url=CLUSTER)
    clusters = await client.recv(CLUSTER)
    client.ack(clusters)
    client.send(type_url=ENDPOINT, resource_names=["web", "api"])
    endpoints = await client.recv(ENDPOINT)
    assert sorted(names(endpoints)) == ["api", "web"]
    client.ack(endpoints, resource_names=["web", "api"])
    await client.expect_silence()
    # Only web's cluster changes: only web's CLA comes again (it warms).
    changed = resources(extra=("api",), timeout=2)
    xds.publish(changed)
    client.ack(await client.recv(CLUSTER))
    again = await client.recv(ENDPOINT)
    assert names(again) == ["web"]
    client.ack(again, resource_names=["web", "api"])
    await client.expect_silence()
    # A client that starts over gets everything it asks for.
    client.send(type_url=ENDPOINT, resource_names=["web", "api"])
    assert sorted(names(await client.recv(ENDPOINT))) == ["api", "web"]


async def test_delta_stream_that_missed_a_snapshot_still_gets_everything(
    xds: Xds, clients: list[Client]
) -> None:
    """Snapshots published faster than a stream pushes coalesce: the stream is then not in
    step with the snapshot before the latest, and must compare everything, not the last
    change only."""
    xds.publish(resources())
    client = open_client(xds, clients, delta=True)
    client.send(type_url=CLUSTER)
    client.ack(await client.recv(CLUSTER))
    await client.expect_silence()
    # Two publishes in one turn of the event loop: the stream sees only the second.
    xds.publish(resources(extra=("a",)))
    latest = xds.publish(resources(extra=("a", "b")))
    response = await client.recv(CLUSTER)
    assert sorted(names(response)) == ["a", "b"]
    assert response.system_version_info == latest.version(CLUSTER)
    client.ack(response)
    await client.expect_silence()


def scoped(*, port: int = 9000, scopes: tuple[str, ...] = ("s1",)) -> Resources:
    """resources() with scopes choosing "routes" (as a scoped listener would have them)."""
    out = resources(port=port)
    out[SCOPED_ROUTE] = {name: scope(name, "routes") for name in scopes}
    return out


async def test_sotw_sends_scopes_whole_between_listeners_and_routes(
    xds: Xds, clients: list[Client]
) -> None:
    snapshot = xds.publish(scoped())
    client = open_client(xds, clients)
    await subscribe_all(client)
    client.send(type_url=SCOPED_ROUTE)
    response = await client.recv(SCOPED_ROUTE)
    assert names(response) == ["s1"]  # asked for nothing by name: all of them
    assert response.version_info == snapshot.version(SCOPED_ROUTE)
    client.ack(response)
    await client.expect_silence()
    changed = scoped(port=9001, scopes=("s1", "s2"))
    changed[CLUSTER]["web"] = eds_cluster("web", connect_timeout=2)
    changed[LISTENER]["http"] = rds_listener("http", "routes", port=10001)
    changed[ROUTE]["routes"].virtual_hosts[0].domains.append("example.com")  # type: ignore[attr-defined]
    xds.publish(changed)
    order = [await client.recv() for _ in range(5)]
    assert [r.type_url for r in order] == [CLUSTER, ENDPOINT, LISTENER, SCOPED_ROUTE, ROUTE]
    assert sorted(names(order[3])) == ["s1", "s2"]  # state of the world: every scope


async def test_delta_sends_scopes_as_a_wildcard_type(xds: Xds, clients: list[Client]) -> None:
    xds.publish(scoped(scopes=("s1", "s2")))
    client = open_client(xds, clients, delta=True)
    client.send(type_url=SCOPED_ROUTE)
    response = await client.recv(SCOPED_ROUTE)
    assert sorted(r.name for r in response.resources) == ["s1", "s2"]
    client.ack(response)
    await client.expect_silence()
    after = xds.publish(scoped(scopes=("s2", "s3")))
    response = await client.recv(SCOPED_ROUTE)
    assert [r.name for r in response.resources] == ["s3"]
    assert list(response.removed_resources) == ["s1"]
    assert response.system_version_info == after.version(SCOPED_ROUTE)


def acked(xds: Xds, type_url: str) -> str | None:
    proxy = xds.registry.get(NODE)
    assert proxy is not None
    return proxy.acked.get(type_url)


def with_other_route(cluster: str) -> Resources:
    """resources() with the route configuration "other" sending to `cluster`."""
    out = resources(extra=("api",))
    out[ROUTE]["other"] = route_config("other", cluster)
    return out


async def subscribed_to_routes(xds: Xds, clients: list[Client]) -> tuple[Client, Any]:
    """A delta client that subscribed to the route configuration "routes" alone (as an
    Envoy with on-demand routes does), got it and ACKed it; and that response."""
    xds.publish(with_other_route("web"))
    client = open_client(xds, clients, delta=True)
    client.send(type_url=ROUTE, resource_names_subscribe=["routes"])
    first = await client.recv(ROUTE)
    assert names(first) == ["routes"]
    client.ack(first)
    await client.expect_silence()
    return client, first


async def test_delta_client_holds_a_version_whose_changes_it_does_not_subscribe_to(
    xds: Xds, clients: list[Client]
) -> None:
    """An Envoy with on-demand route configurations subscribes to a few of them: a change
    to another is not sent, and the proxy holds the new version as much as one sent it
    (else "programmed on N/M proxies" would wait for it forever)."""
    client, _ = await subscribed_to_routes(xds, clients)
    changed = xds.publish(with_other_route("api"))
    await client.expect_silence()
    assert acked(xds, ROUTE) == changed.version(ROUTE)
    # A change to what it subscribes to is held once ACKed, not before.
    again = with_other_route("api")
    again[ROUTE]["routes"] = route_config("routes", "api")
    latest = xds.publish(again)
    response = await client.recv(ROUTE)
    assert names(response) == ["routes"]
    assert acked(xds, ROUTE) == changed.version(ROUTE)
    client.ack(response)
    await client.expect_silence()
    assert acked(xds, ROUTE) == latest.version(ROUTE)


async def test_delta_client_that_rejected_a_type_holds_no_later_version_of_it(
    xds: Xds, clients: list[Client]
) -> None:
    client, first = await subscribed_to_routes(xds, clients)
    bad = with_other_route("web")
    bad[ROUTE]["routes"] = route_config("routes", "api")
    xds.publish(bad)
    client.nack(await client.recv(ROUTE), "rejected")
    await client.expect_silence()
    # A change it does not subscribe to: nothing sent, and it still holds the old version.
    unrelated = bad.copy()
    unrelated[ROUTE] = {**bad[ROUTE], "other": route_config("other", "api")}
    latest = xds.publish(unrelated)
    await client.expect_silence()
    assert acked(xds, ROUTE) == first.system_version_info != latest.version(ROUTE)


async def test_delta_route_subscribed_on_demand_is_sent_alone(
    xds: Xds, clients: list[Client]
) -> None:
    client, _ = await subscribed_to_routes(xds, clients)
    client.send(type_url=ROUTE, resource_names_subscribe=["other"])
    response = await client.recv(ROUTE)
    assert names(response) == ["other"]
    client.ack(response)
    await client.expect_silence()
    snapshot = xds.cache.snapshot
    assert snapshot is not None and acked(xds, ROUTE) == snapshot.version(ROUTE)


async def test_delta_client_that_dropped_every_name_of_a_type_holds_its_later_versions(
    xds: Xds, clients: list[Client]
) -> None:
    """A proxy whose last route configuration went out of use (its listener left) is not
    left behind on RDS for good."""
    client, _ = await subscribed_to_routes(xds, clients)
    client.send(type_url=ROUTE, resource_names_unsubscribe=["routes"])
    await client.expect_silence()
    changed = with_other_route("web")
    changed[ROUTE]["routes"] = route_config("routes", "api")
    latest = xds.publish(changed)
    await client.expect_silence()
    assert acked(xds, ROUTE) == latest.version(ROUTE)

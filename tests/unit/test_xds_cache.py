"""The snapshot cache: content versions, the consistency check, publishing and waiting."""

from __future__ import annotations

import asyncio

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2, scoped_route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2
from google.protobuf.duration_pb2 import Duration

from tc.plugins.envoy.cache import InconsistentSnapshot, Snapshot, SnapshotCache
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    TYPE_URLS,
    Resources,
)


def eds_cluster(
    name: str, service_name: str = "", *, connect_timeout: int = 1
) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(
        name=name, type=cluster_pb2.Cluster.EDS, connect_timeout=Duration(seconds=connect_timeout)
    )
    cluster.eds_cluster_config.eds_config.ads.SetInParent()
    cluster.eds_cluster_config.service_name = service_name
    return cluster


def load_assignment(name: str, port: int = 9000) -> endpoint_pb2.ClusterLoadAssignment:
    address = address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=address)
                    )
                ]
            )
        ],
    )


def rds_listener(name: str, route: str, port: int = 10000) -> listener_pb2.Listener:
    router = any_pb2.Any()
    router.Pack(router_pb2.Router())
    hcm = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=router)],
        rds=hcm_pb2.Rds(
            route_config_name=route,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
    )
    typed = any_pb2.Any()
    typed.Pack(hcm)
    return listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager", typed_config=typed
                    )
                ]
            )
        ],
    )


def route_config(name: str, cluster: str) -> route_pb2.RouteConfiguration:
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name="all",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix="/"),
                        route=route_components_pb2.RouteAction(cluster=cluster),
                    )
                ],
            )
        ],
    )


def scope(name: str, route: str) -> scoped_route_pb2.ScopedRouteConfiguration:
    key = scoped_route_pb2.ScopedRouteConfiguration.Key(
        fragments=[scoped_route_pb2.ScopedRouteConfiguration.Key.Fragment(string_key=name)]
    )
    return scoped_route_pb2.ScopedRouteConfiguration(
        name=name, route_configuration_name=route, key=key
    )


def full(port: int = 9000) -> Resources:
    return {
        CLUSTER: {"web": eds_cluster("web")},
        ENDPOINT: {"web": load_assignment("web", port)},
        LISTENER: {"http": rds_listener("http", "routes")},
        ROUTE: {"routes": route_config("routes", "web")},
    }


def test_versions_depend_on_content_only() -> None:
    one = Snapshot.build(full())
    reordered: Resources = {
        ROUTE: {"routes": route_config("routes", "web")},
        ENDPOINT: {"web": load_assignment("web")},
        CLUSTER: {"web": eds_cluster("web")},
        LISTENER: {"http": rds_listener("http", "routes")},
    }
    two = Snapshot.build(reordered)
    assert one.versions == two.versions
    assert one.resources == two.resources

    changed = Snapshot.build(full(port=9001))
    assert changed.version(ENDPOINT) != one.version(ENDPOINT)
    for type_url in (CLUSTER, LISTENER, ROUTE):
        assert changed.version(type_url) == one.version(type_url)
    assert changed.of_type(CLUSTER)["web"] == one.of_type(CLUSTER)["web"]


def test_every_type_is_present_even_when_empty() -> None:
    snapshot = Snapshot.build({})
    assert set(snapshot.versions) == {CLUSTER, ENDPOINT, LISTENER, SCOPED_ROUTE, ROUTE}
    assert set(snapshot.versions) == set(TYPE_URLS)
    snapshot.check()


def test_resources_are_encoded_deterministically() -> None:
    snapshot = Snapshot.build(full())
    encoded = snapshot.of_type(CLUSTER)["web"]
    assert encoded.value == eds_cluster("web").SerializeToString(deterministic=True)
    assert len(encoded.version) == 16


def test_check_accepts_a_consistent_snapshot() -> None:
    Snapshot.build(full()).check()


def test_check_refuses_a_cluster_without_its_load_assignment() -> None:
    resources = full()
    resources[CLUSTER]["api"] = eds_cluster("api", service_name="api-eds")
    resources[ENDPOINT]["api"] = load_assignment("api")  # wrong name: EDS asks for api-eds
    with pytest.raises(InconsistentSnapshot, match="api-eds"):
        Snapshot.build(resources).check()
    resources[ENDPOINT]["api-eds"] = load_assignment("api-eds")
    Snapshot.build(resources).check()


def test_check_ignores_clusters_that_are_not_eds() -> None:
    resources = full()
    resources[CLUSTER]["static"] = cluster_pb2.Cluster(
        name="static", type=cluster_pb2.Cluster.STATIC, load_assignment=load_assignment("static")
    )
    Snapshot.build(resources).check()


def test_check_refuses_a_listener_without_its_route_configuration() -> None:
    resources = full()
    del resources[ROUTE]["routes"]
    with pytest.raises(InconsistentSnapshot, match="routes"):
        Snapshot.build(resources).check()


async def test_set_snapshot_refuses_an_inconsistent_one_and_keeps_the_old() -> None:
    cache = SnapshotCache()
    good = Snapshot.build(full())
    cache.set_snapshot(good)
    bad = full()
    del bad[ENDPOINT]["web"]
    with pytest.raises(InconsistentSnapshot):
        cache.set_snapshot(Snapshot.build(bad))
    assert cache.snapshot is good


async def test_waiters_wake_on_a_new_snapshot() -> None:
    cache = SnapshotCache()
    waiter = asyncio.create_task(cache.wait_for_snapshot(None))
    await asyncio.sleep(0)
    assert not waiter.done()
    first = cache.set_snapshot(Snapshot.build(full()))
    assert await asyncio.wait_for(waiter, 1) is first
    # Already newer than what the caller knows: no waiting.
    assert await asyncio.wait_for(cache.wait_for_snapshot(None), 1) is first
    waiter = asyncio.create_task(cache.wait_for_snapshot(first))
    second = cache.set_snapshot(Snapshot.build(full(port=9001)))
    assert await asyncio.wait_for(waiter, 1) is second


def test_updated_encodes_only_the_changes_and_equals_a_full_build() -> None:
    base = Snapshot.build(full())
    after = base.updated(
        {
            CLUSTER: {"web": eds_cluster("web", connect_timeout=7), "api": eds_cluster("api")},
            ENDPOINT: {"api": load_assignment("api")},
        }
    )
    expected = full()
    expected[CLUSTER].update(web=eds_cluster("web", connect_timeout=7), api=eds_cluster("api"))
    expected[ENDPOINT]["api"] = load_assignment("api")
    whole = Snapshot.build(expected)
    assert after.versions == whole.versions
    assert after.resources == whole.resources
    assert after.eds_name("api") == "api" == whole.eds_name("api")
    # Untouched resources are the very same entries: nothing was encoded again.
    assert after.resources[ENDPOINT]["web"] is base.resources[ENDPOINT]["web"]
    assert after.previous_versions == base.versions
    assert after.changed[CLUSTER] == {"web", "api"}
    assert after.changed[ENDPOINT] == {"api"}
    assert after.changed[LISTENER] == frozenset() == after.changed[SCOPED_ROUTE]

    # Back again, by removing and restoring: the versions are those of the content.
    restored = after.updated(
        {CLUSTER: {"web": eds_cluster("web"), "api": None}, ENDPOINT: {"api": None}}
    )
    assert restored.versions == base.versions
    assert restored.changed[CLUSTER] == {"web", "api"}
    # The same content again is no change at all.
    same = base.updated({CLUSTER: {"web": eds_cluster("web")}, ROUTE: {"gone": None}})
    assert same.versions == base.versions
    assert same.changed[CLUSTER] == frozenset() == same.changed[ROUTE]


def test_a_type_version_is_the_same_however_the_resources_arrived() -> None:
    whole = Snapshot.build(full())
    one_by_one = Snapshot.build({})
    for type_url, messages in full().items():
        for name, message in messages.items():
            one_by_one = one_by_one.updated({type_url: {name: message}})
    assert one_by_one.versions == whole.versions


def test_check_refuses_a_scope_without_its_route_configuration() -> None:
    resources = full()
    resources[SCOPED_ROUTE] = {"shop": scope("shop", "shop-routes")}
    with pytest.raises(InconsistentSnapshot, match="scope 'shop' needs RouteConfiguration"):
        Snapshot.build(resources).check()
    resources[ROUTE]["shop-routes"] = route_config("shop-routes", "web")
    Snapshot.build(resources).check()


async def test_an_update_is_checked_for_what_it_changed() -> None:
    cache = SnapshotCache()
    base = cache.set_snapshot(Snapshot.build(full()))
    # A scope naming a route configuration that is not there, added on its own.
    with pytest.raises(InconsistentSnapshot, match="shop-routes"):
        cache.set_snapshot(base.updated({SCOPED_ROUTE: {"shop": scope("shop", "shop-routes")}}))
    # A load assignment removed while its cluster stays.
    with pytest.raises(InconsistentSnapshot, match="cluster 'web' needs ClusterLoadAssignment"):
        cache.set_snapshot(base.updated({ENDPOINT: {"web": None}}))
    # A route configuration removed while a listener still names it.
    with pytest.raises(InconsistentSnapshot, match="listener 'http' needs RouteConfiguration"):
        cache.set_snapshot(base.updated({ROUTE: {"routes": None}}))
    assert cache.snapshot is base
    scoped = base.updated(
        {
            SCOPED_ROUTE: {"shop": scope("shop", "shop-routes")},
            ROUTE: {"shop-routes": route_config("shop-routes", "web")},
        }
    )
    assert cache.set_snapshot(scoped) is scoped
    # The scope and its routes go together: consistent again.
    cache.set_snapshot(scoped.updated({SCOPED_ROUTE: {"shop": None}, ROUTE: {"shop-routes": None}}))
    assert cache.snapshot is not None and cache.snapshot.versions == base.versions


def test_since_names_exactly_what_was_added_changed_or_removed() -> None:
    before = Snapshot.build(full())
    grown = full(port=9001)
    grown[CLUSTER]["api"] = eds_cluster("api")
    grown[ENDPOINT]["api"] = load_assignment("api")
    after = Snapshot.build(grown).since(before)
    assert after.previous_versions == before.versions
    assert after.changed[CLUSTER] == {"api"}
    assert after.changed[ENDPOINT] == {"web", "api"}  # web's port changed, api is new
    assert after.changed[LISTENER] == frozenset() == after.changed[ROUTE]
    shrunk = Snapshot.build(full()).since(after)
    assert shrunk.changed[CLUSTER] == {"api"}  # removed

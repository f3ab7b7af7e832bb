"""The envoy plugin's Apply, in process: what it publishes and when it need not."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.scoped_route_pb2 import ScopedRouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.envoy.cache import InconsistentSnapshot, SnapshotCache
from tc.plugins.envoy.plugin import EnvoyPlugin
from tc.plugins.envoy.publisher import Publisher
from tc.plugins.envoy.render import render_service
from tc.plugins.envoy.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SCOPED_ROUTE
from tests.unit.test_envoy_render import service


def web(generation: int, port: int = 8080) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name="web",
        uid="u-web",
        generation=generation,
        service=intent_pb2.ServiceSpec(
            hosts=["web.example.com"],
            ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=9001)],
        ),
    )


async def test_a_retried_apply_publishes_nothing_new_and_a_new_generation_does() -> None:
    plugin = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    await plugin.start()
    await plugin.apply([web(1)], [])
    first = plugin.cache.snapshot
    assert first is not None and "default/web:8080" in first.of_type(CLUSTER)

    # The controller asks again while proxies have not ACKed: same intent, same group.
    results = await plugin.apply([web(1)], [])
    assert plugin.cache.snapshot is first
    assert results[0].generation == 1

    await plugin.apply([web(2, port=8081)], [])
    second = plugin.cache.snapshot
    assert second is not first and second is not None
    assert set(second.of_type(CLUSTER)) == {"default/web:8081"}


def shop(name: str, hosts: list[str]) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        uid=f"u-{name}",
        generation=1,
        service=intent_pb2.ServiceSpec(
            name=name,
            hosts=hosts,
            ports=[intent_pb2.Port(number=8080, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=9001)],
        ),
    )


async def test_a_service_that_loses_a_domain_is_not_reported_programmed() -> None:
    plugin = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    await plugin.start()
    first, second = await plugin.apply(
        [shop("alpha", ["shared.example.com"]), shop("beta", ["shared.example.com"])], []
    )
    programmed = {c.type: c for c in first.conditions}["Programmed"]
    assert programmed.status == intent_pb2.CONDITION_STATUS_TRUE
    lost = {c.type: c for c in second.conditions}["Programmed"]
    assert lost.status == intent_pb2.CONDITION_STATUS_FALSE
    assert lost.reason == "Conflict"
    assert "'shared.example.com' on port 8080 is taken by service intent 'alpha'" in lost.message
    assert second.retryable

    # Once alpha is gone, beta's retry reports it programmed.
    await plugin.remove([shop("alpha", [])], [])
    (again,) = await plugin.apply([shop("beta", ["shared.example.com"])], [])
    assert {c.type: c for c in again.conditions}["Programmed"].reason == "Programmed"


def _health(revision: int, healthy: bool) -> plugin_pb2.ServiceHealth:
    return plugin_pb2.ServiceHealth(
        service="web",
        revision=revision,
        endpoints=[plugin_pb2.EndpointState(address="127.0.0.1", port=9001, healthy=healthy)],
    )


def _eds_status(plugin: EnvoyPlugin) -> int:
    snapshot = plugin.cache.snapshot
    assert snapshot is not None
    cla = endpoint_pb2.ClusterLoadAssignment.FromString(
        snapshot.of_type(ENDPOINT)["default/web:8080"].value
    )
    return int(cla.endpoints[0].lb_endpoints[0].health_status)


async def test_endpoint_health_changes_only_the_load_assignment() -> None:
    plugin = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    await plugin.start()
    await plugin.apply([web(1)], [])
    before = plugin.cache.snapshot
    assert before is not None and _eds_status(plugin) == health_check_pb2.UNKNOWN

    await plugin.set_endpoint_health([_health(2, healthy=False)], [])
    after = plugin.cache.snapshot
    assert after is not None and _eds_status(plugin) == health_check_pb2.UNHEALTHY
    for type_url in (CLUSTER, LISTENER, ROUTE):
        assert after.version(type_url) == before.version(type_url), type_url
    assert after.version(ENDPOINT) != before.version(ENDPOINT)

    # An Apply built before that change arrives late with older health: it cannot undo it,
    # and a later generation renders with the health the plugin holds.
    plugin.note_endpoint_health([_health(1, healthy=True)], replace_all=False)
    await plugin.apply([web(2)], [])
    assert _eds_status(plugin) == health_check_pb2.UNHEALTHY

    await plugin.set_endpoint_health([_health(3, healthy=True)], [])
    assert _eds_status(plugin) == health_check_pb2.HEALTHY

    # A Sync carries the whole set: a service it does not list has no known health.
    plugin.note_endpoint_health([], replace_all=True)
    await plugin.sync([web(2)], "s1")
    assert _eds_status(plugin) == health_check_pb2.UNKNOWN


async def test_applying_one_at_a_time_publishes_what_a_sync_would() -> None:
    """Each Apply publishes only what it changed; the result is the snapshot a Sync of the
    same intents builds from everything, conflicts included."""
    one_by_one = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    await one_by_one.start()
    intents = [
        shop("alpha", ["shared.example.com"]),
        shop("beta", ["shared.example.com", "beta.example.com"]),
        shop("gamma", ["*.example.com"]),
        web(1),
    ]
    for pb in intents:
        await one_by_one.apply([pb], [])
    await one_by_one.remove([shop("gamma", [])], [])
    await one_by_one.apply([web(2, port=8081)], [])
    synced = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-1")
    await synced.start()
    await synced.sync([*intents[:2], web(2, port=8081)], "s1")
    a, b = one_by_one.cache.snapshot, synced.cache.snapshot
    assert a is not None and b is not None
    assert a.versions == b.versions
    assert {t: dict(a.of_type(t)) for t in a.resources} == {
        t: dict(b.of_type(t)) for t in b.resources
    }
    assert "route_8080/default/beta" in a.of_type(ROUTE)  # gamma's wildcard went with it


def test_a_refused_publish_is_followed_by_one_from_everything() -> None:
    cache = SnapshotCache()
    publisher = Publisher(cache)
    good = render_service(service("alpha", hosts=("alpha.example.com",)), [])
    publisher.publish({"alpha": good}, None)
    first = cache.snapshot
    broken = render_service(service("beta", hosts=("beta.example.com",)), [])
    del broken.load_assignments[:]  # its EDS clusters now wait for nothing that comes
    with pytest.raises(InconsistentSnapshot, match="needs ClusterLoadAssignment"):
        publisher.publish({"alpha": good, "beta": broken}, ["beta"])
    assert cache.snapshot is first
    publisher.publish({"alpha": good}, ["beta"])
    assert cache.snapshot is not None and first is not None
    assert cache.snapshot.versions == first.versions


async def test_scoped_routes_can_be_turned_off() -> None:
    scoped = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    plain = EnvoyPlugin({"ack_wait_seconds": 0, "scoped_routes": False}, "envoy-1")
    for plugin in (scoped, plain):
        await plugin.start()
        await plugin.apply([web(1)], [])
    assert scoped.cache.snapshot is not None and plain.cache.snapshot is not None
    assert scoped.cache.snapshot.of_type(SCOPED_ROUTE)
    assert not plain.cache.snapshot.of_type(SCOPED_ROUTE)
    assert set(plain.cache.snapshot.of_type(ROUTE)) == {"route_8080"}


@pytest.mark.parametrize("on_demand", [True, False])
async def test_on_demand_routes_setting(on_demand: bool) -> None:
    settings: dict[str, object] = {"ack_wait_seconds": 0}
    if not on_demand:
        settings["on_demand_routes"] = False
    plugin = EnvoyPlugin(settings, "envoy-0")
    await plugin.start()
    await plugin.apply([web(1)], [])
    assert plugin.cache.snapshot is not None
    scopes = plugin.cache.snapshot.of_type(SCOPED_ROUTE).values()
    decoded = [ScopedRouteConfiguration.FromString(e.value) for e in scopes]
    assert decoded and all(s.on_demand is on_demand for s in decoded)
    listener = Listener.FromString(
        next(iter(plugin.cache.snapshot.of_type(LISTENER).values())).value
    )
    manager = hcm.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    filters = [f.name for f in manager.http_filters]
    assert filters == (["envoy.filters.http.on_demand"] if on_demand else []) + [
        "envoy.filters.http.router"
    ]


@pytest.mark.parametrize("setting", ["scoped_routes", "on_demand_routes"])
def test_layout_flags_must_be_bools(setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        EnvoyPlugin({setting: "no"}, "envoy-0")

"""What the golden files do not show at a glance: health, drain, errors, shared ports."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from tc import ir
from tc.plugins.envoy.render import assemble, assemble_report, render_service
from tc.plugins.envoy.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Resources
from tc.plugins.envoy.routes import fraction


def service(name: str = "shop", *, hosts: tuple[str, ...] = (), **spec: Any) -> ir.Intent:
    values: dict[str, Any] = {
        "namespace": "shop",
        "hosts": hosts or (f"{name}.example.com",),
        "ports": (ir.Port(number=8080, protocol=ir.Protocol.HTTP),),
        "endpoints": (
            ir.Endpoint(address="10.0.0.1", subset="v1"),
            ir.Endpoint(address="10.0.0.2", subset="v2"),
        ),
    }
    values.update(spec)
    return ir.Intent(name=name, spec=ir.ServiceSpec(**values))


def workload(name: str, target: str = "shop", **spec: Any) -> ir.Intent:
    return ir.Intent(name=name, spec=ir.WorkloadSpec(target=target, **spec))


def statuses(assignment: endpoint_pb2.ClusterLoadAssignment) -> dict[str, int]:
    return {
        e.endpoint.address.socket_address.address: e.health_status
        for group in assignment.endpoints
        for e in group.lb_endpoints
    }


def test_endpoint_health_and_drain() -> None:
    drain = workload("shop-drain", drain=(ir.EndpointRef(address="10.0.0.2"),))
    parts = render_service(
        service(), [drain], endpoint_health={("10.0.0.1", 8080): False, ("10.0.0.2", 8080): True}
    )
    assert parts.errors == [] and parts.workloads == ("shop-drain",)
    everything = next(a for a in parts.load_assignments if a.cluster_name == "shop/shop:8080")
    # Drained wins over healthy: no new traffic, whatever the heartbeat says.
    assert statuses(everything) == {
        "10.0.0.1": health_check_pb2.UNHEALTHY,
        "10.0.0.2": health_check_pb2.DRAINING,
    }
    unknown = render_service(service(), [])
    assert set(statuses(unknown.load_assignments[0]).values()) == {health_check_pb2.UNKNOWN}


def test_a_cluster_per_subset_and_one_for_every_endpoint() -> None:
    parts = render_service(service(), [])
    assert [c.name for c in parts.clusters] == [
        "shop/shop:8080",
        "shop/shop:8080/v1",
        "shop/shop:8080/v2",
    ]
    assert [a.cluster_name for a in parts.load_assignments] == [c.name for c in parts.clusters]


def test_unknown_subset_rejects_the_workload_only() -> None:
    bad = workload("shop-bad", split=(ir.TrafficSplit(subset="v9", weight=100),))
    parts = render_service(service(), [bad])
    assert parts.errors == []
    assert [e.path for e in parts.workload_errors["shop-bad"]] == ["spec.workload.split[0].subset"]
    route = parts.virtual_hosts[8080].routes[-1].route
    assert route.cluster == "shop/shop:8080"  # rendered as if the workload were not there


def test_invalid_service_renders_nothing() -> None:
    good = service()
    assert isinstance(good.spec, ir.ServiceSpec)
    # Built unchecked, as a store may hand it over: the renderer checks again.
    broken = ir.Intent.trusted(
        name="shop",
        labels=good.labels,
        spec=good.spec.model_copy(update={"ports": ()}),
    )
    parts = render_service(broken, [])
    assert [e.path for e in parts.errors] == ["spec.service.ports"]
    assert parts.clusters == [] and parts.virtual_hosts == {} and parts.ports == {}


def test_header_routes_come_before_the_default_route_and_mirror_rides_along() -> None:
    ab = workload(
        "shop-ab",
        split=(ir.TrafficSplit(subset="v1", weight=100),),
        header_routes=(
            ir.HeaderRoute(headers=(ir.HeaderMatch(name="x-canary", exact="yes"),), subset="v2"),
        ),
        mirror=ir.Mirror(subset="v2", percent=12.5),
    )
    vhost = render_service(service(), [ab]).virtual_hosts[8080]
    assert [r.name for r in vhost.routes] == ["header-0", "default"]
    header, default = vhost.routes
    assert header.route.cluster == "shop/shop:8080/v2"
    assert not header.route.request_mirror_policies  # all of it goes to v2 already
    (mirror,) = default.route.request_mirror_policies
    assert mirror.cluster == "shop/shop:8080/v2"
    assert mirror.runtime_fraction.default_value == fraction(12.5)
    assert fraction(12.5).numerator == 125_000


def consistent(resources: Resources) -> None:
    for cluster in resources[CLUSTER].values():
        name = cluster.eds_cluster_config.service_name  # type: ignore[attr-defined]
        assert not name or name in resources[ENDPOINT]
    for listener in resources[LISTENER].values():
        assert isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = hcm.HttpConnectionManager()
                if network_filter.typed_config.Unpack(manager):
                    assert manager.rds.route_config_name in resources[ROUTE]


def test_services_share_a_port() -> None:
    first = render_service(service("alpha", hosts=("shared.example.com",)), [])
    second = render_service(service("beta", hosts=("shared.example.com", "beta.example.com")), [])
    resources = assemble({"beta": second, "alpha": first}, listen_address="127.0.0.1")
    consistent(resources)
    assert list(resources[LISTENER]) == ["listener_8080"]
    config = resources[ROUTE]["route_8080"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    assert [v.name for v in config.virtual_hosts] == ["shop/alpha", "shop/beta"]
    # Envoy refuses a domain in two virtual hosts: the first service in name order keeps it.
    assert "shared.example.com" not in config.virtual_hosts[1].domains
    assert "beta.example.com" in config.virtual_hosts[1].domains
    report = assemble_report({"beta": second, "alpha": first})
    assert report.conflicts == {
        "beta": ["domain 'shared.example.com' on port 8080 is taken by service intent 'alpha'"]
    }


def test_the_same_namespace_and_name_twice_leaves_the_second_out_entirely() -> None:
    first = render_service(service("alpha", hosts=("a.example.com",)), [])
    twin = render_service(service("alpha", hosts=("b.example.com",)), [])
    report = assemble_report({"one": first, "two": twin})
    assert set(report.conflicts) == {"two"}
    assert "is taken by service intent 'one'" in report.conflicts["two"][0]
    config = report.resources[ROUTE]["route_8080"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    assert [v.domains[0] for v in config.virtual_hosts] == ["a.example.com"]


def test_tcp_port_takes_no_virtual_host_and_one_owner() -> None:
    tcp = (ir.Port(number=5432, protocol=ir.Protocol.TCP, name="pg"),)
    first = render_service(service("alpha", ports=tcp), [])
    second = render_service(service("beta", ports=tcp), [])
    assert first.virtual_hosts == {} and set(first.tcp_routes) == {5432}
    resources = assemble({"alpha": first, "beta": second})
    consistent(resources)
    listener = resources[LISTENER]["listener_5432"]
    assert isinstance(listener, listener_pb2.Listener)
    assert len(listener.filter_chains) == 1
    assert resources[ROUTE] == {}


def test_grpc_port_speaks_http2_upstream() -> None:
    grpc = (ir.Port(number=9090, protocol=ir.Protocol.GRPC),)
    (cluster, *_) = render_service(service(ports=grpc), []).clusters
    assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in (
        cluster.typed_extension_protocol_options
    )

"""What the golden files do not show at a glance: health, drain, errors, shared ports."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2, scoped_route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from tc import ir
from tc.plugins.envoy.assembly import assemble, assemble_report
from tc.plugins.envoy.listeners import Layout
from tc.plugins.envoy.render import render_service
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    Resources,
    exact_host,
    route_name,
    scope_key,
    scope_name,
    service_route_name,
)
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
                if network_filter.typed_config.Unpack(manager) and manager.HasField("rds"):
                    assert manager.rds.route_config_name in resources[ROUTE]
    keys = set()
    for scope in resources[SCOPED_ROUTE].values():
        assert isinstance(scope, scoped_route_pb2.ScopedRouteConfiguration)
        assert scope.route_configuration_name in resources[ROUTE]
        keys.add(tuple(f.string_key for f in scope.key.fragments))
    # Envoy refuses two scopes with one key, whatever listener they are meant for.
    assert len(keys) == len(resources[SCOPED_ROUTE])


def manager_of(resources: Resources, port: int) -> hcm.HttpConnectionManager:
    listener = resources[LISTENER][f"listener_{port}"]
    assert isinstance(listener, listener_pb2.Listener)
    manager = hcm.HttpConnectionManager()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager


def scopes(resources: Resources) -> dict[tuple[str, ...], str]:
    """Scope key -> the route configuration it chooses."""
    out = {}
    for scope in resources[SCOPED_ROUTE].values():
        assert isinstance(scope, scoped_route_pb2.ScopedRouteConfiguration)
        out[tuple(f.string_key for f in scope.key.fragments)] = scope.route_configuration_name
    return out


def domains_of(resources: Resources, route: str) -> list[list[str]]:
    config = resources[ROUTE][route]
    assert isinstance(config, route_pb2.RouteConfiguration)
    return [list(v.domains) for v in config.virtual_hosts]


def test_services_share_a_port() -> None:
    first = render_service(service("alpha", hosts=("shared.example.com",)), [])
    second = render_service(service("beta", hosts=("shared.example.com", "beta.example.com")), [])
    resources = assemble({"beta": second, "alpha": first}, Layout(listen_address="127.0.0.1"))
    consistent(resources)
    assert list(resources[LISTENER]) == ["listener_8080"]
    assert manager_of(resources, 8080).HasField("scoped_routes")
    assert list(resources[ROUTE]) == ["route_8080/shop/alpha", "route_8080/shop/beta"]
    # Envoy refuses a domain in two virtual hosts: the first service in name order keeps it.
    (beta,) = domains_of(resources, "route_8080/shop/beta")
    assert "shared.example.com" not in beta
    assert beta[0] == "beta.example.com"
    assert scopes(resources)[("8080", "shared.example.com")] == "route_8080/shop/alpha"
    assert scopes(resources)[("8080", "beta.example.com")] == "route_8080/shop/beta"
    report = assemble_report({"beta": second, "alpha": first})
    assert report.conflicts == {
        "beta": ["domain 'shared.example.com' on port 8080 is taken by service intent 'alpha'"]
    }


def test_the_same_host_on_two_ports_is_two_scopes() -> None:
    """Scopes are global to an Envoy: the port in the key keeps the two apart."""
    on_8080 = render_service(service("alpha", hosts=("shared.example.com",)), [])
    on_9090 = render_service(
        service(
            "beta",
            hosts=("shared.example.com",),
            ports=(ir.Port(number=9090, protocol=ir.Protocol.HTTP),),
        ),
        [],
    )
    report = assemble_report({"alpha": on_8080, "beta": on_9090})
    assert report.conflicts == {}
    consistent(report.resources)
    assert scopes(report.resources) == {
        ("8080", "shared.example.com"): "route_8080/shop/alpha",
        ("8080", "alpha.shop.svc.cluster.local"): "route_8080/shop/alpha",
        ("9090", "shared.example.com"): "route_9090/shop/beta",
        ("9090", "beta.shop.svc.cluster.local"): "route_9090/shop/beta",
    }
    for port in (8080, 9090):
        manager = manager_of(report.resources, port)
        mutation = manager.early_header_mutation_extensions[0]
        assert mutation.name == "envoy.http.early_header_mutation.header_mutation"
        fragments = manager.scoped_routes.scope_key_builder.fragments
        extractors = [f.header_value_extractor for f in fragments]
        assert [e.name for e in extractors] == ["x-tc-listener-port", ":authority"]
        assert extractors[1].element_separator == ":"
    config = report.resources[ROUTE]["route_9090/shop/beta"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    assert list(config.request_headers_to_remove) == ["x-tc-listener-port"]


def test_a_port_with_a_wildcard_host_keeps_one_route_configuration() -> None:
    wildcard = render_service(service("alpha", hosts=("*.example.com",)), [])
    exact = render_service(service("beta", hosts=("beta.example.com",)), [])
    elsewhere = render_service(
        service(
            "gamma",
            hosts=("beta.example.com",),
            ports=(ir.Port(number=9090, protocol=ir.Protocol.HTTP),),
        ),
        [],
    )
    resources = assemble({"alpha": wildcard, "beta": exact, "gamma": elsewhere})
    consistent(resources)
    # Port 8080 is plain RDS with every virtual host; port 9090 is scoped as usual.
    assert manager_of(resources, 8080).rds.route_config_name == "route_8080"
    assert manager_of(resources, 9090).HasField("scoped_routes")
    assert sorted(resources[ROUTE]) == ["route_8080", "route_9090/shop/gamma"]
    assert [v[0] for v in domains_of(resources, "route_8080")] == [
        "*.example.com",
        "beta.example.com",
    ]
    assert set(scopes(resources)) == {
        ("9090", "beta.example.com"),
        ("9090", "gamma.shop.svc.cluster.local"),
    }
    # Without the wildcard service, port 8080 is scoped again.
    resources = assemble({"beta": exact, "gamma": elsewhere})
    assert manager_of(resources, 8080).HasField("scoped_routes")
    assert "route_8080" not in resources[ROUTE]


def test_the_same_namespace_and_name_twice_leaves_the_second_out_entirely() -> None:
    first = render_service(service("alpha", hosts=("a.example.com",)), [])
    twin = render_service(service("alpha", hosts=("b.example.com",)), [])
    report = assemble_report({"one": first, "two": twin})
    assert set(report.conflicts) == {"two"}
    assert "is taken by service intent 'one'" in report.conflicts["two"][0]
    assert [v[0] for v in domains_of(report.resources, "route_8080/shop/alpha")] == [
        "a.example.com"
    ]
    assert ("8080", "b.example.com") not in scopes(report.resources)


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
    assert resources[ROUTE] == {} == resources[SCOPED_ROUTE]


def test_grpc_port_speaks_http2_upstream() -> None:
    grpc = (ir.Port(number=9090, protocol=ir.Protocol.GRPC),)
    (cluster, *_) = render_service(service(ports=grpc), []).clusters
    assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in (
        cluster.typed_extension_protocol_options
    )


def test_names_read_back_one_way_only() -> None:
    # A plain port's route configuration has no '/', a service's has two (namespaces and
    # service names have none), so the port, namespace and service read back one way.
    assert route_name(8080) == "route_8080"
    assert service_route_name(8080, "shop/web") == "route_8080/shop/web"
    assert service_route_name(8080, "shop/web").split("/") == ["route_8080", "shop", "web"]
    names = {
        scope_name(port, host)
        for port in (80, 8080, 808)
        for host in ("0.shop.example.com", "shop.example.com", "80.shop.example.com")
    }
    assert len(names) == 9
    assert scope_key(8080, "shop.example.com") == ("8080", "shop.example.com")
    assert exact_host("shop.example.com")
    for host in ("*.example.com", "[::1]", "::1", "Shop.example.com", ""):
        assert not exact_host(host), host

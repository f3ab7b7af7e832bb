"""Assembly: the same outcome as before scoped routes, and the same whether built whole or
one change at a time.

`reference` below is the assembly as it was when every HTTP port had one route
configuration (kept verbatim but for its output), the oracle for who wins what: the layout
of routes changed, the conflicts and what each service gets must not. Services are drawn
from small pools of names, hosts and ports so that they collide often.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2, scoped_route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tc import ir
from tc.plugins.envoy.assembly import Assembly, assemble_report
from tc.plugins.envoy.cache import Snapshot
from tc.plugins.envoy.listeners import DEFAULT_LAYOUT, tcp_listener
from tc.plugins.envoy.render import ServiceParts, TcpRoute, render_service
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    HTTP_PROTOCOLS,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    Resources,
)

INTENTS = ["a", "b", "c", "d", "e"]
HOSTS = ["one.example.com", "two.example.com", "*.example.com", "three.example.com"]
PORTS = [
    ir.Port(number=80, protocol=ir.Protocol.HTTP),
    ir.Port(number=80, protocol=ir.Protocol.TCP),
    ir.Port(number=81, protocol=ir.Protocol.HTTP2),
    ir.Port(number=443, protocol=ir.Protocol.TLS),
    ir.Port(number=443, protocol=ir.Protocol.HTTP),
    ir.Port(number=5432, protocol=ir.Protocol.TCP),
]


@st.composite
def services(draw: st.DrawFn) -> ServiceParts:
    ports = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=3))
    unique = list({p.number: p for p in ports}.values())
    spec = ir.ServiceSpec(
        namespace=draw(st.sampled_from(["ns1", "ns2"])),
        name=draw(st.sampled_from(["x", "y", "z"])),
        hosts=tuple(draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=3, unique=True))),
        ports=tuple(unique),
        endpoints=(ir.Endpoint(address="10.0.0.1"),),
    )
    parts = render_service(ir.Intent(name="drawn", spec=spec), [])
    assert not parts.errors, parts.errors
    return parts


def reference(parts: Mapping[str, ServiceParts]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The assembly before scoped routes: per HTTP port, its virtual hosts."""
    clusters: dict[str, Message] = {}
    endpoints: dict[str, Message] = {}
    http_ports: dict[int, list[route_components_pb2.VirtualHost]] = {}
    tcp_ports: dict[int, list[TcpRoute]] = {}
    domains: dict[int, dict[str, str]] = {}
    vhost_names: dict[int, dict[str, str]] = {}
    cluster_owner: dict[str, str] = {}
    port_owner: dict[int, str] = {}
    sni_owner: dict[int, dict[str, str]] = {}
    conflicts: dict[str, list[str]] = {}

    def lost(service: str, what: str, winner: str) -> None:
        conflicts.setdefault(service, []).append(f"{what} is taken by service intent {winner!r}")

    for name in sorted(parts):
        part = parts[name]
        taken_clusters = [c.name for c in part.clusters if c.name in cluster_owner]
        if taken_clusters:
            lost(name, f"cluster {taken_clusters[0]!r}", cluster_owner[taken_clusters[0]])
            continue
        for c in part.clusters:
            cluster_owner[c.name] = name
            clusters[c.name] = c
        for a in part.load_assignments:
            endpoints.setdefault(a.cluster_name, a)
        for number, protocol in sorted(part.ports.items()):
            is_http = protocol in HTTP_PROTOCOLS
            if (is_http and number in tcp_ports) or (not is_http and number in http_ports):
                lost(name, f"port {number} ({protocol.name})", port_owner[number])
                continue
            port_owner.setdefault(number, name)
            if is_http:
                vhost = part.virtual_hosts.get(number)
                hosts = http_ports.setdefault(number, [])
                taken = domains.setdefault(number, {})
                names = vhost_names.setdefault(number, {})
                if vhost is None:
                    continue
                if vhost.name in names:
                    lost(name, f"virtual host {vhost.name!r} on port {number}", names[vhost.name])
                    continue
                fresh = [d for d in vhost.domains if d not in taken]
                reported: set[str] = set()
                for d in vhost.domains:
                    host = d.removesuffix(f":{number}")
                    if d in taken and host not in reported:
                        reported.add(host)
                        lost(name, f"domain {host!r} on port {number}", taken[d])
                if not fresh:
                    continue
                if len(fresh) != len(vhost.domains):
                    trimmed = route_components_pb2.VirtualHost()
                    trimmed.CopyFrom(vhost)
                    del trimmed.domains[:]
                    trimmed.domains.extend(fresh)
                    vhost = trimmed
                taken.update((d, name) for d in fresh)
                names[vhost.name] = name
                hosts.append(vhost)
            else:
                route = part.tcp_routes.get(number)
                routes = tcp_ports.setdefault(number, [])
                if route is None:
                    continue
                owners = sni_owner.setdefault(number, {})
                for key in route.server_names or [""]:
                    if key in owners:
                        what = f"SNI name {key!r}" if key else "the default TCP route"
                        lost(name, f"{what} on port {number}", owners[key])
                    else:
                        owners[key] = name
                routes.append(route)
    tcp = {}
    for number, routes in tcp_ports.items():
        listener = tcp_listener(number, DEFAULT_LAYOUT, [(r.server_names, r.proxy) for r in routes])
        if listener.filter_chains:
            tcp[listener.name] = listener
    outcome = {
        "clusters": clusters,
        "endpoints": endpoints,
        "tcp": tcp,
        "http": {n: sorted(v, key=lambda h: h.name) for n, v in http_ports.items()},
    }
    return outcome, conflicts


def virtual_hosts(resources: Resources) -> dict[int, list[route_components_pb2.VirtualHost]]:
    """Per HTTP port, the virtual hosts of whichever layout it has."""
    out: dict[int, list[route_components_pb2.VirtualHost]] = {}
    for listener in resources[LISTENER].values():
        assert isinstance(listener, listener_pb2.Listener)
        manager = hcm.HttpConnectionManager()
        if not listener.filter_chains[0].filters[0].typed_config.Unpack(manager):
            continue
        port = listener.address.socket_address.port_value
        if manager.HasField("rds"):
            config = resources[ROUTE][manager.rds.route_config_name]
            assert isinstance(config, route_pb2.RouteConfiguration)
            out[port] = list(config.virtual_hosts)
            continue
        out[port] = []
        for name, config in resources[ROUTE].items():
            assert isinstance(config, route_pb2.RouteConfiguration)
            if name.startswith(f"route_{port}/"):
                out[port].extend(config.virtual_hosts)
        out[port].sort(key=lambda h: h.name)
    return out


def check_scopes(resources: Resources) -> None:
    """Every host of every scoped virtual host has its scope, keyed (port, host)."""
    keys = {}
    for scope in resources[SCOPED_ROUTE].values():
        assert isinstance(scope, scoped_route_pb2.ScopedRouteConfiguration)
        key = tuple(f.string_key for f in scope.key.fragments)
        assert key not in keys
        keys[key] = scope.route_configuration_name
    expected = {}
    for name, config in resources[ROUTE].items():
        assert isinstance(config, route_pb2.RouteConfiguration)
        if "/" in name:
            port = name.split("/")[0].removeprefix("route_")
            for d in config.virtual_hosts[0].domains:
                expected[(port, d.removesuffix(f":{port}"))] = name
    assert keys == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(INTENTS), services(), max_size=5))
def test_who_wins_what_is_as_before(parts: dict[str, ServiceParts]) -> None:
    report = assemble_report(parts)
    outcome, conflicts = reference(parts)
    assert report.conflicts == conflicts
    assert report.resources[CLUSTER] == dict(sorted(outcome["clusters"].items()))
    assert report.resources[ENDPOINT] == dict(sorted(outcome["endpoints"].items()))
    tcp = {n: m for n, m in report.resources[LISTENER].items() if n in outcome["tcp"]}
    assert tcp == outcome["tcp"]
    assert set(report.resources[LISTENER]) == set(outcome["tcp"]) | {
        f"listener_{n}" for n in outcome["http"]
    }
    assert virtual_hosts(report.resources) == outcome["http"]
    check_scopes(report.resources)
    Snapshot.build(report.resources).check()


BATCHES = st.dictionaries(st.sampled_from(INTENTS), st.none() | services(), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(BATCHES, max_size=10))
def test_one_change_at_a_time_gives_what_building_whole_gives(
    steps: list[dict[str, ServiceParts | None]],
) -> None:
    """Changes (a few services at once, as one Apply may bring) give the resources and
    conflicts of assembling everything anew, and a snapshot updated with only what they
    changed has the versions of one built from everything."""
    assembly = Assembly()
    current: dict[str, ServiceParts] = {}
    snapshot = Snapshot.build(assembly.resources())
    for batch in steps:
        for name, part in batch.items():
            if part is None:
                current.pop(name, None)
            else:
                current[name] = part
        snapshot = snapshot.updated(assembly.update(batch))
        whole = assemble_report(current)
        assert assembly.resources() == whole.resources
        assert assembly.conflicts == whole.conflicts
        built = Snapshot.build(whole.resources)
        assert snapshot.versions == built.versions
        snapshot.check(snapshot.to_check)
        built.check()

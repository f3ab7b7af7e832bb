"""Envoy resources from service intents and the workload intents on them: pure.

`render_service` turns one service and its workloads into the parts that belong to it
(clusters, load assignments, a virtual host per HTTP port, a TCP route per TCP/TLS port);
`assemble` puts the parts of every service together into the resources a proxy receives,
because a port's listener and route configuration are shared by every service on it.
Neither does I/O, so golden files pin the output, every plugin instance given the same
intents produces the same resources, and endpoint health can be re-rendered for one
service without touching the others.

Per service port there is one cluster over every endpoint and one per subset
(`<ns>/<service>:<port>` and `<ns>/<service>:<port>/<subset>`): a split is a
weighted_clusters over subset clusters, a mirror a request_mirror_policy to one, a header
route a route to one, placed before the default route.

Workloads merge as for the istio plugin (its workloads.merge, reused so both plugins accept
and refuse the same workloads): in name order, split and mirror owned by the first
workload that sets them, header routes accumulating. Errors are collected, never raised,
with their field paths: a service with errors renders nothing, a rejected workload is
left out and the service renders without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from tc import ir
from tc.ir import FieldError
from tc.plugins.envoy.cluster import HASHING, cluster, uses_eds
from tc.plugins.envoy.endpoints import Drained, EndpointHealth, load_assignment
from tc.plugins.envoy.listeners import (
    http_listener,
    route_configuration,
    tcp_listener,
    tcp_proxy,
)
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    HTTP_PROTOCOLS,
    LISTENER,
    ROUTE,
    Resources,
    cluster_name,
)
from tc.plugins.envoy.routes import ClusterOf, virtual_host
from tc.plugins.istio.workloads import Routing, merge

__all__ = ["Assembled", "ServiceParts", "TcpRoute", "assemble", "assemble_report", "render_service"]


@dataclass(frozen=True, slots=True)
class TcpRoute:
    """How a TCP or TLS port of a service takes connections."""

    server_names: list[str]
    """SNI names that select this service on a shared TLS port; empty: the default."""
    proxy: tcp_proxy_pb2.TcpProxy


@dataclass(frozen=True)
class ServiceParts:
    """What one service intent (shaped by its workloads) contributes to the resources."""

    clusters: list[cluster_pb2.Cluster] = field(default_factory=list)
    """Sorted by name."""
    load_assignments: list[endpoint_pb2.ClusterLoadAssignment] = field(default_factory=list)
    """One per EDS cluster, sorted by cluster name."""
    virtual_hosts: dict[int, route_components_pb2.VirtualHost] = field(default_factory=dict)
    """By port number: the HTTP, HTTP2 and GRPC ports."""
    ports: dict[int, ir.Protocol] = field(default_factory=dict)
    """Every port of the service: what its listener speaks."""
    errors: list[FieldError] = field(default_factory=list)
    """The service intent's broken rules; everything else is empty exactly when there
    are any."""
    workload_errors: dict[str, list[FieldError]] = field(default_factory=dict)
    """The broken rules of each rejected workload intent, by name; it shaped nothing."""
    tcp_routes: dict[int, TcpRoute] = field(default_factory=dict)
    """By port number: the TCP and TLS ports."""
    workloads: tuple[str, ...] = ()
    """The accepted workload intents, in name order."""


def _drained(workloads: Sequence[ir.Intent], accepted: Sequence[str]) -> Drained:
    out: set[tuple[str, int | None]] = set()
    for intent in workloads:
        if intent.name in accepted and isinstance(intent.spec, ir.WorkloadSpec):
            out.update((ref.address, ref.port) for ref in intent.spec.drain)
    return out


def render_service(
    service: ir.Intent,
    workloads: Sequence[ir.Intent],
    *,
    endpoint_health: Mapping[tuple[str, int], bool] | None = None,
) -> ServiceParts:
    """The parts of `service` as shaped by `workloads` (the workload intents whose target
    it is), or why they cannot be. `endpoint_health` maps (address, port) to healthy;
    endpoints it does not list are UNKNOWN to Envoy. An intent of the wrong kind, or one
    workload given twice, is the caller's mistake and raises TypeError or ValueError."""
    spec = service.spec
    if not isinstance(spec, ir.ServiceSpec):
        raise TypeError(f"intent {service.name!r} is a {service.kind} intent, not a service")
    errors: list[FieldError] = []
    # Models may come unchecked (IRModel.trusted): nothing invalid may reach a proxy,
    # where one bad resource makes Envoy reject the whole update.
    service.check("", errors)
    routing, workload_errors = merge(service, spec, workloads)
    if errors:
        return ServiceParts(errors=errors, workload_errors=workload_errors)
    health: EndpointHealth = endpoint_health or {}
    drained = _drained(workloads, routing.workloads)
    health_check_port = spec.health_check.port if spec.health_check is not None else None
    subsets = sorted(spec.subsets)
    clusters: list[cluster_pb2.Cluster] = []
    assignments: list[endpoint_pb2.ClusterLoadAssignment] = []
    virtual_hosts: dict[int, route_components_pb2.VirtualHost] = {}
    tcp_routes: dict[int, TcpRoute] = {}
    for port in spec.ports:
        for subset in [None, *subsets]:
            name = cluster_name(spec, port, subset)
            assignment = None
            if spec.resolution is not ir.Resolution.NONE:
                assignment = load_assignment(
                    name,
                    spec,
                    port,
                    subset,
                    health=health,
                    drained=drained,
                    health_check_port=health_check_port,
                )
                if uses_eds(spec):
                    assignments.append(assignment)
            clusters.append(cluster(name, spec, port, assignment))

        def cluster_of(subset: str | None, port: ir.Port = port) -> str:
            return cluster_name(spec, port, subset)

        if port.protocol in HTTP_PROTOCOLS:
            virtual_hosts[port.number] = virtual_host(spec, port, routing, cluster_of)
        else:
            tcp_routes[port.number] = _tcp_route(spec, port, routing, cluster_of)
    return ServiceParts(
        clusters=sorted(clusters, key=lambda c: c.name),
        load_assignments=sorted(assignments, key=lambda a: a.cluster_name),
        virtual_hosts=virtual_hosts,
        ports={port.number: port.protocol for port in spec.ports},
        errors=[],
        workload_errors=workload_errors,
        tcp_routes=tcp_routes,
        workloads=routing.workloads,
    )


def _tcp_route(
    spec: ir.ServiceSpec,
    port: ir.Port,
    routing: Routing,
    cluster_of: ClusterOf,
) -> TcpRoute:
    weighted = [(cluster_of(share.subset), share.weight) for share in routing.split]
    proxy_name = f"{spec.namespace}_{spec.name}"
    proxy = tcp_proxy(
        port.number,
        proxy_name,
        cluster_of(None),
        weighted,
        hash_source_ip=spec.traffic_policy.lb_algorithm in HASHING,
    )
    # Only a TLS client names the server it wants; a TCP port has one owner per listener.
    names = list(spec.hosts) if port.protocol is ir.Protocol.TLS else []
    return TcpRoute(server_names=names, proxy=proxy)


@dataclass(frozen=True)
class Assembled:
    """The resources of every service, and what each service could not have."""

    resources: Resources
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    """By service intent name: each part it lost to a service earlier in name order."""


def assemble(parts: Mapping[str, ServiceParts], *, listen_address: str = "0.0.0.0") -> Resources:
    """The resources of every service (see assemble_report), without the conflicts."""
    return assemble_report(parts, listen_address=listen_address).resources


def assemble_report(
    parts: Mapping[str, ServiceParts], *, listen_address: str = "0.0.0.0"
) -> Assembled:
    """The resources of every service, by type URL then name, names sorted.

    `parts` is by service intent name; where services collide (the same cluster or virtual
    host name, the same domain on a port, a port one service uses for HTTP and another
    for TCP, two default TCP routes or one SNI name on a port) the first in intent name
    order wins, so that every instance decides alike and Envoy never sees a conflict it
    would refuse; the loser is told why in `conflicts`, so its status does not claim
    traffic it does not get.
    """
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
        # Same cluster names mean the same <namespace>/<service> twice: its routes would
        # send traffic to the other intent's endpoints, so it is left out entirely.
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
                # Each host is also rendered as "host:port"; one report per host is enough.
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
                keys = route.server_names or [""]
                for key in keys:
                    if key in owners:
                        what = f"SNI name {key!r}" if key else "the default TCP route"
                        lost(name, f"{what} on port {number}", owners[key])
                    else:
                        owners[key] = name
                routes.append(route)
    listeners: dict[str, Message] = {}
    routes_out: dict[str, Message] = {}
    for number, vhosts in http_ports.items():
        listener = http_listener(number, listen_address)
        listeners[listener.name] = listener
        config = route_configuration(number, vhosts)
        routes_out[config.name] = config
    for number, tcp in tcp_ports.items():
        listener = tcp_listener(
            number, listen_address, [(route.server_names, route.proxy) for route in tcp]
        )
        if listener.filter_chains:
            listeners[listener.name] = listener
    resources: Resources = {
        CLUSTER: dict(sorted(clusters.items())),
        ENDPOINT: dict(sorted(endpoints.items())),
        LISTENER: dict(sorted(listeners.items())),
        ROUTE: dict(sorted(routes_out.items())),
    }
    return Assembled(resources, conflicts)

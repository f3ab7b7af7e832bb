"""Envoy resources from service intents and the workload intents on them: pure.

`render_service` turns one service and its workloads into the parts that belong to it
(clusters, load assignments, a virtual host per HTTP port, a TCP route per TCP/TLS port);
assembly.py puts the parts of every service together into the resources a proxy receives,
because a port's listener and routes are shared by every service on it. Neither does I/O,
so golden files pin the output, every plugin instance given the same intents produces the
same resources, and endpoint health can be re-rendered for one service without touching
the others.

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

from tc import ir
from tc.ir import FieldError
from tc.plugins.envoy.cluster import HASHING, cluster, uses_eds
from tc.plugins.envoy.endpoints import Drained, EndpointHealth, load_assignment
from tc.plugins.envoy.listeners import tcp_proxy
from tc.plugins.envoy.resources import HTTP_PROTOCOLS, cluster_name
from tc.plugins.envoy.routes import ClusterOf, virtual_host
from tc.plugins.istio.workloads import Routing, merge

__all__ = ["ServiceParts", "TcpRoute", "render_service"]


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

"""ClusterLoadAssignments: which endpoints a cluster has, their weights, locality, health.

Health comes from two places the service intent does not hold: the controller's view of
each endpoint (endpoint_health, from heartbeats) and the workloads draining an endpoint.
Draining wins over health, because a drained endpoint must take no new traffic even when
it is fine; an endpoint the controller knows nothing about is UNKNOWN, which Envoy routes
to, so a missing heartbeat monitor never takes a service down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from envoy.config.core.v3 import address_pb2, base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from google.protobuf.wrappers_pb2 import UInt32Value

from tc import ir

EndpointHealth = Mapping[tuple[str, int], bool]
"""(address, port) -> healthy; the port is the endpoint's own (the target port)."""

Drained = Collection[tuple[str, int | None]]
"""(address, port) of drained endpoints; port None: every port of the address."""


def endpoint_port(endpoint: ir.Endpoint, port: ir.Port) -> int:
    return endpoint.port if endpoint.port is not None else port.target_port


def eds_health(spec: ir.ServiceSpec, by_endpoint: Mapping[tuple[str, int], bool]) -> EndpointHealth:
    """`by_endpoint` (keyed as ir.ServiceSpec.endpoint_key names endpoints: one health per
    endpoint) spread over the (address, port) of every port the endpoint serves."""
    out: dict[tuple[str, int], bool] = {}
    if not by_endpoint:
        return out
    for endpoint in spec.endpoints:
        healthy = by_endpoint.get(spec.endpoint_key(endpoint))
        if healthy is not None:
            for port in spec.ports:
                out[(endpoint.address, endpoint_port(endpoint, port))] = healthy
    return out


def _health(
    address: str, number: int, health: EndpointHealth, drained: Drained
) -> health_check_pb2.HealthStatus.ValueType:
    if (address, number) in drained or (address, None) in drained:
        return health_check_pb2.DRAINING
    healthy = health.get((address, number))
    if healthy is None:
        return health_check_pb2.UNKNOWN
    return health_check_pb2.HEALTHY if healthy else health_check_pb2.UNHEALTHY


def _locality_key(endpoint: ir.Endpoint) -> tuple[str, str, str]:
    locality = endpoint.locality
    if locality is None:
        return ("", "", "")
    return (locality.region, locality.zone, locality.sub_zone)


def load_assignment(
    name: str,
    spec: ir.ServiceSpec,
    port: ir.Port,
    subset: str | None,
    *,
    health: EndpointHealth,
    drained: Drained,
    health_check_port: int | None = None,
) -> endpoint_pb2.ClusterLoadAssignment:
    """The endpoints of `spec` (only `subset`'s, when given) on `port`, grouped by locality
    (sorted, endpoints in intent order within each)."""
    groups: dict[tuple[str, str, str], list[endpoint_components_pb2.LbEndpoint]] = {}
    endpoints = [e for e in spec.endpoints if subset is None or e.subset == subset]
    if not endpoints and spec.resolution is ir.Resolution.DNS and subset is None:
        # No endpoints listed: the hosts themselves are resolved (the IR refuses wildcards).
        endpoints = [ir.Endpoint(address=host) for host in spec.hosts]
    for endpoint in endpoints:
        number = endpoint_port(endpoint, port)
        lb_endpoint = endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(
                        address=endpoint.address, port_value=number
                    )
                )
            ),
            health_status=_health(endpoint.address, number, health, drained),
            load_balancing_weight=UInt32Value(value=endpoint.weight),
        )
        if health_check_port is not None:
            lb_endpoint.endpoint.health_check_config.CopyFrom(
                endpoint_components_pb2.Endpoint.HealthCheckConfig(port_value=health_check_port)
            )
        groups.setdefault(_locality_key(endpoint), []).append(lb_endpoint)
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    for (region, zone, sub_zone), lb_endpoints in sorted(groups.items()):
        group = assignment.endpoints.add(lb_endpoints=lb_endpoints)
        if region:
            group.locality.CopyFrom(base_pb2.Locality(region=region, zone=zone, sub_zone=sub_zone))
    return assignment

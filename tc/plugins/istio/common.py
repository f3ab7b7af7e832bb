"""Values every Istio object of a service agrees on: API versions, hosts, durations.

The DestinationRule, VirtualService and ServiceEntry of one service must name the same
destination host and the same subsets, or traffic silently goes nowhere; deciding those
once here is what keeps the per-kind modules consistent with each other.
"""

from __future__ import annotations

from tc import ir
from tc.ir.durations import nanos_from_seconds

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"

CLUSTER_DOMAIN = "cluster.local"
"""Kubernetes' default cluster domain, which is also Istio's default trust domain."""

SUBSET_LABEL = "version"
"""The pod (or ServiceEntry endpoint) label a subset selects on: Istio's convention."""

MESH_GATEWAY = "mesh"
"""The reserved gateway name that means every sidecar in the mesh."""

HTTP_PROTOCOLS = frozenset({ir.Protocol.HTTP, ir.Protocol.HTTP2, ir.Protocol.GRPC})


def gateway_name(spec: ir.ServiceSpec) -> str:
    return f"{spec.name}-gateway"


def authorization_name(spec: ir.ServiceSpec) -> str:
    return f"{spec.name}-allow"


def cluster_host(spec: ir.ServiceSpec) -> str:
    """The Kubernetes Service's own name, which is what the mesh discovers pods under."""
    return f"{spec.name}.{spec.namespace}.svc.{CLUSTER_DOMAIN}"


def destination_host(spec: ir.ServiceSpec) -> str | None:
    """The one host that routes and the DestinationRule point at.

    In the cluster that is the Kubernetes Service; outside it, the ServiceEntry's first
    host that is not a wildcard (a wildcard names no single destination). None when there
    is no such host, which checks.py reports.
    """
    if spec.location is ir.Location.CLUSTER:
        return cluster_host(spec)
    return next((host for host in spec.hosts if not host.startswith("*")), None)


def is_external(spec: ir.ServiceSpec) -> bool:
    return spec.exposure.visibility is ir.Visibility.EXTERNAL


def http_ports(spec: ir.ServiceSpec) -> list[ir.Port]:
    return [port for port in spec.ports if port.protocol in HTTP_PROTOCOLS]


def duration(seconds: float) -> str:
    """A protobuf JSON duration ("1.5s", "0.25s"), exact to the nanosecond the IR keeps."""
    nanos = nanos_from_seconds(seconds)
    whole, fraction = divmod(nanos, 1_000_000_000)
    if not fraction:
        return f"{whole}s"
    return f"{whole}.{fraction:09d}".rstrip("0") + "s"

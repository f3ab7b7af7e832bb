"""Type URLs and names that every rendered Envoy resource agrees on.

Clusters, their load assignments, route configurations and listeners refer to each other
by name only; deciding those names in one place keeps the references consistent, so a
proxy never waits for a resource that will not come.
"""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from tc import ir
from tc.ir.durations import nanos_from_seconds

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

TYPE_URLS = (CLUSTER, ENDPOINT, LISTENER, ROUTE)
"""In the order ADS sends them: a cluster before its endpoints, a listener before its routes."""

Resources = dict[str, dict[str, Message]]
"""type URL -> resource name -> message."""

CLUSTER_DOMAIN = "cluster.local"

HTTP_PROTOCOLS = frozenset({ir.Protocol.HTTP, ir.Protocol.HTTP2, ir.Protocol.GRPC})
H2_PROTOCOLS = frozenset({ir.Protocol.HTTP2, ir.Protocol.GRPC})


def service_key(spec: ir.ServiceSpec) -> str:
    return f"{spec.namespace}/{spec.name}"


def cluster_name(spec: ir.ServiceSpec, port: ir.Port, subset: str | None = None) -> str:
    """`<ns>/<service>:<port>` for every endpoint, `<ns>/<service>:<port>/<subset>` for one
    subset. A cluster is per port because an endpoint's port depends on the service port
    (its target port); ':' and '/' cannot occur in the parts, so names never collide."""
    base = f"{service_key(spec)}:{port.number}"
    return base if subset is None else f"{base}/{subset}"


def listener_name(port: int) -> str:
    return f"listener_{port}"


def route_name(port: int) -> str:
    return f"route_{port}"


def kubernetes_host(spec: ir.ServiceSpec) -> str:
    return f"{spec.name}.{spec.namespace}.svc.{CLUSTER_DOMAIN}"


def duration(seconds: float) -> Duration:
    """A protobuf Duration exact to the nanosecond the IR keeps."""
    whole, nanos = divmod(nanos_from_seconds(seconds), 1_000_000_000)
    return Duration(seconds=whole, nanos=nanos)

"""Type URLs and names that every rendered Envoy resource agrees on.

Clusters, their load assignments, listeners, scoped route configurations and route
configurations refer to each other by name only (and a scope to a request by its key);
deciding those names in one place keeps the references consistent, so a proxy never waits
for a resource that will not come.

Names are unique within their type, which is all Envoy asks: '/' and ':' never occur in a
namespace, a service name or an exact host, so a name built from them with '/' and ':' as
separators reads back one way only. A plain route configuration (`route_<port>`) has no
'/', one per service (`route_<port>/<ns>/<service>`) has two, a scope is
`scope_<port>/<host>`, a cluster `<ns>/<service>:<port>[/<subset>]`.
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
SCOPED_ROUTE = "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration"

TYPE_URLS = (CLUSTER, ENDPOINT, LISTENER, SCOPED_ROUTE, ROUTE)
"""In the order ADS sends them: a cluster before its endpoints, a listener before its
scopes, a scope before the route configuration it names."""

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
    """The one route configuration of a port in the plain layout: every virtual host on it."""
    return f"route_{port}"


def service_route_name(port: int, virtual_host: str) -> str:
    """The route configuration of one service's virtual host (named `<ns>/<service>`) on a
    port in the scoped layout."""
    return f"route_{port}/{virtual_host}"


def scopes_name(port: int) -> str:
    """The scoped routes of a port's listener (Envoy names their stats after it)."""
    return f"scopes_{port}"


def scope_name(port: int, host: str) -> str:
    return f"scope_{port}/{host}"


LISTENER_PORT_HEADER = "x-tc-listener-port"
"""Set by a scoped listener to its own port before the scope is chosen, and removed before
a request leaves for an upstream: scopes are global to an Envoy, so the port is part of
every scope key."""


def scope_key(port: int, host: str) -> tuple[str, str]:
    """The key fragments a request on `port` with Host `host` (any :port suffix dropped)
    is matched by, in the order the listener's key builder extracts them."""
    return (str(port), host)


def exact_host(host: str) -> bool:
    """Whether `host` can be a scope key, which a request's Host must equal byte for byte:
    a wildcard stands for many Hosts, and the key builder cuts an IPv6 literal ("[::1]")
    at its first ':'. Only lower case, the form the IR requires, so that a host that is
    not (a model built unchecked) keeps Envoy's case-insensitive virtual host match."""
    return bool(host) and host == host.lower() and not any(c in host for c in "*:[]/")


def kubernetes_host(spec: ir.ServiceSpec) -> str:
    return f"{spec.name}.{spec.namespace}.svc.{CLUSTER_DOMAIN}"


def duration(seconds: float) -> Duration:
    """A protobuf Duration exact to the nanosecond the IR keeps."""
    whole, nanos = divmod(nanos_from_seconds(seconds), 1_000_000_000)
    return Duration(seconds=whole, nanos=nanos)

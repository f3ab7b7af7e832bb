"""Listeners and how they find routes: one listener per port, shared by every service on it.

Envoy binds a port once, so services meet on a port's listener: TCP and TLS services as
filter chains (TLS ones chosen by SNI, the one TCP service as the default chain), HTTP
services as virtual hosts chosen by Host. Nothing here knows a service; assembly.py decides
who gets a port and which of the two layouts below an HTTP port has.

Scoped layout (the usual one). Envoy rebuilds a whole route configuration on every update
of it, so with every virtual host of a port in one configuration each change costs every
proxy time in proportion to the services on the port (docs/benchmarks.md). Instead each
service's virtual host on a port is a route configuration of its own
(`route_<port>/<ns>/<service>`), and the listener picks one per request through scoped RDS:
a ScopedRouteConfiguration per (port, host) (`scope_<port>/<host>`) maps a key to it.

The key has two fragments: the `x-tc-listener-port` header, which the listener's early
header mutation sets to its own port (overwriting whatever a client sent), and the Host up
to its first ':' (so "shop.example.com:8080" and "shop.example.com" choose the same scope).
The port is there because scopes are global to an Envoy: every scoped listener's key builder
is matched against every scope (envoyproxy/envoy#19113, kumahq/kuma#3299), and Envoy refuses
an update with two scopes of the same key ("scope key conflict found"), so the same host on
two ports, served by different services, cannot be told apart by Host alone. Early header
mutations run before routing ("before any routing, tracing, or any filter processing", the
HttpConnectionManager reference; and Envoy picks the scope again whenever it recomputes the
route), which the e2e tests confirm with a real Envoy. Each per-service route configuration
removes the header again, so upstreams never see it. A request whose key matches no scope
gets Envoy's 404, as an unknown Host does with one route configuration.

On demand (the default of the scoped layout, `Layout.on_demand_routes`). A new proxy given
every service's route configuration up front spends most of its start creating them
(docs/benchmarks.md), though it may never route to most of those services. Scopes are sent
`on_demand`, and the listener's `envoy.filters.http.on_demand` filter, before the router,
holds a request whose scope has no route configuration yet while the proxy subscribes to
it over ADS, then routes it: a service costs a proxy its scopes until its first request,
which waits one round trip to the control plane. The ADS server counts such a proxy as
holding the latest route configurations when none it subscribes to changed (server.py),
so "programmed on N/M proxies" still says whether every proxy would route the change.

Scope keys match byte for byte, where Envoy's virtual host domains match Host regardless
of case: a client sending "Shop.Example.com" reaches its service in the plain layout and
gets a 404 in the scoped one. Render emits lower-case hosts only (the IR requires them), so
a client sending the host as configured is unaffected.

Plain layout (the fallback). A scope key must equal the Host, so a host that cannot be one
(a wildcard such as "*.example.com", envoyproxy/envoy#19098; an IPv6 literal, which the
key builder would cut at its first ':') has no scope: a port where any service has such a
host keeps one route configuration `route_<port>` with every virtual host, over plain RDS.
Changing a port's layout replaces its listener, so connections open on the old one drain
as on any listener change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, extension_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2, scoped_route_pb2
from envoy.extensions.filters.http.on_demand.v3 import on_demand_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.http.early_header_mutation.header_mutation.v3 import header_mutation_pb2
from google.protobuf.any_pb2 import Any
from google.protobuf.message import Message

from tc.plugins.envoy.cluster import ads
from tc.plugins.envoy.resources import (
    LISTENER_PORT_HEADER,
    listener_name,
    route_name,
    scope_key,
    scope_name,
    scopes_name,
    service_route_name,
)

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
ROUTER = "envoy.filters.http.router"
ON_DEMAND = "envoy.filters.http.on_demand"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
EARLY_HEADER_MUTATION = "envoy.http.early_header_mutation.header_mutation"

_Fragment = hcm.ScopedRoutes.ScopeKeyBuilder.FragmentBuilder


@dataclass(frozen=True)
class Layout:
    """How listeners are laid out, from the plugin's settings."""

    listen_address: str = "0.0.0.0"
    """The address every listener binds."""
    scoped_routes: bool = True
    """The scoped layout wherever a port's hosts allow it; False: the plain layout always."""
    on_demand_routes: bool = True
    """Scopes whose route configuration a proxy fetches at the scope's first request."""


DEFAULT_LAYOUT = Layout()


def _packed(message: Message) -> Any:
    out = Any()
    out.Pack(message)
    return out


def _address(listen_address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=listen_address, port_value=port)
    )


def http_listener(port: int, layout: Layout, *, scoped: bool) -> listener_pb2.Listener:
    """A listener whose routes come over scoped RDS (`scoped`) or over RDS as `route_<port>`."""
    manager = hcm.HttpConnectionManager(
        stat_prefix=f"http_{port}",
        http_filters=[hcm.HttpFilter(name=ROUTER, typed_config=_packed(router_pb2.Router()))],
    )
    if scoped:
        manager.scoped_routes.CopyFrom(_scoped_routes(port))
        manager.early_header_mutation_extensions.append(_set_port_header(port))
        if layout.on_demand_routes:
            on_demand = hcm.HttpFilter(
                name=ON_DEMAND, typed_config=_packed(on_demand_pb2.OnDemand())
            )
            manager.http_filters.insert(0, on_demand)
    else:
        manager.rds.CopyFrom(hcm.Rds(config_source=ads(), route_config_name=route_name(port)))
    chain = listener_components_pb2.FilterChain(
        filters=[listener_components_pb2.Filter(name=HCM, typed_config=_packed(manager))]
    )
    return listener_pb2.Listener(
        name=listener_name(port),
        address=_address(layout.listen_address, port),
        filter_chains=[chain],
    )


def _scoped_routes(port: int) -> hcm.ScopedRoutes:
    # In the order of scope_key: the port header, then the Host without its :port.
    fragments = [
        _Fragment(
            header_value_extractor=_Fragment.HeaderValueExtractor(
                name=LISTENER_PORT_HEADER, index=0
            )
        ),
        _Fragment(
            header_value_extractor=_Fragment.HeaderValueExtractor(
                name=":authority", element_separator=":", index=0
            )
        ),
    ]
    return hcm.ScopedRoutes(
        name=scopes_name(port),
        scope_key_builder=hcm.ScopedRoutes.ScopeKeyBuilder(fragments=fragments),
        rds_config_source=ads(),
        scoped_rds=hcm.ScopedRds(scoped_rds_config_source=ads()),
    )


def _set_port_header(port: int) -> extension_pb2.TypedExtensionConfig:
    # Early header mutations run before the scope is chosen; overwriting, never appending,
    # keeps a client from choosing another port's scope by sending the header itself.
    header = base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=LISTENER_PORT_HEADER, value=str(port)),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )
    mutation = header_mutation_pb2.HeaderMutation(
        mutations=[mutation_rules_pb2.HeaderMutation(append=header)]
    )
    return extension_pb2.TypedExtensionConfig(
        name=EARLY_HEADER_MUTATION, typed_config=_packed(mutation)
    )


def route_configuration(
    port: int, virtual_hosts: Sequence[route_components_pb2.VirtualHost]
) -> route_pb2.RouteConfiguration:
    """The plain layout's one route configuration of `port`."""
    return route_pb2.RouteConfiguration(
        name=route_name(port), virtual_hosts=sorted(virtual_hosts, key=lambda v: v.name)
    )


def service_route_configuration(
    port: int, virtual_host: route_components_pb2.VirtualHost
) -> route_pb2.RouteConfiguration:
    """The scoped layout's route configuration of one virtual host on `port`."""
    return route_pb2.RouteConfiguration(
        name=service_route_name(port, virtual_host.name),
        virtual_hosts=[virtual_host],
        request_headers_to_remove=[LISTENER_PORT_HEADER],
    )


def scope(
    port: int, host: str, route_configuration_name: str, *, on_demand: bool
) -> scoped_route_pb2.ScopedRouteConfiguration:
    """The scope sending requests on `port` for `host` to `route_configuration_name`,
    which a proxy fetches at the first such request when `on_demand`."""
    key = scoped_route_pb2.ScopedRouteConfiguration.Key(
        fragments=[
            scoped_route_pb2.ScopedRouteConfiguration.Key.Fragment(string_key=fragment)
            for fragment in scope_key(port, host)
        ]
    )
    return scoped_route_pb2.ScopedRouteConfiguration(
        name=scope_name(port, host),
        route_configuration_name=route_configuration_name,
        key=key,
        on_demand=on_demand,
    )


def tcp_proxy(
    port: int,
    name: str,
    cluster: str | None,
    weighted: Sequence[tuple[str, int]] = (),
    *,
    hash_source_ip: bool = False,
) -> tcp_proxy_pb2.TcpProxy:
    """Connections to `cluster`, or split over `weighted` (cluster, weight) when given."""
    out = tcp_proxy_pb2.TcpProxy(stat_prefix=f"tcp_{port}_{name}")
    if weighted:
        out.weighted_clusters.clusters.extend(
            tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(name=c, weight=w)
            for c, w in weighted
        )
    elif cluster is not None:
        out.cluster = cluster
    if hash_source_ip:
        # Ring hash and Maglev need a key: the client's address, as on HTTP routes.
        out.hash_policy.add().source_ip.SetInParent()
    return out


def tcp_listener(
    port: int,
    layout: Layout,
    chains: Sequence[tuple[Sequence[str], tcp_proxy_pb2.TcpProxy]],
) -> listener_pb2.Listener:
    """`chains`: (SNI server names, proxy) in priority order; no names: the default chain.
    A chain whose match an earlier one already has is left out, since Envoy refuses two
    chains with the same match."""
    out = listener_pb2.Listener(
        name=listener_name(port), address=_address(layout.listen_address, port)
    )
    taken: set[str] = set()
    default_taken = False
    for names, proxy in chains:
        fresh = [n for n in names if n not in taken]
        filters = [listener_components_pb2.Filter(name=TCP_PROXY, typed_config=_packed(proxy))]
        if not names:
            if default_taken:
                continue
            default_taken = True
            out.filter_chains.append(listener_components_pb2.FilterChain(filters=filters))
            continue
        if not fresh:
            continue
        taken.update(fresh)
        out.filter_chains.append(
            listener_components_pb2.FilterChain(
                filter_chain_match=listener_components_pb2.FilterChainMatch(server_names=fresh),
                filters=filters,
            )
        )
    if taken:
        # SNI is only known once the ClientHello is read.
        out.listener_filters.append(
            listener_components_pb2.ListenerFilter(
                name=TLS_INSPECTOR, typed_config=_packed(tls_inspector_pb2.TlsInspector())
            )
        )
    return out

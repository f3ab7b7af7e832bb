"""Listeners and route configurations: one of each per port, shared by every service on it.

Envoy binds a port once, so services meet on a port's listener: HTTP services as virtual
hosts of the port's route configuration (found over RDS, chosen by Host), TCP and TLS
services as filter chains of the listener (TLS ones chosen by SNI, the one TCP service as
the default chain). Nothing here knows a service; render.py decides who gets a port.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.any_pb2 import Any
from google.protobuf.message import Message

from tc.plugins.envoy.cluster import ads
from tc.plugins.envoy.resources import listener_name, route_name

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
ROUTER = "envoy.filters.http.router"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"


def _packed(message: Message) -> Any:
    out = Any()
    out.Pack(message)
    return out


def _address(listen_address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=listen_address, port_value=port)
    )


def http_listener(port: int, listen_address: str) -> listener_pb2.Listener:
    """A listener whose routes come over RDS as `route_<port>`."""
    manager = hcm.HttpConnectionManager(
        stat_prefix=f"http_{port}",
        rds=hcm.Rds(config_source=ads(), route_config_name=route_name(port)),
        http_filters=[hcm.HttpFilter(name=ROUTER, typed_config=_packed(router_pb2.Router()))],
    )
    chain = listener_components_pb2.FilterChain(
        filters=[listener_components_pb2.Filter(name=HCM, typed_config=_packed(manager))]
    )
    return listener_pb2.Listener(
        name=listener_name(port),
        address=_address(listen_address, port),
        filter_chains=[chain],
    )


def route_configuration(
    port: int, virtual_hosts: Sequence[route_components_pb2.VirtualHost]
) -> route_pb2.RouteConfiguration:
    return route_pb2.RouteConfiguration(
        name=route_name(port), virtual_hosts=sorted(virtual_hosts, key=lambda v: v.name)
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
    listen_address: str,
    chains: Sequence[tuple[Sequence[str], tcp_proxy_pb2.TcpProxy]],
) -> listener_pb2.Listener:
    """`chains`: (SNI server names, proxy) in priority order; no names: the default chain.
    A chain whose match an earlier one already has is left out, since Envoy refuses two
    chains with the same match."""
    out = listener_pb2.Listener(name=listener_name(port), address=_address(listen_address, port))
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

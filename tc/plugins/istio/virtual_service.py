"""The VirtualService: how requests for a service's hosts are routed to its subsets.

The service intent gives the hosts, ports, retries and timeouts; the accepted workload
intents (see workloads.py) give the split, the mirror and header routes. Routes follow the
protocol of each port: HTTP, HTTP2 and GRPC ports get `http` routes, TCP ports `tcp`
routes and TLS ports `tls` routes matched on SNI.

A service with one port needs neither port matches nor destination ports, so its routes
also catch what the ingress gateway forwards (which arrives on the gateway's own port).
With several ports each route matches its port among the mesh's sidecars, and the first
HTTP port also takes everything from the service's Gateway.

A mirror applies to every HTTP route except one whose traffic all goes to the mirror's
own subset: copying a request to the version that already serves it would run it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from tc import ir
from tc.plugins.istio.common import (
    MESH_GATEWAY,
    NETWORKING,
    cluster_host,
    duration,
    gateway_name,
    http_ports,
    is_external,
)
from tc.plugins.istio.workloads import Routing

TOTAL_WEIGHT = 100


def distribute(weights: Sequence[int | float], total: int = TOTAL_WEIGHT) -> list[int]:
    """Whole weights in proportion to `weights` that add up to exactly `total`.

    Largest remainder: each share is rounded down, and the points left over go to the
    largest fractions, earlier entries first on a tie, so the result is deterministic and
    a split that already adds up to `total` comes back unchanged. Istio wants whole
    weights that add up to 100; a workload's split does by the IR's rules, and this keeps
    it so for any other relative weights the renderer is given.
    """
    fractions = [Fraction(w) for w in weights]
    if any(f < 0 for f in fractions):
        raise ValueError("weights must not be negative")
    whole = sum(fractions)
    if whole <= 0:
        raise ValueError("weights must add up to more than 0")
    quotas = [f * total / whole for f in fractions]
    shares = [int(q) for q in quotas]  # floor: quotas are not negative
    left = total - sum(shares)
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


class _Routes:
    """Builds the routes of one service; holds what every route of it shares."""

    def __init__(self, spec: ir.ServiceSpec, host: str, routing: Routing) -> None:
        self.spec = spec
        self.host = host
        self.routing = routing
        self.multi_port = len(spec.ports) > 1
        self.external = is_external(spec)
        http = http_ports(spec)
        # The gateway serves HTTP(S) only, so it forwards to the first HTTP port.
        self.gateway_port = http[0].number if self.external and http else None
        split = routing.split
        self.weights = distribute([share.weight for share in split]) if split else []

    def destination(self, subset: str | None, port: ir.Port) -> dict[str, Any]:
        destination: dict[str, Any] = {"host": self.host}
        if subset is not None:
            destination["subset"] = subset
        if self.multi_port:
            destination["port"] = {"number": port.number}
        return destination

    def weighted(self, port: ir.Port) -> list[dict[str, Any]]:
        split = self.routing.split
        if not split:
            return [{"destination": self.destination(None, port)}]
        return [
            {"destination": self.destination(share.subset, port), "weight": weight}
            for share, weight in zip(split, self.weights, strict=True)
        ]

    def port_matches(self, port: ir.Port) -> list[dict[str, Any]]:
        """The matches that select this port's traffic; empty means all traffic."""
        if not self.multi_port:
            return []
        match: dict[str, Any] = {"port": port.number}
        if self.external:
            # Without this, gateway traffic on a gateway port equal to this port would match.
            match["gateways"] = [MESH_GATEWAY]
        matches = [match]
        if port.number == self.gateway_port:
            matches.append({"gateways": [gateway_name(self.spec)]})
        return matches

    def http_extras(self, port: ir.Port, only_subset: str | None = None) -> dict[str, Any]:
        """What every HTTP route of the service carries: timeout, retries, mirror.

        `only_subset` is the one subset a route sends everything to, if any.
        """
        policy = self.spec.traffic_policy
        extras: dict[str, Any] = {}
        if policy.request_timeout is not None:
            extras["timeout"] = duration(policy.request_timeout)
        retries = policy.retries
        if retries is not None:
            retry: dict[str, Any] = {"attempts": retries.attempts}
            # With no attempts the rest means nothing; leaving it out keeps that plain.
            if retries.attempts:
                if retries.per_try_timeout is not None:
                    retry["perTryTimeout"] = duration(retries.per_try_timeout)
                if retries.retry_on:
                    retry["retryOn"] = ",".join(retries.retry_on)
            extras["retries"] = retry
        mirror = self.routing.mirror
        # A copy to the subset that already serves the request would run it there twice.
        if mirror is not None and mirror.subset != only_subset:
            extras["mirror"] = self.destination(mirror.subset, port)
            extras["mirrorPercentage"] = {"value": mirror.percent}
        return extras

    def http(self, port: ir.Port) -> list[dict[str, Any]]:
        matches = self.port_matches(port)
        routes: list[dict[str, Any]] = []
        # Header routes first: Istio takes the first route that matches.
        for i, header_route in enumerate(self.routing.header_routes):
            headers = {header.name: _string_match(header) for header in header_route.headers}
            route_matches = [{**m, "headers": headers} for m in matches] or [{"headers": headers}]
            routes.append(
                {
                    "name": f"{port.name}-header-{i}",
                    "match": route_matches,
                    "route": [{"destination": self.destination(header_route.subset, port)}],
                    **self.http_extras(port, only_subset=header_route.subset),
                }
            )
        live = [
            share.subset
            for share, weight in zip(self.routing.split, self.weights, strict=True)
            if weight
        ]
        only = live[0] if len(live) == 1 else None
        default: dict[str, Any] = {
            "name": port.name,
            "route": self.weighted(port),
            **self.http_extras(port, only_subset=only),
        }
        if matches:
            default["match"] = matches
        routes.append(default)
        return routes

    def tcp(self, port: ir.Port) -> dict[str, Any]:
        route: dict[str, Any] = {"route": self.weighted(port)}
        matches = self.port_matches(port)
        if matches:
            route["match"] = matches
        return route

    def tls(self, port: ir.Port, sni_hosts: list[str]) -> dict[str, Any]:
        # A TLS route must match on SNI, which is the only thing it can see unencrypted.
        match: dict[str, Any] = {"sniHosts": sni_hosts}
        if self.multi_port:
            match["port"] = port.number
        if self.external:
            match["gateways"] = [MESH_GATEWAY]
        return {"match": [match], "route": self.weighted(port)}


def _string_match(header: ir.HeaderMatch) -> dict[str, str]:
    if header.exact is not None:
        return {"exact": header.exact}
    if header.prefix is not None:
        return {"prefix": header.prefix}
    if header.regex is not None:
        return {"regex": header.regex}
    raise ValueError(f"header {header.name!r} has no value to match")  # the IR prevents it


def mesh_hosts(spec: ir.ServiceSpec) -> list[str]:
    """The hosts clients in the mesh use: the service's own, and in the cluster also the
    Kubernetes Service name, so that callers using it get the same routing."""
    hosts = list(spec.hosts)
    if spec.location is ir.Location.CLUSTER:
        hosts.append(cluster_host(spec))
    return list(dict.fromkeys(hosts))


def virtual_service(
    spec: ir.ServiceSpec, host: str, routing: Routing, metadata: dict[str, Any]
) -> dict[str, Any]:
    routes = _Routes(spec, host, routing)
    hosts = mesh_hosts(spec)
    gateways = [MESH_GATEWAY]
    if routes.external and spec.exposure.gateway_host is not None:
        hosts = list(dict.fromkeys([*hosts, spec.exposure.gateway_host]))
        gateways.append(gateway_name(spec))
    body: dict[str, Any] = {"hosts": hosts, "gateways": gateways}
    http: list[dict[str, Any]] = []
    tcp: list[dict[str, Any]] = []
    tls: list[dict[str, Any]] = []
    sni_hosts = mesh_hosts(spec)
    for port in spec.ports:
        if port.protocol is ir.Protocol.TCP:
            tcp.append(routes.tcp(port))
        elif port.protocol is ir.Protocol.TLS:
            tls.append(routes.tls(port, sni_hosts))
        else:
            http.extend(routes.http(port))
    if http:
        body["http"] = http
    if tcp:
        body["tcp"] = tcp
    if tls:
        body["tls"] = tls
    return {
        "apiVersion": NETWORKING,
        "kind": "VirtualService",
        "metadata": metadata,
        "spec": body,
    }

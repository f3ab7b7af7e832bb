"""The virtual host of one service on one HTTP port: header routes, then the default route.

Envoy tries routes first to last, so the workloads' header routes come before the catch-all
default route (which carries the split), in the merge order of workloads.py. Every route
carries the service's timeout, retries and hash policy alike, so a header route behaves
as the default route does except for where it sends requests. The mirror rides on every
route except one whose traffic all goes to the mirror's subset already (a copy of a
request to where it is going anyway would only double the load), as Istio does.
"""

from __future__ import annotations

from collections.abc import Callable

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf.wrappers_pb2 import UInt32Value

from tc import ir
from tc.plugins.envoy.cluster import HASHING
from tc.plugins.envoy.resources import duration, kubernetes_host, service_key
from tc.plugins.istio.workloads import Routing

DEFAULT_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled")
"""What attempts without retry_on retry on: Istio's default, so both plugins agree."""

ClusterOf = Callable[[str | None], str]
"""The cluster of a subset on this port (None: every endpoint)."""


def domains(spec: ir.ServiceSpec, port: ir.Port) -> list[str]:
    """What a client may send as Host: every name of the service, bare and with the port."""
    names = list(spec.hosts)
    if spec.location is ir.Location.CLUSTER:
        names.append(kubernetes_host(spec))
    if spec.exposure.gateway_host is not None:
        names.append(spec.exposure.gateway_host)
    unique = list(dict.fromkeys(names))
    return unique + [f"{name}:{port.number}" for name in unique]


def virtual_host(
    spec: ir.ServiceSpec, port: ir.Port, routing: Routing, cluster_of: ClusterOf
) -> rc.VirtualHost:
    routes = []
    for i, header_route in enumerate(routing.header_routes):
        match = rc.RouteMatch(prefix="/", headers=[_header(h) for h in header_route.headers])
        action = rc.RouteAction(cluster=cluster_of(header_route.subset))
        _extras(action, spec, routing, cluster_of, only_subset=header_route.subset)
        routes.append(rc.Route(name=f"header-{i}", match=match, route=action))
    action = rc.RouteAction()
    if routing.split:
        action.weighted_clusters.clusters.extend(
            rc.WeightedCluster.ClusterWeight(
                name=cluster_of(share.subset), weight=UInt32Value(value=share.weight)
            )
            for share in routing.split
        )
        taking = [share.subset for share in routing.split if share.weight]
        only_subset = taking[0] if len(taking) == 1 else None
    else:
        action.cluster = cluster_of(None)
        only_subset = None
    _extras(action, spec, routing, cluster_of, only_subset=only_subset)
    routes.append(rc.Route(name="default", match=rc.RouteMatch(prefix="/"), route=action))
    return rc.VirtualHost(name=service_key(spec), domains=domains(spec, port), routes=routes)


def _header(header: ir.HeaderMatch) -> rc.HeaderMatcher:
    if header.exact is not None:
        match = string_pb2.StringMatcher(exact=header.exact)
    elif header.prefix is not None:
        match = string_pb2.StringMatcher(prefix=header.prefix)
    elif header.regex is not None:
        match = string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=header.regex))
    else:
        raise ValueError(f"header {header.name!r} has no value to match")  # the IR prevents it
    return rc.HeaderMatcher(name=header.name, string_match=match)


def _extras(
    action: rc.RouteAction,
    spec: ir.ServiceSpec,
    routing: Routing,
    cluster_of: ClusterOf,
    *,
    only_subset: str | None,
) -> None:
    policy = spec.traffic_policy
    if policy.request_timeout is not None:
        action.timeout.CopyFrom(duration(policy.request_timeout))
    if policy.retries is not None and policy.retries.attempts:
        action.retry_policy.CopyFrom(_retry_policy(policy.retries))
    if policy.lb_algorithm in HASHING:
        # A hash needs something to hash: the client's address, as Istio's useSourceIp.
        action.hash_policy.append(
            rc.RouteAction.HashPolicy(
                connection_properties=rc.RouteAction.HashPolicy.ConnectionProperties(source_ip=True)
            )
        )
    mirror = routing.mirror
    if mirror is not None and mirror.subset != only_subset:
        action.request_mirror_policies.append(
            rc.RouteAction.RequestMirrorPolicy(
                cluster=cluster_of(mirror.subset),
                runtime_fraction=base_pb2.RuntimeFractionalPercent(
                    default_value=fraction(mirror.percent)
                ),
            )
        )


def fraction(percent: float) -> percent_pb2.FractionalPercent:
    """A percentage as Envoy's fraction: per hundred when whole, else per million (the
    finest Envoy has; the IR's percent has no finer meaning for sampled traffic)."""
    if percent == int(percent):
        return percent_pb2.FractionalPercent(
            numerator=int(percent), denominator=percent_pb2.FractionalPercent.HUNDRED
        )
    return percent_pb2.FractionalPercent(
        numerator=round(percent * 10_000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def _retry_policy(retries: ir.RetryPolicy) -> rc.RetryPolicy:
    codes = [int(c) for c in retries.retry_on if c.isdigit()]
    conditions = [c for c in retries.retry_on if not c.isdigit()]
    if not retries.retry_on:
        conditions = list(DEFAULT_RETRY_ON)
    if codes and "retriable-status-codes" not in conditions:
        # Bare status codes retry only under this condition.
        conditions.append("retriable-status-codes")
    out = rc.RetryPolicy(
        retry_on=",".join(conditions),
        num_retries=UInt32Value(value=retries.attempts),
        retriable_status_codes=codes,
    )
    if retries.per_try_timeout is not None:
        out.per_try_timeout.CopyFrom(duration(retries.per_try_timeout))
    return out

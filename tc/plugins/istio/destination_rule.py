"""The DestinationRule: the subsets of a service and how its endpoints are reached.

It holds everything about a service's endpoints that is the same whichever route sends
traffic there: load balancing, circuit breakers, outlier ejection and upstream TLS, plus
one subset per version label so that routes can name a version.
"""

from __future__ import annotations

from typing import Any

from tc import ir
from tc.plugins.istio.common import NETWORKING, SUBSET_LABEL, duration

_SIMPLE_LB = {
    ir.LbAlgorithm.ROUND_ROBIN: "ROUND_ROBIN",
    ir.LbAlgorithm.LEAST_REQUEST: "LEAST_REQUEST",
    ir.LbAlgorithm.RANDOM: "RANDOM",
}
_TLS_MODES = {
    ir.TlsMode.DISABLE: "DISABLE",
    ir.TlsMode.SIMPLE: "SIMPLE",
    ir.TlsMode.MUTUAL: "MUTUAL",
    ir.TlsMode.ISTIO_MUTUAL: "ISTIO_MUTUAL",
}


def subsets(spec: ir.ServiceSpec) -> list[dict[str, Any]]:
    """One subset per version label, in name order (endpoints repeat labels freely)."""
    return [{"name": name, "labels": {SUBSET_LABEL: name}} for name in sorted(spec.subsets)]


def load_balancer(algorithm: ir.LbAlgorithm) -> dict[str, Any]:
    simple = _SIMPLE_LB.get(algorithm)
    if simple is not None:
        return {"simple": simple}
    # Hashing needs a key. The source IP is the one every protocol has and needs nothing
    # of the application (no header or cookie), so TCP services get affinity too.
    table = "maglev" if algorithm is ir.LbAlgorithm.MAGLEV else "ringHash"
    return {"consistentHash": {"useSourceIp": True, table: {}}}


def connection_pool(policy: ir.TrafficPolicy) -> dict[str, Any]:
    limits = policy.connection_limits
    tcp: dict[str, Any] = {}
    if limits.max_connections is not None:
        tcp["maxConnections"] = limits.max_connections
    if policy.connect_timeout is not None:
        tcp["connectTimeout"] = duration(policy.connect_timeout)
    http: dict[str, Any] = {}
    if limits.max_pending_requests is not None:
        http["http1MaxPendingRequests"] = limits.max_pending_requests
    if limits.max_requests is not None:
        http["http2MaxRequests"] = limits.max_requests
    if limits.max_requests_per_connection is not None:
        http["maxRequestsPerConnection"] = limits.max_requests_per_connection
    pool: dict[str, Any] = {}
    if tcp:
        pool["tcp"] = tcp
    if http:
        pool["http"] = http
    return pool


def outlier_detection(outlier: ir.OutlierDetection) -> dict[str, Any]:
    return {
        "consecutive5xxErrors": outlier.consecutive_5xx_errors,
        "interval": duration(outlier.interval),
        "baseEjectionTime": duration(outlier.base_ejection_time),
        "maxEjectionPercent": outlier.max_ejection_percent,
    }


def client_tls(tls: ir.UpstreamTls) -> dict[str, Any]:
    settings: dict[str, Any] = {"mode": _TLS_MODES[tls.mode]}
    if tls.credential_name is not None:
        settings["credentialName"] = tls.credential_name
    if tls.sni is not None:
        settings["sni"] = tls.sni
    return settings


def traffic_policy(policy: ir.TrafficPolicy) -> dict[str, Any]:
    # The load balancer is written even at its default, so that a DestinationRule always
    # states the policy in force rather than leaving it to whoever reads it to know Envoy.
    out: dict[str, Any] = {"loadBalancer": load_balancer(policy.lb_algorithm)}
    pool = connection_pool(policy)
    if pool:
        out["connectionPool"] = pool
    if policy.outlier_detection is not None:
        out["outlierDetection"] = outlier_detection(policy.outlier_detection)
    if policy.upstream_tls is not None:
        out["tls"] = client_tls(policy.upstream_tls)
    return out


def destination_rule(spec: ir.ServiceSpec, host: str, metadata: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"host": host, "trafficPolicy": traffic_policy(spec.traffic_policy)}
    declared = subsets(spec)
    if declared:
        body["subsets"] = declared
    return {
        "apiVersion": NETWORKING,
        "kind": "DestinationRule",
        "metadata": metadata,
        "spec": body,
    }

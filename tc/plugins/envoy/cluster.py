"""Clusters: how Envoy connects to the endpoints of one service port (or one subset of it).

The traffic policy of a service maps onto each of its clusters alike, so a subset cluster
behaves as the all-endpoints cluster does and a split changes only where requests go.
How endpoints are found follows the service's resolution: listed IP addresses come over
EDS (so endpoint health changes without touching the cluster), host names are resolved by
Envoy itself (STRICT_DNS, which EDS cannot do: it takes IP addresses only), and resolution
none is Envoy's ORIGINAL_DST (the address the client dialled).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import (
    base_pb2,
    config_source_pb2,
    health_check_pb2,
    protocol_pb2,
)
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import http_pb2
from google.protobuf.any_pb2 import Any
from google.protobuf.wrappers_pb2 import UInt32Value

from tc import ir
from tc.plugins.envoy.resources import H2_PROTOCOLS, HTTP_PROTOCOLS, duration

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

_LB_POLICIES = {
    ir.LbAlgorithm.ROUND_ROBIN: cluster_pb2.Cluster.ROUND_ROBIN,
    ir.LbAlgorithm.LEAST_REQUEST: cluster_pb2.Cluster.LEAST_REQUEST,
    ir.LbAlgorithm.RANDOM: cluster_pb2.Cluster.RANDOM,
    ir.LbAlgorithm.RING_HASH: cluster_pb2.Cluster.RING_HASH,
    ir.LbAlgorithm.MAGLEV: cluster_pb2.Cluster.MAGLEV,
}

HASHING = frozenset({ir.LbAlgorithm.RING_HASH, ir.LbAlgorithm.MAGLEV})


def uses_eds(spec: ir.ServiceSpec) -> bool:
    return spec.resolution is ir.Resolution.STATIC


def ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def cluster(
    name: str,
    spec: ir.ServiceSpec,
    port: ir.Port,
    assignment: endpoint_pb2.ClusterLoadAssignment | None,
) -> cluster_pb2.Cluster:
    """The cluster `name` on `port`; `assignment` is inlined for STRICT_DNS and ignored
    otherwise (EDS sends it on its own, ORIGINAL_DST has none)."""
    policy = spec.traffic_policy
    out = cluster_pb2.Cluster(name=name)
    if spec.resolution is ir.Resolution.NONE:
        out.type = cluster_pb2.Cluster.ORIGINAL_DST
        # The destination is the client's own choice: Envoy refuses any other policy here.
        out.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
    else:
        out.lb_policy = _LB_POLICIES[policy.lb_algorithm]
        if uses_eds(spec):
            out.type = cluster_pb2.Cluster.EDS
            out.eds_cluster_config.CopyFrom(
                cluster_pb2.Cluster.EdsClusterConfig(eds_config=ads(), service_name=name)
            )
        else:
            out.type = cluster_pb2.Cluster.STRICT_DNS
            if assignment is not None:
                out.load_assignment.CopyFrom(assignment)
    if policy.connect_timeout is not None:
        out.connect_timeout.CopyFrom(duration(policy.connect_timeout))
    if policy.outlier_detection is not None:
        out.outlier_detection.CopyFrom(_outlier_detection(policy.outlier_detection))
    limits = policy.connection_limits
    maxima = {
        field: UInt32Value(value=value)
        for field in ("max_connections", "max_pending_requests", "max_requests")
        if (value := getattr(limits, field)) is not None
    }
    if maxima:
        out.circuit_breakers.thresholds.append(
            circuit_breaker_pb2.CircuitBreakers.Thresholds(priority=base_pb2.DEFAULT, **maxima)
        )
    options = _http_protocol_options(port, limits)
    if options is not None:
        packed = Any()
        packed.Pack(options)
        out.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(packed)
    health = _health_check(spec.health_check, port)
    if health is not None:
        out.health_checks.append(health)
        # Checked endpoints leave traffic when found unhealthy (by Envoy or the controller's
        # heartbeats over EDS). Envoy's default panic threshold (50%) would send traffic
        # back to dead endpoints once half are down; at 1% panic means "nothing healthy
        # left", where trying every endpoint (fail open, as the dns plugin does) beats
        # failing every request on what may be a false alarm.
        out.common_lb_config.healthy_panic_threshold.value = PANIC_THRESHOLD_PERCENT
    return out


PANIC_THRESHOLD_PERCENT = 1.0


def _outlier_detection(
    detection: ir.OutlierDetection,
) -> outlier_detection_pb2.OutlierDetection:
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=UInt32Value(value=detection.consecutive_5xx_errors),
        interval=duration(detection.interval),
        base_ejection_time=duration(detection.base_ejection_time),
        max_ejection_percent=UInt32Value(value=detection.max_ejection_percent),
    )


def _http_protocol_options(
    port: ir.Port, limits: ir.ConnectionLimits
) -> http_protocol_options_pb2.HttpProtocolOptions | None:
    if port.protocol not in HTTP_PROTOCOLS:
        return None
    per_connection = limits.max_requests_per_connection
    if port.protocol not in H2_PROTOCOLS and per_connection is None:
        return None  # HTTP/1.1 with Envoy's defaults: nothing to say
    options = http_protocol_options_pb2.HttpProtocolOptions()
    explicit = options.explicit_http_config
    if port.protocol in H2_PROTOCOLS:
        # gRPC needs HTTP/2 end to end; Envoy speaks HTTP/1.1 upstream unless told.
        explicit.http2_protocol_options.CopyFrom(protocol_pb2.Http2ProtocolOptions())
    else:
        explicit.http_protocol_options.CopyFrom(protocol_pb2.Http1ProtocolOptions())
    if per_connection is not None:
        options.common_http_protocol_options.max_requests_per_connection.value = per_connection
    return options


def _health_check(
    check: ir.HealthCheck | None, port: ir.Port
) -> health_check_pb2.HealthCheck | None:
    if check is None:
        return None
    out = health_check_pb2.HealthCheck(
        interval=duration(check.interval),
        timeout=duration(check.timeout),
        unhealthy_threshold=UInt32Value(value=check.unhealthy_threshold),
        healthy_threshold=UInt32Value(value=check.healthy_threshold),
    )
    if check.type is ir.HealthCheckType.HTTP:
        out.http_health_check.path = check.path or "/"
        if port.protocol in H2_PROTOCOLS:
            out.http_health_check.codec_client_type = http_pb2.HTTP2
    elif check.type is ir.HealthCheckType.GRPC:
        if port.protocol not in H2_PROTOCOLS:
            # gRPC health checks need HTTP/2 to the endpoint: only its h2 ports have it.
            return None
        out.grpc_health_check.service_name = check.service_name
    else:
        out.tcp_health_check.CopyFrom(health_check_pb2.HealthCheck.TcpHealthCheck())
    return out

"""The one place where tc.v1 messages become intent models (IR) and back.

`intent_from_proto` is on the ApplyIntent hot path, so it reads each wire field once,
fills in the defaults, builds the frozen models with `IRModel.trusted` (model_construct
without pydantic's per-field work), then runs the IR's rules once over the whole tree.
What only the wire can get wrong (an unset or unknown enum value, a malformed Duration)
is reported here; everything else is the IR's rules, the same ones that guard models
built by code.

`intent_to_proto` writes every default explicitly, so the IR has exactly one wire form:
`intent_from_proto(intent_to_proto(x)) == x`, and `spec_bytes` of equal specs are equal
bytes whatever the client left out, which is what the store compares to decide whether
a generation changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import duration_pb2

from tc import ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.ir.dns import DnsPolicy, DnsRecord, DnsSpec, RecordType
from tc.ir.durations import MAX_NANOS, nanos_from_seconds, seconds_from_nanos
from tc.ir.errors import FieldError, InvalidIntentError
from tc.ir.intent import Intent, IntentKind, check_labels, check_name
from tc.ir.labels import EMPTY_LABELS, Labels
from tc.ir.limits import DEFAULT_TTL
from tc.ir.mesh import ClientRef, Location, Resolution, TlsMode, UpstreamTls, is_ip_literal
from tc.ir.service import (
    DEFAULT_EXPOSURE,
    DEFAULT_NAMESPACE,
    DEFAULT_TRAFFIC_POLICY,
    NO_CONNECTION_LIMITS,
    ConnectionLimits,
    Endpoint,
    Exposure,
    HealthCheck,
    HealthCheckType,
    LbAlgorithm,
    Locality,
    OutlierDetection,
    Port,
    Protocol,
    RetryPolicy,
    ServiceDns,
    ServiceSpec,
    TrafficPolicy,
    Visibility,
    default_port_name,
)
from tc.ir.workload import (
    EndpointRef,
    HeaderMatch,
    HeaderRoute,
    Mirror,
    TrafficSplit,
    WorkloadSpec,
)

__all__ = [
    "intent_from_proto",
    "intent_kind_from_proto",
    "intent_kind_to_proto",
    "intent_to_proto",
    "kind_of",
    "spec_bytes",
]

E = TypeVar("E")
W = TypeVar("W", bound=int)  # a wire enum type

_PROTOCOLS = {
    intent_pb2.PROTOCOL_HTTP: Protocol.HTTP,
    intent_pb2.PROTOCOL_HTTP2: Protocol.HTTP2,
    intent_pb2.PROTOCOL_GRPC: Protocol.GRPC,
    intent_pb2.PROTOCOL_TCP: Protocol.TCP,
    intent_pb2.PROTOCOL_TLS: Protocol.TLS,
}
_VISIBILITIES = {
    intent_pb2.VISIBILITY_UNSPECIFIED: Visibility.INTERNAL,
    intent_pb2.VISIBILITY_INTERNAL: Visibility.INTERNAL,
    intent_pb2.VISIBILITY_EXTERNAL: Visibility.EXTERNAL,
}
_LB_ALGORITHMS = {
    intent_pb2.LB_ALGORITHM_UNSPECIFIED: LbAlgorithm.ROUND_ROBIN,
    intent_pb2.LB_ALGORITHM_ROUND_ROBIN: LbAlgorithm.ROUND_ROBIN,
    intent_pb2.LB_ALGORITHM_LEAST_REQUEST: LbAlgorithm.LEAST_REQUEST,
    intent_pb2.LB_ALGORITHM_RANDOM: LbAlgorithm.RANDOM,
    intent_pb2.LB_ALGORITHM_RING_HASH: LbAlgorithm.RING_HASH,
    intent_pb2.LB_ALGORITHM_MAGLEV: LbAlgorithm.MAGLEV,
}
_HEALTH_CHECK_TYPES = {
    intent_pb2.HEALTH_CHECK_TYPE_GRPC: HealthCheckType.GRPC,
    intent_pb2.HEALTH_CHECK_TYPE_HTTP: HealthCheckType.HTTP,
    intent_pb2.HEALTH_CHECK_TYPE_TCP: HealthCheckType.TCP,
}
_RECORD_TYPES = {
    intent_pb2.RECORD_TYPE_A: RecordType.A,
    intent_pb2.RECORD_TYPE_AAAA: RecordType.AAAA,
    intent_pb2.RECORD_TYPE_CNAME: RecordType.CNAME,
    intent_pb2.RECORD_TYPE_SRV: RecordType.SRV,
    intent_pb2.RECORD_TYPE_TXT: RecordType.TXT,
}
_DNS_POLICIES = {
    intent_pb2.DNS_POLICY_UNSPECIFIED: DnsPolicy.SYNC,
    intent_pb2.DNS_POLICY_SYNC: DnsPolicy.SYNC,
    intent_pb2.DNS_POLICY_UPSERT_ONLY: DnsPolicy.UPSERT_ONLY,
    intent_pb2.DNS_POLICY_CREATE_ONLY: DnsPolicy.CREATE_ONLY,
}
_LOCATIONS = {
    intent_pb2.LOCATION_UNSPECIFIED: Location.CLUSTER,
    intent_pb2.LOCATION_CLUSTER: Location.CLUSTER,
    intent_pb2.LOCATION_MESH_INTERNAL: Location.MESH_INTERNAL,
    intent_pb2.LOCATION_MESH_EXTERNAL: Location.MESH_EXTERNAL,
}
# RESOLUTION_UNSPECIFIED depends on the endpoints: see _placement_from_proto.
_RESOLUTIONS = {
    intent_pb2.RESOLUTION_STATIC: Resolution.STATIC,
    intent_pb2.RESOLUTION_DNS: Resolution.DNS,
    intent_pb2.RESOLUTION_NONE: Resolution.NONE,
}
_TLS_MODES = {
    intent_pb2.TLS_MODE_DISABLE: TlsMode.DISABLE,
    intent_pb2.TLS_MODE_SIMPLE: TlsMode.SIMPLE,
    intent_pb2.TLS_MODE_MUTUAL: TlsMode.MUTUAL,
    intent_pb2.TLS_MODE_ISTIO_MUTUAL: TlsMode.ISTIO_MUTUAL,
}
_KINDS_TO_PROTO = {
    IntentKind.SERVICE: plugin_pb2.INTENT_KIND_SERVICE,
    IntentKind.DNS: plugin_pb2.INTENT_KIND_DNS,
    IntentKind.WORKLOAD: plugin_pb2.INTENT_KIND_WORKLOAD,
}
_KINDS_FROM_PROTO: dict[int, IntentKind] = {v: k for k, v in _KINDS_TO_PROTO.items()}
_ONEOF_KINDS = {
    "service": IntentKind.SERVICE,
    "dns": IntentKind.DNS,
    "workload": IntentKind.WORKLOAD,
}


def _reverse(mapping: Mapping[W, E]) -> dict[E, W]:
    # The first named wire value wins; UNSPECIFIED is never written.
    reverse: dict[E, W] = {}
    for wire, value in mapping.items():
        if wire:
            reverse.setdefault(value, wire)
    return reverse


_PROTOCOLS_OUT = _reverse(_PROTOCOLS)
_VISIBILITIES_OUT = _reverse(_VISIBILITIES)
_LB_ALGORITHMS_OUT = _reverse(_LB_ALGORITHMS)
_HEALTH_CHECK_TYPES_OUT = _reverse(_HEALTH_CHECK_TYPES)
_RECORD_TYPES_OUT = _reverse(_RECORD_TYPES)
_DNS_POLICIES_OUT = _reverse(_DNS_POLICIES)
_LOCATIONS_OUT = _reverse(_LOCATIONS)
_RESOLUTIONS_OUT = _reverse(_RESOLUTIONS)
_TLS_MODES_OUT = _reverse(_TLS_MODES)


# --- wire -> IR --------------------------------------------------------------------------


def intent_from_proto(pb: intent_pb2.Intent) -> Intent:
    """The validated IR of an intent, with every default filled in.

    Raises InvalidIntentError holding every broken rule, in proto field order. Output-only
    fields (generation, uid, times, status) are ignored.
    """
    errors: list[FieldError] = []
    labels = Labels(pb.labels) if pb.labels else EMPTY_LABELS
    which = pb.WhichOneof("spec")
    spec: ir.Spec
    if which == "service":
        spec = _service_from_proto(pb.service, pb.name, errors)
    elif which == "dns":
        spec = _dns_from_proto(pb.dns, errors)
    elif which == "workload":
        spec = _workload_from_proto(pb.workload)
    else:
        check_name(pb.name, errors)
        check_labels(labels, errors)
        errors.append(FieldError("spec", "required: set one of service, dns, workload"))
        raise InvalidIntentError(_in_field_order(errors))
    intent = Intent.trusted(name=pb.name, labels=labels, spec=spec)
    if not errors:
        intent.check("", errors)
        if errors:
            raise InvalidIntentError(_in_field_order(errors))
        return intent
    # A field the wire got wrong holds a placeholder: its own error says all there is.
    wire_paths = {e.path for e in errors}
    checked: list[FieldError] = []
    intent.check("", checked)
    errors.extend(e for e in checked if e.path not in wire_paths)
    raise InvalidIntentError(_in_field_order(errors))


def _enum(
    value: W, known: Mapping[W, E], placeholder: E, errors: list[FieldError], path: str, *index: int
) -> E:
    """Maps a wire enum. An unset or unknown value is reported (at `path`, formatted with
    `index` only then) and a placeholder lets the rest of the intent be checked in the
    same pass."""
    found = known.get(value)
    if found is not None:
        return found
    message = "required" if value == 0 else f"unknown value {value}"
    errors.append(FieldError(path.format(*index), message))
    return placeholder


def _seconds(d: duration_pb2.Duration, errors: list[FieldError], path: str) -> float:
    seconds, nanos = d.seconds, d.nanos
    total = seconds * 1_000_000_000 + nanos
    # The Duration contract: nanos below a second and of the same sign as seconds.
    if -1_000_000_000 < nanos < 1_000_000_000 and seconds * nanos >= 0 and abs(total) <= MAX_NANOS:
        return seconds_from_nanos(total)
    errors.append(FieldError(path, "must be a valid duration: seconds or nanos out of range"))
    # NaN fails every rule on this path (whose errors are dropped, see intent_from_proto)
    # and takes part in no comparison with other fields.
    return math.nan


def _service_from_proto(
    s: intent_pb2.ServiceSpec, intent_name: str, errors: list[FieldError]
) -> ServiceSpec:
    ports = []
    for i, p in enumerate(s.ports):
        protocol = _enum(
            p.protocol,
            _PROTOCOLS,
            Protocol.TCP,
            errors,
            "spec.service.ports[{}].protocol",
            i,
        )
        number = p.number
        ports.append(
            Port.trusted(
                number=number,
                protocol=protocol,
                name=p.name or default_port_name(protocol, number),
                target_port=p.target_port or number,
            )
        )
    endpoints = []
    all_ip = True  # so far: what an unset resolution means, as ServiceSpec._implied_resolution
    for e in s.endpoints:
        address = e.address
        if all_ip and not is_ip_literal(address):
            all_ip = False
        locality = None
        if e.HasField("locality"):
            loc = e.locality
            if loc.region or loc.zone or loc.sub_zone:
                locality = Locality.trusted(region=loc.region, zone=loc.zone, sub_zone=loc.sub_zone)
        endpoints.append(
            Endpoint.trusted(
                address=address,
                port=e.port or None,
                weight=e.weight or 1,
                subset=e.subset or None,
                locality=locality,
            )
        )
    exposure = DEFAULT_EXPOSURE
    if s.HasField("exposure"):
        exposure = _exposure_from_proto(s.exposure, errors)
    traffic_policy = DEFAULT_TRAFFIC_POLICY
    if s.HasField("traffic_policy"):
        traffic_policy = _traffic_policy_from_proto(s.traffic_policy, errors)
    health_check = None
    if s.HasField("health_check"):
        health_check = _health_check_from_proto(s.health_check, errors)
    dns = None
    if s.HasField("dns"):
        d = s.dns
        dns = ServiceDns.trusted(
            zone=d.zone, ttl=d.ttl or DEFAULT_TTL, withdraw_unhealthy=d.withdraw_unhealthy
        )
    location, resolution = _placement_from_proto(s, all_ip, errors)
    return ServiceSpec.trusted(
        name=s.name or intent_name,
        namespace=s.namespace or DEFAULT_NAMESPACE,
        hosts=tuple(s.hosts),
        ports=tuple(ports),
        endpoints=tuple(endpoints),
        exposure=exposure,
        traffic_policy=traffic_policy,
        health_check=health_check,
        dns=dns,
        location=location,
        resolution=resolution,
        allowed_clients=tuple(
            ClientRef.trusted(namespace=c.namespace, service_account=c.service_account or None)
            for c in s.allowed_clients
        )
        if s.allowed_clients
        else (),
    )


def _placement_from_proto(
    s: intent_pb2.ServiceSpec, all_ip: bool, errors: list[FieldError]
) -> tuple[Location, Resolution]:
    """Location and resolution, with the resolution's default filled from the endpoints."""
    default = Resolution.STATIC if all_ip else Resolution.DNS
    wire_location, wire_resolution = s.location, s.resolution
    location = _LOCATIONS.get(wire_location)
    if location is None:
        # Checked as whatever the resolution implies: a known non-default one is for outside.
        known = _RESOLUTIONS.get(wire_resolution)
        where = Location.CLUSTER if known is None or known is default else Location.MESH_INTERNAL
        location = _enum(wire_location, _LOCATIONS, where, errors, "spec.service.location")
    if not wire_resolution:
        return location, default
    # An unknown resolution is checked as one that needs nothing more of the service.
    guess = default if location is Location.CLUSTER or s.endpoints else Resolution.NONE
    resolution = _enum(wire_resolution, _RESOLUTIONS, guess, errors, "spec.service.resolution")
    return location, resolution


def _exposure_from_proto(x: intent_pb2.Exposure, errors: list[FieldError]) -> Exposure:
    # An unknown visibility is checked as whatever the rest of the message implies.
    guess = Visibility.EXTERNAL if x.gateway_host else Visibility.INTERNAL
    visibility = _enum(
        x.visibility, _VISIBILITIES, guess, errors, "spec.service.exposure.visibility"
    )
    return Exposure.trusted(
        visibility=visibility,
        gateway_host=x.gateway_host or None,
        tls_credential_name=x.tls_credential_name or None,
    )


def _traffic_policy_from_proto(
    t: intent_pb2.TrafficPolicy, errors: list[FieldError]
) -> TrafficPolicy:
    at = "spec.service.traffic_policy"
    retries = None
    if t.HasField("retries"):
        r = t.retries
        retries = RetryPolicy.trusted(
            attempts=r.attempts,
            per_try_timeout=(
                _seconds(r.per_try_timeout, errors, f"{at}.retries.per_try_timeout")
                if r.HasField("per_try_timeout")
                else None
            ),
            retry_on=tuple(r.retry_on),
        )
    outlier = None
    if t.HasField("outlier_detection"):
        o = t.outlier_detection
        interval, base = 10.0, 30.0
        if o.HasField("interval"):
            interval = _seconds(o.interval, errors, f"{at}.outlier_detection.interval")
        if o.HasField("base_ejection_time"):
            base = _seconds(
                o.base_ejection_time, errors, f"{at}.outlier_detection.base_ejection_time"
            )
        outlier = OutlierDetection.trusted(
            consecutive_5xx_errors=o.consecutive_5xx_errors or 5,
            interval=interval,
            base_ejection_time=base,
            max_ejection_percent=o.max_ejection_percent or 10,
        )
    limits = NO_CONNECTION_LIMITS
    if t.HasField("connection_limits"):
        c = t.connection_limits
        if (
            c.max_connections
            or c.max_pending_requests
            or c.max_requests
            or c.max_requests_per_connection
        ):
            limits = ConnectionLimits.trusted(
                max_connections=c.max_connections or None,
                max_pending_requests=c.max_pending_requests or None,
                max_requests=c.max_requests or None,
                max_requests_per_connection=c.max_requests_per_connection or None,
            )
    upstream_tls = None
    if t.HasField("upstream_tls"):
        u = t.upstream_tls
        upstream_tls = UpstreamTls.trusted(
            # Simple allows and requires no more than what the other fields hold.
            mode=_enum(u.mode, _TLS_MODES, TlsMode.SIMPLE, errors, f"{at}.upstream_tls.mode"),
            credential_name=u.credential_name or None,
            sni=u.sni or None,
        )
    return TrafficPolicy.trusted(
        lb_algorithm=_enum(
            t.lb_algorithm,
            _LB_ALGORITHMS,
            LbAlgorithm.ROUND_ROBIN,
            errors,
            f"{at}.lb_algorithm",
        ),
        connect_timeout=(
            _seconds(t.connect_timeout, errors, f"{at}.connect_timeout")
            if t.HasField("connect_timeout")
            else None
        ),
        request_timeout=(
            _seconds(t.request_timeout, errors, f"{at}.request_timeout")
            if t.HasField("request_timeout")
            else None
        ),
        retries=retries,
        outlier_detection=outlier,
        connection_limits=limits,
        upstream_tls=upstream_tls,
    )


def _health_check_from_proto(h: intent_pb2.HealthCheck, errors: list[FieldError]) -> HealthCheck:
    at = "spec.service.health_check"
    # An unset type is checked as whatever the other fields imply, to avoid follow-on errors.
    guess = (
        HealthCheckType.HTTP
        if h.path
        else HealthCheckType.GRPC
        if h.service_name
        else HealthCheckType.TCP
    )
    kind = _enum(h.type, _HEALTH_CHECK_TYPES, guess, errors, f"{at}.type")
    interval, timeout = 10.0, 1.0
    if h.HasField("interval"):
        interval = _seconds(h.interval, errors, f"{at}.interval")
    if h.HasField("timeout"):
        timeout = _seconds(h.timeout, errors, f"{at}.timeout")
    return HealthCheck.trusted(
        type=kind,
        path=h.path or ("/" if kind is HealthCheckType.HTTP else None),
        service_name=h.service_name,
        interval=interval,
        timeout=timeout,
        unhealthy_threshold=h.unhealthy_threshold or 3,
        healthy_threshold=h.healthy_threshold or 2,
        port=h.port or None,
    )


def _dns_from_proto(d: intent_pb2.DnsSpec, errors: list[FieldError]) -> DnsSpec:
    records = []
    for i, r in enumerate(d.records):
        # TXT checks values the least, so an unset type adds no follow-on errors.
        kind = _enum(r.type, _RECORD_TYPES, RecordType.TXT, errors, "spec.dns.records[{}].type", i)
        records.append(
            DnsRecord.trusted(
                name=r.name, type=kind, ttl=r.ttl or DEFAULT_TTL, values=tuple(r.values)
            )
        )
    return DnsSpec.trusted(
        zone=d.zone,
        records=tuple(records),
        policy=_enum(d.policy, _DNS_POLICIES, DnsPolicy.SYNC, errors, "spec.dns.policy"),
    )


def _workload_from_proto(w: intent_pb2.WorkloadSpec) -> WorkloadSpec:
    mirror = None
    if w.HasField("mirror"):
        # "or 0.0" turns -0.0 into 0.0: one spelling of zero, one set of bytes.
        mirror = Mirror.trusted(subset=w.mirror.subset, percent=w.mirror.percent or 0.0)
    return WorkloadSpec.trusted(
        target=w.target,
        split=tuple(TrafficSplit.trusted(subset=s.subset, weight=s.weight) for s in w.split),
        mirror=mirror,
        header_routes=tuple(
            HeaderRoute.trusted(
                headers=tuple(
                    HeaderMatch.trusted(
                        name=h.name,
                        exact=h.exact or None,
                        prefix=h.prefix or None,
                        regex=h.regex or None,
                    )
                    for h in route.headers
                ),
                subset=route.subset,
            )
            for route in w.header_routes
        ),
        drain=tuple(EndpointRef.trusted(address=d.address, port=d.port or None) for d in w.drain),
    )


# --- errors in field order ---------------------------------------------------------------

_PATH_TOKEN = re.compile(r'\.?([A-Za-z_0-9]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def _path_key(path: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts a path by proto field numbers and list indexes, so errors read top to bottom."""
    message: Any = intent_pb2.Intent.DESCRIPTOR
    key: list[tuple[int, int | str]] = []
    for match in _PATH_TOKEN.finditer(path):
        name, index, map_key = match.groups()
        if index is not None:
            key.append((1, int(index)))
        elif map_key is not None:
            key.append((2, map_key))
        elif name == "spec" and message is intent_pb2.Intent.DESCRIPTOR:
            # The oneof itself: "spec" alone sorts where its first member does.
            key.append((0, intent_pb2.Intent.SERVICE_FIELD_NUMBER))
        else:
            field = message.fields_by_name.get(name) if message is not None else None
            key.append((0, field.number if field is not None else 1 << 30))
            message = field.message_type if field is not None else None
    return tuple(key)


def _in_field_order(errors: list[FieldError]) -> list[FieldError]:
    return sorted(errors, key=lambda e: _path_key(e.path))


# --- IR -> wire --------------------------------------------------------------------------


def intent_to_proto(intent: Intent) -> intent_pb2.Intent:
    """The wire form of an intent: name, labels and the spec with every default written out."""
    pb = intent_pb2.Intent(name=intent.name)
    if intent.labels:
        pb.labels.update(intent.labels)
    _spec_to_proto(intent.spec, pb)
    return pb


def spec_bytes(intent: Intent) -> bytes:
    """Canonical bytes of the spec alone: equal specs give equal bytes.

    An Intent message holding only the spec oneof, serialized deterministically.
    """
    pb = intent_pb2.Intent()
    _spec_to_proto(intent.spec, pb)
    return pb.SerializeToString(deterministic=True)


def _duration(target: duration_pb2.Duration, seconds: float) -> None:
    target.seconds, target.nanos = divmod(nanos_from_seconds(seconds), 1_000_000_000)


def _spec_to_proto(spec: ir.Spec, pb: intent_pb2.Intent) -> None:
    if isinstance(spec, ServiceSpec):
        _service_to_proto(spec, pb.service)
    elif isinstance(spec, DnsSpec):
        _dns_to_proto(spec, pb.dns)
    else:
        _workload_to_proto(spec, pb.workload)


def _service_to_proto(spec: ServiceSpec, s: intent_pb2.ServiceSpec) -> None:
    s.name = spec.name
    s.namespace = spec.namespace
    s.hosts.extend(spec.hosts)
    for port in spec.ports:
        p = s.ports.add()
        p.number = port.number
        p.protocol = _PROTOCOLS_OUT[port.protocol]
        p.name = port.name
        p.target_port = port.target_port
    for endpoint in spec.endpoints:
        e = s.endpoints.add()
        e.address = endpoint.address
        e.port = endpoint.port or 0
        e.weight = endpoint.weight
        e.subset = endpoint.subset or ""
        if endpoint.locality is not None:
            loc = endpoint.locality
            e.locality.region, e.locality.zone, e.locality.sub_zone = (
                loc.region,
                loc.zone,
                loc.sub_zone,
            )
    exposure = spec.exposure
    s.exposure.visibility = _VISIBILITIES_OUT[exposure.visibility]
    s.exposure.gateway_host = exposure.gateway_host or ""
    s.exposure.tls_credential_name = exposure.tls_credential_name or ""
    _traffic_policy_to_proto(spec.traffic_policy, s.traffic_policy)
    if spec.health_check is not None:
        hc, h = spec.health_check, s.health_check
        h.type = _HEALTH_CHECK_TYPES_OUT[hc.type]
        h.path = hc.path or ""
        h.service_name = hc.service_name
        _duration(h.interval, hc.interval)
        _duration(h.timeout, hc.timeout)
        h.unhealthy_threshold = hc.unhealthy_threshold
        h.healthy_threshold = hc.healthy_threshold
        h.port = hc.port or 0
    if spec.dns is not None:
        s.dns.zone = spec.dns.zone
        s.dns.ttl = spec.dns.ttl
        s.dns.withdraw_unhealthy = spec.dns.withdraw_unhealthy
    s.location = _LOCATIONS_OUT[spec.location]
    s.resolution = _RESOLUTIONS_OUT[spec.resolution]
    for client in spec.allowed_clients:
        s.allowed_clients.add(
            namespace=client.namespace, service_account=client.service_account or ""
        )


def _traffic_policy_to_proto(policy: TrafficPolicy, t: intent_pb2.TrafficPolicy) -> None:
    t.lb_algorithm = _LB_ALGORITHMS_OUT[policy.lb_algorithm]
    if policy.connect_timeout is not None:
        _duration(t.connect_timeout, policy.connect_timeout)
    if policy.request_timeout is not None:
        _duration(t.request_timeout, policy.request_timeout)
    if policy.retries is not None:
        retries = policy.retries
        t.retries.SetInParent()  # present even when every field is zero: attempts 0 means off
        t.retries.attempts = retries.attempts
        if retries.per_try_timeout is not None:
            _duration(t.retries.per_try_timeout, retries.per_try_timeout)
        t.retries.retry_on.extend(retries.retry_on)
    if policy.outlier_detection is not None:
        od, o = policy.outlier_detection, t.outlier_detection
        o.consecutive_5xx_errors = od.consecutive_5xx_errors
        _duration(o.interval, od.interval)
        _duration(o.base_ejection_time, od.base_ejection_time)
        o.max_ejection_percent = od.max_ejection_percent
    limits = policy.connection_limits
    if limits != NO_CONNECTION_LIMITS:
        c = t.connection_limits
        c.max_connections = limits.max_connections or 0
        c.max_pending_requests = limits.max_pending_requests or 0
        c.max_requests = limits.max_requests or 0
        c.max_requests_per_connection = limits.max_requests_per_connection or 0
    if policy.upstream_tls is not None:
        tls, u = policy.upstream_tls, t.upstream_tls
        u.mode = _TLS_MODES_OUT[tls.mode]  # never unspecified, so the message is present
        u.credential_name = tls.credential_name or ""
        u.sni = tls.sni or ""


def _dns_to_proto(spec: DnsSpec, d: intent_pb2.DnsSpec) -> None:
    d.zone = spec.zone
    for record in spec.records:
        r = d.records.add()
        r.name = record.name
        r.type = _RECORD_TYPES_OUT[record.type]
        r.ttl = record.ttl
        r.values.extend(record.values)
    d.policy = _DNS_POLICIES_OUT[spec.policy]


def _workload_to_proto(spec: WorkloadSpec, w: intent_pb2.WorkloadSpec) -> None:
    w.target = spec.target
    for share in spec.split:
        w.split.add(subset=share.subset, weight=share.weight)
    if spec.mirror is not None:
        w.mirror.subset = spec.mirror.subset
        w.mirror.percent = spec.mirror.percent
    for route in spec.header_routes:
        r = w.header_routes.add(subset=route.subset)
        for header in route.headers:
            r.headers.add(
                name=header.name,
                exact=header.exact or "",
                prefix=header.prefix or "",
                regex=header.regex or "",
            )
    for ref in spec.drain:
        w.drain.add(address=ref.address, port=ref.port or 0)


# --- kinds -------------------------------------------------------------------------------


def kind_of(pb: intent_pb2.Intent) -> IntentKind | None:
    """The kind of a wire intent from its spec oneof; None when no spec is set."""
    which = pb.WhichOneof("spec")
    return None if which is None else _ONEOF_KINDS[which]


def intent_kind_to_proto(kind: IntentKind) -> plugin_pb2.IntentKind:
    return _KINDS_TO_PROTO[kind]


def intent_kind_from_proto(kind: int) -> IntentKind | None:
    """None for INTENT_KIND_UNSPECIFIED and for kinds this controller does not know yet
    (a newer plugin may declare them), so callers decide whether that is an error."""
    return _KINDS_FROM_PROTO.get(kind)

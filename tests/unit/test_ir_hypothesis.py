"""Property tests for tc.convert and the intent rules.

- Arbitrary (mostly invalid) wire intents never make conversion fail with anything but
  InvalidIntentError, whose every error points into name, labels or spec.
- Whatever conversion accepts is a fixed point: it survives IR -> wire -> IR unchanged,
  and pydantic's own validation of the same data agrees.
- Intents built to be valid are always accepted; with one field overwritten at random
  they are accepted or refused, never anything else.
"""

from __future__ import annotations

import string
from typing import Any

from google.protobuf import duration_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tc import convert, ir
from tc._proto.tc.v1 import intent_pb2
from tc.ir.durations import MAX_SECONDS, nanos_from_seconds, seconds_from_nanos
from tc.ir.syntax import _domain_reason, domain_problem

# Sized so the whole file stays within a few seconds; generating valid intents costs most.
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- arbitrary wire intents ----------------------------------------------------------------

NEAR_MISSES = [
    "",
    "a",
    "web",
    "v1",
    "-",
    "@",
    "*",
    ".",
    "*.example.com",
    "example.com",
    "example.com.",
    "badexample.com",
    "www.example.com",
    "Web.Example.com",
    "10.0.0.1",
    "10.0.0.256",
    "::1",
    "2001:db8::1",
    "fe80::1%eth0",
    "/healthz",
    "5xx",
    "503",
    "x-user",
    "(",
    "[[a]",
    "(" * 300,
    "a" * 64,
    "a" * 254,
    "é" * 200,
    "10 5 5060 sip.example.com",
    "1 2 " + "9" * 5000 + " x",
    "a\r\nb",
]
text = st.one_of(
    st.sampled_from(NEAR_MISSES),
    st.text(max_size=12),
    st.text(alphabet="ab1.-*_:/@ ", max_size=24),
)
uint32 = st.one_of(
    st.sampled_from([0, 1, 2, 80, 100, 101, 128, 129, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)
enum = st.one_of(st.integers(0, 6), st.integers(-(2**31), 2**31 - 1))
duration = st.builds(
    duration_pb2.Duration,
    seconds=st.one_of(st.integers(-5, 5), st.integers(-(2**63), 2**63 - 1)),
    nanos=st.one_of(
        st.sampled_from([0, 1, 500_000_000, 999_999_999, -1]), st.integers(-(2**31), 2**31 - 1)
    ),
)
maybe_duration = st.none() | duration
double = st.floats(allow_nan=True, allow_infinity=True)


def lists(elements: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    return st.lists(elements, max_size=max_size)


arbitrary_service = st.builds(
    intent_pb2.ServiceSpec,
    name=text,
    namespace=text,
    hosts=lists(text),
    ports=lists(
        st.builds(intent_pb2.Port, number=uint32, protocol=enum, name=text, target_port=uint32)
    ),
    endpoints=lists(
        st.builds(
            intent_pb2.Endpoint,
            address=text,
            port=uint32,
            weight=uint32,
            subset=text,
            locality=st.none()
            | st.builds(intent_pb2.Locality, region=text, zone=text, sub_zone=text),
        )
    ),
    exposure=st.none()
    | st.builds(intent_pb2.Exposure, visibility=enum, gateway_host=text, tls_credential_name=text),
    traffic_policy=st.none()
    | st.builds(
        intent_pb2.TrafficPolicy,
        lb_algorithm=enum,
        connect_timeout=maybe_duration,
        request_timeout=maybe_duration,
        retries=st.none()
        | st.builds(
            intent_pb2.RetryPolicy,
            attempts=uint32,
            per_try_timeout=maybe_duration,
            retry_on=lists(text),
        ),
        outlier_detection=st.none()
        | st.builds(
            intent_pb2.OutlierDetection,
            consecutive_5xx_errors=uint32,
            interval=maybe_duration,
            base_ejection_time=maybe_duration,
            max_ejection_percent=uint32,
        ),
        connection_limits=st.none()
        | st.builds(
            intent_pb2.ConnectionLimits,
            max_connections=uint32,
            max_pending_requests=uint32,
            max_requests=uint32,
            max_requests_per_connection=uint32,
        ),
        upstream_tls=st.none()
        | st.builds(intent_pb2.UpstreamTls, mode=enum, credential_name=text, sni=text),
    ),
    health_check=st.none()
    | st.builds(
        intent_pb2.HealthCheck,
        type=enum,
        path=text,
        service_name=text,
        interval=maybe_duration,
        timeout=maybe_duration,
        unhealthy_threshold=uint32,
        healthy_threshold=uint32,
        port=uint32,
    ),
    dns=st.none()
    | st.builds(intent_pb2.ServiceDns, zone=text, ttl=uint32, withdraw_unhealthy=st.booleans()),
    location=enum,
    resolution=enum,
    allowed_clients=lists(st.builds(intent_pb2.ClientRef, namespace=text, service_account=text)),
)
arbitrary_dns = st.builds(
    intent_pb2.DnsSpec,
    zone=text,
    records=lists(
        st.builds(intent_pb2.DnsRecord, name=text, type=enum, ttl=uint32, values=lists(text))
    ),
    policy=enum,
)
arbitrary_workload = st.builds(
    intent_pb2.WorkloadSpec,
    target=text,
    split=lists(st.builds(intent_pb2.TrafficSplit, subset=text, weight=uint32)),
    mirror=st.none() | st.builds(intent_pb2.Mirror, subset=text, percent=double),
    header_routes=lists(
        st.builds(
            intent_pb2.HeaderRoute,
            headers=lists(
                st.builds(intent_pb2.HeaderMatch, name=text, exact=text, prefix=text, regex=text)
            ),
            subset=text,
        )
    ),
    drain=lists(st.builds(intent_pb2.EndpointRef, address=text, port=uint32)),
)


@st.composite
def arbitrary_intents(draw: st.DrawFn) -> intent_pb2.Intent:
    pb = intent_pb2.Intent(name=draw(text), labels=draw(st.dictionaries(text, text, max_size=3)))
    which = draw(st.sampled_from(["service", "dns", "workload", None]))
    if which == "service":
        pb.service.CopyFrom(draw(arbitrary_service))
    elif which == "dns":
        pb.dns.CopyFrom(draw(arbitrary_dns))
    elif which == "workload":
        pb.workload.CopyFrom(draw(arbitrary_workload))
    # Output-only fields must not matter.
    pb.generation = draw(st.integers(-(2**63), 2**63 - 1))
    pb.uid = draw(text)
    return pb


def assert_fixed_point(intent: ir.Intent) -> None:
    wire = convert.intent_to_proto(intent)
    again = convert.intent_from_proto(wire)
    assert again == intent
    assert convert.spec_bytes(again) == convert.spec_bytes(intent)
    assert convert.intent_to_proto(again) == wire
    # Pydantic's validation of the same data accepts it and builds an equal model.
    assert ir.Intent.model_validate(intent.model_dump()) == intent


@FAST
@given(arbitrary_intents())
def test_arbitrary_intents_are_converted_or_refused_with_field_errors(
    pb: intent_pb2.Intent,
) -> None:
    try:
        intent = convert.intent_from_proto(pb)
    except ir.InvalidIntentError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.path.startswith(("name", "labels", "spec")), error
            assert error.message, error
        return
    assert convert.kind_of(pb) is intent.kind
    assert_fixed_point(intent)


# --- intents valid by construction ---------------------------------------------------------

label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)
host = st.builds(lambda a, b: f"{a}.{b}.example.com", label, label)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
nanos = st.integers(1, 10**13)
positive_duration = nanos.map(lambda n: duration_pb2.Duration(seconds=n // 10**9, nanos=n % 10**9))
protocols = st.sampled_from(
    [
        intent_pb2.PROTOCOL_HTTP,
        intent_pb2.PROTOCOL_HTTP2,
        intent_pb2.PROTOCOL_GRPC,
        intent_pb2.PROTOCOL_TCP,
        intent_pb2.PROTOCOL_TLS,
    ]
)

LB_ALGORITHMS = [
    intent_pb2.LB_ALGORITHM_UNSPECIFIED,
    intent_pb2.LB_ALGORITHM_ROUND_ROBIN,
    intent_pb2.LB_ALGORITHM_LEAST_REQUEST,
    intent_pb2.LB_ALGORITHM_RANDOM,
    intent_pb2.LB_ALGORITHM_RING_HASH,
    intent_pb2.LB_ALGORITHM_MAGLEV,
]
TLS_MODES = [
    intent_pb2.TLS_MODE_DISABLE,
    intent_pb2.TLS_MODE_SIMPLE,
    intent_pb2.TLS_MODE_MUTUAL,
    intent_pb2.TLS_MODE_ISTIO_MUTUAL,
]
DNS_POLICIES = [
    intent_pb2.DNS_POLICY_UNSPECIFIED,
    intent_pb2.DNS_POLICY_SYNC,
    intent_pb2.DNS_POLICY_UPSERT_ONLY,
    intent_pb2.DNS_POLICY_CREATE_ONLY,
]


@st.composite
def valid_health_checks(draw: st.DrawFn) -> intent_pb2.HealthCheck:
    kind = draw(
        st.sampled_from(
            [
                intent_pb2.HEALTH_CHECK_TYPE_GRPC,
                intent_pb2.HEALTH_CHECK_TYPE_HTTP,
                intent_pb2.HEALTH_CHECK_TYPE_TCP,
            ]
        )
    )
    interval = draw(st.integers(2, 10**12))
    timeout = draw(st.integers(1, interval - 1))
    return intent_pb2.HealthCheck(
        type=kind,
        path="/" + draw(label) if kind == intent_pb2.HEALTH_CHECK_TYPE_HTTP else "",
        service_name=draw(label) if kind == intent_pb2.HEALTH_CHECK_TYPE_GRPC else "",
        interval=duration_pb2.Duration(seconds=interval // 10**9, nanos=interval % 10**9),
        timeout=duration_pb2.Duration(seconds=timeout // 10**9, nanos=timeout % 10**9),
        unhealthy_threshold=draw(st.integers(0, 100)),
        healthy_threshold=draw(st.integers(0, 100)),
        port=draw(st.integers(0, 65535)),
    )


@st.composite
def valid_services(draw: st.DrawFn) -> intent_pb2.ServiceSpec:
    numbers = draw(st.lists(st.integers(1, 65535), min_size=1, max_size=4, unique=True))
    hosts = draw(st.lists(host, max_size=3, unique=True))
    external = draw(st.booleans())
    spec = intent_pb2.ServiceSpec(
        name=draw(st.just("") | label),
        namespace=draw(st.just("") | label),
        hosts=hosts,
        ports=[
            intent_pb2.Port(
                number=n,
                protocol=draw(protocols),
                name=f"p{i}-{draw(label)}" if draw(st.booleans()) else "",
                target_port=draw(st.integers(0, 65535)),
            )
            for i, n in enumerate(numbers)
        ],
        endpoints=draw(
            st.lists(
                st.builds(
                    intent_pb2.Endpoint,
                    address=ipv4 | ipv6 | host,
                    port=st.integers(0, 65535),
                    weight=st.integers(0, 128),
                    subset=st.just("") | label,
                    locality=st.none()
                    | st.builds(intent_pb2.Locality, region=label, zone=label, sub_zone=label),
                ),
                max_size=4,
                unique_by=lambda e: (e.address, e.port),
            )
        ),
        exposure=intent_pb2.Exposure(
            visibility=intent_pb2.VISIBILITY_EXTERNAL
            if external
            else intent_pb2.VISIBILITY_INTERNAL,
            gateway_host=draw(host) if external else "",
            tls_credential_name=draw(st.just("") | label) if external else "",
        ),
    )
    if draw(st.booleans()):
        policy = spec.traffic_policy
        policy.lb_algorithm = draw(st.sampled_from(LB_ALGORITHMS))
        if draw(st.booleans()):
            policy.request_timeout.CopyFrom(draw(positive_duration))
        if draw(st.booleans()):
            policy.retries.SetInParent()
            policy.retries.attempts = draw(st.integers(0, 10))
            policy.retries.retry_on.extend(
                draw(st.lists(st.sampled_from(sorted(ir.service.RETRY_CONDITIONS)), unique=True))
            )
        if draw(st.booleans()):
            policy.outlier_detection.max_ejection_percent = draw(st.integers(0, 100))
            policy.outlier_detection.base_ejection_time.CopyFrom(draw(positive_duration))
        policy.connection_limits.max_requests = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        spec.health_check.CopyFrom(draw(valid_health_checks()))
    publish = draw(st.booleans())
    if hosts and publish:
        spec.dns.zone = "example.com"
        spec.dns.ttl = draw(st.integers(0, 2**31 - 1))
    _place(draw, spec)
    if draw(st.booleans()):
        tls = spec.traffic_policy.upstream_tls
        modes = TLS_MODES
        if spec.location == intent_pb2.LOCATION_MESH_EXTERNAL:
            modes = [m for m in modes if m != intent_pb2.TLS_MODE_ISTIO_MUTUAL]
        tls.mode = draw(st.sampled_from(modes))
        if tls.mode == intent_pb2.TLS_MODE_MUTUAL or (
            tls.mode == intent_pb2.TLS_MODE_SIMPLE and draw(st.booleans())
        ):
            tls.credential_name = draw(st.lists(label, min_size=1, max_size=2).map(".".join))
        if tls.mode != intent_pb2.TLS_MODE_DISABLE and draw(st.booleans()):
            # A name whose last label is all digits reads as an address, not a host.
            tls.sni = draw(host | label.filter(lambda s: not s.isdigit()))
    # Whole namespaces, and service accounts in the other namespaces.
    for namespace in draw(st.lists(label, max_size=3, unique=True)):
        accounts = draw(st.lists(label, max_size=2, unique=True))
        for account in accounts or [""]:
            spec.allowed_clients.add(namespace=namespace, service_account=account)
    return spec


def _place(draw: st.DrawFn, spec: intent_pb2.ServiceSpec) -> None:
    """A location, and a resolution that the location and the endpoints allow."""
    location = draw(
        st.sampled_from(
            [
                intent_pb2.LOCATION_UNSPECIFIED,
                intent_pb2.LOCATION_CLUSTER,
                intent_pb2.LOCATION_MESH_INTERNAL,
                intent_pb2.LOCATION_MESH_EXTERNAL,
            ]
        )
    )
    spec.location = location
    implied = (
        intent_pb2.RESOLUTION_STATIC
        if all(":" in e.address or e.address[-1].isdigit() for e in spec.endpoints)
        else intent_pb2.RESOLUTION_DNS
    )
    if location in (intent_pb2.LOCATION_UNSPECIFIED, intent_pb2.LOCATION_CLUSTER):
        allowed = [implied]
    else:
        if not spec.hosts:
            spec.hosts.append(draw(host))
        if not spec.endpoints:
            allowed = [intent_pb2.RESOLUTION_DNS, intent_pb2.RESOLUTION_NONE]
        elif implied == intent_pb2.RESOLUTION_STATIC:
            allowed = [intent_pb2.RESOLUTION_STATIC, intent_pb2.RESOLUTION_DNS]
        else:
            allowed = [intent_pb2.RESOLUTION_DNS]
    resolution = draw(st.sampled_from(allowed))
    # Unspecified wherever it means the same.
    spec.resolution = 0 if resolution == implied and draw(st.booleans()) else resolution


@st.composite
def valid_dns(draw: st.DrawFn) -> intent_pb2.DnsSpec:
    spec = intent_pb2.DnsSpec(zone="example.com", policy=draw(st.sampled_from(DNS_POLICIES)))
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["A", "AAAA", "CNAME", "SRV", "TXT"]))
        values = {
            "A": st.lists(ipv4, min_size=1, max_size=3, unique=True),
            "AAAA": st.lists(ipv6, min_size=1, max_size=3, unique=True),
            "CNAME": host.map(lambda h: [h]),
            "SRV": st.lists(
                st.builds(
                    lambda p, w, port, target: f"{p} {w} {port} {target}",
                    st.integers(0, 65535),
                    st.integers(0, 65535),
                    st.integers(0, 65535),
                    host,
                ),
                min_size=1,
                max_size=2,
                unique=True,
            ),
            "TXT": st.lists(
                st.text(min_size=1, max_size=60).filter(lambda t: len(t.encode()) <= 255),
                min_size=1,
                max_size=2,
                unique=True,
            ),
        }[kind]
        spec.records.add(
            name=f"r{i}" + draw(st.sampled_from(["", ".example.com"])),
            type=getattr(intent_pb2, f"RECORD_TYPE_{kind}"),
            ttl=draw(st.integers(0, 2**31 - 1)),
            values=draw(values),
        )
    return spec


@st.composite
def valid_workloads(draw: st.DrawFn) -> intent_pb2.WorkloadSpec:
    subsets = draw(st.lists(label, max_size=4, unique=True))
    cuts = (
        sorted(
            draw(
                st.lists(st.integers(0, 100), min_size=len(subsets) - 1, max_size=len(subsets) - 1)
            )
        )
        if subsets
        else []
    )
    bounds = [0, *cuts, 100]
    spec = intent_pb2.WorkloadSpec(
        target=draw(label),
        split=[
            intent_pb2.TrafficSplit(subset=s, weight=bounds[i + 1] - bounds[i])
            for i, s in enumerate(subsets)
        ],
    )
    if draw(st.booleans()):
        spec.mirror.subset = draw(label)
        spec.mirror.percent = draw(st.floats(0, 100))
    for _ in range(draw(st.integers(0, 2))):
        route = spec.header_routes.add(subset=draw(label))
        for name in draw(
            st.lists(label.map(lambda s: f"x-{s}"), min_size=1, max_size=3, unique=True)
        ):
            field = draw(st.sampled_from(["exact", "prefix", "regex"]))
            value = (
                draw(st.sampled_from(["^v[0-9]+$", "a|b", ".*"]))
                if field == "regex"
                else draw(label)
            )
            route.headers.add(name=name, **{field: value})
    for address, port in draw(
        st.lists(st.tuples(ipv4, st.integers(0, 65535)), max_size=3, unique=True)
    ):
        spec.drain.add(address=address, port=port)
    return spec


@st.composite
def valid_intents(draw: st.DrawFn) -> intent_pb2.Intent:
    pb = intent_pb2.Intent(
        name=draw(st.lists(label, min_size=1, max_size=3).map(".".join)),
        labels=draw(st.dictionaries(label, st.just("") | label, max_size=3)),
    )
    which = draw(st.sampled_from(["service", "dns", "workload"]))
    if which == "service":
        pb.service.CopyFrom(draw(valid_services()))
    elif which == "dns":
        pb.dns.CopyFrom(draw(valid_dns()))
    else:
        pb.workload.CopyFrom(draw(valid_workloads()))
    return pb


@SLOW
@given(valid_intents())
def test_valid_intents_are_accepted_and_round_trip(pb: intent_pb2.Intent) -> None:
    intent = convert.intent_from_proto(pb)
    assert intent.name == pb.name
    assert_fixed_point(intent)


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: text,
    FieldDescriptor.TYPE_UINT32: uint32,
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: enum,
    FieldDescriptor.TYPE_DOUBLE: double,
    FieldDescriptor.TYPE_BOOL: st.booleans(),
}


def _scalar_slots(message: Message) -> list[tuple[Message, FieldDescriptor, int | None]]:
    """Every set scalar in a message tree: (holder, field, index in a repeated field)."""
    slots: list[tuple[Message, FieldDescriptor, int | None]] = []
    for field, value in message.ListFields():
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is None or field.message_type.GetOptions().map_entry:
                continue
            for item in value if repeated else [value]:
                slots.extend(_scalar_slots(item))
        elif repeated:
            slots.extend((message, field, i) for i in range(len(value)))
        else:
            slots.append((message, field, None))
    return slots


@SLOW
@given(valid_intents(), st.data())
def test_one_wrong_field_is_converted_or_refused_with_field_errors(
    pb: intent_pb2.Intent, data: st.DataObject
) -> None:
    slots = _scalar_slots(pb)
    holder, field, index = data.draw(st.sampled_from(slots))
    value = data.draw(_SCALARS[field.type])
    if index is None:
        setattr(holder, field.name, value)
    else:
        getattr(holder, field.name)[index] = value
    try:
        intent = convert.intent_from_proto(pb)
    except ir.InvalidIntentError as exc:
        assert exc.errors
        assert all(e.path.startswith(("name", "labels", "spec")) for e in exc.errors), exc
        return
    assert_fixed_point(intent)


# --- durations -----------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.integers(1, MAX_SECONDS * 10**9))
def test_whole_nanoseconds_round_trip_through_float_seconds(total: int) -> None:
    seconds = seconds_from_nanos(total)
    # The float may not hold every nanosecond of a huge duration, but it is stable.
    assert seconds_from_nanos(nanos_from_seconds(seconds)) == seconds
    if total < 2**52:
        assert nanos_from_seconds(seconds) == total


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=1e-9, max_value=float(MAX_SECONDS)))
def test_code_built_durations_land_on_a_nanosecond(seconds: float) -> None:
    policy = ir.TrafficPolicy(request_timeout=seconds)
    assert policy.request_timeout is not None
    assert seconds_from_nanos(nanos_from_seconds(policy.request_timeout)) == policy.request_timeout


# --- syntax fast paths -----------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="ab9-_.*A", max_size=16) | st.sampled_from(["a" * 63, "a" * 64, "*.a.b"]),
    st.sampled_from([1, 2]),
    st.booleans(),
    st.booleans(),
)
def test_name_fast_paths_accept_exactly_what_the_rules_accept(
    value: str, min_labels: int, wildcard: bool, owner: bool
) -> None:
    fast = domain_problem(value, min_labels=min_labels, wildcard=wildcard, owner=owner)
    slow = _domain_reason(value, min_labels=min_labels, wildcard=wildcard, owner=owner)
    assert fast == slow

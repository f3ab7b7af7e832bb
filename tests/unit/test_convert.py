"""tc.convert: wire <-> IR, defaults, canonical spec bytes, kinds, durations."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import BaseModel

from tc import convert, ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.ir.durations import nanos_from_seconds, seconds_from_nanos


def parse(doc: dict[str, Any]) -> intent_pb2.Intent:
    return json_format.ParseDict(doc, intent_pb2.Intent())


FULL_SERVICE: dict[str, Any] = {
    "name": "checkout",
    "labels": {"app": "checkout", "team": "payments"},
    "service": {
        "name": "checkout-svc",
        "namespace": "shop",
        "hosts": ["checkout.example.com", "*.checkout.example.com"],
        "ports": [
            {"number": 8080, "protocol": "PROTOCOL_HTTP", "name": "web", "target_port": 18080},
            {"number": 9090, "protocol": "PROTOCOL_GRPC"},
        ],
        "endpoints": [
            {
                "address": "10.0.0.1",
                "port": 18080,
                "weight": 3,
                "subset": "v1",
                "locality": {"region": "eu-west-1", "zone": "eu-west-1a", "sub_zone": "r1"},
            },
            {"address": "2001:db8::2", "subset": "v2"},
            {"address": "backend.internal"},
        ],
        "exposure": {
            "visibility": "VISIBILITY_EXTERNAL",
            "gateway_host": "shop.example.com",
            "tls_credential_name": "shop-tls",
        },
        "traffic_policy": {
            "lb_algorithm": "LB_ALGORITHM_LEAST_REQUEST",
            "connect_timeout": "0.250s",
            "request_timeout": "15s",
            "retries": {"attempts": 3, "per_try_timeout": "1.5s", "retry_on": ["5xx", "reset"]},
            "outlier_detection": {
                "consecutive_5xx_errors": 7,
                "interval": "2s",
                "base_ejection_time": "45s",
                "max_ejection_percent": 50,
            },
            "connection_limits": {"max_connections": 100, "max_requests_per_connection": 1},
            "upstream_tls": {"mode": "TLS_MODE_ISTIO_MUTUAL", "sni": "checkout.shop.internal"},
        },
        "health_check": {
            "type": "HEALTH_CHECK_TYPE_HTTP",
            "path": "/healthz",
            "interval": "5s",
            "timeout": "0.5s",
            "unhealthy_threshold": 4,
            "healthy_threshold": 1,
            "port": 8081,
        },
        "dns": {"zone": "example.com", "ttl": 60, "withdraw_unhealthy": True},
        "location": "LOCATION_CLUSTER",
        "allowed_clients": [
            {"namespace": "shop"},
            {"namespace": "web", "service_account": "frontend"},
        ],
    },
}
EXTERNAL_SERVICE: dict[str, Any] = {
    "name": "payments-api",
    "service": {
        "namespace": "shop",
        "hosts": ["api.payments.example"],
        "ports": [{"number": 443, "protocol": "PROTOCOL_TLS"}],
        "endpoints": [{"address": "eu.api.payments.example"}, {"address": "192.0.2.10"}],
        "location": "LOCATION_MESH_EXTERNAL",
        "resolution": "RESOLUTION_DNS",
        "traffic_policy": {
            "upstream_tls": {
                "mode": "TLS_MODE_MUTUAL",
                "credential_name": "payments-client",
                "sni": "api.payments.example",
            }
        },
        "allowed_clients": [{"namespace": "shop", "service_account": "checkout"}],
    },
}
FULL_DNS: dict[str, Any] = {
    "name": "zone-example",
    "dns": {
        "zone": "example.com",
        "policy": "DNS_POLICY_CREATE_ONLY",
        "records": [
            {"name": "@", "type": "RECORD_TYPE_A", "ttl": 30, "values": ["192.0.2.1"]},
            {"name": "v6", "type": "RECORD_TYPE_AAAA", "values": ["2001:db8::1"]},
            {"name": "www.example.com", "type": "RECORD_TYPE_CNAME", "values": ["example.com."]},
            {"name": "_h._tcp", "type": "RECORD_TYPE_SRV", "values": ["1 2 443 example.com."]},
            {"name": "@", "type": "RECORD_TYPE_TXT", "values": ["v=spf1 -all"]},
        ],
    },
}
FULL_WORKLOAD: dict[str, Any] = {
    "name": "checkout-canary",
    "workload": {
        "target": "checkout",
        "split": [{"subset": "v1", "weight": 75}, {"subset": "v2", "weight": 25}],
        "mirror": {"subset": "v3", "percent": 2.5},
        "header_routes": [
            {
                "headers": [
                    {"name": "x-group", "exact": "beta"},
                    {"name": "user-agent", "prefix": "curl/"},
                    {"name": "x-id", "regex": "^[0-9]+$"},
                ],
                "subset": "v2",
            }
        ],
        "drain": [{"address": "10.0.0.1", "port": 18080}, {"address": "10.0.0.9"}],
    },
}
MINIMAL_SERVICE: dict[str, Any] = {
    "name": "web",
    "service": {"ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}]},
}


@pytest.mark.parametrize(
    "doc",
    [FULL_SERVICE, EXTERNAL_SERVICE, FULL_DNS, FULL_WORKLOAD, MINIMAL_SERVICE],
    ids=["service", "external-service", "dns", "workload", "minimal"],
)
def test_round_trip_is_a_fixed_point(doc: dict[str, Any]) -> None:
    intent = convert.intent_from_proto(parse(doc))
    wire = convert.intent_to_proto(intent)
    assert convert.intent_from_proto(wire) == intent
    assert convert.intent_to_proto(convert.intent_from_proto(wire)) == wire
    assert convert.spec_bytes(convert.intent_from_proto(wire)) == convert.spec_bytes(intent)


def test_full_service_maps_every_field() -> None:
    intent = convert.intent_from_proto(parse(FULL_SERVICE))
    assert intent.name == "checkout"
    assert intent.labels == {"app": "checkout", "team": "payments"}
    assert intent.kind is ir.IntentKind.SERVICE
    spec = intent.spec
    assert isinstance(spec, ir.ServiceSpec)
    assert (spec.name, spec.namespace) == ("checkout-svc", "shop")
    assert spec.hosts == ("checkout.example.com", "*.checkout.example.com")
    assert spec.ports == (
        ir.Port(number=8080, protocol=ir.Protocol.HTTP, name="web", target_port=18080),
        ir.Port(number=9090, protocol=ir.Protocol.GRPC, name="grpc-9090", target_port=9090),
    )
    assert spec.endpoints[0] == ir.Endpoint(
        address="10.0.0.1",
        port=18080,
        weight=3,
        subset="v1",
        locality=ir.Locality(region="eu-west-1", zone="eu-west-1a", sub_zone="r1"),
    )
    assert spec.endpoints[1] == ir.Endpoint(address="2001:db8::2", subset="v2")
    assert spec.subsets == {"v1", "v2"}
    assert spec.exposure == ir.Exposure(
        visibility=ir.Visibility.EXTERNAL,
        gateway_host="shop.example.com",
        tls_credential_name="shop-tls",
    )
    assert spec.traffic_policy == ir.TrafficPolicy(
        lb_algorithm=ir.LbAlgorithm.LEAST_REQUEST,
        connect_timeout=0.25,
        request_timeout=15.0,
        retries=ir.RetryPolicy(attempts=3, per_try_timeout=1.5, retry_on=("5xx", "reset")),
        outlier_detection=ir.OutlierDetection(
            consecutive_5xx_errors=7, interval=2.0, base_ejection_time=45.0, max_ejection_percent=50
        ),
        connection_limits=ir.ConnectionLimits(max_connections=100, max_requests_per_connection=1),
        upstream_tls=ir.UpstreamTls(mode=ir.TlsMode.ISTIO_MUTUAL, sni="checkout.shop.internal"),
    )
    assert spec.health_check == ir.HealthCheck(
        type=ir.HealthCheckType.HTTP,
        path="/healthz",
        interval=5.0,
        timeout=0.5,
        unhealthy_threshold=4,
        healthy_threshold=1,
        port=8081,
    )
    assert spec.dns == ir.ServiceDns(zone="example.com", ttl=60, withdraw_unhealthy=True)
    assert spec.location is ir.Location.CLUSTER
    # Unspecified, and an endpoint is a host name: what the endpoints imply.
    assert spec.resolution is ir.Resolution.DNS
    assert spec.allowed_clients == (
        ir.ClientRef(namespace="shop"),
        ir.ClientRef(namespace="web", service_account="frontend"),
    )


def test_service_outside_the_cluster_maps_every_field() -> None:
    spec = convert.intent_from_proto(parse(EXTERNAL_SERVICE)).spec
    assert isinstance(spec, ir.ServiceSpec)
    assert spec.location is ir.Location.MESH_EXTERNAL
    assert spec.resolution is ir.Resolution.DNS
    assert spec.traffic_policy.upstream_tls == ir.UpstreamTls(
        mode=ir.TlsMode.MUTUAL, credential_name="payments-client", sni="api.payments.example"
    )
    assert spec.allowed_clients == (ir.ClientRef(namespace="shop", service_account="checkout"),)
    wire = convert.intent_to_proto(convert.intent_from_proto(parse(EXTERNAL_SERVICE))).service
    assert wire.location == intent_pb2.LOCATION_MESH_EXTERNAL
    assert wire.resolution == intent_pb2.RESOLUTION_DNS
    assert wire.traffic_policy.upstream_tls.mode == intent_pb2.TLS_MODE_MUTUAL
    assert wire.traffic_policy.upstream_tls.credential_name == "payments-client"
    assert list(wire.allowed_clients) == [
        intent_pb2.ClientRef(namespace="shop", service_account="checkout")
    ]


@pytest.mark.parametrize(
    ("location", "addresses", "expected"),
    [
        ("LOCATION_CLUSTER", [], ir.Resolution.STATIC),
        ("LOCATION_CLUSTER", ["10.0.0.1", "2001:db8::1"], ir.Resolution.STATIC),
        ("LOCATION_CLUSTER", ["10.0.0.1", "backend"], ir.Resolution.DNS),
        ("LOCATION_MESH_INTERNAL", ["10.0.0.1"], ir.Resolution.STATIC),
        ("LOCATION_MESH_EXTERNAL", ["db.example.net"], ir.Resolution.DNS),
    ],
)
def test_unspecified_resolution_follows_the_endpoints(
    location: str, addresses: list[str], expected: ir.Resolution
) -> None:
    doc = {
        "name": "db",
        "service": {
            "hosts": ["db.example.com"],
            "ports": [{"number": 5432, "protocol": "PROTOCOL_TCP"}],
            "endpoints": [{"address": a} for a in addresses],
            "location": location,
        },
    }
    intent = convert.intent_from_proto(parse(doc))
    assert isinstance(intent.spec, ir.ServiceSpec)
    assert intent.spec.resolution is expected
    wire = convert.intent_to_proto(intent).service
    assert (
        wire.resolution
        == {
            ir.Resolution.STATIC: intent_pb2.RESOLUTION_STATIC,
            ir.Resolution.DNS: intent_pb2.RESOLUTION_DNS,
        }[expected]
    )


def test_dns_and_workload_map_every_field() -> None:
    dns = convert.intent_from_proto(parse(FULL_DNS))
    assert dns.kind is ir.IntentKind.DNS
    assert dns.spec == ir.DnsSpec(
        zone="example.com",
        policy=ir.DnsPolicy.CREATE_ONLY,
        records=(
            ir.DnsRecord(name="@", type=ir.RecordType.A, ttl=30, values=("192.0.2.1",)),
            ir.DnsRecord(name="v6", type=ir.RecordType.AAAA, values=("2001:db8::1",)),
            ir.DnsRecord(
                name="www.example.com", type=ir.RecordType.CNAME, values=("example.com.",)
            ),
            ir.DnsRecord(name="_h._tcp", type=ir.RecordType.SRV, values=("1 2 443 example.com.",)),
            ir.DnsRecord(name="@", type=ir.RecordType.TXT, values=("v=spf1 -all",)),
        ),
    )
    workload = convert.intent_from_proto(parse(FULL_WORKLOAD))
    assert workload.kind is ir.IntentKind.WORKLOAD
    assert workload.spec == ir.WorkloadSpec(
        target="checkout",
        split=(ir.TrafficSplit(subset="v1", weight=75), ir.TrafficSplit(subset="v2", weight=25)),
        mirror=ir.Mirror(subset="v3", percent=2.5),
        header_routes=(
            ir.HeaderRoute(
                headers=(
                    ir.HeaderMatch(name="x-group", exact="beta"),
                    ir.HeaderMatch(name="user-agent", prefix="curl/"),
                    ir.HeaderMatch(name="x-id", regex="^[0-9]+$"),
                ),
                subset="v2",
            ),
        ),
        drain=(ir.EndpointRef(address="10.0.0.1", port=18080), ir.EndpointRef(address="10.0.0.9")),
    )


def test_defaults_are_filled_and_written_out() -> None:
    intent = convert.intent_from_proto(
        parse(
            {
                "name": "web",
                "service": {
                    "ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}],
                    "endpoints": [{"address": "10.0.0.1"}],
                    "health_check": {"type": "HEALTH_CHECK_TYPE_HTTP"},
                    "traffic_policy": {"outlier_detection": {}, "retries": {}},
                    "dns": {"zone": "example.com"},
                    "hosts": ["web.example.com"],
                },
            }
        )
    )
    spec = intent.spec
    assert isinstance(spec, ir.ServiceSpec)
    assert (spec.name, spec.namespace) == ("web", "default")
    assert spec.ports[0] == ir.Port(
        number=80, protocol=ir.Protocol.HTTP, name="http-80", target_port=80
    )
    assert spec.endpoints[0] == ir.Endpoint(address="10.0.0.1", port=None, weight=1)
    assert spec.exposure.visibility is ir.Visibility.INTERNAL
    policy = spec.traffic_policy
    assert policy.lb_algorithm is ir.LbAlgorithm.ROUND_ROBIN
    assert policy.retries == ir.RetryPolicy(attempts=0)
    assert policy.outlier_detection == ir.OutlierDetection(
        consecutive_5xx_errors=5, interval=10.0, base_ejection_time=30.0, max_ejection_percent=10
    )
    assert spec.health_check == ir.HealthCheck(
        type=ir.HealthCheckType.HTTP,
        path="/",
        interval=10.0,
        timeout=1.0,
        unhealthy_threshold=3,
        healthy_threshold=2,
    )
    assert spec.dns is not None and spec.dns.ttl == 300
    assert (spec.location, spec.resolution) == (ir.Location.CLUSTER, ir.Resolution.STATIC)
    assert spec.allowed_clients == ()
    assert spec.traffic_policy.upstream_tls is None

    wire = convert.intent_to_proto(intent).service
    assert (wire.name, wire.namespace) == ("web", "default")
    assert (wire.ports[0].name, wire.ports[0].target_port) == ("http-80", 80)
    assert wire.endpoints[0].weight == 1
    assert wire.exposure.visibility == intent_pb2.VISIBILITY_INTERNAL
    assert wire.traffic_policy.lb_algorithm == intent_pb2.LB_ALGORITHM_ROUND_ROBIN
    assert wire.traffic_policy.HasField("retries")  # present: attempts 0 means "no retries"
    assert wire.health_check.interval.seconds == 10
    assert wire.dns.ttl == 300
    assert wire.location == intent_pb2.LOCATION_CLUSTER
    assert wire.resolution == intent_pb2.RESOLUTION_STATIC
    assert not wire.traffic_policy.HasField("upstream_tls")  # unset: the mesh's default


# Pairs that mean the same spec: one leaves defaults out, the other spells them out.
SAME_SPEC = [
    pytest.param(
        {"service": {"ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}]}},
        {
            "service": {
                "name": "web",
                "namespace": "default",
                "ports": [
                    {
                        "number": 80,
                        "protocol": "PROTOCOL_HTTP",
                        "name": "http-80",
                        "target_port": 80,
                    }
                ],
                "exposure": {"visibility": "VISIBILITY_INTERNAL"},
                "traffic_policy": {
                    "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
                    "connection_limits": {},
                },
                "location": "LOCATION_CLUSTER",
                "resolution": "RESOLUTION_STATIC",
            }
        },
        id="service",
    ),
    pytest.param(
        {
            "service": {
                "ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}],
                "endpoints": [{"address": "10.0.0.1"}, {"address": "backend"}],
                "allowed_clients": [{"namespace": "shop"}],
            }
        },
        {
            "service": {
                "ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}],
                "endpoints": [{"address": "10.0.0.1"}, {"address": "backend"}],
                "location": "LOCATION_CLUSTER",
                "resolution": "RESOLUTION_DNS",
                "allowed_clients": [{"namespace": "shop", "service_account": ""}],
            }
        },
        id="service-resolution-dns",
    ),
    pytest.param(
        {
            "service": {
                "hosts": ["db.example.com"],
                "ports": [{"number": 5432, "protocol": "PROTOCOL_TCP"}],
                "endpoints": [{"address": "192.0.2.1"}],
                "location": "LOCATION_MESH_EXTERNAL",
                "traffic_policy": {"upstream_tls": {"mode": "TLS_MODE_SIMPLE"}},
            }
        },
        {
            "service": {
                "hosts": ["db.example.com"],
                "ports": [{"number": 5432, "protocol": "PROTOCOL_TCP"}],
                "endpoints": [{"address": "192.0.2.1"}],
                "location": "LOCATION_MESH_EXTERNAL",
                "resolution": "RESOLUTION_STATIC",
                "traffic_policy": {
                    "upstream_tls": {"mode": "TLS_MODE_SIMPLE", "credential_name": "", "sni": ""}
                },
            }
        },
        id="service-outside",
    ),
    pytest.param(
        {
            "service": {
                "ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}],
                "endpoints": [{"address": "10.0.0.1", "locality": {}}],
                "health_check": {"type": "HEALTH_CHECK_TYPE_HTTP"},
                "traffic_policy": {"outlier_detection": {}},
                "dns": {"zone": "example.com"},
                "hosts": ["web.example.com"],
            }
        },
        {
            "service": {
                "ports": [{"number": 80, "protocol": "PROTOCOL_HTTP"}],
                "endpoints": [{"address": "10.0.0.1", "weight": 1}],
                "health_check": {
                    "type": "HEALTH_CHECK_TYPE_HTTP",
                    "path": "/",
                    "interval": "10s",
                    "timeout": "1s",
                    "unhealthy_threshold": 3,
                    "healthy_threshold": 2,
                },
                "traffic_policy": {
                    "outlier_detection": {
                        "consecutive_5xx_errors": 5,
                        "interval": "10s",
                        "base_ejection_time": "30s",
                        "max_ejection_percent": 10,
                    }
                },
                "dns": {"zone": "example.com", "ttl": 300},
                "hosts": ["web.example.com"],
            }
        },
        id="service-nested",
    ),
    pytest.param(
        {
            "dns": {
                "zone": "example.com",
                "records": [{"name": "@", "type": "RECORD_TYPE_A", "values": ["192.0.2.1"]}],
            }
        },
        {
            "dns": {
                "zone": "example.com",
                "policy": "DNS_POLICY_SYNC",
                "records": [
                    {"name": "@", "type": "RECORD_TYPE_A", "ttl": 300, "values": ["192.0.2.1"]}
                ],
            }
        },
        id="dns",
    ),
    pytest.param(
        {"workload": {"target": "web", "mirror": {"subset": "v2", "percent": -0.0}}},
        {"workload": {"target": "web", "mirror": {"subset": "v2"}}},
        id="workload-negative-zero",
    ),
]


@pytest.mark.parametrize(("sparse", "explicit"), SAME_SPEC)
def test_spec_bytes_do_not_depend_on_omitted_defaults(
    sparse: dict[str, Any], explicit: dict[str, Any]
) -> None:
    a = convert.intent_from_proto(parse({"name": "web", **sparse}))
    b = convert.intent_from_proto(parse({"name": "web", **explicit}))
    assert a == b
    assert convert.spec_bytes(a) == convert.spec_bytes(b)


def test_spec_bytes_cover_the_spec_only() -> None:
    base = convert.intent_from_proto(parse(FULL_DNS))
    relabelled = convert.intent_from_proto(parse({**FULL_DNS, "labels": {"x": "y"}}))
    renamed = convert.intent_from_proto(parse({**FULL_DNS, "name": "other"}))
    assert convert.spec_bytes(base) == convert.spec_bytes(relabelled) == convert.spec_bytes(renamed)
    changed = parse(FULL_DNS)
    changed.dns.records[0].ttl = 31
    assert convert.spec_bytes(convert.intent_from_proto(changed)) != convert.spec_bytes(base)
    only_spec = intent_pb2.Intent.FromString(convert.spec_bytes(base))
    assert only_spec.name == "" and not only_spec.labels
    assert only_spec.WhichOneof("spec") == "dns"


def test_spec_bytes_are_deterministic_across_label_order() -> None:
    one = convert.intent_from_proto(parse({**FULL_SERVICE, "labels": {"a": "1", "b": "2"}}))
    two = convert.intent_from_proto(parse({**FULL_SERVICE, "labels": {"b": "2", "a": "1"}}))
    assert one == two
    assert convert.intent_to_proto(one).SerializeToString(
        deterministic=True
    ) == convert.intent_to_proto(two).SerializeToString(deterministic=True)


def test_output_only_fields_are_ignored() -> None:
    plain = parse(FULL_WORKLOAD)
    decorated = parse(FULL_WORKLOAD)
    decorated.generation = 7
    decorated.uid = "0b5f0c3e"
    decorated.create_time.seconds = 1_700_000_000
    decorated.update_time.seconds = 1_700_000_100
    decorated.delete_time.seconds = 1_700_000_200
    decorated.status.observed_generation = 6
    assert convert.intent_from_proto(decorated) == convert.intent_from_proto(plain)
    wire = convert.intent_to_proto(convert.intent_from_proto(decorated))
    assert wire.generation == 0 and wire.uid == "" and not wire.HasField("status")
    assert not wire.HasField("create_time")


def test_code_built_intent_round_trips() -> None:
    intent = ir.Intent(
        name="api",
        labels={"tier": "edge"},
        spec=ir.ServiceSpec(
            hosts=("api.example.com",),
            ports=(ir.Port(number=443, protocol=ir.Protocol.TLS),),
            endpoints=(ir.Endpoint(address="10.1.0.1", locality=ir.Locality(region="us")),),
            traffic_policy=ir.TrafficPolicy(request_timeout=0.1 + 0.2, retries=ir.RetryPolicy()),
        ),
    )
    assert convert.intent_from_proto(convert.intent_to_proto(intent)) == intent


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [
        (0, 1_000_000, 0.001),
        (1, 500_000_000, 1.5),
        (0, 1, 1e-9),
        (86_400, 999_000_000, 86_400.999),
        (315_576_000_000, 0, 315_576_000_000.0),
    ],
)
def test_durations_are_exact_both_ways(seconds: int, nanos: int, expected: float) -> None:
    pb = parse(MINIMAL_SERVICE)
    pb.service.traffic_policy.request_timeout.seconds = seconds
    pb.service.traffic_policy.request_timeout.nanos = nanos
    intent = convert.intent_from_proto(pb)
    assert isinstance(intent.spec, ir.ServiceSpec)
    assert intent.spec.traffic_policy.request_timeout == expected
    back = convert.intent_to_proto(intent).service.traffic_policy.request_timeout
    assert (back.seconds, back.nanos) == (seconds, nanos)


@pytest.mark.parametrize("millis", [1, 7, 10, 99, 250, 333, 1_001, 59_999, 3_600_000, 86_399_999])
def test_milliseconds_survive_float_seconds(millis: int) -> None:
    nanos = millis * 1_000_000
    assert nanos_from_seconds(seconds_from_nanos(nanos)) == nanos
    assert nanos_from_seconds(millis / 1000) == nanos


def test_kinds() -> None:
    assert convert.kind_of(parse(FULL_SERVICE)) is ir.IntentKind.SERVICE
    assert convert.kind_of(parse(FULL_DNS)) is ir.IntentKind.DNS
    assert convert.kind_of(parse(FULL_WORKLOAD)) is ir.IntentKind.WORKLOAD
    assert convert.kind_of(intent_pb2.Intent(name="x")) is None
    pairs = [
        (ir.IntentKind.SERVICE, plugin_pb2.INTENT_KIND_SERVICE),
        (ir.IntentKind.DNS, plugin_pb2.INTENT_KIND_DNS),
        (ir.IntentKind.WORKLOAD, plugin_pb2.INTENT_KIND_WORKLOAD),
    ]
    for kind, wire in pairs:
        assert convert.intent_kind_to_proto(kind) == wire
        assert convert.intent_kind_from_proto(wire) is kind
    assert convert.intent_kind_from_proto(plugin_pb2.INTENT_KIND_UNSPECIFIED) is None
    assert convert.intent_kind_from_proto(99) is None
    assert [str(k) for k in ir.IntentKind] == ["service", "dns", "workload"]


def _models(model: BaseModel) -> list[BaseModel]:
    found = [model]
    for value in model.__dict__.values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, BaseModel):
                found.extend(_models(item))
    return found


@pytest.mark.parametrize(
    "doc", [FULL_SERVICE, EXTERNAL_SERVICE, FULL_DNS, FULL_WORKLOAD, MINIMAL_SERVICE]
)
def test_converted_models_equal_code_built_ones(doc: dict[str, Any]) -> None:
    """The fast path builds the same objects pydantic's own validation would."""
    intent = convert.intent_from_proto(parse(doc))
    for model in _models(intent):
        assert list(model.__dict__) == list(type(model).model_fields), type(model).__name__
    validated = ir.Intent.model_validate(intent.model_dump())
    assert validated == intent
    assert hash(validated) == hash(intent)
    assert ir.Intent.model_validate_json(intent.model_dump_json()) == intent

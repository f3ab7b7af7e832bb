"""The intent rules, case by case: each rule with inputs it refuses and inputs it accepts.

Cases are plain data: a valid base intent in proto JSON form, a patch, and the exact
errors (path and message) expected from tc.convert.intent_from_proto, in field order.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import ValidationError

from tc import convert, ir
from tc._proto.tc.v1 import intent_pb2

DELETE = object()

SERVICE: dict[str, Any] = {
    "name": "checkout",
    "labels": {"app": "checkout"},
    "service": {
        "hosts": ["checkout.example.com"],
        "ports": [
            {"number": 8080, "protocol": "PROTOCOL_HTTP"},
            {"number": 9090, "protocol": "PROTOCOL_GRPC"},
        ],
        "endpoints": [
            {"address": "10.0.0.1", "subset": "v1"},
            {"address": "10.0.0.2", "subset": "v2"},
        ],
    },
}
DNS: dict[str, Any] = {
    "name": "records",
    "dns": {
        "zone": "example.com",
        "records": [{"name": "www", "type": "RECORD_TYPE_A", "values": ["192.0.2.1"]}],
    },
}
WORKLOAD: dict[str, Any] = {
    "name": "checkout-canary",
    "workload": {
        "target": "checkout",
        "split": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}],
    },
}

LABEL = (
    "must be a DNS-1123 label: lower-case letters, digits and '-', "
    "starting and ending with a letter or digit"
)
SUBDOMAIN = (
    "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
    "starting and ending with a letter or digit"
)
ADDRESS = "must be an IPv4 or IPv6 address or a lower-case host name"
TWO_LABELS = "must be a fully qualified domain name with at least two labels, e.g. api.example.com"
LABEL_CHARS = (
    "consist of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
)
RETRY_ON = (
    "use one of Envoy's (5xx, gateway-error, connect-failure, reset, ...) or an HTTP status code"
)
RETRIES = "spec.service.traffic_policy.retries"
TLS = "spec.service.traffic_policy.upstream_tls"
OUTSIDE = "is only for services outside the cluster (location mesh-internal or mesh-external): "
OUTSIDE += "leave it unset"
EXTERNAL = {"service.location": "LOCATION_MESH_EXTERNAL"}
SRV = 'must be "priority weight port target", e.g. "10 5 5060 sip.example.com"'


def patched(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with each dotted path ("service.ports.1.number") set or DELETEd."""
    doc = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            index = int(last)
            if index == len(node):
                node.append(value)
            else:
                node[index] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def errors_of(doc: dict[str, Any]) -> list[str]:
    pb = json_format.ParseDict(doc, intent_pb2.Intent())
    try:
        convert.intent_from_proto(pb)
    except ir.InvalidIntentError as exc:
        return [str(e) for e in exc.errors]
    return []


def case(case_id: str, base: dict[str, Any], changes: dict[str, Any], *errors: str) -> Any:
    return pytest.param(base, changes, list(errors), id=case_id)


CASES = [
    # --- intent name and labels -------------------------------------------------------
    case("name-ok-dotted", SERVICE, {"name": "checkout.v2-eu"}),
    case("name-ok-253", DNS, {"name": "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61}),
    case("name-missing", DNS, {"name": ""}, "name: required"),
    case("name-upper", DNS, {"name": "Checkout"}, f"name: {SUBDOMAIN}"),
    case("name-underscore", DNS, {"name": "check_out"}, f"name: {SUBDOMAIN}"),
    case("name-trailing-dash", DNS, {"name": "checkout-"}, f"name: {SUBDOMAIN}"),
    case("name-too-long", DNS, {"name": "a" * 254}, "name: must be at most 253 characters"),
    case("labels-ok", SERVICE, {"labels": {"example.com/team": "pay_ments.1", "empty": ""}}),
    case(
        "label-key-spaces",
        SERVICE,
        {"labels": {"bad key": "x"}},
        f'labels["bad key"]: key name must {LABEL_CHARS}',
    ),
    case(
        "label-key-empty-prefix",
        SERVICE,
        {"labels": {"/app": "x"}},
        "labels[\"/app\"]: key prefix before '/' must not be empty",
    ),
    case(
        "label-key-bad-prefix",
        SERVICE,
        {"labels": {"Example.com/app": "x"}},
        f'labels["Example.com/app"]: key prefix {SUBDOMAIN}',
    ),
    case(
        "label-key-two-slashes",
        SERVICE,
        {"labels": {"a/b/c": "x"}},
        "labels[\"a/b/c\"]: key must contain at most one '/'",
    ),
    case(
        "label-key-name-long",
        SERVICE,
        {"labels": {"k" * 64: "x"}},
        f'labels["{"k" * 64}"]: key name must be at most 63 characters',
    ),
    case(
        "label-value-long",
        SERVICE,
        {"labels": {"app": "v" * 64}},
        'labels["app"]: value must be at most 63 characters',
    ),
    case(
        "label-value-chars",
        SERVICE,
        {"labels": {"app": "-x"}},
        f'labels["app"]: value must {LABEL_CHARS}',
    ),
    case(
        "spec-missing",
        SERVICE,
        {"service": DELETE, "name": ""},
        "name: required",
        "spec: required: set one of service, dns, workload",
    ),
    # --- service: names and hosts -----------------------------------------------------
    case("service-name-ok", SERVICE, {"service.name": "checkout-svc", "service.namespace": "shop"}),
    case(
        "service-name-bad", SERVICE, {"service.name": "Checkout"}, f"spec.service.name: {SUBDOMAIN}"
    ),
    case(
        "service-name-from-bad-intent-name-reported-once",
        SERVICE,
        {"name": "Checkout"},
        f"name: {SUBDOMAIN}",
    ),
    case(
        "namespace-dotted",
        SERVICE,
        {"service.namespace": "a.b"},
        f"spec.service.namespace: {LABEL}",
    ),
    case("hosts-ok", SERVICE, {"service.hosts": ["*.example.com", "a-1.b.example.org"]}),
    case("hosts-none-ok", SERVICE, {"service.hosts": []}),
    case(
        "host-single-label",
        SERVICE,
        {"service.hosts.0": "localhost"},
        f"spec.service.hosts[0]: {TWO_LABELS}",
    ),
    case(
        "host-trailing-dot",
        SERVICE,
        {"service.hosts.0": "checkout.example.com."},
        "spec.service.hosts[0]: must not end with '.'",
    ),
    case(
        "host-upper",
        SERVICE,
        {"service.hosts.0": "Checkout.example.com"},
        "spec.service.hosts[0]: must be lower case",
    ),
    case(
        "host-empty-label",
        SERVICE,
        {"service.hosts.0": "checkout..example.com"},
        "spec.service.hosts[0]: must not have empty labels",
    ),
    case(
        "host-label-dash",
        SERVICE,
        {"service.hosts.0": "-checkout.example.com"},
        'spec.service.hosts[0]: label "-checkout" must consist of lower-case letters, digits '
        "and '-', starting and ending with a letter or digit",
    ),
    case(
        "host-label-long",
        SERVICE,
        {"service.hosts.0": "a" * 64 + ".example.com"},
        f'spec.service.hosts[0]: label "{"a" * 64}" must be at most 63 characters',
    ),
    case(
        "host-too-long",
        SERVICE,
        {"service.hosts.0": ("a" * 60 + ".") * 4 + "a" * 10 + ".com"},
        "spec.service.hosts[0]: must be at most 253 characters",
    ),
    case(
        "host-wildcard-inside",
        SERVICE,
        {"service.hosts.0": "api.*.example.com"},
        "spec.service.hosts[0]: '*' is only allowed as the whole first label, e.g. *.example.com",
    ),
    case(
        "host-wildcard-partial",
        SERVICE,
        {"service.hosts.0": "api*.example.com"},
        "spec.service.hosts[0]: '*' is only allowed as the whole first label, e.g. *.example.com",
    ),
    case(
        "host-wildcard-tld",
        SERVICE,
        {"service.hosts.0": "*.com"},
        f"spec.service.hosts[0]: {TWO_LABELS}",
    ),
    case(
        "host-ip",
        SERVICE,
        {"service.hosts.0": "10.0.0.1"},
        "spec.service.hosts[0]: the last label must not be all digits",
    ),
    case(
        "host-duplicate",
        SERVICE,
        {"service.hosts.1": "checkout.example.com"},
        'spec.service.hosts[1]: "checkout.example.com" is already used by hosts[0]',
    ),
    # --- service: ports ---------------------------------------------------------------
    case(
        "ports-none",
        SERVICE,
        {"service.ports": []},
        "spec.service.ports: at least one port is required",
    ),
    case(
        "port-number-zero",
        SERVICE,
        {"service.ports.1.number": 0},
        "spec.service.ports[1].number: must be 1..65535",
    ),
    case(
        "port-number-high",
        SERVICE,
        {"service.ports.1.number": 65536},
        "spec.service.ports[1].number: must be 1..65535",
    ),
    case("port-number-max", SERVICE, {"service.ports.1.number": 65535}),
    case(
        "port-number-duplicate",
        SERVICE,
        {"service.ports.1.number": 8080, "service.ports.1.protocol": "PROTOCOL_HTTP"},
        "spec.service.ports[1].number: 8080 is already used by ports[0]",
    ),
    case(
        "port-protocol-missing",
        SERVICE,
        {"service.ports.1.protocol": DELETE},
        "spec.service.ports[1].protocol: required",
    ),
    case(
        "port-protocol-unknown",
        SERVICE,
        {"service.ports.1.protocol": 42},
        "spec.service.ports[1].protocol: unknown value 42",
    ),
    case("port-name-ok", SERVICE, {"service.ports.1.name": "grpc-api"}),
    case(
        "port-name-bad",
        SERVICE,
        {"service.ports.1.name": "gRPC"},
        f"spec.service.ports[1].name: {LABEL}",
    ),
    case(
        "port-name-long",
        SERVICE,
        {"service.ports.1.name": "p" * 64},
        "spec.service.ports[1].name: must be at most 63 characters",
    ),
    case(
        "port-name-duplicate-of-default",
        SERVICE,
        {"service.ports.1.name": "http-8080"},
        'spec.service.ports[1].name: "http-8080" is already used by ports[0]',
    ),
    case("target-port-ok", SERVICE, {"service.ports.1.target_port": 19090}),
    case(
        "target-port-high",
        SERVICE,
        {"service.ports.1.target_port": 70000},
        "spec.service.ports[1].target_port: must be 1..65535",
    ),
    # --- service: endpoints -----------------------------------------------------------
    case(
        "endpoints-ok",
        SERVICE,
        {
            "service.endpoints": [
                {"address": "2001:db8::1", "port": 8443, "weight": 128},
                {"address": "backend-1", "port": 65535, "weight": 1},
                {"address": "db.svc.cluster.local", "subset": "canary"},
                {"address": "10.0.0.1", "port": 1},
                {"address": "10.0.0.1", "port": 2},
                {"address": "h", "locality": {"region": "eu-west-1", "zone": "eu-west-1a"}},
            ]
        },
    ),
    case("endpoints-none-ok", SERVICE, {"service.endpoints": []}),
    case(
        "endpoint-address-missing",
        SERVICE,
        {"service.endpoints.0.address": ""},
        "spec.service.endpoints[0].address: required",
    ),
    case(
        "endpoint-address-bad-ipv4",
        SERVICE,
        {"service.endpoints.0.address": "10.0.0.256"},
        f"spec.service.endpoints[0].address: {ADDRESS}",
    ),
    case(
        "endpoint-address-leading-zero",
        SERVICE,
        {"service.endpoints.0.address": "010.0.0.1"},
        f"spec.service.endpoints[0].address: {ADDRESS}",
    ),
    case(
        "endpoint-address-bad-ipv6",
        SERVICE,
        {"service.endpoints.0.address": "2001:db8:::1"},
        f"spec.service.endpoints[0].address: {ADDRESS}",
    ),
    case(
        "endpoint-address-zone-index",
        SERVICE,
        {"service.endpoints.0.address": "fe80::1%eth0"},
        f"spec.service.endpoints[0].address: {ADDRESS}",
    ),
    case(
        "endpoint-address-bad-host",
        SERVICE,
        {"service.endpoints.0.address": "back end"},
        f"spec.service.endpoints[0].address: {ADDRESS}",
    ),
    case(
        "endpoint-port-high",
        SERVICE,
        {"service.endpoints.0.port": 65536},
        "spec.service.endpoints[0].port: must be at most 65535",
    ),
    case(
        "endpoint-weight-high",
        SERVICE,
        {"service.endpoints.0.weight": 129},
        "spec.service.endpoints[0].weight: must be at most 128",
    ),
    case(
        "endpoint-subset-bad",
        SERVICE,
        {"service.endpoints.0.subset": "V1"},
        f"spec.service.endpoints[0].subset: {LABEL}",
    ),
    case(
        "endpoint-duplicate",
        SERVICE,
        {"service.endpoints.1": {"address": "10.0.0.1", "subset": "v2"}},
        "spec.service.endpoints[1]: 10.0.0.1 is already used by endpoints[0]",
    ),
    case(
        "endpoint-duplicate-port",
        SERVICE,
        {
            "service.endpoints.0.port": 80,
            "service.endpoints.1": {"address": "10.0.0.1", "port": 80},
        },
        "spec.service.endpoints[1]: 10.0.0.1 port 80 is already used by endpoints[0]",
    ),
    case(
        "locality-zone-without-region",
        SERVICE,
        {"service.endpoints.0.locality": {"zone": "a"}},
        "spec.service.endpoints[0].locality.region: required",
    ),
    case(
        "locality-sub-zone-without-zone",
        SERVICE,
        {"service.endpoints.0.locality": {"region": "eu", "sub_zone": "rack1"}},
        "spec.service.endpoints[0].locality.sub_zone: requires zone to be set",
    ),
    case(
        "locality-bad-value",
        SERVICE,
        {"service.endpoints.0.locality": {"region": "eu/west"}},
        f"spec.service.endpoints[0].locality.region: must {LABEL_CHARS}",
    ),
    # --- service: exposure ------------------------------------------------------------
    case(
        "exposure-external-ok",
        SERVICE,
        {
            "service.exposure": {
                "visibility": "VISIBILITY_EXTERNAL",
                "gateway_host": "*.shop.example.com",
                "tls_credential_name": "shop-cert",
            }
        },
    ),
    case(
        "exposure-internal-ok", SERVICE, {"service.exposure": {"visibility": "VISIBILITY_INTERNAL"}}
    ),
    case(
        "exposure-external-no-host",
        SERVICE,
        {"service.exposure": {"visibility": "VISIBILITY_EXTERNAL"}},
        "spec.service.exposure.gateway_host: required when visibility is external",
    ),
    case(
        "exposure-external-bad-host",
        SERVICE,
        {"service.exposure": {"visibility": "VISIBILITY_EXTERNAL", "gateway_host": "shop"}},
        f"spec.service.exposure.gateway_host: {TWO_LABELS}",
    ),
    case(
        "exposure-internal-with-host",
        SERVICE,
        {"service.exposure": {"gateway_host": "shop.example.com", "tls_credential_name": "c"}},
        "spec.service.exposure.gateway_host: only allowed when visibility is external",
        "spec.service.exposure.tls_credential_name: only allowed when visibility is external",
    ),
    case(
        "exposure-bad-credential",
        SERVICE,
        {
            "service.exposure": {
                "visibility": "VISIBILITY_EXTERNAL",
                "gateway_host": "shop.example.com",
                "tls_credential_name": "Shop Cert",
            }
        },
        f"spec.service.exposure.tls_credential_name: {SUBDOMAIN}",
    ),
    case(
        "exposure-visibility-unknown",
        SERVICE,
        {"service.exposure": {"visibility": 7}},
        "spec.service.exposure.visibility: unknown value 7",
    ),
    # --- service: traffic policy ------------------------------------------------------
    case(
        "traffic-policy-ok",
        SERVICE,
        {
            "service.traffic_policy": {
                "lb_algorithm": "LB_ALGORITHM_MAGLEV",
                "connect_timeout": "0.001s",
                "request_timeout": "30s",
                "retries": {
                    "attempts": 10,
                    "per_try_timeout": "2s",
                    "retry_on": ["5xx", "connect-failure", "unavailable", "503"],
                },
                "outlier_detection": {"max_ejection_percent": 100, "interval": "5s"},
                "connection_limits": {"max_connections": 1, "max_requests": 4294967295},
            }
        },
    ),
    case(
        "lb-unknown",
        SERVICE,
        {"service.traffic_policy.lb_algorithm": 9},
        "spec.service.traffic_policy.lb_algorithm: unknown value 9",
    ),
    case(
        "timeouts-zero-and-negative",
        SERVICE,
        {
            "service.traffic_policy.connect_timeout": "0s",
            "service.traffic_policy.request_timeout": "-1s",
        },
        "spec.service.traffic_policy.connect_timeout: must be greater than 0",
        "spec.service.traffic_policy.request_timeout: must be greater than 0",
    ),
    case("retries-zero-ok", SERVICE, {"service.traffic_policy.retries": {}}),
    case(
        "retries-attempts-high",
        SERVICE,
        {"service.traffic_policy.retries": {"attempts": 11}},
        "spec.service.traffic_policy.retries.attempts: must be 0..10",
    ),
    case(
        "retries-per-try-timeout-zero",
        SERVICE,
        {"service.traffic_policy.retries": {"attempts": 1, "per_try_timeout": "0s"}},
        "spec.service.traffic_policy.retries.per_try_timeout: must be greater than 0",
    ),
    case(
        "retries-unknown-condition",
        SERVICE,
        {"service.traffic_policy.retries": {"attempts": 1, "retry_on": ["5xx", "bogus", "600"]}},
        f'{RETRIES}.retry_on[1]: unknown retry condition "bogus": {RETRY_ON}',
        f'{RETRIES}.retry_on[2]: unknown retry condition "600": {RETRY_ON}',
    ),
    case(
        "retries-duplicate-condition",
        SERVICE,
        {"service.traffic_policy.retries": {"attempts": 1, "retry_on": ["5xx", "5xx"]}},
        'spec.service.traffic_policy.retries.retry_on[1]: "5xx" is already used by retry_on[0]',
    ),
    case(
        "outlier-percent-high",
        SERVICE,
        {"service.traffic_policy.outlier_detection": {"max_ejection_percent": 101}},
        "spec.service.traffic_policy.outlier_detection.max_ejection_percent: must be at most 100",
    ),
    case(
        "outlier-durations-zero",
        SERVICE,
        {
            "service.traffic_policy.outlier_detection": {
                "interval": "0s",
                "base_ejection_time": "0s",
            }
        },
        "spec.service.traffic_policy.outlier_detection.interval: must be greater than 0",
        "spec.service.traffic_policy.outlier_detection.base_ejection_time: must be greater than 0",
    ),
    # --- service: upstream TLS --------------------------------------------------------
    case(
        "upstream-tls-simple-ok",
        SERVICE,
        {
            "service.traffic_policy.upstream_tls": {
                "mode": "TLS_MODE_SIMPLE",
                "credential_name": "db-ca.v2",
                "sni": "db.internal.example.com",
            }
        },
    ),
    case(
        "upstream-tls-simple-bare-ok",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_SIMPLE"}},
    ),
    case(
        "upstream-tls-mutual-ok",
        SERVICE,
        {
            "service.traffic_policy.upstream_tls": {
                "mode": "TLS_MODE_MUTUAL",
                "credential_name": "client-cert",
                "sni": "localhost",
            }
        },
    ),
    case(
        "upstream-tls-istio-mutual-ok",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_ISTIO_MUTUAL", "sni": "a.b"}},
    ),
    case(
        "upstream-tls-disable-ok",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_DISABLE"}},
    ),
    case(
        "upstream-tls-empty",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {}},
        f"{TLS}.mode: required",
    ),
    case(
        "upstream-tls-mode-missing-no-follow-on",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"credential_name": "ca", "sni": "db.example.com"}},
        f"{TLS}.mode: required",
    ),
    case(
        "upstream-tls-mode-unknown",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": 9}},
        f"{TLS}.mode: unknown value 9",
    ),
    case(
        "upstream-tls-mutual-without-credential",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_MUTUAL"}},
        f"{TLS}.credential_name: required when mode is mutual",
    ),
    case(
        "upstream-tls-credential-with-disable",
        SERVICE,
        {
            "service.traffic_policy.upstream_tls": {
                "mode": "TLS_MODE_DISABLE",
                "credential_name": "c",
            }
        },
        f"{TLS}.credential_name: only allowed when mode is simple or mutual",
    ),
    case(
        "upstream-tls-credential-with-istio-mutual",
        SERVICE,
        {
            "service.traffic_policy.upstream_tls": {
                "mode": "TLS_MODE_ISTIO_MUTUAL",
                "credential_name": "c",
            }
        },
        f"{TLS}.credential_name: only allowed when mode is simple or mutual",
    ),
    case(
        "upstream-tls-credential-bad",
        SERVICE,
        {
            "service.traffic_policy.upstream_tls": {
                "mode": "TLS_MODE_SIMPLE",
                "credential_name": "My CA",
            }
        },
        f"{TLS}.credential_name: {SUBDOMAIN}",
    ),
    case(
        "upstream-tls-sni-with-disable",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_DISABLE", "sni": "a.example"}},
        f"{TLS}.sni: not allowed when mode is disable",
    ),
    case(
        "upstream-tls-sni-bad",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_SIMPLE", "sni": "db..example"}},
        f"{TLS}.sni: must not have empty labels",
    ),
    case(
        "upstream-tls-sni-ip",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_SIMPLE", "sni": "10.0.0.1"}},
        f"{TLS}.sni: the last label must not be all digits",
    ),
    case(
        "upstream-tls-sni-wildcard",
        SERVICE,
        {"service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_SIMPLE", "sni": "*.example"}},
        f"{TLS}.sni: must not contain '*'",
    ),
    case(
        "upstream-tls-istio-mutual-outside-mesh",
        SERVICE,
        {
            **EXTERNAL,
            "service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_ISTIO_MUTUAL"},
        },
        f"{TLS}.mode: istio-mutual needs the mesh's sidecars on the endpoints: "
        "not for location mesh-external",
    ),
    case(
        "upstream-tls-istio-mutual-mesh-internal-ok",
        SERVICE,
        {
            "service.location": "LOCATION_MESH_INTERNAL",
            "service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_ISTIO_MUTUAL"},
        },
    ),
    # --- service: health check --------------------------------------------------------
    case(
        "health-http-ok",
        SERVICE,
        {
            "service.health_check": {
                "type": "HEALTH_CHECK_TYPE_HTTP",
                "path": "/healthz?full=1",
                "interval": "5s",
                "timeout": "4.999s",
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "port": 8081,
            }
        },
    ),
    case(
        "health-grpc-ok",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_GRPC", "service_name": "shop.Cart"}},
    ),
    case("health-tcp-ok", SERVICE, {"service.health_check": {"type": "HEALTH_CHECK_TYPE_TCP"}}),
    case(
        "health-type-missing",
        SERVICE,
        {"service.health_check": {"interval": "5s"}},
        "spec.service.health_check.type: required",
    ),
    case(
        "health-http-relative-path",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_HTTP", "path": "healthz"}},
        "spec.service.health_check.path: must start with '/'",
    ),
    case(
        "health-http-path-space",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_HTTP", "path": "/health z"}},
        "spec.service.health_check.path: must be visible ASCII characters without spaces "
        "(percent-encode the rest)",
    ),
    case(
        "health-path-on-tcp",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_TCP", "path": "/x"}},
        "spec.service.health_check.path: only allowed for http checks",
    ),
    case(
        "health-service-name-on-http",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_HTTP", "service_name": "x"}},
        "spec.service.health_check.service_name: only allowed for grpc checks",
    ),
    case(
        "health-timeout-not-shorter",
        SERVICE,
        {
            "service.health_check": {
                "type": "HEALTH_CHECK_TYPE_TCP",
                "interval": "2s",
                "timeout": "2s",
            }
        },
        "spec.service.health_check.timeout: must be shorter than the interval (2s)",
    ),
    case(
        "health-timeout-vs-default-interval",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_TCP", "timeout": "11s"}},
        "spec.service.health_check.timeout: must be shorter than the interval (10s)",
    ),
    case(
        "health-interval-zero",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_TCP", "interval": "0s"}},
        "spec.service.health_check.interval: must be greater than 0",
    ),
    case(
        "health-port-high",
        SERVICE,
        {"service.health_check": {"type": "HEALTH_CHECK_TYPE_TCP", "port": 65536}},
        "spec.service.health_check.port: must be at most 65535",
    ),
    # --- service: dns -----------------------------------------------------------------
    case(
        "service-dns-ok",
        SERVICE,
        {
            "service.dns": {
                "zone": "internal.example",
                "ttl": 2147483647,
                "withdraw_unhealthy": True,
            }
        },
    ),
    case(
        "service-dns-zone-missing",
        SERVICE,
        {"service.dns": {"ttl": 60}},
        "spec.service.dns.zone: required",
    ),
    case(
        "service-dns-zone-trailing-dot",
        SERVICE,
        {"service.dns": {"zone": "example.com."}},
        "spec.service.dns.zone: must not end with '.'",
    ),
    case(
        "service-dns-ttl-high",
        SERVICE,
        {"service.dns": {"zone": "example.com", "ttl": 2147483648}},
        "spec.service.dns.ttl: must be at most 2147483647",
    ),
    case(
        "service-dns-without-hosts",
        SERVICE,
        {"service.dns": {"zone": "example.com"}, "service.hosts": []},
        "spec.service.hosts: at least one host is required with dns",
    ),
    # --- service: location and resolution ---------------------------------------------
    case("cluster-explicit-ok", SERVICE, {"service.location": "LOCATION_CLUSTER"}),
    case(
        "cluster-resolution-as-implied-ok",
        SERVICE,
        {"service.resolution": "RESOLUTION_STATIC"},
    ),
    case(
        "cluster-resolution-dns-implied-by-host-ok",
        SERVICE,
        {"service.endpoints.1.address": "backend.internal", "service.resolution": "RESOLUTION_DNS"},
    ),
    case(
        "cluster-resolution-dns",
        SERVICE,
        {"service.resolution": "RESOLUTION_DNS"},
        f"spec.service.resolution: dns {OUTSIDE}",
    ),
    case(
        "cluster-resolution-none",
        SERVICE,
        {"service.resolution": "RESOLUTION_NONE"},
        f"spec.service.resolution: none {OUTSIDE}",
    ),
    case(
        "cluster-resolution-static-with-host",
        SERVICE,
        {
            "service.endpoints.1.address": "backend.internal",
            "service.resolution": "RESOLUTION_STATIC",
        },
        f"spec.service.resolution: static {OUTSIDE}",
    ),
    case(
        "location-unknown",
        SERVICE,
        {"service.location": 9},
        "spec.service.location: unknown value 9",
    ),
    case(
        "location-unknown-no-follow-on",
        SERVICE,
        {"service.location": 9, "service.resolution": "RESOLUTION_DNS"},
        "spec.service.location: unknown value 9",
    ),
    case(
        "location-and-resolution-unknown",
        SERVICE,
        {"service.location": 9, "service.resolution": 7, "service.hosts": []},
        "spec.service.location: unknown value 9",
        "spec.service.resolution: unknown value 7",
    ),
    case(
        "resolution-unknown",
        SERVICE,
        {"service.resolution": 7},
        "spec.service.resolution: unknown value 7",
    ),
    case(
        "resolution-unknown-outside-no-follow-on",
        SERVICE,
        {**EXTERNAL, "service.resolution": 7, "service.endpoints": []},
        "spec.service.resolution: unknown value 7",
    ),
    case("outside-static-implied-ok", SERVICE, EXTERNAL),
    case(
        "outside-static-ipv6-ok",
        SERVICE,
        {
            "service.location": "LOCATION_MESH_INTERNAL",
            "service.resolution": "RESOLUTION_STATIC",
            "service.endpoints.1.address": "2001:db8::7",
        },
    ),
    case(
        "outside-dns-ok",
        SERVICE,
        {
            **EXTERNAL,
            "service.resolution": "RESOLUTION_DNS",
            "service.endpoints.1.address": "db.example.net",
        },
    ),
    case(
        "outside-dns-implied-ok",
        SERVICE,
        {**EXTERNAL, "service.endpoints.1.address": "db.example.net"},
    ),
    case(
        "outside-dns-no-endpoints-ok",
        SERVICE,
        {**EXTERNAL, "service.resolution": "RESOLUTION_DNS", "service.endpoints": []},
    ),
    case(
        "outside-none-ok",
        SERVICE,
        {
            **EXTERNAL,
            "service.resolution": "RESOLUTION_NONE",
            "service.endpoints": [],
            "service.hosts": ["*.example.com"],
        },
    ),
    case(
        "outside-static-host-endpoint",
        SERVICE,
        {
            **EXTERNAL,
            "service.resolution": "RESOLUTION_STATIC",
            "service.endpoints.1.address": "db.example.net",
            "service.endpoints.2": {"address": "bad host"},
        },
        "spec.service.endpoints[1].address: must be an IP address with resolution static",
        f"spec.service.endpoints[2].address: {ADDRESS}",
    ),
    case(
        "outside-static-no-endpoints",
        SERVICE,
        {**EXTERNAL, "service.endpoints": []},
        "spec.service.endpoints: at least one endpoint is required with resolution static "
        "(or set resolution dns to resolve the hosts)",
    ),
    case(
        "outside-none-with-endpoints",
        SERVICE,
        {**EXTERNAL, "service.resolution": "RESOLUTION_NONE"},
        "spec.service.endpoints: must be empty with resolution none "
        "(traffic goes to the address the client connected to)",
    ),
    case(
        "outside-dns-wildcard-without-endpoints",
        SERVICE,
        {
            **EXTERNAL,
            "service.resolution": "RESOLUTION_DNS",
            "service.endpoints": [],
            "service.hosts": ["api.example.com", "*.example.com", "*.com"],
        },
        "spec.service.hosts[1]: must not be a wildcard with resolution dns and no endpoints "
        "(the hosts themselves are resolved)",
        f"spec.service.hosts[2]: {TWO_LABELS}",
    ),
    case(
        "outside-dns-wildcard-with-endpoints-ok",
        SERVICE,
        {
            **EXTERNAL,
            "service.resolution": "RESOLUTION_DNS",
            "service.hosts": ["*.example.com"],
        },
    ),
    case(
        "outside-no-hosts",
        SERVICE,
        {"service.location": "LOCATION_MESH_INTERNAL", "service.hosts": []},
        "spec.service.hosts: at least one host is required with location mesh-internal",
    ),
    case(
        "outside-no-hosts-with-dns-reported-once",
        SERVICE,
        {**EXTERNAL, "service.hosts": [], "service.dns": {"zone": "example.com"}},
        "spec.service.hosts: at least one host is required with dns",
    ),
    # --- service: allowed clients -----------------------------------------------------
    case(
        "allowed-clients-ok",
        SERVICE,
        {
            "service.allowed_clients": [
                {"namespace": "shop"},
                {"namespace": "web", "service_account": "frontend"},
                {"namespace": "web", "service_account": "frontend.v2"},
                {"namespace": "ops", "service_account": "frontend"},
            ]
        },
    ),
    case(
        "allowed-client-namespace-missing",
        SERVICE,
        {"service.allowed_clients": [{"service_account": "frontend"}]},
        "spec.service.allowed_clients[0].namespace: required",
    ),
    case(
        "allowed-client-namespace-bad",
        SERVICE,
        {"service.allowed_clients": [{"namespace": "shop.eu"}]},
        f"spec.service.allowed_clients[0].namespace: {LABEL}",
    ),
    case(
        "allowed-client-service-account-bad",
        SERVICE,
        {"service.allowed_clients": [{"namespace": "shop", "service_account": "Front End"}]},
        f"spec.service.allowed_clients[0].service_account: {SUBDOMAIN}",
    ),
    case(
        "allowed-client-duplicate-namespace",
        SERVICE,
        {"service.allowed_clients": [{"namespace": "shop"}, {"namespace": "shop"}]},
        "spec.service.allowed_clients[1]: already listed as allowed_clients[0]",
    ),
    case(
        "allowed-client-duplicate-service-account",
        SERVICE,
        {
            "service.allowed_clients": [
                {"namespace": "shop", "service_account": "cart"},
                {"namespace": "web", "service_account": "cart"},
                {"namespace": "shop", "service_account": "cart"},
            ]
        },
        "spec.service.allowed_clients[2]: already listed as allowed_clients[0]",
    ),
    case(
        "allowed-client-covered-by-namespace",
        SERVICE,
        {
            "service.allowed_clients": [
                {"namespace": "shop", "service_account": "cart"},
                {"namespace": "shop"},
                {"namespace": "shop", "service_account": "web"},
            ]
        },
        "spec.service.allowed_clients[0]: already allowed by allowed_clients[1], "
        'which allows every workload in namespace "shop"',
        "spec.service.allowed_clients[2]: already allowed by allowed_clients[1], "
        'which allows every workload in namespace "shop"',
    ),
    case(
        "allowed-client-invalid-not-compared",
        SERVICE,
        {"service.allowed_clients": [{"namespace": "Shop"}, {"namespace": "Shop"}]},
        f"spec.service.allowed_clients[0].namespace: {LABEL}",
        f"spec.service.allowed_clients[1].namespace: {LABEL}",
    ),
    # --- dns --------------------------------------------------------------------------
    case(
        "dns-records-ok",
        DNS,
        {
            "dns.policy": "DNS_POLICY_UPSERT_ONLY",
            "dns.records": [
                {"name": "@", "type": "RECORD_TYPE_A", "values": ["192.0.2.1", "192.0.2.2"]},
                {"name": "example.com", "type": "RECORD_TYPE_AAAA", "values": ["2001:db8::1"]},
                {"name": "www.example.com", "type": "RECORD_TYPE_A", "values": ["192.0.2.3"]},
                {"name": "api.eu", "type": "RECORD_TYPE_CNAME", "values": ["lb.example.net."]},
                {"name": "*", "type": "RECORD_TYPE_A", "values": ["192.0.2.4"], "ttl": 60},
                {"name": "*.dev", "type": "RECORD_TYPE_A", "values": ["192.0.2.5"]},
                {
                    "name": "_sip._tcp",
                    "type": "RECORD_TYPE_SRV",
                    "values": ["10 5 5060 sip.example.com.", "0 0 0 ."],
                },
                {"name": "@", "type": "RECORD_TYPE_TXT", "values": ["v=spf1 -all", "x" * 255]},
                {"name": "1", "type": "RECORD_TYPE_TXT", "values": ["reverse-style names"]},
            ],
        },
    ),
    case("dns-no-records-ok", DNS, {"dns.records": []}),
    case("dns-zone-missing", DNS, {"dns.zone": ""}, "spec.dns.zone: required"),
    case("dns-zone-single-label", DNS, {"dns.zone": "com"}, f"spec.dns.zone: {TWO_LABELS}"),
    case(
        "dns-policy-unknown",
        DNS,
        {"dns.policy": 9},
        "spec.dns.policy: unknown value 9",
    ),
    case(
        "record-name-outside-zone-boundary",
        DNS,
        {"dns.records.0.name": "badexample.com"},
        'spec.dns.records[0].name: is not inside zone "example.com": it ends with the zone name '
        "but not on a label boundary",
    ),
    case(
        "record-name-trailing-dot",
        DNS,
        {"dns.records.0.name": "www.example.com."},
        "spec.dns.records[0].name: must not end with '.'",
    ),
    case(
        "record-name-upper",
        DNS,
        {"dns.records.0.name": "WWW"},
        "spec.dns.records[0].name: must be lower case",
    ),
    case(
        "record-name-missing",
        DNS,
        {"dns.records.0.name": ""},
        "spec.dns.records[0].name: required",
    ),
    case(
        "record-name-too-long-with-zone",
        DNS,
        {"dns.records.0.name": ("a" * 60 + ".") * 3 + "a" * 60},
        "spec.dns.records[0].name: must be at most 253 characters once the zone is appended",
    ),
    case(
        "record-type-missing",
        DNS,
        {"dns.records.0.type": DELETE},
        "spec.dns.records[0].type: required",
    ),
    case(
        "record-no-values",
        DNS,
        {"dns.records.0.values": []},
        "spec.dns.records[0].values: at least one value is required",
    ),
    case(
        "record-ttl-high",
        DNS,
        {"dns.records.0.ttl": 2147483648},
        "spec.dns.records[0].ttl: must be at most 2147483647",
    ),
    case(
        "record-a-bad",
        DNS,
        {"dns.records.0.values": ["192.0.2.1", "2001:db8::1", "192.0.2.999"]},
        "spec.dns.records[0].values[1]: must be an IPv4 address",
        "spec.dns.records[0].values[2]: must be an IPv4 address",
    ),
    case(
        "record-a-duplicate",
        DNS,
        {"dns.records.0.values": ["192.0.2.1", "192.0.2.1"]},
        'spec.dns.records[0].values[1]: "192.0.2.1" is already used by values[0]',
    ),
    case(
        "record-aaaa-bad-and-duplicate",
        DNS,
        {
            "dns.records.0.type": "RECORD_TYPE_AAAA",
            "dns.records.0.values": ["192.0.2.1", "2001:DB8::1", "2001:db8::1"],
        },
        "spec.dns.records[0].values[0]: must be an IPv6 address",
        'spec.dns.records[0].values[2]: "2001:db8::1" is already used by values[1]',
    ),
    case(
        "record-cname-two-values",
        DNS,
        {
            "dns.records.0.type": "RECORD_TYPE_CNAME",
            "dns.records.0.values": ["a.example.net", "b.example.net"],
        },
        "spec.dns.records[0].values: a CNAME record has exactly one value",
    ),
    case(
        "record-cname-bad-target",
        DNS,
        {"dns.records.0.type": "RECORD_TYPE_CNAME", "dns.records.0.values": ["not a name"]},
        'spec.dns.records[0].values[0]: label "not a name" must consist of lower-case letters, '
        "digits, '-' and '_', starting and ending with a letter or digit",
    ),
    case(
        "record-cname-at-apex",
        DNS,
        {"dns.records.0": {"name": "@", "type": "RECORD_TYPE_CNAME", "values": ["a.example.net"]}},
        "spec.dns.records[0].name: a CNAME record cannot be at the zone apex",
    ),
    case(
        "record-cname-shares-name",
        DNS,
        {
            "dns.records.1": {
                "name": "www.example.com",
                "type": "RECORD_TYPE_CNAME",
                "values": ["a.example.net"],
            }
        },
        "spec.dns.records[1].type: a CNAME record cannot share its name with other records "
        "(records[0])",
    ),
    case(
        "record-set-duplicate",
        DNS,
        {
            "dns.records.1": {
                "name": "www.example.com",
                "type": "RECORD_TYPE_A",
                "values": ["192.0.2.9"],
            }
        },
        "spec.dns.records[1].name: the A record set is already defined by records[0]",
    ),
    case(
        "record-srv-bad",
        DNS,
        {
            "dns.records.0.name": "_sip._udp",
            "dns.records.0.type": "RECORD_TYPE_SRV",
            "dns.records.0.values": [
                "10 5 5060",
                "1 2 65536 sip.example.com",
                "a 2 3 x.example.com",
                "1 2 3 bad_.-x",
            ],
        },
        f"spec.dns.records[0].values[0]: {SRV}",
        "spec.dns.records[0].values[1]: port must be 0..65535",
        "spec.dns.records[0].values[2]: priority must be 0..65535",
        'spec.dns.records[0].values[3]: target label "-x" must consist of lower-case letters, '
        "digits, '-' and '_', starting and ending with a letter or digit",
    ),
    case(
        "record-txt-bad",
        DNS,
        {
            "dns.records.0.type": "RECORD_TYPE_TXT",
            "dns.records.0.values": ["", "x" * 256, "é" * 128],
        },
        "spec.dns.records[0].values[0]: must not be empty",
        "spec.dns.records[0].values[1]: must be at most 255 bytes (one DNS character-string)",
        "spec.dns.records[0].values[2]: must be at most 255 bytes (one DNS character-string)",
    ),
    # --- workload ---------------------------------------------------------------------
    case(
        "workload-ok",
        WORKLOAD,
        {
            "workload.mirror": {"subset": "v3", "percent": 12.5},
            "workload.header_routes": [
                {
                    "headers": [
                        {"name": "x-user-group", "exact": "beta"},
                        {"name": "user-agent", "prefix": "Mozilla/"},
                        {"name": "x-trace", "regex": "^[a-f0-9]{32}$"},
                    ],
                    "subset": "v2",
                }
            ],
            "workload.drain": [{"address": "10.0.0.1", "port": 8080}, {"address": "10.0.0.1"}],
        },
    ),
    case("workload-split-empty-ok", WORKLOAD, {"workload.split": []}),
    case(
        "workload-split-single-ok", WORKLOAD, {"workload.split": [{"subset": "v2", "weight": 100}]}
    ),
    case(
        "workload-mirror-bounds-ok", WORKLOAD, {"workload.mirror": {"subset": "v2", "percent": 100}}
    ),
    case(
        "workload-target-missing",
        WORKLOAD,
        {"workload.target": ""},
        "spec.workload.target: required",
    ),
    case(
        "workload-target-bad",
        WORKLOAD,
        {"workload.target": "Checkout"},
        f"spec.workload.target: {SUBDOMAIN}",
    ),
    case(
        "split-weight-high",
        WORKLOAD,
        {"workload.split.0.weight": 101},
        "spec.workload.split[0].weight: must be 0..100",
    ),
    case(
        "split-sum",
        WORKLOAD,
        {"workload.split.1.weight": 20},
        "spec.workload.split: weights must add up to 100, not 110",
    ),
    case(
        "split-subset-missing-and-duplicate",
        WORKLOAD,
        {
            "workload.split": [
                {"subset": "v1", "weight": 50},
                {"subset": "v1", "weight": 25},
                {"weight": 25},
            ]
        },
        'spec.workload.split[1].subset: "v1" is already used by split[0]',
        "spec.workload.split[2].subset: required",
    ),
    case(
        "mirror-subset-missing",
        WORKLOAD,
        {"workload.mirror": {"percent": 5}},
        "spec.workload.mirror.subset: required",
    ),
    case(
        "mirror-percent-high",
        WORKLOAD,
        {"workload.mirror": {"subset": "v2", "percent": 100.5}},
        "spec.workload.mirror.percent: must be 0..100",
    ),
    case(
        "mirror-percent-nan",
        WORKLOAD,
        {"workload.mirror": {"subset": "v2", "percent": "NaN"}},
        "spec.workload.mirror.percent: must be 0..100",
    ),
    case(
        "route-no-headers",
        WORKLOAD,
        {"workload.header_routes": [{"subset": "v2"}]},
        "spec.workload.header_routes[0].headers: at least one header is required",
    ),
    case(
        "route-subset-missing",
        WORKLOAD,
        {"workload.header_routes": [{"headers": [{"name": "x-a", "exact": "1"}]}]},
        "spec.workload.header_routes[0].subset: required",
    ),
    case(
        "header-no-match",
        WORKLOAD,
        {"workload.header_routes": [{"headers": [{"name": "x-a"}], "subset": "v2"}]},
        "spec.workload.header_routes[0].headers[0]: set exactly one of exact, prefix, regex",
    ),
    case(
        "header-two-matches",
        WORKLOAD,
        {
            "workload.header_routes": [
                {"headers": [{"name": "x-a", "exact": "1", "regex": "1"}], "subset": "v2"}
            ]
        },
        "spec.workload.header_routes[0].headers[0]: set exactly one of exact, prefix, regex",
    ),
    case(
        "header-name-upper",
        WORKLOAD,
        {
            "workload.header_routes": [
                {"headers": [{"name": "X-User", "exact": "1"}], "subset": "v2"}
            ]
        },
        "spec.workload.header_routes[0].headers[0].name: must be lower case",
    ),
    case(
        "header-name-bad",
        WORKLOAD,
        {
            "workload.header_routes": [
                {"headers": [{"name": "x user", "exact": "1"}], "subset": "v2"}
            ]
        },
        "spec.workload.header_routes[0].headers[0].name: must be an HTTP header name: "
        "letters, digits and !#$%&'*+-.^_`|~",
    ),
    case(
        "header-name-missing",
        WORKLOAD,
        {"workload.header_routes": [{"headers": [{"exact": "1"}], "subset": "v2"}]},
        "spec.workload.header_routes[0].headers[0].name: required",
    ),
    case(
        "header-name-duplicate",
        WORKLOAD,
        {
            "workload.header_routes": [
                {
                    "headers": [{"name": "x-a", "exact": "1"}, {"name": "x-a", "prefix": "2"}],
                    "subset": "v2",
                }
            ]
        },
        'spec.workload.header_routes[0].headers[1].name: "x-a" is already used by headers[0]',
    ),
    case(
        "header-regex-bad",
        WORKLOAD,
        {"workload.header_routes": [{"headers": [{"name": "x-a", "regex": "(a"}], "subset": "v2"}]},
        "spec.workload.header_routes[0].headers[0].regex: is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
    ),
    case(
        "header-regex-long",
        WORKLOAD,
        {
            "workload.header_routes": [
                {"headers": [{"name": "x-a", "regex": "a" * 1025}], "subset": "v2"}
            ]
        },
        "spec.workload.header_routes[0].headers[0].regex: must be at most 1024 characters",
    ),
    case(
        "header-exact-newline",
        WORKLOAD,
        {
            "workload.header_routes": [
                {"headers": [{"name": "x-a", "exact": "a\r\nb"}], "subset": "v2"}
            ]
        },
        "spec.workload.header_routes[0].headers[0].exact: must not contain control characters",
    ),
    case(
        "drain-bad",
        WORKLOAD,
        {
            "workload.drain": [
                {"address": "10.0.0.1", "port": 65536},
                {"address": "not valid"},
                {"address": "10.0.0.2"},
                {"address": "10.0.0.2"},
            ]
        },
        "spec.workload.drain[0].port: must be at most 65535",
        f"spec.workload.drain[1].address: {ADDRESS}",
        "spec.workload.drain[3]: already listed as drain[2]",
    ),
]


@pytest.mark.parametrize(("base", "changes", "expected"), CASES)
def test_rule(base: dict[str, Any], changes: dict[str, Any], expected: list[str]) -> None:
    assert errors_of(patched(base, changes)) == expected


def test_every_error_is_collected_in_field_order() -> None:
    doc = patched(
        SERVICE,
        {
            "name": "Bad Name",
            "labels": {"bad key": "v"},
            "service.hosts": ["localhost"],
            "service.ports.0.protocol": DELETE,
            "service.ports.1.number": 0,
            "service.endpoints.1.weight": 500,
            "service.traffic_policy": {"request_timeout": "0s"},
            "service.health_check": {"path": "x"},
        },
    )
    assert errors_of(doc) == [
        f"name: {SUBDOMAIN}",
        f'labels["bad key"]: key name must {LABEL_CHARS}',
        f"spec.service.hosts[0]: {TWO_LABELS}",
        "spec.service.ports[0].protocol: required",
        "spec.service.ports[1].number: must be 1..65535",
        "spec.service.endpoints[1].weight: must be at most 128",
        "spec.service.traffic_policy.request_timeout: must be greater than 0",
        "spec.service.health_check.type: required",
        "spec.service.health_check.path: must start with '/'",
    ]


def test_new_service_fields_are_reported_in_field_order() -> None:
    doc = patched(
        SERVICE,
        {
            "service.allowed_clients": [{"namespace": "shop"}, {"namespace": "shop"}],
            "service.resolution": "RESOLUTION_NONE",
            "service.location": "LOCATION_MESH_EXTERNAL",
            "service.dns": {"zone": "example"},
            "service.traffic_policy.upstream_tls": {"mode": "TLS_MODE_MUTUAL"},
            "service.endpoints.0.weight": 500,
        },
    )
    assert errors_of(doc) == [
        "spec.service.endpoints: must be empty with resolution none "
        "(traffic goes to the address the client connected to)",
        "spec.service.endpoints[0].weight: must be at most 128",
        "spec.service.traffic_policy.upstream_tls.credential_name: required when mode is mutual",
        f"spec.service.dns.zone: {TWO_LABELS}",
        "spec.service.allowed_clients[1]: already listed as allowed_clients[0]",
    ]


def test_invalid_intent_error_joins_messages_and_pickles() -> None:
    errors = (ir.FieldError("name", "required"), ir.FieldError("spec", "required"))
    exc = ir.InvalidIntentError(errors)
    assert str(exc) == "name: required; spec: required"
    assert exc.errors == errors
    assert isinstance(exc, ValueError)
    again = pickle.loads(pickle.dumps(exc))
    assert again.errors == errors
    assert str(again) == str(exc)


def test_malformed_duration_is_reported() -> None:
    pb = json_format.ParseDict(SERVICE, intent_pb2.Intent())
    pb.service.traffic_policy.connect_timeout.seconds = 1
    pb.service.traffic_policy.connect_timeout.nanos = -5
    pb.service.traffic_policy.request_timeout.seconds = 10**12
    with pytest.raises(ir.InvalidIntentError) as caught:
        convert.intent_from_proto(pb)
    assert [str(e) for e in caught.value.errors] == [
        "spec.service.traffic_policy.connect_timeout: "
        "must be a valid duration: seconds or nanos out of range",
        "spec.service.traffic_policy.request_timeout: "
        "must be a valid duration: seconds or nanos out of range",
    ]


# --- models built by code: same rules, defaults filled, immutable --------------------------


def _service(**changes: Any) -> ir.ServiceSpec:
    fields: dict[str, Any] = {
        "hosts": ("a.example.com",),
        "ports": (ir.Port(number=80, protocol=ir.Protocol.HTTP),),
    }
    fields.update(changes)
    return ir.ServiceSpec(**fields)


def test_code_built_models_get_the_same_defaults() -> None:
    intent = ir.Intent(name="web", spec=_service())
    spec = intent.spec
    assert isinstance(spec, ir.ServiceSpec)
    assert spec.name == "web"
    assert spec.namespace == "default"
    assert spec.ports[0].name == "http-80"
    assert spec.ports[0].target_port == 80
    assert spec.traffic_policy.lb_algorithm is ir.LbAlgorithm.ROUND_ROBIN
    assert spec.exposure.visibility is ir.Visibility.INTERNAL
    assert spec.location is ir.Location.CLUSTER
    assert spec.resolution is ir.Resolution.STATIC
    assert spec.allowed_clients == ()
    assert spec.traffic_policy.upstream_tls is None
    check = ir.HealthCheck(type=ir.HealthCheckType.HTTP)
    assert (check.path, check.interval, check.timeout) == ("/", 10.0, 1.0)
    assert (check.unhealthy_threshold, check.healthy_threshold) == (3, 2)
    assert ir.DnsRecord(name="@", type=ir.RecordType.A, values=("192.0.2.1",)).ttl == 300
    assert ir.DnsSpec(zone="example.com").policy is ir.DnsPolicy.SYNC
    assert intent.kind is ir.IntentKind.SERVICE
    wire = convert.intent_from_proto(convert.intent_to_proto(intent))
    assert wire == intent


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: ir.Port(number=0, protocol="http"), "number: must be 1..65535", id="port"
        ),
        pytest.param(
            lambda: ir.Endpoint(address="10.0.0.1", weight=0),
            "weight: must be at least 1",
            id="weight",
        ),
        pytest.param(
            lambda: ir.Endpoint(address="10.0.0.1", subset=""),
            "subset: must not be empty when set; leave it unset instead",
            id="empty-subset",
        ),
        pytest.param(
            lambda: ir.HeaderMatch(name="x-a", exact=""),
            "exact: must not be empty when set; leave it unset instead",
            id="empty-exact",
        ),
        pytest.param(
            lambda: ir.HealthCheck(type="tcp", timeout=20),
            "timeout: must be shorter than the interval (10s)",
            id="timeout",
        ),
        pytest.param(
            lambda: ir.TrafficPolicy(connect_timeout=1e-12),
            "connect_timeout: must be greater than 0",
            id="sub-nanosecond",
        ),
        pytest.param(
            lambda: ir.OutlierDetection(max_ejection_percent=0),
            "max_ejection_percent: must be at least 1",
            id="outlier-zero",
        ),
        pytest.param(
            lambda: _service(
                ports=(ir.Port(number=80, protocol="http"), ir.Port(number=80, protocol="tcp"))
            ),
            "ports[1].number: 80 is already used by ports[0]",
            id="spec-duplicate-port",
        ),
        pytest.param(
            lambda: ir.Intent(name="Web", spec=_service()),
            "name: must be a DNS-1123 subdomain",
            id="intent-name",
        ),
        pytest.param(
            lambda: ir.Intent(name="web", labels={"bad key": "v"}, spec=_service()),
            'labels["bad key"]: key name must',
            id="intent-labels",
        ),
        pytest.param(
            lambda: ir.DnsSpec(
                zone="example.com",
                records=(ir.DnsRecord(name="badexample.com", type="a", values=("192.0.2.1",)),),
            ),
            'records[0].name: is not inside zone "example.com"',
            id="dns-zone",
        ),
        pytest.param(
            lambda: ir.WorkloadSpec(target="web", split=(ir.TrafficSplit(subset="v1", weight=50),)),
            "split: weights must add up to 100, not 50",
            id="workload-split",
        ),
        pytest.param(lambda: ir.Port(number=80, protocol="sctp"), "protocol", id="unknown-enum"),
        pytest.param(
            lambda: ir.Port(number=80, protocol="http", color="red"),  # type: ignore[call-arg]
            "color",
            id="extra-field",
        ),
    ],
)
def test_code_built_models_refuse_bad_data(build: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        pytest.param((), ir.Resolution.STATIC, id="no-endpoints"),
        pytest.param(
            ("10.0.0.1", "2001:db8::1", "::ffff:10.0.0.2"), ir.Resolution.STATIC, id="ips"
        ),
        pytest.param(("10.0.0.1", "db.example.com"), ir.Resolution.DNS, id="one-host"),
        pytest.param(("web1",), ir.Resolution.DNS, id="host-ending-in-a-digit"),
    ],
)
def test_code_built_resolution_follows_the_endpoints(
    addresses: tuple[str, ...], expected: ir.Resolution
) -> None:
    endpoints = tuple(ir.Endpoint(address=a) for a in addresses)
    spec = _service(endpoints=endpoints)
    assert spec.resolution is expected
    intent = ir.Intent(name="web", spec=spec)
    wire = convert.intent_to_proto(intent)
    assert wire.service.resolution != intent_pb2.RESOLUTION_UNSPECIFIED
    assert convert.intent_from_proto(wire) == intent
    # The same default as the wire's unspecified.
    wire.service.resolution = intent_pb2.RESOLUTION_UNSPECIFIED
    assert convert.intent_from_proto(wire) == intent


def test_code_built_service_outside_the_cluster() -> None:
    spec = _service(
        location=ir.Location.MESH_EXTERNAL,
        resolution=ir.Resolution.DNS,
        allowed_clients=(
            ir.ClientRef(namespace="shop"),
            ir.ClientRef(namespace="web", service_account="frontend"),
        ),
        traffic_policy=ir.TrafficPolicy(
            upstream_tls=ir.UpstreamTls(mode=ir.TlsMode.SIMPLE, sni="api.example.com")
        ),
    )
    assert spec.resolution is ir.Resolution.DNS  # given: not replaced by the default
    intent = ir.Intent(name="payments-api", spec=spec)
    assert convert.intent_from_proto(convert.intent_to_proto(intent)) == intent
    assert [str(v) for v in ir.Location] == ["cluster", "mesh-internal", "mesh-external"]
    assert [str(v) for v in ir.Resolution] == ["static", "dns", "none"]
    assert [str(v) for v in ir.TlsMode] == ["disable", "simple", "mutual", "istio-mutual"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: _service(resolution=ir.Resolution.DNS),
            "resolution: dns is only for services outside the cluster",
            id="cluster-resolution",
        ),
        pytest.param(
            lambda: _service(location="mesh-external"),
            "endpoints: at least one endpoint is required with resolution static",
            id="outside-static-no-endpoints",
        ),
        pytest.param(
            lambda: ir.ClientRef(namespace="shop", service_account=""),
            "service_account: must not be empty when set; leave it unset instead",
            id="empty-service-account",
        ),
        pytest.param(lambda: ir.ClientRef(namespace=""), "namespace: required", id="no-namespace"),
        pytest.param(
            lambda: _service(allowed_clients=(ir.ClientRef(namespace="a"),) * 2),
            "allowed_clients[1]: already listed as allowed_clients[0]",
            id="duplicate-client",
        ),
        pytest.param(ir.UpstreamTls, "mode", id="tls-mode-missing"),
        pytest.param(
            lambda: ir.UpstreamTls(mode="mutual"),
            "credential_name: required when mode is mutual",
            id="tls-mutual",
        ),
        pytest.param(
            lambda: ir.UpstreamTls(mode="simple", sni=""),
            "sni: must not be empty when set; leave it unset instead",
            id="tls-empty-sni",
        ),
        pytest.param(
            lambda: ir.UpstreamTls(mode="tls"),
            "mode",
            id="tls-mode-unknown",
        ),
    ],
)
def test_code_built_new_fields_refuse_bad_data(build: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    assert message in str(caught.value)


def test_models_are_frozen_and_hashable() -> None:
    intent = ir.Intent(name="web", labels={"b": "2", "a": "1"}, spec=_service())
    with pytest.raises(ValidationError):
        intent.name = "other"  # type: ignore[misc]
    assert list(intent.labels) == ["a", "b"]
    with pytest.raises(TypeError):
        intent.labels["c"] = "3"  # type: ignore[index]
    assert intent.labels == {"a": "1", "b": "2"}
    same = ir.Intent(name="web", labels={"a": "1", "b": "2"}, spec=_service())
    assert intent == same
    assert hash(intent) == hash(same)
    assert len({intent, same}) == 1


def test_subsets_are_what_endpoints_declare() -> None:
    spec = _service(
        endpoints=(
            ir.Endpoint(address="10.0.0.1", subset="v1"),
            ir.Endpoint(address="10.0.0.2", subset="v2"),
            ir.Endpoint(address="10.0.0.3"),
        )
    )
    assert spec.subsets == frozenset({"v1", "v2"})


def test_dns_fqdn_resolves_every_spelling() -> None:
    spec = ir.DnsSpec(zone="example.com")
    assert spec.fqdn("@") == "example.com"
    assert spec.fqdn("example.com") == "example.com"
    assert spec.fqdn("www") == "www.example.com"
    assert spec.fqdn("www.example.com") == "www.example.com"
    assert spec.fqdn("*") == "*.example.com"

"""The intent model (IR): frozen, validated, and free of any wire types.

Everything past the API edge (store, reconciler, plugin renderers) works on these models;
tc.convert is the one place that turns tc.v1 messages into them and back. Nothing here
imports grpc or protobuf, so the rules can be read, tested and reused on their own.
"""

from tc.ir.base import IRModel
from tc.ir.dns import DnsPolicy, DnsRecord, DnsSpec, RecordType
from tc.ir.errors import FieldError, InvalidIntentError
from tc.ir.intent import Intent, IntentKind, Spec
from tc.ir.labels import Labels
from tc.ir.mesh import ClientRef, Location, Resolution, TlsMode, UpstreamTls
from tc.ir.service import (
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
    "ClientRef",
    "ConnectionLimits",
    "DnsPolicy",
    "DnsRecord",
    "DnsSpec",
    "Endpoint",
    "EndpointRef",
    "Exposure",
    "FieldError",
    "HeaderMatch",
    "HeaderRoute",
    "HealthCheck",
    "HealthCheckType",
    "IRModel",
    "Intent",
    "IntentKind",
    "InvalidIntentError",
    "Labels",
    "LbAlgorithm",
    "Locality",
    "Location",
    "Mirror",
    "OutlierDetection",
    "Port",
    "Protocol",
    "RecordType",
    "Resolution",
    "RetryPolicy",
    "ServiceDns",
    "ServiceSpec",
    "Spec",
    "TlsMode",
    "TrafficPolicy",
    "TrafficSplit",
    "UpstreamTls",
    "Visibility",
    "WorkloadSpec",
]

import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Location(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCATION_UNSPECIFIED: _ClassVar[Location]
    LOCATION_CLUSTER: _ClassVar[Location]
    LOCATION_MESH_INTERNAL: _ClassVar[Location]
    LOCATION_MESH_EXTERNAL: _ClassVar[Location]

class Resolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOLUTION_UNSPECIFIED: _ClassVar[Resolution]
    RESOLUTION_STATIC: _ClassVar[Resolution]
    RESOLUTION_DNS: _ClassVar[Resolution]
    RESOLUTION_NONE: _ClassVar[Resolution]

class Protocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTOCOL_UNSPECIFIED: _ClassVar[Protocol]
    PROTOCOL_HTTP: _ClassVar[Protocol]
    PROTOCOL_HTTP2: _ClassVar[Protocol]
    PROTOCOL_GRPC: _ClassVar[Protocol]
    PROTOCOL_TCP: _ClassVar[Protocol]
    PROTOCOL_TLS: _ClassVar[Protocol]

class Visibility(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIBILITY_UNSPECIFIED: _ClassVar[Visibility]
    VISIBILITY_INTERNAL: _ClassVar[Visibility]
    VISIBILITY_EXTERNAL: _ClassVar[Visibility]

class LbAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LB_ALGORITHM_UNSPECIFIED: _ClassVar[LbAlgorithm]
    LB_ALGORITHM_ROUND_ROBIN: _ClassVar[LbAlgorithm]
    LB_ALGORITHM_LEAST_REQUEST: _ClassVar[LbAlgorithm]
    LB_ALGORITHM_RANDOM: _ClassVar[LbAlgorithm]
    LB_ALGORITHM_RING_HASH: _ClassVar[LbAlgorithm]
    LB_ALGORITHM_MAGLEV: _ClassVar[LbAlgorithm]

class TlsMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TLS_MODE_UNSPECIFIED: _ClassVar[TlsMode]
    TLS_MODE_DISABLE: _ClassVar[TlsMode]
    TLS_MODE_SIMPLE: _ClassVar[TlsMode]
    TLS_MODE_MUTUAL: _ClassVar[TlsMode]
    TLS_MODE_ISTIO_MUTUAL: _ClassVar[TlsMode]

class HealthCheckType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_CHECK_TYPE_UNSPECIFIED: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_GRPC: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_HTTP: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_TCP: _ClassVar[HealthCheckType]

class RecordType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_TYPE_UNSPECIFIED: _ClassVar[RecordType]
    RECORD_TYPE_A: _ClassVar[RecordType]
    RECORD_TYPE_AAAA: _ClassVar[RecordType]
    RECORD_TYPE_CNAME: _ClassVar[RecordType]
    RECORD_TYPE_SRV: _ClassVar[RecordType]
    RECORD_TYPE_TXT: _ClassVar[RecordType]

class DnsPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DNS_POLICY_UNSPECIFIED: _ClassVar[DnsPolicy]
    DNS_POLICY_SYNC: _ClassVar[DnsPolicy]
    DNS_POLICY_UPSERT_ONLY: _ClassVar[DnsPolicy]
    DNS_POLICY_CREATE_ONLY: _ClassVar[DnsPolicy]

class ConditionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONDITION_STATUS_UNSPECIFIED: _ClassVar[ConditionStatus]
    CONDITION_STATUS_TRUE: _ClassVar[ConditionStatus]
    CONDITION_STATUS_FALSE: _ClassVar[ConditionStatus]
    CONDITION_STATUS_UNKNOWN: _ClassVar[ConditionStatus]

class ApplyResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLY_RESULT_UNSPECIFIED: _ClassVar[ApplyResult]
    APPLY_RESULT_CREATED: _ClassVar[ApplyResult]
    APPLY_RESULT_CONFIGURED: _ClassVar[ApplyResult]
    APPLY_RESULT_UNCHANGED: _ClassVar[ApplyResult]

class WatchEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_EVENT_TYPE_UNSPECIFIED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_ADDED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_MODIFIED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_DELETED: _ClassVar[WatchEventType]
LOCATION_UNSPECIFIED: Location
LOCATION_CLUSTER: Location
LOCATION_MESH_INTERNAL: Location
LOCATION_MESH_EXTERNAL: Location
RESOLUTION_UNSPECIFIED: Resolution
RESOLUTION_STATIC: Resolution
RESOLUTION_DNS: Resolution
RESOLUTION_NONE: Resolution
PROTOCOL_UNSPECIFIED: Protocol
PROTOCOL_HTTP: Protocol
PROTOCOL_HTTP2: Protocol
PROTOCOL_GRPC: Protocol
PROTOCOL_TCP: Protocol
PROTOCOL_TLS: Protocol
VISIBILITY_UNSPECIFIED: Visibility
VISIBILITY_INTERNAL: Visibility
VISIBILITY_EXTERNAL: Visibility
LB_ALGORITHM_UNSPECIFIED: LbAlgorithm
LB_ALGORITHM_ROUND_ROBIN: LbAlgorithm
LB_ALGORITHM_LEAST_REQUEST: LbAlgorithm
LB_ALGORITHM_RANDOM: LbAlgorithm
LB_ALGORITHM_RING_HASH: LbAlgorithm
LB_ALGORITHM_MAGLEV: LbAlgorithm
TLS_MODE_UNSPECIFIED: TlsMode
TLS_MODE_DISABLE: TlsMode
TLS_MODE_SIMPLE: TlsMode
TLS_MODE_MUTUAL: TlsMode
TLS_MODE_ISTIO_MUTUAL: TlsMode
HEALTH_CHECK_TYPE_UNSPECIFIED: HealthCheckType
HEALTH_CHECK_TYPE_GRPC: HealthCheckType
HEALTH_CHECK_TYPE_HTTP: HealthCheckType
HEALTH_CHECK_TYPE_TCP: HealthCheckType
RECORD_TYPE_UNSPECIFIED: RecordType
RECORD_TYPE_A: RecordType
RECORD_TYPE_AAAA: RecordType
RECORD_TYPE_CNAME: RecordType
RECORD_TYPE_SRV: RecordType
RECORD_TYPE_TXT: RecordType
DNS_POLICY_UNSPECIFIED: DnsPolicy
DNS_POLICY_SYNC: DnsPolicy
DNS_POLICY_UPSERT_ONLY: DnsPolicy
DNS_POLICY_CREATE_ONLY: DnsPolicy
CONDITION_STATUS_UNSPECIFIED: ConditionStatus
CONDITION_STATUS_TRUE: ConditionStatus
CONDITION_STATUS_FALSE: ConditionStatus
CONDITION_STATUS_UNKNOWN: ConditionStatus
APPLY_RESULT_UNSPECIFIED: ApplyResult
APPLY_RESULT_CREATED: ApplyResult
APPLY_RESULT_CONFIGURED: ApplyResult
APPLY_RESULT_UNCHANGED: ApplyResult
WATCH_EVENT_TYPE_UNSPECIFIED: WatchEventType
WATCH_EVENT_TYPE_ADDED: WatchEventType
WATCH_EVENT_TYPE_MODIFIED: WatchEventType
WATCH_EVENT_TYPE_DELETED: WatchEventType

class Intent(_message.Message):
    __slots__ = ("name", "labels", "service", "dns", "workload", "generation", "uid", "create_time", "update_time", "delete_time", "status")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    service: ServiceSpec
    dns: DnsSpec
    workload: WorkloadSpec
    generation: int
    uid: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    status: IntentStatus
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., service: _Optional[_Union[ServiceSpec, _Mapping]] = ..., dns: _Optional[_Union[DnsSpec, _Mapping]] = ..., workload: _Optional[_Union[WorkloadSpec, _Mapping]] = ..., generation: _Optional[int] = ..., uid: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[IntentStatus, _Mapping]] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("name", "namespace", "hosts", "ports", "endpoints", "exposure", "traffic_policy", "health_check", "dns", "location", "resolution", "allowed_clients")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_POLICY_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    ports: _containers.RepeatedCompositeFieldContainer[Port]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    exposure: Exposure
    traffic_policy: TrafficPolicy
    health_check: HealthCheck
    dns: ServiceDns
    location: Location
    resolution: Resolution
    allowed_clients: _containers.RepeatedCompositeFieldContainer[ClientRef]
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ..., ports: _Optional[_Iterable[_Union[Port, _Mapping]]] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., exposure: _Optional[_Union[Exposure, _Mapping]] = ..., traffic_policy: _Optional[_Union[TrafficPolicy, _Mapping]] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., dns: _Optional[_Union[ServiceDns, _Mapping]] = ..., location: _Optional[_Union[Location, str]] = ..., resolution: _Optional[_Union[Resolution, str]] = ..., allowed_clients: _Optional[_Iterable[_Union[ClientRef, _Mapping]]] = ...) -> None: ...

class ClientRef(_message.Message):
    __slots__ = ("namespace", "service_account")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    service_account: str
    def __init__(self, namespace: _Optional[str] = ..., service_account: _Optional[str] = ...) -> None: ...

class Port(_message.Message):
    __slots__ = ("number", "protocol", "name", "target_port")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    number: int
    protocol: Protocol
    name: str
    target_port: int
    def __init__(self, number: _Optional[int] = ..., protocol: _Optional[_Union[Protocol, str]] = ..., name: _Optional[str] = ..., target_port: _Optional[int] = ...) -> None: ...

class Locality(_message.Message):
    __slots__ = ("region", "zone", "sub_zone")
    REGION_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SUB_ZONE_FIELD_NUMBER: _ClassVar[int]
    region: str
    zone: str
    sub_zone: str
    def __init__(self, region: _Optional[str] = ..., zone: _Optional[str] = ..., sub_zone: _Optional[str] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("address", "port", "weight", "subset", "locality")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    weight: int
    subset: str
    locality: Locality
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ..., weight: _Optional[int] = ..., subset: _Optional[str] = ..., locality: _Optional[_Union[Locality, _Mapping]] = ...) -> None: ...

class Exposure(_message.Message):
    __slots__ = ("visibility", "gateway_host", "tls_credential_name")
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_HOST_FIELD_NUMBER: _ClassVar[int]
    TLS_CREDENTIAL_NAME_FIELD_NUMBER: _ClassVar[int]
    visibility: Visibility
    gateway_host: str
    tls_credential_name: str
    def __init__(self, visibility: _Optional[_Union[Visibility, str]] = ..., gateway_host: _Optional[str] = ..., tls_credential_name: _Optional[str] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("attempts", "per_try_timeout", "retry_on")
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PER_TRY_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_ON_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    per_try_timeout: _duration_pb2.Duration
    retry_on: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, attempts: _Optional[int] = ..., per_try_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_on: _Optional[_Iterable[str]] = ...) -> None: ...

class OutlierDetection(_message.Message):
    __slots__ = ("consecutive_5xx_errors", "interval", "base_ejection_time", "max_ejection_percent")
    CONSECUTIVE_5XX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    BASE_EJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    consecutive_5xx_errors: int
    interval: _duration_pb2.Duration
    base_ejection_time: _duration_pb2.Duration
    max_ejection_percent: int
    def __init__(self, consecutive_5xx_errors: _Optional[int] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., base_ejection_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_ejection_percent: _Optional[int] = ...) -> None: ...

class ConnectionLimits(_message.Message):
    __slots__ = ("max_connections", "max_pending_requests", "max_requests", "max_requests_per_connection")
    MAX_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_PER_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    max_connections: int
    max_pending_requests: int
    max_requests: int
    max_requests_per_connection: int
    def __init__(self, max_connections: _Optional[int] = ..., max_pending_requests: _Optional[int] = ..., max_requests: _Optional[int] = ..., max_requests_per_connection: _Optional[int] = ...) -> None: ...

class TrafficPolicy(_message.Message):
    __slots__ = ("lb_algorithm", "connect_timeout", "request_timeout", "retries", "outlier_detection", "connection_limits", "upstream_tls")
    LB_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_DETECTION_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_LIMITS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_TLS_FIELD_NUMBER: _ClassVar[int]
    lb_algorithm: LbAlgorithm
    connect_timeout: _duration_pb2.Duration
    request_timeout: _duration_pb2.Duration
    retries: RetryPolicy
    outlier_detection: OutlierDetection
    connection_limits: ConnectionLimits
    upstream_tls: UpstreamTls
    def __init__(self, lb_algorithm: _Optional[_Union[LbAlgorithm, str]] = ..., connect_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., outlier_detection: _Optional[_Union[OutlierDetection, _Mapping]] = ..., connection_limits: _Optional[_Union[ConnectionLimits, _Mapping]] = ..., upstream_tls: _Optional[_Union[UpstreamTls, _Mapping]] = ...) -> None: ...

class UpstreamTls(_message.Message):
    __slots__ = ("mode", "credential_name", "sni")
    MODE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SNI_FIELD_NUMBER: _ClassVar[int]
    mode: TlsMode
    credential_name: str
    sni: str
    def __init__(self, mode: _Optional[_Union[TlsMode, str]] = ..., credential_name: _Optional[str] = ..., sni: _Optional[str] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("type", "path", "service_name", "interval", "timeout", "unhealthy_threshold", "healthy_threshold", "port")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    UNHEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    type: HealthCheckType
    path: str
    service_name: str
    interval: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    unhealthy_threshold: int
    healthy_threshold: int
    port: int
    def __init__(self, type: _Optional[_Union[HealthCheckType, str]] = ..., path: _Optional[str] = ..., service_name: _Optional[str] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., unhealthy_threshold: _Optional[int] = ..., healthy_threshold: _Optional[int] = ..., port: _Optional[int] = ...) -> None: ...

class ServiceDns(_message.Message):
    __slots__ = ("zone", "ttl", "withdraw_unhealthy")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_UNHEALTHY_FIELD_NUMBER: _ClassVar[int]
    zone: str
    ttl: int
    withdraw_unhealthy: bool
    def __init__(self, zone: _Optional[str] = ..., ttl: _Optional[int] = ..., withdraw_unhealthy: _Optional[bool] = ...) -> None: ...

class DnsRecord(_message.Message):
    __slots__ = ("name", "type", "ttl", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: RecordType
    ttl: int
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[RecordType, str]] = ..., ttl: _Optional[int] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class DnsSpec(_message.Message):
    __slots__ = ("zone", "records", "policy")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    zone: str
    records: _containers.RepeatedCompositeFieldContainer[DnsRecord]
    policy: DnsPolicy
    def __init__(self, zone: _Optional[str] = ..., records: _Optional[_Iterable[_Union[DnsRecord, _Mapping]]] = ..., policy: _Optional[_Union[DnsPolicy, str]] = ...) -> None: ...

class TrafficSplit(_message.Message):
    __slots__ = ("subset", "weight")
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    subset: str
    weight: int
    def __init__(self, subset: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class Mirror(_message.Message):
    __slots__ = ("subset", "percent")
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    subset: str
    percent: float
    def __init__(self, subset: _Optional[str] = ..., percent: _Optional[float] = ...) -> None: ...

class HeaderMatch(_message.Message):
    __slots__ = ("name", "exact", "prefix", "regex")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    exact: str
    prefix: str
    regex: str
    def __init__(self, name: _Optional[str] = ..., exact: _Optional[str] = ..., prefix: _Optional[str] = ..., regex: _Optional[str] = ...) -> None: ...

class HeaderRoute(_message.Message):
    __slots__ = ("headers", "subset")
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    headers: _containers.RepeatedCompositeFieldContainer[HeaderMatch]
    subset: str
    def __init__(self, headers: _Optional[_Iterable[_Union[HeaderMatch, _Mapping]]] = ..., subset: _Optional[str] = ...) -> None: ...

class EndpointRef(_message.Message):
    __slots__ = ("address", "port")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class WorkloadSpec(_message.Message):
    __slots__ = ("target", "split", "mirror", "header_routes", "drain")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    MIRROR_FIELD_NUMBER: _ClassVar[int]
    HEADER_ROUTES_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    target: str
    split: _containers.RepeatedCompositeFieldContainer[TrafficSplit]
    mirror: Mirror
    header_routes: _containers.RepeatedCompositeFieldContainer[HeaderRoute]
    drain: _containers.RepeatedCompositeFieldContainer[EndpointRef]
    def __init__(self, target: _Optional[str] = ..., split: _Optional[_Iterable[_Union[TrafficSplit, _Mapping]]] = ..., mirror: _Optional[_Union[Mirror, _Mapping]] = ..., header_routes: _Optional[_Iterable[_Union[HeaderRoute, _Mapping]]] = ..., drain: _Optional[_Iterable[_Union[EndpointRef, _Mapping]]] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("type", "status", "reason", "message", "observed_generation", "last_transition_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: ConditionStatus
    reason: str
    message: str
    observed_generation: int
    last_transition_time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[str] = ..., status: _Optional[_Union[ConditionStatus, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., observed_generation: _Optional[int] = ..., last_transition_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PluginStatus(_message.Message):
    __slots__ = ("plugin", "observed_generation", "conditions", "instances")
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    plugin: str
    observed_generation: int
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, plugin: _Optional[str] = ..., observed_generation: _Optional[int] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., instances: _Optional[_Iterable[str]] = ...) -> None: ...

class IntentStatus(_message.Message):
    __slots__ = ("observed_generation", "conditions", "plugins")
    OBSERVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    observed_generation: int
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    plugins: _containers.RepeatedCompositeFieldContainer[PluginStatus]
    def __init__(self, observed_generation: _Optional[int] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., plugins: _Optional[_Iterable[_Union[PluginStatus, _Mapping]]] = ...) -> None: ...

class ApplyIntentRequest(_message.Message):
    __slots__ = ("intent", "expected_generation")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    intent: Intent
    expected_generation: int
    def __init__(self, intent: _Optional[_Union[Intent, _Mapping]] = ..., expected_generation: _Optional[int] = ...) -> None: ...

class ApplyIntentResponse(_message.Message):
    __slots__ = ("intent", "result")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    intent: Intent
    result: ApplyResult
    def __init__(self, intent: _Optional[_Union[Intent, _Mapping]] = ..., result: _Optional[_Union[ApplyResult, str]] = ...) -> None: ...

class GetIntentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetIntentResponse(_message.Message):
    __slots__ = ("intent",)
    INTENT_FIELD_NUMBER: _ClassVar[int]
    intent: Intent
    def __init__(self, intent: _Optional[_Union[Intent, _Mapping]] = ...) -> None: ...

class ListIntentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "label_selector")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    label_selector: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., label_selector: _Optional[str] = ...) -> None: ...

class ListIntentsResponse(_message.Message):
    __slots__ = ("intents", "next_page_token")
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    intents: _containers.RepeatedCompositeFieldContainer[Intent]
    next_page_token: str
    def __init__(self, intents: _Optional[_Iterable[_Union[Intent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteIntentRequest(_message.Message):
    __slots__ = ("name", "expected_generation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_generation: int
    def __init__(self, name: _Optional[str] = ..., expected_generation: _Optional[int] = ...) -> None: ...

class DeleteIntentResponse(_message.Message):
    __slots__ = ("intent",)
    INTENT_FIELD_NUMBER: _ClassVar[int]
    intent: Intent
    def __init__(self, intent: _Optional[_Union[Intent, _Mapping]] = ...) -> None: ...

class WatchIntentsRequest(_message.Message):
    __slots__ = ("label_selector", "send_initial")
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_FIELD_NUMBER: _ClassVar[int]
    label_selector: str
    send_initial: bool
    def __init__(self, label_selector: _Optional[str] = ..., send_initial: _Optional[bool] = ...) -> None: ...

class WatchIntentsResponse(_message.Message):
    __slots__ = ("type", "intent", "revision")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    type: WatchEventType
    intent: Intent
    revision: int
    def __init__(self, type: _Optional[_Union[WatchEventType, str]] = ..., intent: _Optional[_Union[Intent, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

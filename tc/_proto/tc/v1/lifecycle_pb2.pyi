import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tc._proto.tc.v1 import plugin_pb2 as _plugin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ControllerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTROLLER_STATE_UNSPECIFIED: _ClassVar[ControllerState]
    CONTROLLER_STATE_STARTING: _ClassVar[ControllerState]
    CONTROLLER_STATE_SERVING: _ClassVar[ControllerState]
    CONTROLLER_STATE_DEGRADED: _ClassVar[ControllerState]
    CONTROLLER_STATE_DRAINING: _ClassVar[ControllerState]

class InstanceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_STATE_UNSPECIFIED: _ClassVar[InstanceState]
    INSTANCE_STATE_STARTING: _ClassVar[InstanceState]
    INSTANCE_STATE_SYNCING: _ClassVar[InstanceState]
    INSTANCE_STATE_READY: _ClassVar[InstanceState]
    INSTANCE_STATE_NOT_SERVING: _ClassVar[InstanceState]
    INSTANCE_STATE_BACKOFF: _ClassVar[InstanceState]
    INSTANCE_STATE_STOPPED: _ClassVar[InstanceState]

class RegistrationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_STATE_UNSPECIFIED: _ClassVar[RegistrationState]
    REGISTRATION_STATE_DISABLED: _ClassVar[RegistrationState]
    REGISTRATION_STATE_PENDING: _ClassVar[RegistrationState]
    REGISTRATION_STATE_REGISTERED: _ClassVar[RegistrationState]
    REGISTRATION_STATE_FAILED: _ClassVar[RegistrationState]

class EndpointHealth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENDPOINT_HEALTH_UNSPECIFIED: _ClassVar[EndpointHealth]
    ENDPOINT_HEALTH_UNKNOWN: _ClassVar[EndpointHealth]
    ENDPOINT_HEALTH_HEALTHY: _ClassVar[EndpointHealth]
    ENDPOINT_HEALTH_UNHEALTHY: _ClassVar[EndpointHealth]
CONTROLLER_STATE_UNSPECIFIED: ControllerState
CONTROLLER_STATE_STARTING: ControllerState
CONTROLLER_STATE_SERVING: ControllerState
CONTROLLER_STATE_DEGRADED: ControllerState
CONTROLLER_STATE_DRAINING: ControllerState
INSTANCE_STATE_UNSPECIFIED: InstanceState
INSTANCE_STATE_STARTING: InstanceState
INSTANCE_STATE_SYNCING: InstanceState
INSTANCE_STATE_READY: InstanceState
INSTANCE_STATE_NOT_SERVING: InstanceState
INSTANCE_STATE_BACKOFF: InstanceState
INSTANCE_STATE_STOPPED: InstanceState
REGISTRATION_STATE_UNSPECIFIED: RegistrationState
REGISTRATION_STATE_DISABLED: RegistrationState
REGISTRATION_STATE_PENDING: RegistrationState
REGISTRATION_STATE_REGISTERED: RegistrationState
REGISTRATION_STATE_FAILED: RegistrationState
ENDPOINT_HEALTH_UNSPECIFIED: EndpointHealth
ENDPOINT_HEALTH_UNKNOWN: EndpointHealth
ENDPOINT_HEALTH_HEALTHY: EndpointHealth
ENDPOINT_HEALTH_UNHEALTHY: EndpointHealth

class ControllerStatus(_message.Message):
    __slots__ = ("version", "state", "start_time", "address", "intents", "queue_depth", "pending")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    version: str
    state: ControllerState
    start_time: _timestamp_pb2.Timestamp
    address: str
    intents: int
    queue_depth: int
    pending: int
    def __init__(self, version: _Optional[str] = ..., state: _Optional[_Union[ControllerState, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., address: _Optional[str] = ..., intents: _Optional[int] = ..., queue_depth: _Optional[int] = ..., pending: _Optional[int] = ...) -> None: ...

class PluginInstanceStatus(_message.Message):
    __slots__ = ("id", "pid", "address", "state", "restarts", "last_error", "crash_looping", "start_time", "last_sync_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CRASH_LOOPING_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    pid: int
    address: str
    state: InstanceState
    restarts: int
    last_error: str
    crash_looping: bool
    start_time: _timestamp_pb2.Timestamp
    last_sync_id: str
    def __init__(self, id: _Optional[str] = ..., pid: _Optional[int] = ..., address: _Optional[str] = ..., state: _Optional[_Union[InstanceState, str]] = ..., restarts: _Optional[int] = ..., last_error: _Optional[str] = ..., crash_looping: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_sync_id: _Optional[str] = ...) -> None: ...

class PluginKindStatus(_message.Message):
    __slots__ = ("name", "kind", "intent_kinds", "fanout_mode", "replicas", "ready_replicas", "instances")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INTENT_KINDS_FIELD_NUMBER: _ClassVar[int]
    FANOUT_MODE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    READY_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    intent_kinds: _containers.RepeatedScalarFieldContainer[_plugin_pb2.IntentKind]
    fanout_mode: _plugin_pb2.FanoutMode
    replicas: int
    ready_replicas: int
    instances: _containers.RepeatedCompositeFieldContainer[PluginInstanceStatus]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., intent_kinds: _Optional[_Iterable[_Union[_plugin_pb2.IntentKind, str]]] = ..., fanout_mode: _Optional[_Union[_plugin_pb2.FanoutMode, str]] = ..., replicas: _Optional[int] = ..., ready_replicas: _Optional[int] = ..., instances: _Optional[_Iterable[_Union[PluginInstanceStatus, _Mapping]]] = ...) -> None: ...

class OrchestratorStatus(_message.Message):
    __slots__ = ("url", "state", "last_error", "attempts")
    URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    url: str
    state: RegistrationState
    last_error: str
    attempts: int
    def __init__(self, url: _Optional[str] = ..., state: _Optional[_Union[RegistrationState, str]] = ..., last_error: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("controller", "plugins", "orchestrator", "auxiliary_processes")
    CONTROLLER_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATOR_FIELD_NUMBER: _ClassVar[int]
    AUXILIARY_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    controller: ControllerStatus
    plugins: _containers.RepeatedCompositeFieldContainer[PluginKindStatus]
    orchestrator: OrchestratorStatus
    auxiliary_processes: _containers.RepeatedCompositeFieldContainer[PluginKindStatus]
    def __init__(self, controller: _Optional[_Union[ControllerStatus, _Mapping]] = ..., plugins: _Optional[_Iterable[_Union[PluginKindStatus, _Mapping]]] = ..., orchestrator: _Optional[_Union[OrchestratorStatus, _Mapping]] = ..., auxiliary_processes: _Optional[_Iterable[_Union[PluginKindStatus, _Mapping]]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("service", "address", "port", "ttl")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    service: str
    address: str
    port: int
    ttl: _duration_pb2.Duration
    def __init__(self, service: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Microservice(_message.Message):
    __slots__ = ("service", "address", "port", "health", "last_probe_time", "last_latency", "consecutive_failures", "last_transition_time", "last_error")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    LAST_PROBE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_LATENCY_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    service: str
    address: str
    port: int
    health: EndpointHealth
    last_probe_time: _timestamp_pb2.Timestamp
    last_latency: _duration_pb2.Duration
    consecutive_failures: int
    last_transition_time: _timestamp_pb2.Timestamp
    last_error: str
    def __init__(self, service: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., health: _Optional[_Union[EndpointHealth, str]] = ..., last_probe_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., last_transition_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ...) -> None: ...

class ListMicroservicesRequest(_message.Message):
    __slots__ = ("service", "page_size", "page_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    page_size: int
    page_token: str
    def __init__(self, service: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMicroservicesResponse(_message.Message):
    __slots__ = ("microservices", "next_page_token")
    MICROSERVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    microservices: _containers.RepeatedCompositeFieldContainer[Microservice]
    next_page_token: str
    def __init__(self, microservices: _Optional[_Iterable[_Union[Microservice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("wait", "timeout")
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    wait: bool
    timeout: _duration_pb2.Duration
    def __init__(self, wait: _Optional[bool] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("drained", "pending", "queue_depth", "in_flight")
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    drained: bool
    pending: int
    queue_depth: int
    in_flight: int
    def __init__(self, drained: _Optional[bool] = ..., pending: _Optional[int] = ..., queue_depth: _Optional[int] = ..., in_flight: _Optional[int] = ...) -> None: ...

class RestartPluginInstanceRequest(_message.Message):
    __slots__ = ("plugin", "instance")
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    plugin: str
    instance: str
    def __init__(self, plugin: _Optional[str] = ..., instance: _Optional[str] = ...) -> None: ...

class RestartPluginInstanceResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: PluginInstanceStatus
    def __init__(self, instance: _Optional[_Union[PluginInstanceStatus, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("type", "subject", "message", "time", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    type: str
    subject: str
    message: str
    time: _timestamp_pb2.Timestamp
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, type: _Optional[str] = ..., subject: _Optional[str] = ..., message: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class HealthzRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthzResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...

class ReadyzRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadyzResponse(_message.Message):
    __slots__ = ("status", "checks")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    status: str
    checks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., checks: _Optional[_Iterable[str]] = ...) -> None: ...

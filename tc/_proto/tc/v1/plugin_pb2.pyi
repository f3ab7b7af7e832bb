from tc._proto.tc.v1 import intent_pb2 as _intent_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IntentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTENT_KIND_UNSPECIFIED: _ClassVar[IntentKind]
    INTENT_KIND_SERVICE: _ClassVar[IntentKind]
    INTENT_KIND_DNS: _ClassVar[IntentKind]
    INTENT_KIND_WORKLOAD: _ClassVar[IntentKind]

class FanoutMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FANOUT_MODE_UNSPECIFIED: _ClassVar[FanoutMode]
    FANOUT_MODE_ANY: _ClassVar[FanoutMode]
    FANOUT_MODE_BROADCAST: _ClassVar[FanoutMode]
INTENT_KIND_UNSPECIFIED: IntentKind
INTENT_KIND_SERVICE: IntentKind
INTENT_KIND_DNS: IntentKind
INTENT_KIND_WORKLOAD: IntentKind
FANOUT_MODE_UNSPECIFIED: FanoutMode
FANOUT_MODE_ANY: FanoutMode
FANOUT_MODE_BROADCAST: FanoutMode

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("kind", "version", "intent_kinds", "fanout_mode", "endpoint_health")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INTENT_KINDS_FIELD_NUMBER: _ClassVar[int]
    FANOUT_MODE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_HEALTH_FIELD_NUMBER: _ClassVar[int]
    kind: str
    version: str
    intent_kinds: _containers.RepeatedScalarFieldContainer[IntentKind]
    fanout_mode: FanoutMode
    endpoint_health: bool
    def __init__(self, kind: _Optional[str] = ..., version: _Optional[str] = ..., intent_kinds: _Optional[_Iterable[_Union[IntentKind, str]]] = ..., fanout_mode: _Optional[_Union[FanoutMode, str]] = ..., endpoint_health: _Optional[bool] = ...) -> None: ...

class IntentResult(_message.Message):
    __slots__ = ("name", "generation", "conditions", "retryable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    generation: int
    conditions: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Condition]
    retryable: bool
    def __init__(self, name: _Optional[str] = ..., generation: _Optional[int] = ..., conditions: _Optional[_Iterable[_Union[_intent_pb2.Condition, _Mapping]]] = ..., retryable: _Optional[bool] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("intents", "references", "endpoint_health")
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_HEALTH_FIELD_NUMBER: _ClassVar[int]
    intents: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    references: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    endpoint_health: _containers.RepeatedCompositeFieldContainer[ServiceHealth]
    def __init__(self, intents: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ..., references: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ..., endpoint_health: _Optional[_Iterable[_Union[ServiceHealth, _Mapping]]] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IntentResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IntentResult, _Mapping]]] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("intents", "references")
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    intents: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    references: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    def __init__(self, intents: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ..., references: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ...) -> None: ...

class RemoveResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IntentResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IntentResult, _Mapping]]] = ...) -> None: ...

class SyncRequest(_message.Message):
    __slots__ = ("intents", "sync_id", "endpoint_health")
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_HEALTH_FIELD_NUMBER: _ClassVar[int]
    intents: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    sync_id: str
    endpoint_health: _containers.RepeatedCompositeFieldContainer[ServiceHealth]
    def __init__(self, intents: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ..., sync_id: _Optional[str] = ..., endpoint_health: _Optional[_Iterable[_Union[ServiceHealth, _Mapping]]] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ("results", "pruned")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IntentResult]
    pruned: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, results: _Optional[_Iterable[_Union[IntentResult, _Mapping]]] = ..., pruned: _Optional[_Iterable[str]] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AppliedIntent(_message.Message):
    __slots__ = ("name", "generation", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    generation: int
    kind: IntentKind
    def __init__(self, name: _Optional[str] = ..., generation: _Optional[int] = ..., kind: _Optional[_Union[IntentKind, str]] = ...) -> None: ...

class GetStateResponse(_message.Message):
    __slots__ = ("intents", "last_sync_id", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    intents: _containers.RepeatedCompositeFieldContainer[AppliedIntent]
    last_sync_id: str
    details: _containers.ScalarMap[str, str]
    def __init__(self, intents: _Optional[_Iterable[_Union[AppliedIntent, _Mapping]]] = ..., last_sync_id: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EndpointState(_message.Message):
    __slots__ = ("address", "port", "healthy")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    healthy: bool
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ..., healthy: _Optional[bool] = ...) -> None: ...

class ServiceHealth(_message.Message):
    __slots__ = ("service", "endpoints", "revision")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointState]
    revision: int
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[EndpointState, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class SetEndpointHealthRequest(_message.Message):
    __slots__ = ("services", "intents")
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[ServiceHealth]
    intents: _containers.RepeatedCompositeFieldContainer[_intent_pb2.Intent]
    def __init__(self, services: _Optional[_Iterable[_Union[ServiceHealth, _Mapping]]] = ..., intents: _Optional[_Iterable[_Union[_intent_pb2.Intent, _Mapping]]] = ...) -> None: ...

class SetEndpointHealthResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IntentResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IntentResult, _Mapping]]] = ...) -> None: ...

"""The controller's durable intent store: one interface, backends behind it.

Callers import from here and type against `Store`, so a distributed backend can be added
beside `SqliteStore` without changing them.
"""

from tc.server.store.base import (
    DEFAULT_SUBSCRIBER_QUEUE,
    ApplyOp,
    ApplyOutcome,
    ApplyResult,
    BackendError,
    Deleting,
    EventHub,
    EventType,
    GenerationMismatch,
    IntentRecord,
    KindChanged,
    NotFound,
    Store,
    StoreClosed,
    StoreError,
    StoreEvent,
    SubscriberLost,
    Subscription,
)
from tc.server.store.sqlite import SqliteStore

__all__ = [
    "DEFAULT_SUBSCRIBER_QUEUE",
    "ApplyOp",
    "ApplyOutcome",
    "ApplyResult",
    "BackendError",
    "Deleting",
    "EventHub",
    "EventType",
    "GenerationMismatch",
    "IntentRecord",
    "KindChanged",
    "NotFound",
    "SqliteStore",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreEvent",
    "SubscriberLost",
    "Subscription",
]

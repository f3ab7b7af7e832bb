"""Stored records <-> tc.v1.Intent messages, for the servicers and the reconciler.

The store keeps a spec as the canonical encoding of an Intent that holds only its spec
oneof, and the status as an encoded IntentStatus; this is the one place that knows it.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from tc._proto.tc.v1 import intent_pb2
from tc.server.store import IntentRecord


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def to_intent(record: IntentRecord, *, with_status: bool = True) -> intent_pb2.Intent:
    intent = intent_pb2.Intent.FromString(record.spec)
    intent.name = record.name
    intent.labels.update(record.labels)
    intent.generation = record.generation
    intent.uid = record.uid
    intent.create_time.CopyFrom(_timestamp(record.create_time))
    intent.update_time.CopyFrom(_timestamp(record.update_time))
    if record.delete_time is not None:
        intent.delete_time.CopyFrom(_timestamp(record.delete_time))
    if with_status and record.status:
        intent.status.ParseFromString(record.status)
    return intent


def for_plugin(record: IntentRecord) -> intent_pb2.Intent:
    """What a plugin gets: the intent without times or status, which plugins must not use."""
    intent = intent_pb2.Intent.FromString(record.spec)
    intent.name = record.name
    intent.labels.update(record.labels)
    intent.generation = record.generation
    intent.uid = record.uid
    return intent


def status_of(record: IntentRecord) -> intent_pb2.IntentStatus:
    return (
        intent_pb2.IntentStatus.FromString(record.status)
        if record.status
        else intent_pb2.IntentStatus()
    )


def workload_target(record: IntentRecord) -> str | None:
    if record.kind != "workload":
        return None
    return intent_pb2.Intent.FromString(record.spec).workload.target or None

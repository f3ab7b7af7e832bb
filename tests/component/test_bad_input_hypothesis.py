"""Hypothesis throws arbitrary intents at a running controller over gRPC.

Every answer is OK or a clear refusal: INVALID_ARGUMENT whose message names field paths
(or FAILED_PRECONDITION for a kind change), never INTERNAL or a dropped connection, and a
refused intent leaves the store exactly as it was.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc
from tc.server.app import Controller
from tc.server.settings import ControllerSettings

MORE = re.compile(r"^and \d+ more errors$")
PATH = re.compile(r"^(name|labels|spec|intent)(\.|\[|: |$)")

TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "a",
            "shop",
            "v1",
            "example.com",
            "shop.example.com",
            "10.0.0.1",
            "::1",
            "@",
            "/",
            "/healthz",
            "*.example.com",
            "UPPER",
            "a" * 64,
            "x" * 300,
            "5xx",
            "-bad-",
            "a..b",
        ]
    ),
    st.text(max_size=20),
)
INTS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 50, 80, 99, 100, 101, 128, 129, 65535, 65536]),
    st.integers(min_value=0, max_value=2**32 - 1),
)


def message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.name in {
            "status",
            "generation",
            "uid",
            "create_time",
            "update_time",
            "delete_time",
        }:
            continue
        value = scalar(field, depth)
        if value is None:
            continue
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if field.is_repeated and not is_map:
            value = st.lists(value, max_size=3)
        fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields)


def scalar(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    if field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            return st.dictionaries(TEXT, TEXT, max_size=3)
        if field.message_type.full_name == "google.protobuf.Duration":
            return st.fixed_dictionaries(
                {"seconds": st.integers(-5, 100_000), "nanos": st.integers(0, 999_999_999)}
            )
        if depth > 4:
            return None
        return message(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    if field.type == FieldDescriptor.TYPE_STRING:
        return TEXT
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        return st.integers(-(2**31), 2**31 - 1)
    return INTS


def fill(msg: Any, data: dict[str, Any]) -> Any:
    for name, value in data.items():
        field = msg.DESCRIPTOR.fields_by_name[name]
        target = getattr(msg, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target.update(value)
        elif field.message_type is not None and field.is_repeated:
            for item in value:
                fill(target.add(), item)
        elif field.message_type is not None:
            fill(target, value)
        elif field.is_repeated:
            target.extend(value)
        else:
            setattr(msg, name, value)
    return msg


def _intent(name: str, labels: dict[str, str], kind: str | None, data: Any) -> intent_pb2.Intent:
    intent = intent_pb2.Intent(name=name, labels=labels)
    if kind is not None:
        field = intent_pb2.Intent.DESCRIPTOR.fields_by_name[kind]
        spec = data.draw(message(field.message_type))
        fill(getattr(intent, kind), spec)
    return intent


INTENTS = st.builds(
    _intent,
    TEXT,
    st.dictionaries(TEXT, TEXT, max_size=2),
    st.sampled_from(["service", "dns", "workload", None]),
    st.data(),
)


@pytest.fixture(scope="module")
def controller_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("hypothesis")
    (tmp / "plugins.d").mkdir()
    settings_ = ControllerSettings(
        grpc_address="127.0.0.1:0",
        state_dir=tmp / "state",
        plugins_dir=tmp / "plugins.d",
        store_synchronous="NORMAL",
    )
    loop = asyncio.new_event_loop()
    controller = Controller(settings_, [])
    address = loop.run_until_complete(controller.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield address
    asyncio.run_coroutine_threadsafe(controller.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _snapshot(stub: intent_pb2_grpc.IntentServiceStub, name: str) -> tuple[int, str] | None:
    if not name:
        return None
    try:
        got = stub.GetIntent(intent_pb2.GetIntentRequest(name=name)).intent
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
        return None
    return got.generation, got.uid


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(intent=INTENTS)
def test_any_intent_is_accepted_or_refused_with_field_paths(
    controller_address: str, intent: intent_pb2.Intent
) -> None:
    with grpc.insecure_channel(controller_address) as channel:
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        before = _snapshot(stub, intent.name)
        count_before = len(stub.ListIntents(intent_pb2.ListIntentsRequest(page_size=1000)).intents)
        try:
            stub.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent), timeout=10)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            assert code in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.FAILED_PRECONDITION,
            ), (
                code,
                details,
            )
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                for part in details.split("; "):
                    assert PATH.match(part) or MORE.match(part), f"no field path in {part!r}"
            assert _snapshot(stub, intent.name) == before
            after = len(stub.ListIntents(intent_pb2.ListIntentsRequest(page_size=1000)).intents)
            assert after == count_before


def test_a_known_bad_intent_is_refused(controller_address: str) -> None:
    """Guards the property test: it must be able to see a refusal."""
    with grpc.insecure_channel(controller_address) as channel:
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent_pb2.Intent(name="x")))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert PATH.match(info.value.details() or "")

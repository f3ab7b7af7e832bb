"""tc.v1.IntentService: validate, convert to the IR, commit to the store, answer.

ApplyIntent answers only after the store committed the intent; the reconciler picks the
change up from the store's event stream, so nothing accepted lives only in memory.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc

from tc import convert
from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc
from tc.server import records
from tc.server.errors import RequestError, invalid, mapped, unavailable
from tc.server.store import ApplyOp, ApplyOutcome, EventType, Store, StoreError

_RESULTS = {
    ApplyOutcome.CREATED: intent_pb2.APPLY_RESULT_CREATED,
    ApplyOutcome.CONFIGURED: intent_pb2.APPLY_RESULT_CONFIGURED,
    ApplyOutcome.UNCHANGED: intent_pb2.APPLY_RESULT_UNCHANGED,
}
_EVENTS = {
    EventType.ADDED: intent_pb2.WATCH_EVENT_TYPE_ADDED,
    EventType.MODIFIED: intent_pb2.WATCH_EVENT_TYPE_MODIFIED,
    EventType.DELETED: intent_pb2.WATCH_EVENT_TYPE_DELETED,
}
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

Context = grpc.aio.ServicerContext[Any, Any]


def parse_label_selector(raw: str) -> dict[str, str]:
    """ "k=v,k2=v2": every pair must match. Errors name the field."""
    selector: dict[str, str] = {}
    if not raw.strip():
        return selector
    for i, part in enumerate(raw.split(",")):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if value.startswith("="):
            value = value[1:].strip()
        if not sep or not key:
            raise invalid("label_selector", f"term {i} {part.strip()!r} is not key=value")
        selector[key] = value
    return selector


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def encode_page_token(last_name: str) -> str:
    return base64.urlsafe_b64encode(last_name.encode()).decode()


def decode_page_token(token: str) -> str:
    if not token:
        return ""
    try:
        name = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("page_token", "is not a token from a previous response") from None
    if not name:
        raise invalid("page_token", "is not a token from a previous response")
    return name


class IntentService(intent_pb2_grpc.IntentServiceServicer):
    def __init__(self, store: Store, accepting: Callable[[], bool]) -> None:
        self._store = store
        self._accepting = accepting

    def _check_accepting(self) -> None:
        if not self._accepting():
            raise unavailable("controller is draining: not accepting changes")

    @mapped
    async def ApplyIntent(
        self, request: intent_pb2.ApplyIntentRequest, context: Context
    ) -> intent_pb2.ApplyIntentResponse:
        self._check_accepting()
        if not request.HasField("intent"):
            raise invalid("intent", "required")
        if request.expected_generation < 0:
            raise invalid("expected_generation", "must be >= 0")
        intent = convert.intent_from_proto(request.intent)
        op = ApplyOp(
            name=intent.name,
            kind=str(intent.kind),
            labels=dict(intent.labels),
            spec=convert.spec_bytes(intent),
            expected_generation=request.expected_generation or None,
        )
        record, outcome = await self._store.apply(op)
        return intent_pb2.ApplyIntentResponse(
            intent=records.to_intent(record), result=_RESULTS[outcome]
        )

    @mapped
    async def GetIntent(
        self, request: intent_pb2.GetIntentRequest, context: Context
    ) -> intent_pb2.GetIntentResponse:
        if not request.name:
            raise invalid("name", "required")
        record = await self._store.get(request.name)
        return intent_pb2.GetIntentResponse(intent=records.to_intent(record))

    @mapped
    async def ListIntents(
        self, request: intent_pb2.ListIntentsRequest, context: Context
    ) -> intent_pb2.ListIntentsResponse:
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            raise invalid("page_size", f"must be 0..{MAX_PAGE_SIZE}")
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = decode_page_token(request.page_token)
        selector = parse_label_selector(request.label_selector)
        # One extra tells whether another page exists without a second query.
        found = await self._store.list(after=after, limit=size + 1, labels=selector or None)
        page, more = found[:size], len(found) > size
        return intent_pb2.ListIntentsResponse(
            intents=[records.to_intent(r) for r in page],
            next_page_token=encode_page_token(page[-1].name) if more and page else "",
        )

    @mapped
    async def DeleteIntent(
        self, request: intent_pb2.DeleteIntentRequest, context: Context
    ) -> intent_pb2.DeleteIntentResponse:
        self._check_accepting()
        if not request.name:
            raise invalid("name", "required")
        if request.expected_generation < 0:
            raise invalid("expected_generation", "must be >= 0")
        record = await self._store.mark_deleting(request.name, request.expected_generation or None)
        return intent_pb2.DeleteIntentResponse(intent=records.to_intent(record))

    async def WatchIntents(
        self, request: intent_pb2.WatchIntentsRequest, context: Context
    ) -> AsyncIterator[intent_pb2.WatchIntentsResponse]:
        try:
            selector = parse_label_selector(request.label_selector)
        except RequestError as err:
            await context.abort(err.code, err.message)
        # Subscribe before listing so nothing falls between the list and the stream.
        async with self._store.subscribe() as subscription:
            seen: dict[str, int] = {}
            if request.send_initial:
                for record in await self._store.list_all():
                    seen[record.name] = record.revision
                    if _matches(record.labels, selector):
                        yield intent_pb2.WatchIntentsResponse(
                            type=intent_pb2.WATCH_EVENT_TYPE_ADDED,
                            intent=records.to_intent(record),
                            revision=record.revision,
                        )
            try:
                async for event in subscription:
                    if event.revision <= seen.get(event.record.name, 0):
                        continue
                    if _matches(event.record.labels, selector):
                        yield intent_pb2.WatchIntentsResponse(
                            type=_EVENTS[event.type],
                            intent=records.to_intent(event.record),
                            revision=event.revision,
                        )
            except StoreError as exc:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, f"watch ended: {exc}; re-list and watch again"
                )

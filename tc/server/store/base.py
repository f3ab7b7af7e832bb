"""The intent store contract shared by every backend: records, operations, events, errors.

Callers (servicers, reconciler, watchers) depend only on this module, so the SQLite store
used today can be swapped for a distributed one (etcd) without touching them. The store
treats specs and statuses as opaque bytes: it knows nothing of protobuf or the intent
model, which keeps dependencies pointing one way and lets "equal canonical bytes" stand
for "equal spec" when deciding whether a generation changes.

The in-process event fan-out lives here too because it does not depend on the backend:
any store publishes its committed changes through an `EventHub`.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Protocol, Self, TypeAlias

# Large enough to absorb a burst of thousands of applies while a watcher is busy writing to
# a slow gRPC stream; small enough that a dead watcher cannot pin much memory.
DEFAULT_SUBSCRIBER_QUEUE = 4096


class ApplyOutcome(StrEnum):
    CREATED = "CREATED"
    CONFIGURED = "CONFIGURED"
    UNCHANGED = "UNCHANGED"


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """One stored intent. Times are timezone-aware UTC."""

    name: str
    uid: str
    kind: str
    labels: Mapping[str, str]
    # Canonical encoding: equal bytes mean equal spec, so the store can detect no-op applies.
    spec: bytes
    # Starts at 1 and moves only when `spec` bytes change (never for labels or status).
    generation: int
    create_time: datetime
    update_time: datetime
    delete_time: datetime | None
    # b"" until a reconciler first reports.
    status: bytes
    # Store-wide revision of this record's last change; orders events against list results.
    revision: int

    @property
    def deleting(self) -> bool:
        return self.delete_time is not None


@dataclass(frozen=True, slots=True)
class ApplyOp:
    """Create or update the intent `name` to this kind, labels and spec."""

    name: str
    kind: str
    labels: Mapping[str, str]
    spec: bytes
    # None: apply whatever is stored. 0: create only. N: only if the stored generation is N.
    expected_generation: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("intent name must be a non-empty string")
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"intent {self.name!r}: kind must be a non-empty string")
        if not isinstance(self.spec, bytes):
            raise TypeError(f"intent {self.name!r}: spec must be bytes")
        labels = dict(self.labels)
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"intent {self.name!r}: labels must map str to str")
        # A private copy, so a caller mutating its dict after apply cannot change the op.
        object.__setattr__(self, "labels", MappingProxyType(labels))


ApplyResult: TypeAlias = tuple[IntentRecord, ApplyOutcome]


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """A committed change. For DELETED, `record` is the last state before removal."""

    type: EventType
    record: IntentRecord
    revision: int


class StoreError(Exception):
    """Base of every error a store raises; backend exceptions never escape unwrapped."""


class NotFound(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"intent {self.name!r} not found"


class GenerationMismatch(StoreError):
    def __init__(self, name: str, expected: int, actual: int) -> None:
        super().__init__(name, expected, actual)
        self.name = name
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return (
            f"intent {self.name!r}: expected generation {self.expected}, "
            f"stored generation is {self.actual}"
        )


class Deleting(StoreError):
    """The intent's deletion is in progress; it can be re-created once it is dropped."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"intent {self.name!r} is being deleted"


class KindChanged(StoreError):
    """An intent cannot change kind in place: plugins own kinds, so delete and re-create."""

    def __init__(self, name: str, old: str, new: str) -> None:
        super().__init__(name, old, new)
        self.name = name
        self.old = old
        self.new = new

    def __str__(self) -> str:
        return (
            f"intent {self.name!r} is of kind {self.old!r} and cannot become {self.new!r}; "
            "delete it and create it again"
        )


class StoreClosed(StoreError):
    def __init__(self, message: str = "store is closed") -> None:
        super().__init__(message)


class SubscriberLost(StoreError):
    """The subscriber fell too far behind and missed events: list again, then re-subscribe."""

    def __init__(self, message: str = "subscriber fell behind and lost events") -> None:
        super().__init__(message)


class BackendError(StoreError):
    """The storage backend failed (I/O, corruption, lock timeout); `__cause__` has details."""


class Subscription:
    """One subscriber's ordered view of committed changes.

    Iterate it from a single task. Every event has `revision > start_revision`, so a
    watcher can subscribe, list, and then skip events older than what it listed. Iteration
    ends with StopAsyncIteration after `close()`, raises StoreClosed (after buffered events)
    when the store closes, and raises SubscriberLost once the subscriber overflowed.
    """

    __slots__ = ("_buffer", "_end", "_hub", "_max_queue", "_stopped", "_waiter", "start_revision")

    def __init__(self, hub: EventHub, start_revision: int, max_queue: int) -> None:
        self.start_revision = start_revision
        self._hub = hub
        self._max_queue = max_queue
        self._buffer: deque[StoreEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._end: StoreError | None = None
        self._stopped = False

    @property
    def lost(self) -> bool:
        return isinstance(self._end, SubscriberLost)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StoreEvent:
        while True:
            if self.lost:
                # Buffered events are dropped: after a gap the caller must re-list anyway.
                raise SubscriberLost().with_traceback(None)
            if self._buffer:
                return self._buffer.popleft()
            if self._end is not None:
                raise self._end.with_traceback(None)
            if self._stopped:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._buffer.clear()
            self._hub.detach(self)
            self._wake()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def offer(self, event: StoreEvent) -> bool:
        """Queue an event without ever blocking the publisher; False once lost."""
        if self._end is not None or self._stopped:
            return False
        if len(self._buffer) >= self._max_queue:
            self._buffer.clear()
            self._end = SubscriberLost()
            self._wake()
            return False
        self._buffer.append(event)
        self._wake()
        return True

    def finish(self, error: StoreError) -> None:
        if self._end is None:
            self._end = error
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EventHub:
    """In-process fan-out of committed changes; runs on the store's event loop only.

    Publishing never waits for a subscriber: each has a bounded buffer and is cut off
    (SubscriberLost) when it overflows, so a stuck watcher cannot stall writers.
    """

    def __init__(self, revision: int = 0) -> None:
        self._subscribers: dict[Subscription, None] = {}
        self._revision = revision
        self._closed = False

    @property
    def revision(self) -> int:
        """Revision of the last published event (or of the store when it opened)."""
        return self._revision

    def subscribe(self, max_queue: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if self._closed:
            raise StoreClosed()
        sub = Subscription(self, self._revision, max_queue)
        self._subscribers[sub] = None
        return sub

    def detach(self, sub: Subscription) -> None:
        self._subscribers.pop(sub, None)

    def publish(self, events: Sequence[StoreEvent]) -> None:
        for event in events:
            self._revision = event.revision
            lost = [sub for sub in self._subscribers if not sub.offer(event)]
            for sub in lost:
                self.detach(sub)

    def close(self) -> None:
        self._closed = True
        for sub in self._subscribers:
            sub.finish(StoreClosed())
        self._subscribers.clear()


class Store(Protocol):
    """Durable intent store. Every write returns only after it is durably committed.

    A cancelled write call may still commit: writes are level-triggered and idempotent, so
    callers retry rather than assume it did not happen.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def apply(self, op: ApplyOp) -> ApplyResult:
        """Create or update one intent.

        Identical spec and labels: UNCHANGED, nothing written. Labels only: CONFIGURED with
        the same generation. Spec bytes changed: CONFIGURED and generation + 1. New:
        CREATED, generation 1, fresh uid. Raises GenerationMismatch, NotFound (expected
        generation > 0 for a missing intent), Deleting, KindChanged.
        """
        ...

    async def apply_many(self, ops: Sequence[ApplyOp]) -> builtins.list[ApplyResult | StoreError]:
        """Apply in order in one transaction; each op's result or domain error, in order."""
        ...

    async def get(self, name: str) -> IntentRecord:
        """Raises NotFound."""
        ...

    async def list(
        self, *, after: str = "", limit: int = 100, labels: Mapping[str, str] | None = None
    ) -> builtins.list[IntentRecord]:
        """Up to `limit` records with name > `after`, in name order, whose labels include
        every pair of `labels`. Pass the last name of a page as `after` for the next one."""
        ...

    async def list_all(self) -> builtins.list[IntentRecord]:
        """Every record in name order, from one consistent snapshot."""
        ...

    async def mark_deleting(
        self, name: str, expected_generation: int | None = None
    ) -> IntentRecord:
        """First phase of deletion: set delete_time (idempotent). Raises NotFound and
        GenerationMismatch."""
        ...

    async def drop(self, name: str, uid: str) -> bool:
        """Second phase: remove the record if it is deleting and still has this uid."""
        ...

    async def set_status(self, updates: Sequence[tuple[str, str, bytes]]) -> int:
        """Write (name, uid, status) triples; rows gone or re-created (uid differs) are
        skipped. Generation is untouched; each changed row gets a new revision and a
        MODIFIED event. Returns how many triples matched a stored (name, uid)."""
        ...

    def subscribe(self, *, max_queue: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription:
        """Committed changes from now on, in revision order."""
        ...

    async def count(self) -> int: ...

    async def check_writable(self) -> None:
        """Returns once the store has taken a write lock and committed an empty transaction;
        raises StoreError when it cannot (closed, disk or lock trouble). A readiness probe:
        cheap, and it writes nothing."""
        ...

"""Controller events (instance restarted, intent ready, ...) fanned out to watchers.

WatchEvents streams these; the orchestrator notifier (a later issue) subscribes too. A slow
watcher loses events rather than slowing the controller: its queue is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    subject: str
    message: str
    time: float = field(default_factory=time.time)
    attributes: tuple[tuple[str, str], ...] = ()


class EventBus:
    def __init__(self, queue_size: int = 1024) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size

    def publish(self, type_: str, subject: str, message: str, **attributes: str) -> None:
        event = Event(type_, subject, message, attributes=tuple(sorted(attributes.items())))
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

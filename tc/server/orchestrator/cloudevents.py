"""Controller notifications as CloudEvents 1.0 over HTTP, in structured content mode.

Structured mode (`application/cloudevents+json`, the whole event as one JSON document) is
used rather than binary mode (attributes in `ce-*` headers) because the event stays one
self-describing object: it survives proxies and gateways that drop or rename unknown
headers, it can be logged, queued or replayed as-is by the sink, and a receiver needs only a
JSON parser to see every attribute. Binary mode's advantage, passing an opaque payload
untouched, does not apply to small JSON data like ours.

Delivery never slows the controller: `enqueue` is synchronous and the queue is bounded;
when it is full the oldest event is dropped and counted, since the newest state matters most
to an orchestrator. One background task sends in order, retrying transient failures with
backoff and keeping each event's id so a sink can drop duplicates of a retried delivery.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tc.server.events import Event
from tc.server.orchestrator.registration import describe, is_transient
from tc.server.orchestrator.retry import backoff_delay
from tc.server.orchestrator.settings import OrchestratorSettings

log = logging.getLogger("tc.orchestrator")

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "dev.traffic-controller"

# Controller events (tc.server.events) the orchestrator is told about, and the CloudEvent
# type each becomes. The rest (intent.ready, plugin.instance.ready, ...) are for WatchEvents:
# intent outcomes reach the orchestrator through intent status, and a routine instance
# start is not news to it.
FORWARDED_EVENTS: Mapping[str, str] = {
    "controller.ready": f"{TYPE_PREFIX}.ready",
    "controller.degraded": f"{TYPE_PREFIX}.degraded",
    "controller.draining": f"{TYPE_PREFIX}.draining",
    "plugin.instance.restarted": f"{TYPE_PREFIX}.plugin.instance.restarted",
    "microservice.down": f"{TYPE_PREFIX}.microservice.down",
    "microservice.up": f"{TYPE_PREFIX}.microservice.up",
}


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    type: str
    source: str
    data: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=lambda: _rfc3339(datetime.now(UTC).timestamp()))

    def structured(self) -> dict[str, Any]:
        """The event as a structured-mode JSON document."""
        doc: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": "application/json",
            "data": dict(self.data),
        }
        if self.subject:
            doc["subject"] = self.subject
        return doc


def full_type(type_: str) -> str:
    """`ready` -> `dev.traffic-controller.ready`; a full type is kept as it is."""
    return type_ if type_.startswith(f"{TYPE_PREFIX}.") else f"{TYPE_PREFIX}.{type_}"


def cloudevent_for(event: Event, *, source: str, controller: str = "") -> CloudEvent | None:
    """The CloudEvent announcing one controller event, or None if it is not forwarded."""
    type_ = FORWARDED_EVENTS.get(event.type)
    if type_ is None:
        return None
    data: dict[str, Any] = {"message": event.message, **dict(event.attributes)}
    if controller:
        data["controller"] = controller
    return CloudEvent(
        type=type_,
        source=source,
        subject=event.subject,
        data=data,
        time=_rfc3339(event.time),
    )


class Notifier:
    """A bounded queue of CloudEvents and the coroutine (`run`) that delivers them."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: OrchestratorSettings,
        *,
        gate: asyncio.Event | None = None,
    ) -> None:
        assert settings.sink_url is not None
        self._client = client
        self._settings = settings
        self._sink = settings.sink_url
        self._gate = gate
        self._queue: collections.deque[CloudEvent] = collections.deque()
        self._pending = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.delivered = 0
        self.dropped = 0  # pushed out of a full queue
        self.failed = 0  # refused by the sink, or out of attempts

    @property
    def queued(self) -> int:
        return len(self._queue)

    def enqueue(self, event: CloudEvent) -> None:
        if len(self._queue) >= self._settings.queue_size:
            lost = self._queue.popleft()
            self.dropped += 1
            log.warning("event queue full: dropped %s %s", lost.type, lost.id)
        self._queue.append(event)
        self._idle.clear()
        self._pending.set()

    async def run(self) -> None:
        if self._gate is not None:
            await self._gate.wait()
        while True:
            await self._pending.wait()
            while self._queue:
                await self._deliver(self._queue.popleft())
            self._pending.clear()
            self._idle.set()

    async def flush(self, timeout: float) -> bool:
        """Waits up to `timeout` for the queue to empty; True if it did."""
        if self._gate is not None and not self._gate.is_set():
            return not self._queue
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _deliver(self, event: CloudEvent) -> None:
        settings = self._settings
        body = event.structured()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.post(
                    self._sink, json=body, headers={"content-type": CONTENT_TYPE}
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    self.delivered += 1
                    return
                error = describe(response)
                if not is_transient(response.status_code):
                    self.failed += 1
                    log.error("event sink refused %s %s: %s", event.type, event.id, error)
                    return
            if attempt >= settings.delivery_max_attempts:
                self.failed += 1
                log.error(
                    "event %s %s not delivered after %d attempts: %s",
                    event.type,
                    event.id,
                    attempt,
                    error,
                )
                return
            delay = backoff_delay(attempt, settings.retry_base_seconds, settings.retry_max_seconds)
            log.warning(
                "event delivery attempt %d failed (%s); retry in %.2fs", attempt, error, delay
            )
            await asyncio.sleep(delay)

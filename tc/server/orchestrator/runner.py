"""The orchestrator runner the controller wires: start()/stop() around registration and events.

It owns the HTTP client and three tasks: registration, event delivery, and forwarding from
the controller's EventBus. With no orchestrator url and no sink configured it is a no-op, so
the controller can wire it unconditionally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from tc._proto.tc.v1 import lifecycle_pb2
from tc.server.events import Event, EventBus
from tc.server.orchestrator.cloudevents import CloudEvent, Notifier, cloudevent_for, full_type
from tc.server.orchestrator.registration import (
    Registrar,
    RegistrationState,
    RegistrationStatus,
    controller_body,
)
from tc.server.orchestrator.settings import OrchestratorSettings, advertised

log = logging.getLogger("tc.orchestrator")


class Orchestrator:
    """Runner: `await start(bound_address)`, then `await stop()`.

    `grpc_address` (the configured one, possibly with port 0) is checked at construction so
    an unusable advertised host fails start-up before any side effect; the real port comes
    with start().
    """

    def __init__(
        self,
        settings: OrchestratorSettings,
        *,
        events: EventBus | None = None,
        grpc_address: str = "",
    ) -> None:
        self.settings = settings
        self._events = events
        if settings.url is not None and settings.host is None and grpc_address:
            # Port may still be 0 here; only the host can be judged before binding.
            advertised(settings.model_copy(update={"port": 1}), grpc_address)
        self._grpc_address = grpc_address
        self._client: httpx.AsyncClient | None = None
        self._registrar: Registrar | None = None
        self._notifier: Notifier | None = None
        self._subscription: asyncio.Queue[Event] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def status(self) -> RegistrationStatus:
        if self._registrar is not None:
            return self._registrar.status()
        if self.settings.url is None:
            return RegistrationStatus(url="", state=RegistrationState.DISABLED)
        return RegistrationStatus(url=self.settings.url, state=RegistrationState.UNREGISTERED)

    def delivery_counts(self) -> Mapping[str, int]:
        """Delivered, dropped (queue full), failed and still queued events, for metrics."""
        n = self._notifier
        if n is None:
            return {"delivered": 0, "dropped": 0, "failed": 0, "queued": 0}
        return {
            "delivered": n.delivered,
            "dropped": n.dropped,
            "failed": n.failed,
            "queued": n.queued,
        }

    def notify(
        self, type_: str, data: Mapping[str, Any] | None = None, *, subject: str = ""
    ) -> CloudEvent | None:
        """Queues a CloudEvent of `type_` (`ready` or `dev.traffic-controller.ready`).

        Never blocks and never raises for delivery problems; returns the queued event, or
        None when no sink is configured.
        """
        if self._notifier is None:
            return None
        event = CloudEvent(
            type=full_type(type_),
            source=self.settings.event_source,
            subject=subject,
            data={"controller": self.settings.name, **(data or {})},
        )
        self._notifier.enqueue(event)
        return event

    def _forward(self, event: Event) -> None:
        if self._notifier is None:
            return
        cloudevent = cloudevent_for(
            event, source=self.settings.event_source, controller=self.settings.name
        )
        if cloudevent is not None:
            self._notifier.enqueue(cloudevent)

    async def _follow_events(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            self._forward(await queue.get())

    async def start(self, bound_address: str = "") -> None:
        settings = self.settings
        if not settings.enabled:
            return
        body = None
        if settings.url is not None:
            # Before the client exists, so a bad address leaves nothing to close.
            host, port = advertised(settings, bound_address or self._grpc_address)
            body = controller_body(settings, host, port)
        self._client = httpx.AsyncClient(timeout=settings.request_timeout_seconds)
        registrar = None
        if body is not None:
            registrar = Registrar(self._client, settings, body)
            self._registrar = registrar
            self._tasks.append(asyncio.create_task(registrar.run(), name="orchestrator-register"))
        if settings.sink_url is not None:
            gate = registrar.settled if registrar is not None else None
            self._notifier = Notifier(self._client, settings, gate=gate)
            self._tasks.append(
                asyncio.create_task(self._notifier.run(), name="orchestrator-events")
            )
            if self._events is not None:
                self._subscription = self._events.subscribe()
                self._tasks.append(
                    asyncio.create_task(
                        self._follow_events(self._subscription), name="orchestrator-forward"
                    )
                )
        log.info(
            "orchestrator link: registration %s, events %s",
            settings.url or "off",
            settings.sink_url or "off",
        )

    async def stop(self) -> None:
        if self._subscription is not None and self._events is not None:
            # Events published just before stop (the draining notice) are still in the
            # subscription: move them to the delivery queue before it is flushed.
            self._events.unsubscribe(self._subscription)
            while not self._subscription.empty():
                self._forward(self._subscription.get_nowait())
            self._subscription = None
        if self._notifier is not None and not await self._notifier.flush(
            self.settings.flush_timeout_seconds
        ):
            log.warning("stopping with %d undelivered event(s)", self._notifier.queued)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._registrar is not None and self.settings.deregister_on_stop:
            await self._registrar.deregister()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_PROTO_STATES = {
    RegistrationState.DISABLED: lifecycle_pb2.REGISTRATION_STATE_DISABLED,
    RegistrationState.UNREGISTERED: lifecycle_pb2.REGISTRATION_STATE_PENDING,
    RegistrationState.REGISTERING: lifecycle_pb2.REGISTRATION_STATE_PENDING,
    RegistrationState.REGISTERED: lifecycle_pb2.REGISTRATION_STATE_REGISTERED,
    RegistrationState.FAILED: lifecycle_pb2.REGISTRATION_STATE_FAILED,
    # The proto has no DEREGISTERED: after stop the link is off, as when never configured.
    RegistrationState.DEREGISTERED: lifecycle_pb2.REGISTRATION_STATE_DISABLED,
}


def orchestrator_status(status: RegistrationStatus) -> lifecycle_pb2.OrchestratorStatus:
    """GetStatus's `orchestrator` field for one registration status."""
    return lifecycle_pb2.OrchestratorStatus(
        url=status.url,
        state=_PROTO_STATES[status.state],
        last_error=status.last_error,
        attempts=status.attempts,
    )

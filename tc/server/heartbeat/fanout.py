"""What a change of endpoint health does outside the monitor: plugins, statuses, events.

The monitor only says that an endpoint changed; this runner tells the plugins that declared
`endpoint_health` (the envoy plugin marks the endpoint in EDS without re-rendering anything
else; the dns plugin renders the service again and withdraws or restores the address
records when the service asks for that), writes the intent's Healthy condition and
publishes microservice.down / microservice.up (WatchEvents and CloudEvents to the
orchestrator). Changes are coalesced per service: a flapping endpoint costs one plugin
call per round, carrying the health of that moment.

Delivery is level-triggered like the rest of the controller: a call that fails is retried
with backoff, and every Apply and Sync carries the health of the services it holds, so a
restarted plugin instance gets it with its full Sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import grpc

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.server import records
from tc.server.events import EventBus
from tc.server.heartbeat.monitor import HeartbeatMonitor, Transition
from tc.server.heartbeat.state import Health
from tc.server.reconciler import Reconciler
from tc.server.supervisor import Instance, PluginGroup, Supervisor

log = logging.getLogger("tc.heartbeat")

EVENT_OF = {Health.UNHEALTHY: "microservice.down", Health.HEALTHY: "microservice.up"}


def service_health(
    monitor: HeartbeatMonitor, names: Iterable[str]
) -> list[plugin_pb2.ServiceHealth]:
    """The health plugins get for `names`: every service among them whose health has ever
    changed, also one whose endpoints are now all Unknown or gone (that, too, replaces older
    knowledge); a service never judged has nothing to send."""
    out = []
    for name in sorted(set(names)):
        if name not in monitor.revisions:
            continue
        health = monitor.health_of(name)
        out.append(
            plugin_pb2.ServiceHealth(
                service=name,
                revision=monitor.revisions[name],
                endpoints=[
                    plugin_pb2.EndpointState(address=a, port=p, healthy=h)
                    for (a, p), h in sorted(health.items())
                ],
            )
        )
    return out


class HealthFanout:
    """Runner: start() / stop(); `changed(service)` after the monitor's health of it changed."""

    def __init__(
        self,
        monitor: HeartbeatMonitor,
        supervisor: Supervisor,
        reconciler: Reconciler,
        events: EventBus,
        *,
        call_timeout: float = 10.0,
        retry_base: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._monitor = monitor
        self._supervisor = supervisor
        self._reconciler = reconciler
        self._events = events
        self._timeout = call_timeout
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_transition(self, transition: Transition) -> None:
        t = transition.target
        # Unknown -> healthy is the first look at an endpoint (after every restart), not
        # news: an event for each would flood the orchestrator at start-up.
        if transition.health is Health.UNHEALTHY or transition.before is Health.UNHEALTHY:
            why = f": {transition.error}" if transition.error else ""
            self._events.publish(
                EVENT_OF[transition.health],
                t.service,
                f"endpoint {t.address}:{t.port} is {transition.health.value}{why}",
                address=t.address,
                port=str(t.port),
            )
        self.changed(t.service)

    def changed(self, service: str) -> None:
        self._dirty.add(service)
        self._wake.set()

    async def _run(self) -> None:
        delay = self._retry_base
        while True:
            await self._wake.wait()
            self._wake.clear()
            names, self._dirty = self._dirty, set()
            failed = await self._send(names)
            await self._reconciler.write_health_statuses(names)
            if failed:
                self._dirty |= failed
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                self._wake.set()
            else:
                delay = self._retry_base

    async def _send(self, names: set[str]) -> set[str]:
        """Tells every plugin that wants endpoint health; returns the services to retry."""
        services = service_health(self._monitor, names)
        if not services:
            return set()
        failed: set[str] = set()
        for group in self._supervisor.groups:
            info = group.info
            if info is None or not info.endpoint_health:
                continue
            if info.fanout_mode == plugin_pb2.FANOUT_MODE_BROADCAST:
                answers = await asyncio.gather(
                    *(self._call(i, services, []) for i in group.ready_instances())
                )
                if not all(a is not None for a in answers):
                    failed |= names
            elif not await self._any(group, services):
                failed |= names
        return failed

    async def _any(self, group: PluginGroup, services: list[plugin_pb2.ServiceHealth]) -> bool:
        intents = [
            records.for_plugin(r)
            for s in services
            if (r := self._reconciler.record(s.service)) is not None and not r.deleting
        ]
        if not intents:
            return True
        for instance in group.ready_instances():
            response = await self._call(instance, services, intents)
            if response is not None:
                return not any(r.retryable for r in response.results)
        return False

    async def _call(
        self,
        instance: Instance,
        services: list[plugin_pb2.ServiceHealth],
        intents: list[intent_pb2.Intent],
    ) -> plugin_pb2.SetEndpointHealthResponse | None:
        if instance.stub is None:
            return None
        try:
            response: plugin_pb2.SetEndpointHealthResponse = await instance.stub.SetEndpointHealth(
                plugin_pb2.SetEndpointHealthRequest(services=services, intents=intents),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "endpoint health to %s failed: %s: %s",
                instance.id,
                exc.code().name,
                exc.details(),
                extra={"plugin": instance.plugin, "instance": instance.id},
            )
            return None
        return response

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="endpoint health fan-out")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

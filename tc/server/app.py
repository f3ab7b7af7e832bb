"""The controller process, wired in one place: store, supervisor, reconciler, gRPC server.

Start-up order follows DESIGN.md: open the store; serve gRPC at once (NOT_SERVING on
health while plugins start, so clients can apply intents that are queued durably); start
every plugin instance; each is Synced before it takes work; health turns SERVING when every
configured plugin kind has a ready instance. Stop drains: refuse new changes, let in-flight
calls and reconcile batches finish, stop plugins, close the store.

Drain (LifecycleService.Drain) is the first half of stop without the stopping: refuse new
changes, turn health NOT_SERVING and wait for the reconcile queue to empty, so an operator
can finish queued work before a restart. It is one-way: only a restart undoes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

import tc
from tc import convert, ir, serving
from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc, lifecycle_pb2, lifecycle_pb2_grpc
from tc.server import auth, records, status
from tc.server.events import EventBus
from tc.server.heartbeat.fanout import HealthFanout, service_health
from tc.server.heartbeat.monitor import HeartbeatMonitor, Transition
from tc.server.heartbeat.probes import Prober
from tc.server.heartbeat.state import Health
from tc.server.intent_service import IntentService
from tc.server.lifecycle_service import LifecycleService
from tc.server.orchestrator import Orchestrator, orchestrator_status
from tc.server.plugin_config import PluginConfig
from tc.server.reconciler import Reconciler
from tc.server.settings import ControllerSettings
from tc.server.store import IntentRecord, SqliteStore, Store
from tc.server.supervisor import Instance, PluginGroup, Supervisor

log = logging.getLogger("tc.controller")

INTENT_SERVICE = intent_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name
LIFECYCLE_SERVICE = lifecycle_pb2.DESCRIPTOR.services_by_name["LifecycleService"].full_name
SERVICES = [INTENT_SERVICE, LIFECYCLE_SERVICE]


class Controller:
    """Runner: `address = await start()`, then `await stop()`."""

    def __init__(
        self, settings: ControllerSettings, plugins: list[PluginConfig], store: Store | None = None
    ) -> None:
        self.settings = settings
        self.store: Store = store or SqliteStore(
            settings.store_path, synchronous=settings.store_synchronous
        )
        self.events = EventBus()
        self.supervisor = Supervisor(
            settings,
            plugins,
            on_usable=self._on_usable,
            on_unusable=self._on_unusable,
            on_event=self._on_supervisor_event,
        )
        self.reconciler = Reconciler(settings, self.store, self.supervisor, self.events)
        self.prober = Prober()
        self.heartbeats = HeartbeatMonitor(
            self.prober,
            self._on_transition,
            max_in_flight=settings.heartbeat_max_in_flight,
        )
        self.health_fanout = HealthFanout(
            self.heartbeats,
            self.supervisor,
            self.reconciler,
            self.events,
            call_timeout=settings.plugin_call_timeout_seconds,
            retry_base=settings.retry_base_seconds,
            retry_max=settings.retry_max_seconds,
        )
        self.reconciler.endpoint_health = lambda names: service_health(self.heartbeats, names)
        self.reconciler.healthy_condition = self._healthy_condition
        self.reconciler.on_service = self._on_service
        self.reconciler.health_stale = self.health_fanout.changed
        self.orchestrator = Orchestrator(
            settings.orchestrator, events=self.events, grpc_address=settings.grpc_address
        )
        self._server: Any = None
        self._health: Any = None
        self._draining = False
        self._serving = False
        self._start_time = time.time()
        self._health_task: asyncio.Task[None] | None = None
        self._health_dirty = asyncio.Event()
        self.address = ""

    # -- wiring ------------------------------------------------------------------------------

    def _on_usable(self, group: PluginGroup, instance: Instance) -> None:
        self.reconciler.on_usable(group, instance)
        self._health_dirty.set()

    def _on_unusable(self, group: PluginGroup, instance: Instance) -> None:
        self.reconciler.on_unusable(group, instance)
        self._health_dirty.set()

    def _on_supervisor_event(self, kind: str, subject: str, message: str) -> None:
        self.events.publish(kind, subject, message)
        self._health_dirty.set()

    def _on_transition(self, transition: Transition) -> None:
        self.health_fanout.on_transition(transition)

    def _on_service(self, name: str, record: IntentRecord | None) -> None:
        """The reconciler's mirror saw service intent `name` change: check what it lists."""
        pb = records.for_plugin(record) if record is not None else None
        if pb is not None and not pb.service.HasField("health_check"):
            if not self.heartbeats.follows(name):
                return  # nothing to check now or before: no IR conversion (start-up: all)
            pb = None
        model = None
        if pb is not None:
            try:
                model = convert.intent_from_proto(pb)
            except ir.InvalidIntentError as exc:  # stored intents were valid when stored
                log.warning("not checking %s: %s", name, exc, extra={"intent": name})
        if self.heartbeats.set_service(name, model):
            self.health_fanout.changed(name)

    def _healthy_condition(self, name: str, generation: int) -> intent_pb2.Condition | None:
        counts = self.heartbeats.counts(name)
        if counts is None:
            return None
        return status.healthy_condition(
            counts[Health.HEALTHY], counts[Health.UNHEALTHY], counts[Health.UNKNOWN], generation
        )

    def all_plugins_ready(self) -> bool:
        return all(g.ready_instances() for g in self.supervisor.groups)

    async def _follow_health(self) -> None:
        while True:
            await self._health_dirty.wait()
            self._health_dirty.clear()
            serving_now = self.all_plugins_ready() and not self._draining
            if serving_now != self._serving:
                self._serving = serving_now
                await serving.set_all(
                    self._health, SERVICES, serving.SERVING if serving_now else serving.NOT_SERVING
                )
                if serving_now:
                    self.events.publish(
                        "controller.ready", "controller", "every plugin kind is ready"
                    )
                elif not self._draining:
                    # While draining, NOT_SERVING is expected and "controller.draining" has
                    # told subscribers why; "degraded" would send them looking for a fault.
                    self.events.publish(
                        "controller.degraded", "controller", "a plugin kind has no ready instance"
                    )
                log.info("health: %s", "SERVING" if serving_now else "NOT_SERVING")

    def controller_status(self) -> lifecycle_pb2.ControllerStatus:
        if self._draining:
            state = lifecycle_pb2.CONTROLLER_STATE_DRAINING
        elif self._serving:
            state = lifecycle_pb2.CONTROLLER_STATE_SERVING
        elif any(i.restarts for g in self.supervisor.groups for i in g.instances):
            state = lifecycle_pb2.CONTROLLER_STATE_DEGRADED
        else:
            state = lifecycle_pb2.CONTROLLER_STATE_STARTING
        start = Timestamp()
        start.FromNanoseconds(int(self._start_time * 1e9))
        return lifecycle_pb2.ControllerStatus(
            version=tc.__version__,
            state=state,
            start_time=start,
            address=self.address,
            intents=self.reconciler.intent_count,
            queue_depth=len(self.reconciler.queue),
            pending=self.reconciler.pending_count(),
        )

    # -- draining ---------------------------------------------------------------------------

    def _begin_draining(self, why: str) -> None:
        """Refuses new changes from now on. Only the first call publishes
        "controller.draining", so Drain followed by SIGTERM tells the orchestrator once."""
        if self._draining:
            return
        self._draining = True
        self.events.publish("controller.draining", "controller", f"refusing new changes: {why}")
        self._health_dirty.set()
        log.info("draining (%s): refusing new changes, finishing queued work", why)

    async def _work_finished(self) -> None:
        while True:
            await self.reconciler.drained()
            # A change committed just before draining began may still sit in the store
            # follower's buffer, which puts it on the queue at its next turn: let it run,
            # and look again so such a change is not missed.
            for _ in range(3):
                await asyncio.sleep(0)
            if self.reconciler.queue.idle():
                return

    async def drain(self, *, wait: bool, timeout: float) -> lifecycle_pb2.DrainResponse:
        """Starts draining (idempotent); with `wait`, waits up to `timeout` seconds for the
        reconcile queue to empty. Reports what is left either way."""
        self._begin_draining("drain requested")
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work_finished(), timeout)
        queue = self.reconciler.queue
        return lifecycle_pb2.DrainResponse(
            drained=queue.idle(),
            pending=self.reconciler.pending_count(),
            queue_depth=len(queue),
            in_flight=queue.processing,
        )

    # -- runner ---------------------------------------------------------------------------------

    async def start(self) -> str:
        # First: a refused address or a bad cert must stop start-up before any side effect.
        interceptors, credentials = auth.port_security(self.settings)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        server = serving.new_server(interceptors)
        intent_pb2_grpc.add_IntentServiceServicer_to_server(
            IntentService(self.store, accepting=lambda: not self._draining), server
        )
        lifecycle_pb2_grpc.add_LifecycleServiceServicer_to_server(
            # Readyz probes the store's writability (REST gateway, issue 6).
            LifecycleService(
                self.supervisor,
                self.events,
                self.controller_status,
                store=self.store,
                orchestrator_status=lambda: orchestrator_status(self.orchestrator.status()),
                drain=self.drain,
                heartbeats=self.heartbeats,
            ),
            server,
        )
        self._health = serving.add_health_and_reflection(server, SERVICES)
        await serving.set_all(self._health, SERVICES, serving.NOT_SERVING)
        self.address = serving.bind(server, self.settings.grpc_address, credentials)
        await server.start()
        self._server = server
        self._write_address_file()
        self._health_task = asyncio.create_task(self._follow_health(), name="health")
        # Before the plugins: its bus subscription must see "controller.ready". It never
        # blocks serving (registration retries in the background).
        await self.orchestrator.start(self.address)
        await self.reconciler.start()
        await self.heartbeats.start()
        await self.health_fanout.start()
        await self.supervisor.start()
        self._health_dirty.set()
        log.info(
            "controller serving on %s with %d plugin(s)", self.address, len(self.supervisor.groups)
        )
        return self.address

    def _write_address_file(self) -> None:
        """Publishes the bound address (port 0 becomes real) for tcctl and for tests."""
        path = self.settings.state_dir / "controller.address"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.address + "\n", encoding="utf-8")
        tmp.replace(path)

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        self._begin_draining("shutting down")
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)
        await self.reconciler.stop(grace)
        await self.health_fanout.stop()
        await self.heartbeats.stop()
        await self.prober.close()
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await self.supervisor.stop()
        await self.orchestrator.stop()
        await self.store.close()
        log.info("controller stopped")

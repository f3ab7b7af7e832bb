"""The reconciler: drives every plugin toward the desired state held in the store.

Level-triggered: it follows the store's committed changes, keeps a read-through mirror of
the records (the store stays the only source of truth), and puts intent names on a
coalescing work queue. Workers take names in batches and send one Apply (or Remove) per
plugin instance per batch: ANY-mode plugins to one ready instance with failover, BROADCAST
plugins to every ready instance. Each instance's answer is folded into the intent's status
(tc.server.status) and written back in batches. A new or restarted instance gets a full
Sync before it takes work, and every ready instance is re-synced periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.server import records, status
from tc.server.events import EventBus
from tc.server.settings import ControllerSettings
from tc.server.store import (
    EventType,
    IntentRecord,
    Store,
    StoreError,
    SubscriberLost,
    Subscription,
)
from tc.server.supervisor import Instance, InstanceState, PluginGroup, Supervisor
from tc.server.workqueue import WorkQueue

log = logging.getLogger("tc.reconciler")

KIND_NAMES: dict[plugin_pb2.IntentKind, str] = {
    plugin_pb2.INTENT_KIND_SERVICE: "service",
    plugin_pb2.INTENT_KIND_DNS: "dns",
    plugin_pb2.INTENT_KIND_WORKLOAD: "workload",
}
ANY = plugin_pb2.FANOUT_MODE_ANY


@dataclass
class _AnyOutcome:
    outcome: status.Outcome
    instance: str


class Reconciler:
    """Runner: start() mirrors the store and starts workers; stop() finishes in-flight work."""

    def __init__(
        self,
        settings: ControllerSettings,
        store: Store,
        supervisor: Supervisor,
        events: EventBus,
    ) -> None:
        self._settings = settings
        self._store = store
        self._supervisor = supervisor
        self._events = events
        self.queue = WorkQueue(
            base_delay=settings.retry_base_seconds, max_delay=settings.retry_max_seconds
        )
        self._records: dict[str, IntentRecord] = {}
        # intent -> plugin -> instance id -> last answer (BROADCAST plugins)
        self._broadcast: dict[str, dict[str, dict[str, status.Outcome]]] = {}
        # intent -> plugin -> last answer (ANY plugins)
        self._any: dict[str, dict[str, _AnyOutcome]] = {}
        # workload name -> target service name, and the reverse, for render references.
        self._targets: dict[str, str] = {}
        self._workloads_by_target: dict[str, set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._mirrored = asyncio.Event()
        self._round_robin = itertools.count()
        self._workers_running = False
        # Heartbeats (wired by the app): the endpoint health that rides on Apply and Sync,
        # the Healthy condition of a service intent, and who follows service intents.
        self.endpoint_health: Callable[[Iterable[str]], list[plugin_pb2.ServiceHealth]] = (
            lambda names: []
        )
        self.healthy_condition: Callable[[str, int], intent_pb2.Condition | None] = (
            lambda name, generation: None
        )
        self.on_service: Callable[[str, IntentRecord | None], None] = lambda name, record: None
        self.health_stale: Callable[[str], None] = lambda name: None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        subscription = self._store.subscribe()
        await self._relist(subscription.start_revision)
        self._tasks.append(asyncio.create_task(self._follow(subscription), name="store follower"))
        self._tasks.append(asyncio.create_task(self._run_workers(), name="reconcile workers"))
        self._tasks.append(asyncio.create_task(self._periodic_resync(), name="periodic resync"))

    async def stop(self, grace: float) -> None:
        """Finishes the batches in flight (up to `grace` seconds), then stops."""
        self.queue.close()
        workers = self._tasks[1] if len(self._tasks) > 1 else None
        # Workers still waiting for plugins to describe themselves have nothing in flight.
        if workers is not None and self._workers_running:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(workers), grace)
        for task in [*self._tasks, *self._side_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._side_tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def drained(self) -> None:
        """Completes when nothing is queued or being processed."""
        await self.queue.wait_idle()

    @property
    def intent_count(self) -> int:
        return len(self._records)

    def record(self, name: str) -> IntentRecord | None:
        """The mirrored record of `name` (None when not stored)."""
        return self._records.get(name)

    def pending_count(self) -> int:
        return sum(
            1
            for r in self._records.values()
            if r.deleting or not status.is_ready(records.status_of(r), r.generation)
        )

    # -- following the store ----------------------------------------------------------------

    async def _relist(self, start_revision: int) -> None:
        listed = await self._store.list_all()
        names = {r.name for r in listed}
        for gone in set(self._records) - names:
            self._forget(gone)
        for record in listed:
            self._records[record.name] = record
            self._index(record, record.name)
            self._follow_service(record)
            self.queue.add(record.name)
        self._mirrored.set()
        log.info("mirrored %d intents from the store (revision %d)", len(listed), start_revision)

    async def _follow(self, subscription: Subscription) -> None:
        sub = subscription
        while True:
            try:
                async for event in sub:
                    self._on_store_event(event.type, event.record)
                return
            except SubscriberLost:
                log.warning("fell behind the store's events; re-listing")
                sub = self._store.subscribe()
                await self._relist(sub.start_revision)
            except StoreError as exc:
                log.info("store event stream ended: %s", exc)
                return

    def _on_store_event(self, kind: EventType, record: IntentRecord) -> None:
        old = self._records.get(record.name)
        if kind is EventType.DELETED:
            if old is not None and old.uid == record.uid:
                self._forget(record.name)
            return
        if old is not None and old.revision > record.revision:
            return
        self._records[record.name] = record
        if old is None or old.spec != record.spec or old.deleting != record.deleting:
            self._index(record, record.name)
            self._follow_service(record)
        if (
            old is None
            or old.uid != record.uid
            or old.generation != record.generation
            or old.deleting != record.deleting
            or old.labels != record.labels
        ):
            if old is not None and old.uid != record.uid:
                self._broadcast.pop(record.name, None)
                self._any.pop(record.name, None)
            self.queue.forget(record.name)
            self.queue.add(record.name)

    def _follow_service(self, record: IntentRecord) -> None:
        if record.kind == "service":
            self.on_service(record.name, None if record.deleting else record)

    def _forget(self, name: str) -> None:
        record = self._records.get(name)
        if record is not None and record.kind == "service":
            self.on_service(name, None)
        self._index(None, name)
        self._records.pop(name, None)
        self._broadcast.pop(name, None)
        self._any.pop(name, None)
        self.queue.forget(name)

    # -- workers --------------------------------------------------------------------------------

    async def _run_workers(self) -> None:
        # Routing needs to know what each plugin handles, so wait for every Describe, but
        # not forever: one crash-looping plugin must not stall intents for all the others.
        # A plugin described later gets its full Sync, which writes the statuses it adds to.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._supervisor.wait_described(), self._settings.plugin_start_timeout_seconds
            )
        self._workers_running = True
        workers = [
            asyncio.create_task(self._worker(), name=f"reconcile worker {i}")
            for i in range(self._settings.workers)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()

    async def _worker(self) -> None:
        while True:
            names = await self.queue.get_batch(self._settings.batch_size)
            if not names:
                return
            try:
                await self._reconcile(names)
            except Exception:
                log.exception("reconcile of %d intents failed; retrying them", len(names))
                for name in names:
                    self.queue.retry(name)
            finally:
                for name in names:
                    self.queue.done(name)

    def _handles(self, group: PluginGroup, record: IntentRecord) -> bool:
        info = group.info
        return info is not None and any(KIND_NAMES.get(k) == record.kind for k in info.intent_kinds)

    def _references(self, batch: Sequence[IntentRecord]) -> list[intent_pb2.Intent]:
        """The intents a plugin needs beside the batch to render it: each workload's target
        service and that service's other workloads, and the workloads on each service in
        the batch. Together with the batch this is the whole render group, so a plugin
        instance can treat it as authoritative instead of trusting what it saw earlier."""
        wanted: set[str] = set()
        for record in batch:
            target = self._targets.get(record.name)
            if target:
                wanted.add(target)
                wanted |= self._workloads_by_target.get(target, set())
            wanted |= self._workloads_by_target.get(record.name, set())
        wanted -= {r.name for r in batch}
        refs = []
        for name in sorted(wanted):
            rec = self._records.get(name)
            if rec is not None and not rec.deleting:
                refs.append(records.for_plugin(rec))
        return refs

    def _index(self, record: IntentRecord | None, name: str) -> None:
        """Keeps workload -> target and target -> workloads in step with the mirror."""
        old = self._targets.pop(name, None)
        if old is not None:
            self._workloads_by_target.get(old, set()).discard(name)
        target = records.workload_target(record) if record is not None else None
        if target:
            self._targets[name] = target
            self._workloads_by_target.setdefault(target, set()).add(name)

    def _render_context(self, record: IntentRecord) -> frozenset[tuple[str, int, bool]]:
        """What a render of `record` depends on besides itself (its render group)."""
        related = set(self._workloads_by_target.get(record.name, set()))
        target = self._targets.get(record.name)
        if target:
            related |= {target, *self._workloads_by_target.get(target, set())}
        related.discard(record.name)
        return frozenset(
            (n, r.generation, r.deleting) for n in related if (r := self._records.get(n))
        )

    async def _reconcile(self, names: Sequence[str]) -> None:
        batch = [r for n in names if (r := self._records.get(n)) is not None]
        if not batch:
            return
        contexts = {r.name: self._render_context(r) for r in batch}
        calls = []
        for group in self._supervisor.groups:
            live = [r for r in batch if not r.deleting and self._handles(group, r)]
            gone = [r for r in batch if r.deleting and self._handles(group, r)]
            if live:
                calls.append(self._fan_out(group, live, remove=False))
            if gone:
                calls.append(self._fan_out(group, gone, remove=True))
        removed_everywhere = {r.name for r in batch if r.deleting}
        for result in await asyncio.gather(*calls):
            removed_everywhere -= result
        await self._after(batch, removed_everywhere)
        # A related intent changed while this batch was in flight (a workload applied on
        # another instance while its service was written here): what was written may have
        # been rendered from a stale group, so go again with the current one.
        for record in batch:
            if (
                record.name in self._records
                and self._render_context(record) != contexts[record.name]
            ):
                self.queue.add(record.name)

    async def _call(
        self,
        instance: Instance,
        intents: list[intent_pb2.Intent],
        refs: list[intent_pb2.Intent],
        *,
        remove: bool,
        health: Sequence[plugin_pb2.ServiceHealth] = (),
    ) -> list[status.Outcome]:
        stub = instance.stub
        timeout = self._settings.plugin_call_timeout_seconds
        try:
            if stub is None:
                raise ConnectionError("instance has no connection")
            if remove:
                rm = await stub.Remove(
                    plugin_pb2.RemoveRequest(intents=intents, references=refs), timeout=timeout
                )
                results = rm.results
            else:
                ap = await stub.Apply(
                    plugin_pb2.ApplyRequest(
                        intents=intents, references=refs, endpoint_health=health
                    ),
                    timeout=timeout,
                )
                results = ap.results
            if len(results) != len(intents):
                raise ConnectionError(f"{len(results)} results for {len(intents)} intents")
            return [status.outcome_from_result(r) for r in results]
        except (grpc.aio.AioRpcError, ConnectionError) as exc:
            message = (
                f"{instance.id}: {exc.code().name}: {exc.details()}"
                if isinstance(exc, grpc.aio.AioRpcError)
                else f"{instance.id}: {exc}"
            )
            log.warning(
                "plugin call failed: %s",
                message,
                extra={"plugin": instance.plugin, "instance": instance.id},
            )
            return [status.unavailable(i.generation, message) for i in intents]

    async def _fan_out(
        self, group: PluginGroup, batch: list[IntentRecord], *, remove: bool
    ) -> set[str]:
        """Sends the batch to the group; returns the names the group did NOT remove."""
        intents = [records.for_plugin(r) for r in batch]
        refs = self._references(batch)
        ready = group.ready_instances()
        assert group.info is not None
        health = (
            self.endpoint_health([*(i.name for i in intents), *(r.name for r in refs)])
            if group.info.endpoint_health and not remove
            else []
        )
        not_removed = {r.name for r in batch}
        if group.info.fanout_mode == ANY:
            start = next(self._round_robin)
            order = [ready[(start + i) % len(ready)] for i in range(len(ready))]
            for instance in order:
                incarnation = instance.incarnation
                outcomes = await self._call(instance, intents, refs, remove=remove, health=health)
                if all(o.reason == "PluginUnavailable" for o in outcomes):
                    continue  # fail over to the next ready instance
                if instance.incarnation != incarnation:
                    continue
                for record, outcome in zip(batch, outcomes, strict=True):
                    if remove:
                        if outcome.programmed:
                            not_removed.discard(record.name)
                    else:
                        self._any.setdefault(record.name, {})[group.name] = _AnyOutcome(
                            outcome, instance.id
                        )
                return not_removed
            if not remove:
                for record in batch:
                    prior = self._any.get(record.name, {}).get(group.name)
                    if prior is None or prior.outcome.generation != record.generation:
                        self._any.setdefault(record.name, {})[group.name] = _AnyOutcome(
                            status.unavailable(record.generation, "no ready instance answered"), ""
                        )
            return not_removed
        # BROADCAST
        incarnations = [i.incarnation for i in ready]
        answers = await asyncio.gather(
            *(self._call(i, intents, refs, remove=remove, health=health) for i in ready)
        )
        removed_by = {r.name: 0 for r in batch}
        for instance, incarnation, outcomes in zip(ready, incarnations, answers, strict=True):
            if instance.incarnation != incarnation:
                continue
            for record, outcome in zip(batch, outcomes, strict=True):
                if remove:
                    if outcome.programmed:
                        removed_by[record.name] += 1
                else:
                    self._broadcast.setdefault(record.name, {}).setdefault(group.name, {})[
                        instance.id
                    ] = outcome
        if ready:
            for name, count in removed_by.items():
                if count == len(ready):
                    not_removed.discard(name)
        return not_removed

    # -- statuses -------------------------------------------------------------------------------

    def _views(self, record: IntentRecord) -> list[status.PluginView]:
        views = []
        for group in self._supervisor.groups:
            if not self._handles(group, record):
                continue
            assert group.info is not None
            ready = group.ready_instances()
            if group.info.fanout_mode == ANY:
                prior = self._any.get(record.name, {}).get(group.name)
                views.append(
                    status.fold_any(
                        group.name,
                        record.generation,
                        prior.outcome if prior else None,
                        prior.instance if prior else "",
                        bool(ready),
                    )
                )
            else:
                outcomes = self._broadcast.get(record.name, {}).get(group.name, {})
                views.append(
                    status.fold_broadcast(
                        group.name, record.generation, outcomes, [i.id for i in ready]
                    )
                )
        return views

    async def _after(self, batch: Sequence[IntentRecord], removed: set[str]) -> None:
        """Writes changed statuses, drops fully removed intents and schedules retries."""
        for record in batch:
            if record.deleting and record.name in removed:
                try:
                    await self._store.drop(record.name, record.uid)
                except StoreError as exc:
                    log.warning(
                        "dropping %s failed: %s",
                        record.name,
                        exc,
                        extra={"intent": record.name, "generation": record.generation},
                    )
                    self.queue.retry(record.name)
                else:
                    self._events.publish("intent.deleted", record.name, "removed from every plugin")
            elif record.deleting:
                self.queue.retry(record.name)
        await self._write_statuses([r for r in batch if not (r.deleting and r.name in removed)])

    async def write_health_statuses(self, names: Iterable[str]) -> None:
        """Writes the statuses of `names` again for their Healthy condition, leaving the
        work queue alone (nothing needs applying)."""
        batch = [r for n in names if (r := self._records.get(n)) is not None]
        await self._write_statuses(batch, schedule=False)

    async def _write_statuses(
        self, batch: Iterable[IntentRecord], *, schedule: bool = True
    ) -> None:
        now = Timestamp()
        now.GetCurrentTime()
        updates: list[tuple[str, str, bytes]] = []
        for record in batch:
            current = self._records.get(record.name)
            if current is None or current.uid != record.uid:
                continue
            views = self._views(current)
            new = status.intent_status(
                current.generation, views, kind=current.kind, deleting=current.deleting
            )
            healthy = self.healthy_condition(current.name, current.generation)
            if healthy is not None and not current.deleting:
                new.conditions.append(healthy)
            old = records.status_of(current)
            status.carry_transition_times(new, old, now)
            encoded = new.SerializeToString(deterministic=True)
            if encoded != current.status:
                updates.append((current.name, current.uid, encoded))
                self._records[current.name] = replace(current, status=encoded)
                was_ready = status.is_ready(old, current.generation)
                if status.is_ready(new, current.generation) and not was_ready:
                    self._events.publish(
                        "intent.ready", current.name, f"generation {current.generation} ready"
                    )
            if schedule and not current.deleting:
                if status.needs_retry(views):
                    self.queue.retry(current.name)
                else:
                    self.queue.forget(current.name)
        if updates:
            try:
                await self._store.set_status(updates)
            except StoreError as exc:
                log.warning("writing %d statuses failed: %s", len(updates), exc)
                for name, _, _ in updates:
                    self.queue.retry(name)

    # -- full syncs -------------------------------------------------------------------------------

    def on_usable(self, group: PluginGroup, instance: Instance) -> None:
        """Supervisor callback: the instance is SERVING and waits for its full Sync."""
        task = asyncio.create_task(
            self._sync_until_ready(group, instance, instance.incarnation),
            name=f"sync {instance.id}",
        )
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def on_unusable(self, group: PluginGroup, instance: Instance) -> None:
        """Supervisor callback: the instance stopped; intents it held need fresh statuses."""
        affected = [n for n, per in self._broadcast.items() if group.name in per]
        for per in self._broadcast.values():
            per.get(group.name, {}).pop(instance.id, None)
        for name in affected:
            self.queue.add(name)

    async def _sync_until_ready(
        self, group: PluginGroup, instance: Instance, incarnation: int
    ) -> None:
        await self._mirrored.wait()
        delay = self._settings.retry_base_seconds
        while instance.incarnation == incarnation and instance.state is InstanceState.SYNCING:
            try:
                await self.sync_instance(group, instance, incarnation, make_ready=True)
                return
            except (grpc.aio.AioRpcError, ConnectionError) as exc:
                instance.last_error = f"sync failed: {exc}"
                log.warning(
                    "full sync of %s failed: %s",
                    instance.id,
                    exc,
                    extra={"plugin": group.name, "instance": instance.id},
                )
            await asyncio.sleep(delay)
            delay = min(self._settings.retry_max_seconds, delay * 2)

    async def sync_instance(
        self, group: PluginGroup, instance: Instance, incarnation: int, *, make_ready: bool
    ) -> None:
        """Hands the instance the full desired set; then catches up on changes made meanwhile."""
        snapshot = {n: r for n, r in self._records.items() if self._handles(group, r)}
        live = sorted((r for r in snapshot.values() if not r.deleting), key=lambda r: r.name)
        sync_id = uuid.uuid4().hex
        stub = instance.stub
        if stub is None:
            raise ConnectionError("instance has no connection")
        started = time.monotonic()
        wants_health = group.info is not None and group.info.endpoint_health
        health = self.endpoint_health(r.name for r in live) if wants_health else []
        response = await stub.Sync(
            plugin_pb2.SyncRequest(
                intents=[records.for_plugin(r) for r in live],
                sync_id=sync_id,
                endpoint_health=health,
            ),
            timeout=max(self._settings.plugin_call_timeout_seconds, 60.0),
        )
        if instance.incarnation != incarnation:
            return
        if len(response.results) != len(live):
            raise ConnectionError(f"Sync returned {len(response.results)} results for {len(live)}")
        assert group.info is not None
        for record, result in zip(live, response.results, strict=True):
            outcome = status.outcome_from_result(result)
            if group.info.fanout_mode == ANY:
                self._any.setdefault(record.name, {})[group.name] = _AnyOutcome(
                    outcome, instance.id
                )
            else:
                self._broadcast.setdefault(record.name, {}).setdefault(group.name, {})[
                    instance.id
                ] = outcome
        if make_ready and not self._supervisor.mark_ready(instance, incarnation, sync_id):
            return
        if not make_ready:
            instance.last_sync_id = sync_id
        log.info(
            "synced %s: %d intents, %d pruned in %.0f ms",
            instance.id,
            len(live),
            len(response.pruned),
            (time.monotonic() - started) * 1000,
            extra={"plugin": group.name, "instance": instance.id},
        )
        if wants_health:
            # Health that changed while the Sync was in flight reached only ready instances.
            sent = {h.service: h.revision for h in health}
            for now in self.endpoint_health(r.name for r in live):
                if sent.get(now.service) != now.revision:
                    self.health_stale(now.service)
        # Catch up: whatever changed while the Sync was in flight goes through the queue,
        # which now counts this instance as ready; what was dropped meanwhile is removed here.
        dropped = [r for n, r in snapshot.items() if n not in self._records]
        if dropped:
            await self._call(instance, [records.for_plugin(r) for r in dropped], [], remove=True)
        for name, record in self._records.items():
            before = snapshot.get(name)
            changed = (
                before is None
                or before.generation != record.generation
                or before.deleting != record.deleting
                or before.uid != record.uid
            )
            if changed and self._handles(group, record):
                self.queue.add(name)
        await self._write_statuses(live)

    async def _periodic_resync(self) -> None:
        while True:
            await asyncio.sleep(self._settings.resync_interval_seconds)
            for group in self._supervisor.groups:
                if group.info is None:
                    continue
                targets = group.ready_instances()
                if group.info.fanout_mode == ANY:
                    targets = targets[:1]
                for instance in targets:
                    try:
                        await self.sync_instance(
                            group, instance, instance.incarnation, make_ready=False
                        )
                    except (grpc.aio.AioRpcError, ConnectionError) as exc:
                        log.warning(
                            "periodic sync of %s failed: %s",
                            instance.id,
                            exc,
                            extra={"plugin": group.name, "instance": instance.id},
                        )

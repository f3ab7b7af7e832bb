"""The heartbeat monitor: probes every checked endpoint on its interval and reports changes.

One scheduler task keeps a heap of (due time, target) instead of a task per endpoint, so
10,000 endpoints cost one timer, and probes run as owned tasks bounded by a semaphore.
Each endpoint's first probe lands at a random point of its first interval and the next ones
exactly one interval apart: probes stay spread over time (no bursts) without the random
walk a per-probe jitter would add, which keeps detection within threshold x interval plus
the probe timeout.

An endpoint that pushed a heartbeat (LifecycleService.Heartbeat) within its TTL is alive
without being probed: its scheduled probes are skipped until the TTL runs out.

State lives in memory on purpose: after a restart every endpoint starts Unknown (which
takes traffic) rather than trusting an old verdict. Transitions are reported through a
callback; what they change (EDS, DNS, status, events) is wired elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tc import ir
from tc.server.heartbeat.state import EndpointState, Health, observe
from tc.server.heartbeat.targets import Target, targets_of

log = logging.getLogger("tc.heartbeat")


class ProbeOutcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def latency(self) -> float: ...
    @property
    def error(self) -> str: ...


class Probes(Protocol):
    """What the monitor needs of tc.server.heartbeat.probes.Prober."""

    async def tcp(self, host: str, port: int, timeout: float) -> ProbeOutcome: ...
    async def http(self, host: str, port: int, path: str, timeout: float) -> ProbeOutcome: ...
    async def grpc(
        self, host: str, port: int, service_name: str, timeout: float
    ) -> ProbeOutcome: ...
    def forget(self, host: str, port: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Transition:
    target: Target
    health: Health
    error: str
    before: Health


BATCH_SECONDS = 0.01
"""Probes due this close together start together (a few milliseconds early at most)."""


def _wake_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class UnknownEndpoint(LookupError):
    """A pushed heartbeat names a service or endpoint the monitor does not check."""


@dataclass(slots=True)
class _Watched:
    target: Target
    state: EndpointState
    epoch: int
    """Bumped when the target is replaced or dropped: queued heap entries of an older
    epoch are stale and skipped."""


class HeartbeatMonitor:
    """Runner: start() / stop(). `set_service` tells it what to check (from the store)."""

    def __init__(
        self,
        prober: Probes,
        on_transition: Callable[[Transition], None],
        *,
        max_in_flight: int = 512,
        rng: random.Random | None = None,
    ) -> None:
        self._prober = prober
        self._on_transition = on_transition
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._services: dict[str, dict[tuple[str, int], _Watched]] = {}
        # (address, probe port) -> targets probing it: a cached connection (gRPC channel)
        # is dropped only when the last of them goes.
        self._probe_users: dict[tuple[str, int], int] = {}
        self._heap: list[tuple[float, int, str, tuple[str, int], int]] = []
        self._order = itertools.count()
        self._epochs = itertools.count(1)
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()
        self.revisions: dict[str, int] = {}
        """By service: bumped on every change of its endpoints' health (see ServiceHealth)."""
        self._revision = itertools.count(1)

    # -- what to check ----------------------------------------------------------------------

    def set_service(self, name: str, intent: ir.Intent | None) -> bool:
        """Follows the service intent `name` (None: deleted). Endpoints that stay keep their
        state; new ones start Unknown. Returns whether the set of known health changed (an
        endpoint with a verdict went away)."""
        targets = {t.key: t for t in targets_of(intent)} if intent is not None else {}
        held = self._services.get(name, {})
        gone = [w for key, w in held.items() if key not in targets]
        for watched in gone:
            self._forget_probe(watched.target)
        fresh: dict[tuple[str, int], _Watched] = {}
        now = time.monotonic()
        for key, target in targets.items():
            before = held.get(key)
            if before is not None and before.target == target:
                fresh[key] = before
                continue
            self._use_probe(target)  # before forgetting the old one: the same port stays open
            if before is not None:
                self._forget_probe(before.target)
            state = before.state if before is not None else EndpointState()
            watched = _Watched(target, state, next(self._epochs))
            fresh[key] = watched
            self._schedule(watched, now + self._rng.uniform(0, target.check.interval))
        if fresh:
            self._services[name] = fresh
        else:
            self._services.pop(name, None)
        changed = any(w.state.health is not Health.UNKNOWN for w in gone)
        if changed:
            self._bump(name)
        return changed

    def follows(self, name: str) -> bool:
        """Whether service intent `name` has endpoints checked now."""
        return name in self._services

    def _use_probe(self, target: Target) -> None:
        key = (target.address, target.probe_port)
        self._probe_users[key] = self._probe_users.get(key, 0) + 1

    def _forget_probe(self, target: Target) -> None:
        key = (target.address, target.probe_port)
        users = self._probe_users.get(key, 0) - 1
        if users > 0:
            self._probe_users[key] = users
        else:
            self._probe_users.pop(key, None)
            self._prober.forget(target.address, target.probe_port)

    def _schedule(self, watched: _Watched, due: float) -> None:
        t = watched.target
        heapq.heappush(self._heap, (due, next(self._order), t.service, t.key, watched.epoch))
        self._kick()

    def _bump(self, service: str) -> None:
        self.revisions[service] = next(self._revision)

    # -- pushed heartbeats ------------------------------------------------------------------

    def push(self, service: str, address: str, port: int, ttl: float | None) -> float:
        """Records a heartbeat pushed by the endpoint; returns the TTL applied. Raises
        UnknownEndpoint naming what is not checked."""
        by_key = self._services.get(service)
        if by_key is None:
            raise UnknownEndpoint(f"service {service!r} has no checked endpoints")
        watched = by_key.get((address, port))
        if watched is None:
            listed = [f"{a}:{p}" for a, p in sorted(by_key)]
            known = ", ".join(listed[:5]) + (
                f", ... ({len(listed)} in all)" if len(listed) > 5 else ""
            )
            raise UnknownEndpoint(
                f"service {service!r} has no checked endpoint {address}:{port} (it has {known})"
            )
        applied = ttl if ttl is not None else watched.target.check.default_ttl
        watched.state.pushed_until = max(watched.state.pushed_until, time.monotonic() + applied)
        self._record(watched, ok=True, latency=None, error="")
        return applied

    # -- reading ----------------------------------------------------------------------------

    def endpoints(self, service: str = "") -> list[tuple[Target, EndpointState]]:
        names = [service] if service else sorted(self._services)
        return [
            (w.target, w.state)
            for name in names
            for _, w in sorted(self._services.get(name, {}).items())
        ]

    def health_of(self, service: str) -> dict[tuple[str, int], bool]:
        """Endpoints with a verdict: (address, port) -> healthy."""
        return {
            key: w.state.health is Health.HEALTHY
            for key, w in self._services.get(service, {}).items()
            if w.state.health is not Health.UNKNOWN
        }

    def counts(self, service: str) -> dict[Health, int] | None:
        by_key = self._services.get(service)
        if by_key is None:
            return None
        out = dict.fromkeys(Health, 0)
        for w in by_key.values():
            out[w.state.health] += 1
        return out

    # -- probing ----------------------------------------------------------------------------

    def _record(self, watched: _Watched, *, ok: bool, latency: float | None, error: str) -> None:
        target = watched.target
        before = watched.state.health
        changed = observe(
            watched.state,
            ok,
            target.check.thresholds,
            now=time.time(),
            latency=latency,
            error=error,
        )
        if changed is None:
            return
        self._bump(target.service)
        log.info(
            "endpoint %s:%d of %s is %s%s",
            target.address,
            target.port,
            target.service,
            changed.value,
            f" ({error})" if error else "",
            extra={"intent": target.service},
        )
        self._on_transition(Transition(target, changed, error, before))

    async def _probe(self, watched: _Watched) -> None:
        t = watched.target
        try:
            result = await self._run_probe(t)
        except Exception:
            # The prober reports every failure of the endpoint as a result; an exception is
            # a bug here, and must neither kill the monitor nor count against the endpoint.
            log.exception("probe of %s:%d failed unexpectedly", t.address, t.probe_port)
            return
        finally:
            self._slots.release()
        current = self._services.get(t.service, {}).get(t.key)
        if current is not watched or watched.state.pushed_until > time.monotonic():
            return  # replaced or deleted while probing, or a push arrived meanwhile
        self._record(watched, ok=result.ok, latency=result.latency, error=result.error)

    async def _run_probe(self, t: Target) -> ProbeOutcome:
        check = t.check
        if check.type is ir.HealthCheckType.GRPC:
            return await self._prober.grpc(
                t.address, t.probe_port, check.service_name, check.timeout
            )
        if check.type is ir.HealthCheckType.HTTP:
            return await self._prober.http(t.address, t.probe_port, check.path, check.timeout)
        return await self._prober.tcp(t.address, t.probe_port, check.timeout)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            # Everything due within the batch window goes now: at 1,000 probes a second the
            # loop then wakes ~100 times a second instead of once per probe.
            horizon = now + BATCH_SECONDS
            while self._heap and self._heap[0][0] <= horizon:
                due, _, service, key, epoch = heapq.heappop(self._heap)
                watched = self._services.get(service, {}).get(key)
                if watched is None or watched.epoch != epoch:
                    continue
                interval = watched.target.check.interval
                # Exactly one interval on; after a stall, from now (no burst of catch-ups).
                following = due + interval
                self._schedule(watched, following if following > now else now + interval)
                if watched.state.pushed_until > now:
                    continue
                await self._slots.acquire()
                task = loop.create_task(self._probe(watched))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)
            await self._sleep(loop)

    async def _sleep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until the next due probe, or until `_kick` (a new target may be due sooner). A
        bare future and timer: asyncio.wait_for would cost a task per wake."""
        waiter = self._waiter = loop.create_future()
        timer = None
        if self._heap:
            delay = max(0.0, self._heap[0][0] - time.monotonic())
            timer = loop.call_later(delay, _wake_up, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()

    def _kick(self) -> None:
        if self._waiter is not None:
            _wake_up(self._waiter)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat monitor")

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._probes] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

"""LifecycleService.Drain against the in-process controller with real recorder plugins:
new changes are refused, queued work is finished before the answer, health goes
NOT_SERVING, and a second Drain answers at once without a second event."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.plugins.recorder.plugin import REJECT_LABEL
from tc.server.events import Event
from tests.component.conftest import Running
from tests.support import service_intent, wait_until

BURST = 40


def _ready(intent: intent_pb2.Intent) -> bool:
    return any(
        c.type == "Ready"
        and c.status == intent_pb2.CONDITION_STATUS_TRUE
        and c.observed_generation == intent.generation
        for c in intent.status.conditions
    )


def _drain(seconds: float) -> lifecycle_pb2.DrainRequest:
    return lifecycle_pb2.DrainRequest(wait=True, timeout=Duration(seconds=int(seconds)))


def _drained_events(queue: asyncio.Queue[Event]) -> list[Event]:
    seen = []
    while not queue.empty():
        event = queue.get_nowait()
        if event.type in ("controller.draining", "controller.degraded"):
            seen.append(event)
    return seen


async def test_drain_finishes_a_burst_then_refuses_changes(running: Running) -> None:
    events = running.controller.events.subscribe()
    # Applied concurrently so the queue holds many when Drain arrives.
    await asyncio.gather(
        *(
            running.intents.ApplyIntent(
                intent_pb2.ApplyIntentRequest(intent=service_intent(f"web-{i}"))
            )
            for i in range(BURST)
        )
    )

    answer = await running.lifecycle.Drain(_drain(30), timeout=40)

    assert answer.drained
    assert (answer.queue_depth, answer.in_flight, answer.pending) == (0, 0, 0)
    listed = await running.intents.ListIntents(intent_pb2.ListIntentsRequest())
    assert len(listed.intents) == BURST
    assert [i.name for i in listed.intents if not _ready(i)] == []

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service_intent("late"))
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "draining" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as refused_delete:
        await running.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="web-0"))
    assert refused_delete.value.code() == grpc.StatusCode.UNAVAILABLE

    health = health_pb2_grpc.HealthStub(running.channel)

    async def not_serving() -> bool:
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        return bool(answer.status == health_pb2.HealthCheckResponse.NOT_SERVING)

    await wait_until(not_serving, what="health NOT_SERVING while draining")
    status = await running.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    assert status.controller.state == lifecycle_pb2.CONTROLLER_STATE_DRAINING

    started = time.monotonic()
    again = await running.lifecycle.Drain(_drain(30), timeout=40)
    assert again.drained
    assert time.monotonic() - started < 5, "a drained controller answers a second Drain at once"

    # One draining event for both calls, and no "degraded" for the expected NOT_SERVING.
    assert [e.type for e in _drained_events(events)] == ["controller.draining"]


async def test_a_rejected_intent_is_pending_but_does_not_block_drain(running: Running) -> None:
    rejected = service_intent("rejected", labels={REJECT_LABEL: "true"})
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=rejected))

    answer = await running.lifecycle.Drain(_drain(30), timeout=40)

    # The plugin said no: nothing to retry, so the queue is empty; the intent is reported.
    assert answer.drained
    assert answer.pending == 1


async def test_drain_reports_what_is_left_when_time_runs_out(running: Running) -> None:
    # A retry due long after the deadline keeps the queue from ever emptying in time.
    running.controller.reconciler.queue.add_after("retried-later", 600)

    answer = await running.lifecycle.Drain(
        lifecycle_pb2.DrainRequest(wait=True, timeout=Duration(nanos=200_000_000)), timeout=10
    )

    assert not answer.drained
    assert answer.queue_depth == 1


async def test_drain_answers_before_the_callers_deadline(running: Running) -> None:
    running.controller.reconciler.queue.add_after("retried-later", 600)

    # The request asks for the default 60 s, the call allows 2 s: a report, not an error.
    answer = await running.lifecycle.Drain(lifecycle_pb2.DrainRequest(wait=True), timeout=2)

    assert not answer.drained


async def test_drain_without_wait_answers_at_once(running: Running) -> None:
    running.controller.reconciler.queue.add_after("retried-later", 600)

    answer = await running.lifecycle.Drain(lifecycle_pb2.DrainRequest(), timeout=5)

    assert not answer.drained and answer.queue_depth == 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service_intent("late"))
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_negative_timeout_is_invalid(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await running.lifecycle.Drain(
            lifecycle_pb2.DrainRequest(wait=True, timeout=Duration(seconds=-1))
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A refused request starts nothing.
    status = await running.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    assert status.controller.state != lifecycle_pb2.CONTROLLER_STATE_DRAINING

"""Real processes: a killed plugin instance comes back resynced; a killed controller loses
nothing it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import grpc
import pytest

from tc._proto.tc.v1 import (
    intent_pb2,
    intent_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
    plugin_pb2,
    plugin_pb2_grpc,
)
from tests.support import ControllerProcess, ready, service_intent, wait_until

pytestmark = pytest.mark.e2e


async def list_all(intents: intent_pb2_grpc.IntentServiceAsyncStub) -> list[intent_pb2.Intent]:
    listed: list[intent_pb2.Intent] = []
    token = ""
    while True:
        page = await intents.ListIntents(
            intent_pb2.ListIntentsRequest(page_size=1000, page_token=token)
        )
        listed += page.intents
        token = page.next_page_token
        if not token:
            return listed


async def all_ready(intents: intent_pb2_grpc.IntentServiceAsyncStub, count: int) -> bool:
    listed = await list_all(intents)
    return len(listed) == count and all(ready(i) for i in listed)


async def instances(
    lifecycle: lifecycle_pb2_grpc.LifecycleServiceAsyncStub,
) -> dict[str, lifecycle_pb2.PluginInstanceStatus]:
    status = await lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    return {i.id: i for p in status.plugins for i in p.instances}


async def test_killed_plugin_instance_is_back_and_resynced_within_3s(
    controller: ControllerProcess, channel_for: list[grpc.aio.Channel]
) -> None:
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    channel_for.append(channel)
    intents = intent_pb2_grpc.IntentServiceStub(channel)
    lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(channel)
    await asyncio.gather(
        *(
            intents.ApplyIntent(
                intent_pb2.ApplyIntentRequest(intent=service_intent(f"svc-{i:03d}"))
            )
            for i in range(200)
        )
    )
    desired = [(f"svc-{i:03d}", 1) for i in range(200)]
    await wait_until(lambda: all_ready(intents, 200), timeout=30, what="200 intents Ready")

    victim = (await instances(lifecycle))["recorder-1"]
    os.kill(victim.pid, signal.SIGKILL)
    held: list[tuple[str, int]] = []

    async def back_and_resynced() -> bool:
        nonlocal held
        now = (await instances(lifecycle))["recorder-1"]
        if now.pid == victim.pid or now.state != lifecycle_pb2.INSTANCE_STATE_READY:
            return False
        plugin_channel = grpc.aio.insecure_channel(now.address)
        channel_for.append(plugin_channel)
        state = await plugin_pb2_grpc.PluginServiceStub(plugin_channel).GetState(
            plugin_pb2.GetStateRequest(), timeout=2
        )
        held = [(i.name, i.generation) for i in state.intents]
        return held == desired

    took = await wait_until(
        back_and_resynced, timeout=3.0, interval=0.05, what="recorder-1 resynced"
    )
    print(f"instance back and resynced in {took:.2f}s")
    assert held == desired
    await wait_until(lambda: all_ready(intents, 200), timeout=10, what="every intent Ready")


async def test_killed_controller_loses_no_acknowledged_intent(
    tmp_path: Path, controller: ControllerProcess, channel_for: list[grpc.aio.Channel]
) -> None:
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    channel_for.append(channel)
    intents = intent_pb2_grpc.IntentServiceStub(channel)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def burst(worker: int) -> None:
        for i in range(10_000):
            name = f"w{worker}-{i:05d}"
            try:
                await intents.ApplyIntent(
                    intent_pb2.ApplyIntentRequest(intent=service_intent(name)), timeout=5
                )
            except grpc.aio.AioRpcError:
                return  # the controller is gone
            acknowledged.append(name)
            if len(acknowledged) >= 300:
                enough.set()

    writers = [asyncio.create_task(burst(w)) for w in range(8)]
    await asyncio.wait_for(enough.wait(), 30)
    controller.kill9()  # mid-burst: writers are in flight
    await asyncio.gather(*writers)
    assert len(acknowledged) >= 300
    print(f"{len(acknowledged)} applies acknowledged before kill -9")

    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    channel_for.append(channel)
    intents = intent_pb2_grpc.IntentServiceStub(channel)
    missing = []
    for name in acknowledged:
        try:
            await intents.GetIntent(intent_pb2.GetIntentRequest(name=name))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
            missing.append(name)
    assert missing == [], f"{len(missing)} acknowledged intents lost"
    total = len(await list_all(intents))
    assert total >= len(acknowledged)
    await wait_until(lambda: all_ready(intents, total), timeout=60, what="every intent converges")


async def test_sigterm_drains_stops_plugins_and_exits_0(
    controller: ControllerProcess, channel_for: list[grpc.aio.Channel]
) -> None:
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    channel_for.append(channel)
    intents = intent_pb2_grpc.IntentServiceStub(channel)
    lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(channel)
    for i in range(20):
        await intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent(f"t{i}")))
    await wait_until(lambda: all_ready(intents, 20), what="20 intents Ready")
    pids = [i.pid for i in (await instances(lifecycle)).values()]
    assert controller.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    channel_for.append(channel)
    intents = intent_pb2_grpc.IntentServiceStub(channel)
    await wait_until(lambda: all_ready(intents, 20), what="20 intents Ready after restart")

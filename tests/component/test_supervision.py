"""The supervisor keeps plugin instances alive, resyncs them, and reports them in GetStatus."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tests.component.conftest import Running, start_controller
from tests.support import ready, service_intent, wait_until, write_plugin


async def instance_states(r: Running) -> dict[str, lifecycle_pb2.PluginInstanceStatus]:
    status = await r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    return {i.id: i for p in status.plugins for i in p.instances}


async def held(r: Running, index: int) -> list[tuple[str, int]]:
    state = await r.plugin_stub("recorder", index).GetState(plugin_pb2.GetStateRequest())
    return [(i.name, i.generation) for i in state.intents]


async def test_status_shows_every_instance(running: Running) -> None:
    status = await running.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    assert status.controller.state == lifecycle_pb2.CONTROLLER_STATE_SERVING
    (plugin,) = status.plugins
    assert (plugin.name, plugin.kind, plugin.replicas, plugin.ready_replicas) == (
        "recorder",
        "recorder",
        2,
        2,
    )
    assert plugin.fanout_mode == plugin_pb2.FANOUT_MODE_BROADCAST
    assert [i.id for i in plugin.instances] == ["recorder-0", "recorder-1"]
    for instance in plugin.instances:
        assert instance.state == lifecycle_pb2.INSTANCE_STATE_READY
        assert instance.pid > 0 and instance.address.startswith("127.0.0.1:")
        assert instance.last_sync_id
    health = health_pb2_grpc.HealthStub(running.channel)
    for service in ("", "tc.v1.IntentService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_killed_instance_is_restarted_and_resynced(running: Running) -> None:
    for i in range(20):
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service_intent(f"s{i}"))
        )
    desired = sorted((f"s{i}", 1) for i in range(20))
    await wait_until(lambda: _all_held(running, desired), what="both instances hold everything")
    before = (await instance_states(running))["recorder-1"]
    os.kill(before.pid, signal.SIGKILL)

    async def back() -> bool:
        now = (await instance_states(running))["recorder-1"]
        return now.pid != before.pid and now.state == lifecycle_pb2.INSTANCE_STATE_READY

    await wait_until(back, what="recorder-1 back and ready")
    after = (await instance_states(running))["recorder-1"]
    assert after.restarts == before.restarts + 1
    assert "exited with code" in after.last_error or after.last_error == ""
    assert await held(running, 1) == desired


async def _all_held(r: Running, desired: list[tuple[str, int]]) -> bool:
    return await held(r, 0) == desired and await held(r, 1) == desired


async def test_restart_plugin_instance_rpc(running: Running) -> None:
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("r")))
    await wait_until(lambda: _all_held(running, [("r", 1)]), what="held")
    before = (await instance_states(running))["recorder-0"]
    await running.lifecycle.RestartPluginInstance(
        lifecycle_pb2.RestartPluginInstanceRequest(plugin="recorder", instance="recorder-0")
    )

    async def replaced() -> bool:
        now = (await instance_states(running))["recorder-0"]
        return now.pid != before.pid and now.state == lifecycle_pb2.INSTANCE_STATE_READY

    await wait_until(replaced, what="recorder-0 replaced")
    assert await held(running, 0) == [("r", 1)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.lifecycle.RestartPluginInstance(
            lifecycle_pb2.RestartPluginInstanceRequest(plugin="recorder", instance="nope")
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_crashing_plugin_is_reported_and_controller_not_serving(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins.d", "broken", fanout="sideways")
    r = await start_controller(tmp_path, restart_base_seconds=0.01, crash_loop_restarts=3)
    try:

        async def looping() -> bool:
            states = await instance_states(r)
            return all(s.crash_looping for s in states.values())

        await wait_until(looping, what="crash loop reported")
        states = await instance_states(r)
        assert all("bad settings" in s.last_error for s in states.values()), states
        health = health_pb2_grpc.HealthStub(r.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        # Intents are still accepted and stored while plugins are down: nothing is lost.
        response = await r.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service_intent("q"))
        )
        assert response.result == intent_pb2.APPLY_RESULT_CREATED
        assert not ready(response.intent)
    finally:
        await r.channel.close()
        await r.controller.stop()


async def test_a_broken_plugin_does_not_stall_the_others(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins.d", "broken", fanout="sideways")
    write_plugin(tmp_path / "plugins.d", "good")
    r = await start_controller(tmp_path, restart_base_seconds=0.05, plugin_start_timeout_seconds=1)
    try:
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("on")))

        async def on_ready() -> bool:
            got = await r.intents.GetIntent(intent_pb2.GetIntentRequest(name="on"))
            return ready(got.intent)

        await wait_until(on_ready, what="intent Ready through the good plugin")
    finally:
        await r.channel.close()
        await r.controller.stop()

"""Routing by what plugins declare in Describe: intent kinds, and ANY vs BROADCAST fan-out."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tests.component.conftest import Running, start_controller
from tests.support import dns_intent, ready, service_intent, wait_until, write_plugin


async def held(r: Running, plugin: str, index: int) -> set[str]:
    state = await r.plugin_stub(plugin, index).GetState(plugin_pb2.GetStateRequest())
    return {i.name for i in state.intents}


async def started(tmp_path: Path) -> Running:
    r = await start_controller(tmp_path)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="every instance ready",
    )
    return r


async def get(r: Running, name: str) -> intent_pb2.Intent:
    return (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent


async def test_each_kind_goes_only_to_the_plugins_that_declared_it(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins.d"
    write_plugin(plugins, "mesh", intent_kinds=["service", "workload"])
    write_plugin(plugins, "names", intent_kinds=["dns", "service"], fanout="any")
    r = await started(tmp_path)
    try:
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("web")))
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=dns_intent("mx")))

        async def both_ready() -> bool:
            return ready(await get(r, "web")) and ready(await get(r, "mx"))

        await wait_until(both_ready, what="web and mx Ready")
        web, mx = await get(r, "web"), await get(r, "mx")
        assert [p.plugin for p in web.status.plugins] == ["mesh", "names"]
        assert [p.plugin for p in mx.status.plugins] == ["names"]
        # BROADCAST: every mesh instance holds web; ANY: exactly one names instance holds each.
        assert await held(r, "mesh", 0) == await held(r, "mesh", 1) == {"web"}
        names = [await held(r, "names", 0), await held(r, "names", 1)]
        for intent in ("web", "mx"):
            assert sum(intent in h for h in names) == 1, names
        any_status = next(p for p in web.status.plugins if p.plugin == "names")
        assert len(any_status.instances) == 1
    finally:
        await r.channel.close()
        await r.controller.stop()


async def test_any_mode_fails_over_when_an_instance_dies(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins.d", "names", fanout="any", intent_kinds=["dns"])
    r = await started(tmp_path)
    try:
        status = await r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
        victim = status.plugins[0].instances[0]
        os.kill(victim.pid, signal.SIGKILL)
        for i in range(10):
            await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=dns_intent(f"d{i}")))

        async def all_ready() -> bool:
            return all([ready(await get(r, f"d{i}")) for i in range(10)])

        await wait_until(all_ready, what="every dns intent Ready despite a dead instance")
        for i in range(10):
            (plugin,) = (await get(r, f"d{i}")).status.plugins
            assert plugin.plugin == "names" and len(plugin.instances) == 1
    finally:
        await r.channel.close()
        await r.controller.stop()


async def test_periodic_resync_restores_state_changed_behind_our_back(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins.d")
    r = await start_controller(tmp_path, resync_interval_seconds=0.5)
    try:
        await wait_until(
            lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
            what="every instance ready",
        )
        intent = service_intent("kept")
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))
        await wait_until(lambda: _held_everywhere(r, {"kept"}), what="kept held")
        # Someone removes it from one instance directly, bypassing the controller.
        stored = await get(r, "kept")
        await r.plugin_stub("recorder", 1).Remove(plugin_pb2.RemoveRequest(intents=[stored]))
        assert await held(r, "recorder", 1) == set()
        await wait_until(lambda: _held_everywhere(r, {"kept"}), what="resync restored kept")
    finally:
        await r.channel.close()
        await r.controller.stop()


async def _held_everywhere(r: Running, names: set[str]) -> bool:
    return await held(r, "recorder", 0) == names and await held(r, "recorder", 1) == names

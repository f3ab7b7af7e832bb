"""An in-process controller on port 0 with real recorder plugin processes; a real BIND."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc, lifecycle_pb2_grpc, plugin_pb2_grpc
from tc.server.app import Controller
from tc.server.plugin_config import load_plugin_configs
from tc.server.settings import ControllerSettings
from tests.bind import ALGORITHMS, BindServer
from tests.support import ready, wait_until, write_plugin


@dataclass
class Running:
    controller: Controller
    channel: grpc.aio.Channel
    intents: intent_pb2_grpc.IntentServiceAsyncStub
    lifecycle: lifecycle_pb2_grpc.LifecycleServiceAsyncStub

    async def get(self, name: str) -> intent_pb2.Intent:
        return (await self.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent

    async def ready(self, name: str) -> bool:
        """The intent is Ready at its current generation (for wait_until)."""
        return ready(await self.get(name))

    async def gone(self, name: str) -> bool:
        """The intent is deleted: GetIntent answers NOT_FOUND (for wait_until)."""
        try:
            await self.get(name)
        except grpc.aio.AioRpcError as exc:
            return exc.code() == grpc.StatusCode.NOT_FOUND
        return False

    def plugin_stub(self, plugin: str, index: int) -> plugin_pb2_grpc.PluginServiceAsyncStub:
        group = self.controller.supervisor.group(plugin)
        assert group is not None
        stub = group.instances[index].stub
        assert stub is not None
        return stub


async def start_controller(tmp_path: Path, **overrides: object) -> Running:
    plugins = tmp_path / "plugins.d"
    if not plugins.exists():
        write_plugin(plugins)
    settings = ControllerSettings(
        grpc_address="127.0.0.1:0",
        state_dir=tmp_path / "state",
        plugins_dir=plugins,
        store_synchronous="NORMAL",
        **overrides,  # type: ignore[arg-type]
    )
    controller = Controller(settings, load_plugin_configs(plugins))
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address)
    return Running(
        controller,
        channel,
        intent_pb2_grpc.IntentServiceStub(channel),
        lifecycle_pb2_grpc.LifecycleServiceStub(channel),
    )


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    r = await start_controller(tmp_path)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="every plugin instance ready",
    )
    yield r
    await r.channel.close()
    await r.controller.stop()


BIND_ZONES = ("example.com", "example.net")


@pytest.fixture(scope="module")
def bind_server() -> Iterator[BindServer]:
    """One real `named` per test module, serving BIND_ZONES to a hmac-sha256 key (and to
    one key of each other algorithm). Tests share it: each writes under names of its own."""
    extra = [a for a in ALGORITHMS if a != "hmac-sha256"]
    with BindServer(BIND_ZONES, extra_keys=extra) as server:
        yield server

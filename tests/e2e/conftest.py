"""End-to-end fixtures: the controller and its plugins as real processes."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.component.conftest import Running, start_controller
from tests.e2e.test_xds_envoy import ENVOY, free_port
from tests.support import (
    ControllerProcess,
    HttpBackend,
    proxy_bootstrap,
    wait_until,
    write_envoy_plugin,
    write_plugin,
)


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "plugins.d"
    write_plugin(directory)
    return directory


@pytest.fixture
async def controller(tmp_path: Path, plugins_dir: Path) -> AsyncIterator[ControllerProcess]:
    process = ControllerProcess(tmp_path / "state", plugins_dir)
    yield process
    process.stop()


@pytest.fixture
async def channel_for() -> AsyncIterator[list[grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []
    yield channels
    for channel in channels:
        await channel.close()


@pytest.fixture
def backend() -> Iterator[int]:
    server = HttpBackend(b"hello from the backend")
    yield server.port
    server.stop()


@dataclass
class Mesh:
    r: Running
    listener_port: int
    url: str
    admin_path: Path
    """Where Envoy wrote its admin address (host:port)."""


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    ports = [free_port(), free_port()]
    write_envoy_plugin(tmp_path / "plugins.d", ports)
    r = await start_controller(tmp_path, restart_base_seconds=0.5)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="both envoy instances ready",
    )
    # The example bootstrap, pointed at this test's two instances.
    boot = proxy_bootstrap(tmp_path / "proxy.yaml", ports)
    listener_port = free_port()
    log_path = tmp_path / "envoy.log"
    with log_path.open("wb") as log:
        envoy = subprocess.Popen(
            [
                str(ENVOY),
                "-c",
                str(boot),
                "--base-id",
                str(listener_port),
                "--admin-address-path",
                str(tmp_path / "admin.address"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Mesh(
            r, listener_port, f"http://127.0.0.1:{listener_port}/", tmp_path / "admin.address"
        )
    finally:
        envoy.terminate()
        envoy.wait(10)
        await r.channel.close()
        await r.controller.stop()

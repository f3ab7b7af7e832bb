"""End-to-end fixtures: the controller and its plugins as real processes."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
import yaml

from tests.component.conftest import Running, start_controller
from tests.e2e.test_xds_envoy import ENVOY, free_port
from tests.support import ROOT, ControllerProcess, wait_until, write_plugin


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


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the backend"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


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
    plugins = tmp_path / "plugins.d"
    plugins.mkdir()
    (plugins / "envoy.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "envoy",
                "module": "tc.plugins.envoy",
                "listen": [f"127.0.0.1:{p}" for p in ports],
                "settings": {"listen_address": "127.0.0.1"},
            }
        )
    )
    r = await start_controller(tmp_path, restart_base_seconds=0.5)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="both envoy instances ready",
    )
    # The example bootstrap, pointed at this test's two instances.
    text = (ROOT / "examples" / "envoy-proxy.yaml").read_text()
    text = text.replace("port_value: 18000", f"port_value: {ports[0]}")
    text = text.replace("port_value: 18001", f"port_value: {ports[1]}")
    text = text.replace("port_value: 9901", "port_value: 0")
    boot = tmp_path / "proxy.yaml"
    boot.write_text(text)
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

"""The envoy plugin behind a real controller, followed by a real Envoy proxy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import httpx
import pytest

from tc._proto.tc.v1 import intent_pb2
from tests.component.conftest import start_controller
from tests.e2e.test_xds_envoy import ENVOY, bootstrap, free_port
from tests.support import ready, wait_until, write_envoy_plugin

pytestmark = pytest.mark.e2e


def web(name: str, backend_port: int, listener_port: int) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        service=intent_pb2.ServiceSpec(
            hosts=[f"{name}.example.com"],
            ports=[
                intent_pb2.Port(
                    number=listener_port,
                    protocol=intent_pb2.PROTOCOL_HTTP,
                    target_port=backend_port,
                )
            ],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=backend_port)],
        ),
    )


async def test_route_through_envoy_then_delete_gives_404(tmp_path: Path, backend: int) -> None:
    ports = [free_port(), free_port()]
    write_envoy_plugin(tmp_path / "plugins.d", ports)
    r = await start_controller(tmp_path)
    listener_port = free_port()
    envoy: subprocess.Popen[bytes] | None = None
    try:
        await wait_until(r.controller.all_plugins_ready, what="envoy plugin ready")
        for name in ("web", "api"):
            await r.intents.ApplyIntent(
                intent_pb2.ApplyIntentRequest(intent=web(name, backend, listener_port))
            )
        boot = bootstrap(tmp_path / "bootstrap.yaml", f"127.0.0.1:{ports[0]}", "GRPC")
        log_path = tmp_path / "envoy.log"
        with log_path.open("wb") as log:
            envoy = subprocess.Popen(
                [str(ENVOY), "-c", str(boot), "--base-id", str(listener_port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{listener_port}/"
        async with httpx.AsyncClient(timeout=2) as client:

            async def answers(host: str, code: int) -> bool:
                assert envoy is not None and envoy.poll() is None, log_path.read_text()[-3000:]
                try:
                    got = await client.get(url, headers={"host": host})
                except httpx.TransportError:
                    return False
                return got.status_code == code

            await wait_until(lambda: answers("web.example.com", 200), timeout=30, what="200")
            got = await client.get(url, headers={"host": "web.example.com"})
            assert got.text == "hello from the backend"
            intent = (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name="web"))).intent
            assert ready(intent)

            await r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="web"))

            async def gone() -> bool:
                try:
                    await r.intents.GetIntent(intent_pb2.GetIntentRequest(name="web"))
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.NOT_FOUND
                return False

            await wait_until(gone, what="web deleted")
            await wait_until(lambda: answers("web.example.com", 404), what="404 after delete")
            assert await answers("api.example.com", 200)
    finally:
        if envoy is not None:
            envoy.terminate()
            envoy.wait(10)
        await r.channel.close()
        await r.controller.stop()

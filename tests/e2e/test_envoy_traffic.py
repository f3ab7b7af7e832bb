"""Traffic through a real Envoy that follows both envoy plugin instances (the example
bootstrap): a 90/10 split holds over 2,000 requests, and killing the instance the proxy is
connected to fails no request while the proxy moves to the other."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator

import httpx
import pytest

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tests.component.conftest import Running
from tests.e2e.conftest import Mesh
from tests.support import HttpBackend, ready, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def versions() -> Iterator[dict[str, int]]:
    servers = {name: HttpBackend(name.encode()) for name in ("v1", "v2")}
    yield {name: s.port for name, s in servers.items()}
    for s in servers.values():
        s.stop()


def shop(listener_port: int, versions: dict[str, int], name: str = "shop") -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        service=intent_pb2.ServiceSpec(
            hosts=[f"{name}.example.com"],
            ports=[intent_pb2.Port(number=listener_port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[
                intent_pb2.Endpoint(address="127.0.0.1", port=port, subset=subset)
                for subset, port in sorted(versions.items())
            ],
        ),
    )


async def apply(r: Running, intent: intent_pb2.Intent) -> None:
    await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))


async def get_body(client: httpx.AsyncClient, url: str, host: str) -> str | None:
    try:
        got = await client.get(url, headers={"host": host})
    except httpx.TransportError:
        return None
    return got.text if got.status_code == 200 else None


async def test_a_90_10_split_holds_over_2000_requests(mesh: Mesh, versions: dict[str, int]) -> None:
    await apply(mesh.r, shop(mesh.listener_port, versions))
    canary = intent_pb2.Intent(
        name="shop-canary",
        workload=intent_pb2.WorkloadSpec(
            target="shop",
            split=[
                intent_pb2.TrafficSplit(subset="v1", weight=90),
                intent_pb2.TrafficSplit(subset="v2", weight=10),
            ],
        ),
    )
    await apply(mesh.r, canary)

    async def canary_ready() -> bool:
        got = await mesh.r.intents.GetIntent(intent_pb2.GetIntentRequest(name="shop-canary"))
        return ready(got.intent)

    await wait_until(canary_ready, what="canary Ready")
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(timeout=5, limits=limits) as client:
        # Ready means in the snapshot; the proxy applies it a moment later. A 90/10 route
        # is in effect once v2 answers at all (v1 alone served before).
        async def split_seen() -> bool:
            bodies = await asyncio.gather(
                *(get_body(client, mesh.url, "shop.example.com") for _ in range(40))
            )
            return "v2" in bodies

        await wait_until(split_seen, timeout=30, what="the split in Envoy")
        bodies = await asyncio.gather(
            *(get_body(client, mesh.url, "shop.example.com") for _ in range(2000))
        )
    assert None not in bodies, "every request answered 200"
    share = bodies.count("v2") / len(bodies)
    assert 0.07 <= share <= 0.13, f"v2 got {share:.1%} of 2000 requests, want 10% +- 3 points"


async def test_proxy_survives_kill_9_of_its_instance(mesh: Mesh, versions: dict[str, int]) -> None:
    await apply(mesh.r, shop(mesh.listener_port, {"v1": versions["v1"]}))
    async with httpx.AsyncClient(timeout=5) as client:

        async def answers(host: str) -> bool:
            return await get_body(client, mesh.url, host) == "v1"

        await wait_until(lambda: answers("shop.example.com"), timeout=30, what="shop via Envoy")

        async def proxies(index: int) -> int:
            stub = mesh.r.plugin_stub("envoy", index)
            state = await stub.GetState(plugin_pb2.GetStateRequest(), timeout=2)
            return int(state.details.get("proxies", "0"))

        connected = 0 if await proxies(0) else 1
        other = 1 - connected
        status = await mesh.r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
        victim = status.plugins[0].instances[connected]

        failures = 0
        sent = 0
        stop = asyncio.Event()

        async def load() -> None:
            nonlocal failures, sent
            while not stop.is_set():
                sent += 1
                if await get_body(client, mesh.url, "shop.example.com") != "v1":
                    failures += 1

        traffic = asyncio.create_task(load())
        os.kill(victim.pid, signal.SIGKILL)

        async def moved() -> bool:
            try:
                return await proxies(other) == 1
            except Exception:
                return False

        await wait_until(moved, timeout=30, what="the proxy on the other instance")
        await apply(mesh.r, shop(mesh.listener_port, {"v1": versions["v1"]}, name="late"))
        await wait_until(lambda: answers("late.example.com"), timeout=30, what="a new intent")
        stop.set()
        await traffic
    assert sent > 0
    assert failures == 0, f"{failures} of {sent} requests failed during the failover"


async def test_a_config_envoy_rejects_shows_on_the_intent(
    mesh: Mesh, versions: dict[str, int]
) -> None:
    await apply(mesh.r, shop(mesh.listener_port, {"v1": versions["v1"]}))
    async with httpx.AsyncClient(timeout=5) as client:
        await wait_until(
            lambda: _answers(client, mesh.url, "shop.example.com"), timeout=30, what="shop"
        )
    # A listener on a port something else holds: Envoy cannot bind it and NACKs the LDS update.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        await apply(mesh.r, shop(busy, {"v1": versions["v1"]}, name="blocked"))

        async def rejected() -> bool:
            got = await mesh.r.intents.GetIntent(intent_pb2.GetIntentRequest(name="blocked"))
            return any(
                c.type == "Programmed"
                and c.status == intent_pb2.CONDITION_STATUS_FALSE
                and "rejected" in c.message
                for c in got.intent.status.conditions
            )

        await wait_until(rejected, timeout=30, what="Programmed=False with Envoy's message")
        got = await mesh.r.intents.GetIntent(intent_pb2.GetIntentRequest(name="blocked"))
        programmed = next(c for c in got.intent.status.conditions if c.type == "Programmed")
        assert "Listener" in programmed.message, programmed.message
        assert programmed.reason == "Rejected"


async def _answers(client: httpx.AsyncClient, url: str, host: str) -> bool:
    return await get_body(client, url, host) == "v1"

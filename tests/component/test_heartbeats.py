"""The heartbeat monitor inside a real controller (recorder plugins that declare endpoint
health, real sockets as endpoints): probes, pushed heartbeats, what a transition changes
(plugins, the Healthy condition, events) and what a restart forgets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tests.component.conftest import Running, start_controller
from tests.support import wait_until, write_plugin

INTERVAL = 0.2


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP endpoint that accepts connections (the kernel completes the handshake)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def seconds(value: float) -> Duration:
    out = Duration()
    out.FromNanoseconds(int(value * 1e9))
    return out


def service(name: str, ports: list[int], *, interval: float = INTERVAL) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        service=intent_pb2.ServiceSpec(
            hosts=[f"{name}.example.com"],
            ports=[intent_pb2.Port(number=80, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=p) for p in ports],
            health_check=intent_pb2.HealthCheck(
                type=intent_pb2.HEALTH_CHECK_TYPE_TCP,
                interval=seconds(interval),
                timeout=seconds(interval / 2),
                unhealthy_threshold=2,
                healthy_threshold=1,
            ),
        ),
    )


async def _start(tmp_path: Path) -> Running:
    plugins = tmp_path / "plugins.d"
    write_plugin(plugins, "edge", endpoint_health=True)
    write_plugin(plugins, "names", fanout="any", endpoint_health=True)
    r = await start_controller(tmp_path, retry_base_seconds=0.05)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="every plugin instance ready",
    )
    return r


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    r = await _start(tmp_path)
    yield r
    await r.channel.close()
    await r.controller.stop()


async def health(r: Running, service: str, port: int) -> int:
    listed = await r.lifecycle.ListMicroservices(
        lifecycle_pb2.ListMicroservicesRequest(service=service)
    )
    return next((m.health for m in listed.microservices if m.port == port), 0)


async def healthy(r: Running, name: str) -> intent_pb2.Condition | None:
    intent = await r.get(name)
    return next((c for c in intent.status.conditions if c.type == "Healthy"), None)


async def plugin_health(r: Running, plugin: str, index: int, service: str) -> str:
    state = await r.plugin_stub(plugin, index).GetState(plugin_pb2.GetStateRequest())
    return state.details.get(f"health.{service}", "")


async def test_a_dead_endpoint_reaches_plugins_status_and_events(
    running: Running, listener: socket.socket
) -> None:
    r = running
    alive, dead = listener.getsockname()[1], closed_port()
    events = r.lifecycle.WatchEvents(
        lifecycle_pb2.WatchEventsRequest(types=["microservice.down", "microservice.up"])
    )
    await events.initial_metadata()
    await r.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service("shop", [alive, dead]))
    )

    async def down_everywhere() -> bool:
        want = {f"127.0.0.1:{alive}=up", f"127.0.0.1:{dead}=down"}
        held = [set((await plugin_health(r, "edge", i, "shop")).split(",")) for i in (0, 1)]
        return held == [want, want]

    await wait_until(down_everywhere, what="both broadcast instances hold the health")
    assert await health(r, "shop", dead) == lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY
    assert await health(r, "shop", alive) == lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY

    async def condition_false() -> bool:
        c = await healthy(r, "shop")
        return c is not None and c.status == intent_pb2.CONDITION_STATUS_FALSE

    await wait_until(condition_false, what="Healthy=False on the intent")
    condition = await healthy(r, "shop")
    assert condition is not None and condition.reason == "EndpointsUnhealthy"
    assert "1 of 2 endpoints unhealthy" in condition.message
    intent = await r.get("shop")
    ready = next(c for c in intent.status.conditions if c.type == "Ready")
    assert ready.status == intent_pb2.CONDITION_STATUS_TRUE, "health is not readiness"

    event = await asyncio.wait_for(events.read(), 10)
    assert event.type == "microservice.down"
    assert event.subject == "shop" and f"127.0.0.1:{dead}" in event.message

    listed = await r.lifecycle.ListMicroservices(lifecycle_pb2.ListMicroservicesRequest())
    down = next(m for m in listed.microservices if m.port == dead)
    assert down.consecutive_failures >= 2 and "refused" in down.last_error.lower()
    assert down.HasField("last_transition_time") and down.HasField("last_probe_time")

    with socket.socket() as back:
        back.bind(("127.0.0.1", dead))
        back.listen()
        event = await asyncio.wait_for(events.read(), 10)
        assert event.type == "microservice.up" and f"127.0.0.1:{dead}" in event.message
        await wait_until(
            lambda: condition_is(r, "shop", intent_pb2.CONDITION_STATUS_TRUE), what="Healthy=True"
        )
    events.cancel()


async def test_a_pushed_heartbeat_stands_in_for_probes_until_its_ttl(running: Running) -> None:
    r = running
    dead = closed_port()  # every probe would fail: only the push keeps it healthy
    await r.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service("cart", [dead], interval=0.3))
    )
    await wait_until(lambda: r.controller.heartbeats.counts("cart") is not None, what="checked")
    await r.lifecycle.Heartbeat(
        lifecycle_pb2.HeartbeatRequest(
            service="cart", address="127.0.0.1", port=dead, ttl=Duration(seconds=2)
        )
    )
    assert await health(r, "cart", dead) == lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY
    # While the push holds, no probe counts: no failure is recorded.
    listed = await r.lifecycle.ListMicroservices(lifecycle_pb2.ListMicroservicesRequest())
    assert listed.microservices[0].consecutive_failures == 0
    await wait_until(
        lambda: _equals(health(r, "cart", dead), lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY),
        timeout=10,
        what="probes take over after the TTL",
    )


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


@pytest.mark.parametrize(
    ("request_fields", "code", "field"),
    [
        ({"address": "127.0.0.1", "port": 80}, grpc.StatusCode.INVALID_ARGUMENT, "service"),
        ({"service": "shop", "port": 80}, grpc.StatusCode.INVALID_ARGUMENT, "address"),
        ({"service": "shop", "address": "127.0.0.1"}, grpc.StatusCode.INVALID_ARGUMENT, "port"),
        (
            {"service": "shop", "address": "127.0.0.1", "port": 80, "ttl": Duration(seconds=-1)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "ttl",
        ),
        (
            {"service": "nope", "address": "127.0.0.1", "port": 80},
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        (
            {"service": "shop", "address": "10.9.9.9", "port": 80},
            grpc.StatusCode.NOT_FOUND,
            "10.9.9.9:80",
        ),
    ],
)
async def test_bad_heartbeats_are_refused_naming_the_field(
    running: Running, request_fields: dict[str, object], code: grpc.StatusCode, field: str
) -> None:
    await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service("shop", [closed_port()], interval=5))
    )
    await wait_until(
        lambda: running.controller.heartbeats.counts("shop") is not None, what="checked"
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.lifecycle.Heartbeat(lifecycle_pb2.HeartbeatRequest(**request_fields))  # type: ignore[arg-type]
    assert info.value.code() == code
    assert field in (info.value.details() or "")


async def condition_is(r: Running, name: str, status: int) -> bool:
    c = await healthy(r, name)
    return c is not None and c.status == status


async def test_after_a_restart_endpoints_start_unknown(tmp_path: Path) -> None:
    r = await _start(tmp_path)
    dead = closed_port()
    try:
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service("shop", [dead])))
        await wait_until(
            lambda: condition_is(r, "shop", intent_pb2.CONDITION_STATUS_FALSE), what="down"
        )
        # A long interval from now on (the endpoint keeps its verdict): after the restart
        # the first probe is seconds away, so what shows is the restart's own verdict.
        await r.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service("shop", [dead], interval=60))
        )

        async def stored_down_at_generation_2() -> bool:
            intent = await r.get("shop")
            c = await healthy(r, "shop")
            return (
                intent.status.observed_generation == 2
                and c is not None
                and c.status == (intent_pb2.CONDITION_STATUS_FALSE)
            )

        await wait_until(stored_down_at_generation_2, what="Healthy=False stored")
    finally:
        await r.channel.close()
        await r.controller.stop()
    r = await _start(tmp_path)
    try:
        assert await health(r, "shop", dead) == lifecycle_pb2.ENDPOINT_HEALTH_UNKNOWN
        await wait_until(
            lambda: condition_is(r, "shop", intent_pb2.CONDITION_STATUS_UNKNOWN),
            what="Healthy=Unknown after the restart",
        )
        held = [await plugin_health(r, "edge", i, "shop") for i in (0, 1)]
        assert held == ["", ""], "no plugin instance was told the old verdict"
    finally:
        await r.channel.close()
        await r.controller.stop()


async def test_microservices_come_a_page_at_a_time(running: Running) -> None:
    ports = [closed_port() for _ in range(3)]
    for name in ("a-svc", "b-svc"):
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service(name, ports, interval=30))
        )
    await wait_until(
        lambda: running.controller.heartbeats.counts("b-svc") is not None, what="checked"
    )
    seen: list[tuple[str, int]] = []
    token = ""
    while True:
        page = await running.lifecycle.ListMicroservices(
            lifecycle_pb2.ListMicroservicesRequest(page_size=4, page_token=token)
        )
        assert len(page.microservices) <= 4
        seen.extend((m.service, m.port) for m in page.microservices)
        token = page.next_page_token
        if not token:
            break
    assert seen == [(name, p) for name in ("a-svc", "b-svc") for p in sorted(ports)]
    for bad in ({"page_size": -1}, {"page_token": "bm90IGEgdG9rZW4"}):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.lifecycle.ListMicroservices(lifecycle_pb2.ListMicroservicesRequest(**bad))  # type: ignore[arg-type]
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert next(iter(bad)) in (info.value.details() or "")

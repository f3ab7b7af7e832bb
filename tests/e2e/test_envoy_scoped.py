"""Scoped routes through a real Envoy that follows both envoy plugin instances (the example
bootstrap): a service is found by (port, Host), the same host on two ports reaches each
port's own service, and a wildcard host turns its port back to one route configuration and
back again without losing anyone.

Every request opens its own connection: a layout change replaces a listener, and a kept-alive
connection would go on talking to the old one while it drains.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tc.plugins.envoy.resources import LISTENER_PORT_HEADER
from tests.e2e.conftest import Mesh
from tests.e2e.test_envoy_traffic import apply
from tests.e2e.test_xds_envoy import free_port
from tests.support import HttpBackend, wait_until

pytestmark = pytest.mark.e2e


def _echo(name: str) -> HttpBackend:
    """Answers "<name> <the listener port header it was sent, or ->"."""
    return HttpBackend(lambda headers: f"{name} {headers.get(LISTENER_PORT_HEADER, '-')}".encode())


@pytest.fixture
def echoes() -> Iterator[dict[str, int]]:
    servers = {name: _echo(name) for name in ("alpha", "beta", "gamma")}
    yield {name: server.port for name, server in servers.items()}
    for server in servers.values():
        server.stop()


def web(name: str, host: str, port: int, backend: int) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        service=intent_pb2.ServiceSpec(
            hosts=[host],
            ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=backend)],
        ),
    )


async def get(port: int, host: str, **headers: str) -> str | None:
    """The body of a 200 on a fresh connection, else None."""
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            got = await client.get(
                f"http://127.0.0.1:{port}/",
                headers={"host": host, "connection": "close", **headers},
            )
        except httpx.TransportError:
            return None
    return got.text if got.status_code == 200 else None


async def admin_stat(mesh: Mesh, name: str) -> int | None:
    admin = f"http://{mesh.admin_path.read_text().strip()}"
    async with httpx.AsyncClient(timeout=5) as client:
        stats = (await client.get(f"{admin}/stats?filter={name}")).text
    for line in stats.splitlines():
        stat, _, value = line.partition(": ")
        if stat == name:
            return int(value)
    return None


async def test_a_service_is_reached_through_its_scope(mesh: Mesh, echoes: dict[str, int]) -> None:
    port = mesh.listener_port
    await apply(mesh.r, web("alpha", "alpha.example.com", port, echoes["alpha"]))

    async def answers() -> bool:
        return await get(port, "alpha.example.com") == "alpha -"

    await wait_until(answers, timeout=30, what="alpha through its scope")
    await wait_until(lambda: mesh.r.ready("alpha"), timeout=30, what="alpha Ready")
    stats = f"http.http_{port}.scoped_rds.scopes_{port}"
    # alpha.example.com and alpha.default.svc.cluster.local, fetched on demand: the one
    # route configuration both scopes name was loaded by the first request.
    assert await admin_stat(mesh, f"{stats}.all_scopes") == 2
    assert await admin_stat(mesh, f"{stats}.on_demand_scopes") == 2
    assert await admin_stat(mesh, f"{stats}.active_scopes") == 1
    assert await get(port, "alpha.default.svc.cluster.local") == "alpha -"
    # The Host with its port picks the same scope; the header set for the key never
    # reaches the backend, and a client sending it cannot pick another port's scope.
    assert await get(port, f"alpha.example.com:{port}") == "alpha -"
    other = {LISTENER_PORT_HEADER: str(port + 1)}
    assert await get(port, "alpha.example.com", **other) == "alpha -"
    assert await get(port, "nobody.example.com") is None


async def test_the_same_host_on_two_ports_reaches_each_ports_service(
    mesh: Mesh, echoes: dict[str, int]
) -> None:
    first, second = mesh.listener_port, free_port()
    host = "shared.example.com"
    await apply(mesh.r, web("alpha", host, first, echoes["alpha"]))
    await apply(mesh.r, web("beta", host, second, echoes["beta"]))

    async def both() -> bool:
        return (await get(first, host), await get(second, host)) == ("alpha -", "beta -")

    await wait_until(both, timeout=30, what="each port's own service")
    for name in ("alpha", "beta"):
        await wait_until(lambda n=name: mesh.r.ready(n), timeout=30, what=f"{name} Ready")

    # A wildcard host on the first port: that port falls back to one route configuration,
    # every service on it still answers, and the other port stays as it was.
    await apply(mesh.r, web("gamma", "*.wild.example.com", first, echoes["gamma"]))

    async def wildcard() -> bool:
        return await get(first, "any.wild.example.com") == "gamma -"

    await wait_until(wildcard, timeout=30, what="the wildcard host on the plain port")
    assert await both()
    loaded = await admin_stat(mesh, f"http.http_{first}.rds.route_{first}.update_success")
    assert loaded is not None and loaded >= 1, "the port's one route configuration came over RDS"
    await wait_until(lambda: mesh.r.ready("gamma"), timeout=30, what="gamma Ready")

    # And back: without the wildcard, the first port is scoped again.
    await mesh.r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="gamma"))

    async def wildcard_gone() -> bool:
        return await get(first, "any.wild.example.com") is None

    await wait_until(wildcard_gone, timeout=30, what="the wildcard host gone")
    assert await both()
    await apply(mesh.r, web("late", "late.example.com", first, echoes["gamma"]))
    await wait_until(lambda: get(first, "late.example.com"), timeout=30, what="a new service after")
    await wait_until(lambda: mesh.r.ready("late"), timeout=30, what="late Ready")


async def test_a_proxy_is_programmed_before_it_fetches_a_route_on_demand(
    mesh: Mesh, echoes: dict[str, int]
) -> None:
    """The proxy subscribes to a service's route configuration at its first request: the
    service is Ready (programmed on every proxy) before that, and the request is answered."""
    port = mesh.listener_port
    await apply(mesh.r, web("alpha", "alpha.example.com", port, echoes["alpha"]))
    await wait_until(lambda: get(port, "alpha.example.com"), timeout=30, what="alpha answers")
    await apply(mesh.r, web("beta", "beta.example.com", port, echoes["beta"]))
    await wait_until(lambda: mesh.r.ready("beta"), timeout=30, what="beta Ready")
    stats = f"http.http_{port}.scoped_rds.scopes_{port}"
    assert await admin_stat(mesh, f"{stats}.all_scopes") == 4
    assert await admin_stat(mesh, f"{stats}.active_scopes") == 1  # beta's route not fetched
    assert await get(port, "beta.example.com") == "beta -"  # the first request fetches it
    assert await admin_stat(mesh, f"{stats}.active_scopes") == 2


async def test_a_first_request_during_failover_is_answered(
    mesh: Mesh, echoes: dict[str, int]
) -> None:
    """A service nobody asked for yet, then `kill -9` of the plugin instance the proxy
    follows: the first request for the service needs its route configuration on demand
    while the proxy has no control plane, and is answered once it reconnects."""
    port = mesh.listener_port
    await apply(mesh.r, web("alpha", "alpha.example.com", port, echoes["alpha"]))
    await wait_until(lambda: get(port, "alpha.example.com"), timeout=30, what="alpha answers")
    await apply(mesh.r, web("beta", "beta.example.com", port, echoes["beta"]))
    await wait_until(lambda: mesh.r.ready("beta"), timeout=30, what="beta Ready")
    status = await mesh.r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    for index, instance in enumerate(status.plugins[0].instances):
        state = await mesh.r.plugin_stub("envoy", index).GetState(
            plugin_pb2.GetStateRequest(), timeout=2
        )
        if state.details.get("proxies") == "1":
            os.kill(instance.pid, signal.SIGKILL)
            break
    else:
        pytest.fail("no instance had the proxy")
    # Envoy holds the request until it has reconnected to the other instance and fetched
    # the route configuration (0.1-0.5 s here), within get's 5 s timeout.
    assert await get(port, "beta.example.com") == "beta -"

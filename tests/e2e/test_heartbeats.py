"""Heartbeats end to end: real backends behind a real Envoy that follows both envoy plugin
instances. A backend that stops (HTTP) or reports NOT_SERVING (gRPC health) is marked
unhealthy by the controller's monitor within threshold x interval, Envoy gets it as
UNHEALTHY over EDS, and clients through Envoy see no failed request; when it is back it
takes traffic again."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tests.e2e.conftest import Mesh
from tests.e2e.test_envoy_traffic import apply, get_body
from tests.support import HttpBackend, wait_until

pytestmark = pytest.mark.e2e

INTERVAL = 0.3
THRESHOLD = 2
# The monitor needs at most THRESHOLD intervals after the stop, plus the probe's own
# timeout; the rest is room for a loaded CI machine, not part of the promise.
DETECTION_DEADLINE = THRESHOLD * INTERVAL + 5


@pytest.fixture
def backends() -> Iterator[dict[str, HttpBackend]]:
    running = {name: HttpBackend(name.encode()) for name in ("a", "b")}
    yield running
    for backend in running.values():
        backend.stop()


def check(kind: intent_pb2.HealthCheckType.ValueType, **extra: str) -> intent_pb2.HealthCheck:
    return intent_pb2.HealthCheck(
        type=kind,
        interval=Duration(nanos=int(INTERVAL * 1e9)),
        timeout=Duration(nanos=200_000_000),
        unhealthy_threshold=THRESHOLD,
        healthy_threshold=2,
        **extra,  # type: ignore[arg-type]
    )


def service(
    mesh: Mesh,
    ports: dict[str, int],
    protocol: intent_pb2.Protocol.ValueType,
    hc: intent_pb2.HealthCheck,
) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name="shop",
        service=intent_pb2.ServiceSpec(
            hosts=["shop.example.com"],
            ports=[intent_pb2.Port(number=mesh.listener_port, protocol=protocol)],
            endpoints=[
                intent_pb2.Endpoint(address="127.0.0.1", port=port) for port in ports.values()
            ],
            health_check=hc,
        ),
    )


async def health_of(mesh: Mesh, port: int) -> int:
    listed = await mesh.r.lifecycle.ListMicroservices(
        lifecycle_pb2.ListMicroservicesRequest(service="shop")
    )
    return next((m.health for m in listed.microservices if m.port == port), 0)


async def eds_status(mesh: Mesh, port: int) -> str:
    """The health Envoy holds from EDS for the endpoint on `port`."""
    admin = mesh.admin_path.read_text().strip()
    async with httpx.AsyncClient(timeout=5) as client:
        got = await client.get(f"http://{admin}/clusters?format=json")
    for cluster in got.json().get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            if host["address"]["socket_address"].get("port_value") == port:
                return str(host["health_status"].get("eds_health_status", "UNKNOWN"))
    return "absent"


async def marked_down(mesh: Mesh, port: int) -> None:
    """The monitor reports the endpoint on `port` unhealthy in time, and Envoy has it so."""
    await wait_until(
        lambda: _is(health_of(mesh, port), lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY),
        timeout=DETECTION_DEADLINE,
        what=f"endpoint :{port} marked unhealthy",
    )
    await wait_until(lambda: _is(eds_status(mesh, port), "UNHEALTHY"), what="UNHEALTHY in EDS")


async def healthy_condition(mesh: Mesh) -> intent_pb2.Condition | None:
    got = await mesh.r.intents.GetIntent(intent_pb2.GetIntentRequest(name="shop"))
    return next((c for c in got.intent.status.conditions if c.type == "Healthy"), None)


async def test_a_stopped_http_backend_leaves_traffic_and_comes_back(
    mesh: Mesh, backends: dict[str, HttpBackend]
) -> None:
    ports = {name: b.port for name, b in backends.items()}
    await apply(
        mesh.r,
        service(
            mesh,
            ports,
            intent_pb2.PROTOCOL_HTTP,
            check(intent_pb2.HEALTH_CHECK_TYPE_HTTP, path="/healthz"),
        ),
    )
    async with httpx.AsyncClient(timeout=5) as client:
        seen: set[str] = set()

        async def both_answer() -> bool:
            body = await get_body(client, mesh.url, "shop.example.com")
            if body:
                seen.add(body)
            return seen == {"a", "b"}

        await wait_until(both_answer, timeout=30, what="both backends through Envoy")
        for port in ports.values():
            await wait_until(
                lambda p=port: _is(health_of(mesh, p), lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY),
                what="healthy",
            )

        backends["b"].stop()
        await marked_down(mesh, ports["b"])
        condition = await healthy_condition(mesh)
        assert condition is not None
        assert condition.status == intent_pb2.CONDITION_STATUS_FALSE, condition
        assert "1 of 2 endpoints unhealthy" in condition.message

        bodies = [await get_body(client, mesh.url, "shop.example.com") for _ in range(200)]
        assert bodies.count("a") == 200, (
            f"failed or misrouted: {[b for b in bodies if b != 'a'][:5]}"
        )

        backends["b"] = HttpBackend(b"b", ports["b"])
        await wait_until(
            lambda: _is(health_of(mesh, ports["b"]), lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY),
            timeout=DETECTION_DEADLINE,
            what="b healthy again",
        )
        await wait_until(
            lambda: _is(get_body(client, mesh.url, "shop.example.com"), "b"),
            timeout=30,
            what="b takes traffic again",
        )


async def _is(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


class _Who(grpc.GenericRpcHandler):
    """A unary method /test.Who/Name answering the backend's name, as raw bytes."""

    def __init__(self, name: str) -> None:
        async def answer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return name.encode()

        self._handler = grpc.unary_unary_rpc_method_handler(answer)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handler if details.method == "/test.Who/Name" else None


async def _grpc_backend(name: str) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Who(name),))
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set("shop", health_pb2.HealthCheckResponse.SERVING)
    return server, health, port


async def test_a_grpc_backend_not_serving_leaves_traffic_and_comes_back(mesh: Mesh) -> None:
    started = {name: await _grpc_backend(name) for name in ("a", "b")}
    ports = {name: port for name, (_, _, port) in started.items()}
    try:
        hc = check(intent_pb2.HEALTH_CHECK_TYPE_GRPC, service_name="shop")
        await apply(mesh.r, service(mesh, ports, intent_pb2.PROTOCOL_GRPC, hc))
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{mesh.listener_port}",
            options=[("grpc.default_authority", "shop.example.com")],
        ) as channel:
            who = channel.unary_unary("/test.Who/Name")

            async def name() -> str:
                try:
                    return (await who(b"", timeout=5)).decode()
                except grpc.aio.AioRpcError as exc:
                    return f"error {exc.code().name}"

            seen: set[str] = set()

            async def both_answer() -> bool:
                seen.add(await name())
                return {"a", "b"} <= seen

            await wait_until(both_answer, timeout=30, what="both gRPC backends through Envoy")
            await started["b"][1].set("shop", health_pb2.HealthCheckResponse.NOT_SERVING)
            await marked_down(mesh, ports["b"])
            listed = await mesh.r.lifecycle.ListMicroservices(
                lifecycle_pb2.ListMicroservicesRequest(service="shop")
            )
            b = next(m for m in listed.microservices if m.port == ports["b"])
            assert "NOT_SERVING" in b.last_error
            assert b.consecutive_failures >= THRESHOLD
            answers = [await name() for _ in range(100)]
            assert answers == ["a"] * 100, sorted(set(answers))

            await started["b"][1].set("shop", health_pb2.HealthCheckResponse.SERVING)
            await wait_until(lambda: _is(name(), "b"), timeout=30, what="b takes traffic again")
    finally:
        for server, _, _ in started.values():
            await server.stop(0)

"""The controller registers with an orchestrator and tells it when it is ready.

The whole in-process controller (real recorder plugin processes) against the orchestrator
test double: one registration with the real gRPC port, a PUT after a restart, a ready
CloudEvent once the plugins are up, a draining one on stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.server.orchestrator import OrchestratorSettings
from tests.component.conftest import start_controller
from tests.component.test_heartbeats import closed_port, service
from tests.doubles.orchestrator import OrchestratorDouble
from tests.support import wait_until


@pytest.fixture
def double() -> Iterator[OrchestratorDouble]:
    with OrchestratorDouble() as d:
        yield d


def settings(double: OrchestratorDouble) -> OrchestratorSettings:
    return OrchestratorSettings(
        url=double.url,
        sink_url=double.sink_url,
        name="edge-tc",
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
    )


async def test_registers_announces_ready_and_updates_after_a_restart(
    tmp_path: Path, double: OrchestratorDouble
) -> None:
    r = await start_controller(tmp_path, orchestrator=settings(double))
    try:
        await wait_until(lambda: double.controller("edge-tc") is not None, what="registration")
        port = int(r.controller.address.rpartition(":")[2])
        registered = double.controller("edge-tc")
        assert registered is not None
        assert registered["spec"] == {
            "host": "127.0.0.1",
            "port": port,
            "type": "action",
            "priority": registered["spec"]["priority"],
        }
        await wait_until(
            lambda: bool(double.received("dev.traffic-controller.ready")), what="ready event"
        )
        (ready,) = double.received("dev.traffic-controller.ready")
        assert ready["specversion"] == "1.0" and ready["source"]
        status = await r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
        assert status.orchestrator.state == lifecycle_pb2.REGISTRATION_STATE_REGISTERED
        assert status.orchestrator.url == double.url
    finally:
        await r.channel.close()
        await r.controller.stop()
    assert double.received("dev.traffic-controller.draining")

    again = await start_controller(tmp_path, orchestrator=settings(double))
    try:
        await wait_until(lambda: ("PUT", "/v2/controllers/edge-tc") in double.calls(), what="PUT")
        registrations = [c for c in double.calls("POST") if c[1] == "/v2/controllers"]
        assert len(registrations) == 2  # the second was refused with 409, then the PUT
    finally:
        await again.channel.close()
        await again.controller.stop()


async def test_a_dead_micro_service_is_a_cloud_event(
    tmp_path: Path, double: OrchestratorDouble
) -> None:
    r = await start_controller(tmp_path, orchestrator=settings(double))
    try:
        dead = closed_port()
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service("shop", [dead])))
        await wait_until(
            lambda: bool(double.received("dev.traffic-controller.microservice.down")),
            what="microservice.down CloudEvent",
        )
        (event,) = double.received("dev.traffic-controller.microservice.down")
        assert event["subject"] == "shop"
        assert f"127.0.0.1:{dead}" in str(event["data"])
    finally:
        await r.channel.close()
        await r.controller.stop()

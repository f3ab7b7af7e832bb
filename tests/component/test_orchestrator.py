"""The orchestrator runner against the orchestrator test double, over real HTTP on port 0."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest

from tc.server.events import EventBus
from tc.server.orchestrator import Orchestrator, OrchestratorSettings, RegistrationState
from tests.doubles.orchestrator import OrchestratorDouble
from tests.support import wait_until

GRPC = "127.0.0.1:50051"


@pytest.fixture
def double() -> Iterator[OrchestratorDouble]:
    with OrchestratorDouble() as d:
        yield d


def fast(**overrides: object) -> OrchestratorSettings:
    """Settings with backoffs short enough for tests to see several attempts quickly."""
    values: dict[str, object] = {
        "name": "tc-test",
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "request_timeout_seconds": 2.0,
        "flush_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return OrchestratorSettings(**values)


@pytest.fixture
async def runners() -> AsyncIterator[list[Orchestrator]]:
    """Runners a test started; each is stopped even when the test fails."""
    started: list[Orchestrator] = []
    yield started
    for runner in started:
        await runner.stop()


async def start(
    runners: list[Orchestrator], settings: OrchestratorSettings, events: EventBus | None = None
) -> Orchestrator:
    runner = Orchestrator(settings, events=events, grpc_address="127.0.0.1:0")
    runners.append(runner)
    await runner.start(GRPC)
    return runner


def registered(runner: Orchestrator) -> bool:
    return runner.status().state is RegistrationState.REGISTERED


async def test_registration_is_seen(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    runner = await start(runners, fast(url=double.url, priority=5, description="edge tc"))
    await wait_until(lambda: registered(runner), what="registered")
    assert double.controller("tc-test") == {
        "metadata": {"name": "tc-test", "description": "edge tc"},
        "spec": {"host": "127.0.0.1", "port": 50051, "type": "action", "priority": 5},
    }
    assert double.calls() == [("POST", "/v2/controllers")]
    status = runner.status()
    assert (status.url, status.attempts, status.last_error) == (double.url, 1, "")


async def test_restart_updates_with_put(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    first = await start(runners, fast(url=double.url, priority=5))
    await wait_until(lambda: registered(first), what="first registration")
    await first.stop()
    second = await start(runners, fast(url=double.url, priority=9, host="tc.example", port=7000))
    await wait_until(lambda: registered(second), what="second registration")
    assert double.calls() == [
        ("POST", "/v2/controllers"),
        ("POST", "/v2/controllers"),
        ("PUT", "/v2/controllers/tc-test"),
    ]
    spec = (double.controller("tc-test") or {})["spec"]
    assert (spec["priority"], spec["host"], spec["port"]) == (9, "tc.example", 7000)


async def test_retries_until_the_orchestrator_comes_up(runners: list[Orchestrator]) -> None:
    with OrchestratorDouble(up=False) as double:
        runner = await start(runners, fast(url=double.url))
        await wait_until(lambda: runner.status().attempts >= 3, what="several failed attempts")
        status = runner.status()
        assert status.state is RegistrationState.REGISTERING
        assert "ConnectError" in status.last_error
        double.up()
        await wait_until(lambda: registered(runner), what="registered once up")
        assert runner.status().attempts > 1
        assert runner.status().last_error == ""
        assert double.controller("tc-test") is not None


async def test_server_errors_are_retried(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    double.fail_next(503, times=2)
    runner = await start(runners, fast(url=double.url))
    await wait_until(lambda: registered(runner), what="registered after 503s")
    assert runner.status().attempts == 3


async def test_a_refusal_is_failed_not_retried(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    double.fail_next(400)
    runner = await start(runners, fast(url=double.url))
    await wait_until(
        lambda: runner.status().state is RegistrationState.FAILED, what="registration failed"
    )
    status = runner.status()
    assert status.attempts == 1
    assert "400" in status.last_error


async def test_max_attempts_ends_in_failed(runners: list[Orchestrator]) -> None:
    with OrchestratorDouble(up=False) as double:
        runner = await start(runners, fast(url=double.url, max_attempts=3))
        await wait_until(lambda: runner.status().state is RegistrationState.FAILED, what="gave up")
        assert runner.status().attempts == 3
        assert "gave up after 3 attempts" in runner.status().last_error


async def test_ready_cloudevent_is_delivered(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    bus = EventBus()
    settings = fast(url=double.url, sink_url=double.sink_url)
    runner = await start(runners, settings, events=bus)
    bus.publish("controller.ready", "controller", "every plugin kind is ready")
    bus.publish("intent.ready", "web", "generation 1 ready")  # not forwarded
    await wait_until(lambda: bool(double.received()), what="a CloudEvent at the sink")
    [event] = double.received()
    assert double.event_content_types == ["application/cloudevents+json"]
    assert event["specversion"] == "1.0"
    assert event["type"] == "dev.traffic-controller.ready"
    assert event["source"] == "traffic-controller/tc-test"
    assert event["subject"] == "controller"
    assert event["data"] == {"message": "every plugin kind is ready", "controller": "tc-test"}
    sent = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
    assert abs(sent - time.time()) < 60
    assert len(event["id"]) == 36
    # The orchestrator hears of the controller before hearing from it.
    assert double.calls("POST")[0] == ("POST", "/v2/controllers")
    assert runner.delivery_counts()["delivered"] == 1


async def test_notify_retries_a_failing_sink(
    double: OrchestratorDouble, runners: list[Orchestrator]
) -> None:
    runner = await start(runners, fast(sink_url=double.sink_url))
    double.fail_next(503, times=2)
    sent = runner.notify("microservice.down", {"service": "web"}, subject="web")
    assert sent is not None
    await wait_until(lambda: bool(double.received()), what="delivered after retries")
    [event] = double.received()
    assert event["id"] == sent.id
    assert event["type"] == "dev.traffic-controller.microservice.down"
    assert event["data"] == {"controller": "tc-test", "service": "web"}
    assert double.calls("POST") == [("POST", "/events")] * 3
    assert runner.status().state is RegistrationState.DISABLED


async def test_draining_notice_is_flushed_on_stop(double: OrchestratorDouble) -> None:
    bus = EventBus()
    runner = Orchestrator(fast(sink_url=double.sink_url), events=bus)
    await runner.start(GRPC)
    bus.publish("controller.draining", "controller", "SIGTERM")
    await runner.stop()
    assert [e["type"] for e in double.received()] == ["dev.traffic-controller.draining"]


async def test_deregisters_on_stop(double: OrchestratorDouble) -> None:
    runner = Orchestrator(fast(url=double.url, deregister_on_stop=True))
    await runner.start(GRPC)
    await wait_until(lambda: registered(runner), what="registered")
    await runner.stop()
    assert double.controller("tc-test") is None
    assert double.calls("DELETE") == [("DELETE", "/v2/controllers/tc-test")]
    assert runner.status().state is RegistrationState.DEREGISTERED


async def test_stop_while_the_orchestrator_is_down_is_prompt() -> None:
    with OrchestratorDouble(up=False) as double:
        settings = fast(url=double.url, sink_url=double.sink_url, deregister_on_stop=True)
        runner = Orchestrator(settings)
        await runner.start(GRPC)
        runner.notify("ready")
        await wait_until(lambda: runner.status().attempts >= 2, what="retrying")
        began = time.monotonic()
        await runner.stop()
        assert time.monotonic() - began < 1.0
        assert runner.status().state is RegistrationState.REGISTERING


async def test_nothing_runs_without_an_orchestrator() -> None:
    runner = Orchestrator(OrchestratorSettings(), events=EventBus())
    await runner.start(GRPC)
    assert runner._tasks == [] and runner._client is None
    assert runner.status().state is RegistrationState.DISABLED
    await runner.stop()

"""Orchestrator settings, backoff, CloudEvent mapping and the event queue, without a network."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from tc._proto.tc.v1 import lifecycle_pb2
from tc.server.events import Event
from tc.server.orchestrator import (
    CloudEvent,
    Notifier,
    Orchestrator,
    OrchestratorSettings,
    RegistrationState,
    RegistrationStatus,
    advertised,
    backoff_delay,
    cloudevent_for,
    controller_body,
    orchestrator_status,
)

URL = "http://orchestrator.example:9015"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "-leading-dash"),
        ("name", "trailing."),
        ("name", "has space"),
        ("name", ""),
        ("name", "a" * 129),
        ("port", 0),
        ("port", 65536),
        ("priority", 0),
        ("priority", 101),
        ("url", "ftp://orchestrator"),
        ("sink_url", "orchestrator:9015/events"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        OrchestratorSettings(**{"url": URL, field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


@pytest.mark.parametrize("name", ["a", "tc", "traffic-controller", "tc_1.prod", "A9"])
def test_emco_names_accepted(name: str) -> None:
    assert OrchestratorSettings(url=URL, name=name).name == name


def test_urls_lose_trailing_slash_and_defaults_are_off() -> None:
    assert OrchestratorSettings(url=URL + "/").url == URL
    assert not OrchestratorSettings().enabled
    assert OrchestratorSettings(name="edge").event_source == "traffic-controller/edge"
    assert OrchestratorSettings(source="urn:tc:1").event_source == "urn:tc:1"


def test_advertised_address() -> None:
    settings = OrchestratorSettings(url=URL)
    assert advertised(settings, "127.0.0.1:50051") == ("127.0.0.1", 50051)
    assert advertised(settings, "[::1]:7000") == ("::1", 7000)
    explicit = OrchestratorSettings(url=URL, host="tc.svc", port=443)
    assert advertised(explicit, "0.0.0.0:0") == ("tc.svc", 443)
    with pytest.raises(ValueError, match=r"orchestrator\.host"):
        advertised(settings, "0.0.0.0:50051")
    with pytest.raises(ValueError, match=r"orchestrator\.port"):
        advertised(settings, "127.0.0.1:0")


def test_unusable_host_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"orchestrator\.host"):
        Orchestrator(OrchestratorSettings(url=URL), grpc_address="[::]:50051")
    # Port 0 is fine before binding: the real port comes with start().
    Orchestrator(OrchestratorSettings(url=URL), grpc_address="127.0.0.1:0")


def test_controller_body_is_emco_shaped() -> None:
    settings = OrchestratorSettings(url=URL, name="tc", priority=7, description="d")
    assert controller_body(settings, "tc.svc", 50051) == {
        "metadata": {"name": "tc", "description": "d"},
        "spec": {"host": "tc.svc", "port": 50051, "type": "action", "priority": 7},
    }


def test_backoff_grows_is_capped_and_jittered() -> None:
    assert backoff_delay(1, 1.0, 30.0, rand=lambda: 0.0) == 0.5
    assert backoff_delay(1, 1.0, 30.0, rand=lambda: 1.0) == 1.0
    assert backoff_delay(4, 1.0, 30.0, rand=lambda: 1.0) == 8.0
    assert backoff_delay(10_000, 1.0, 30.0, rand=lambda: 1.0) == 30.0
    assert 15.0 <= backoff_delay(50, 1.0, 30.0) <= 30.0


def test_forwarded_controller_event_becomes_a_cloudevent() -> None:
    event = Event(
        "plugin.instance.restarted",
        "envoy-1",
        "restart 2",
        time=0.0,
        attributes=(("plugin", "envoy"),),
    )
    ce = cloudevent_for(event, source="traffic-controller/tc", controller="tc")
    assert ce is not None
    doc = ce.structured()
    assert doc["specversion"] == "1.0"
    assert doc["type"] == "dev.traffic-controller.plugin.instance.restarted"
    assert doc["source"] == "traffic-controller/tc"
    assert doc["subject"] == "envoy-1"
    assert doc["time"] == "1970-01-01T00:00:00Z"
    assert doc["datacontenttype"] == "application/json"
    assert doc["data"] == {"message": "restart 2", "plugin": "envoy", "controller": "tc"}
    assert len(doc["id"]) == 36


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("controller.ready", "dev.traffic-controller.ready"),
        ("controller.degraded", "dev.traffic-controller.degraded"),
        ("controller.draining", "dev.traffic-controller.draining"),
        ("microservice.down", "dev.traffic-controller.microservice.down"),
        ("microservice.up", "dev.traffic-controller.microservice.up"),
        ("intent.ready", None),
        ("plugin.instance.ready", None),
    ],
)
def test_event_mapping(kind: str, expected: str | None) -> None:
    ce = cloudevent_for(Event(kind, "s", "m"), source="src")
    assert (ce.type if ce else None) == expected


async def test_full_queue_drops_the_oldest_and_counts() -> None:
    settings = OrchestratorSettings(sink_url="http://sink.invalid/events", queue_size=2)
    async with httpx.AsyncClient() as client:
        notifier = Notifier(client, settings)
        events = [CloudEvent(type=f"t{i}", source="s") for i in range(3)]
        for event in events:
            notifier.enqueue(event)
        assert (notifier.dropped, notifier.queued) == (1, 2)
        assert [e.type for e in notifier._queue] == ["t1", "t2"]


def test_disabled_runner_reports_disabled_and_ignores_notify() -> None:
    runner = Orchestrator(OrchestratorSettings())
    assert not runner.enabled
    assert runner.status().state is RegistrationState.DISABLED
    assert runner.notify("ready") is None


def test_status_proto() -> None:
    status = RegistrationStatus(URL, RegistrationState.REGISTERING, 3, "ConnectError")
    assert orchestrator_status(status) == lifecycle_pb2.OrchestratorStatus(
        url=URL,
        state=lifecycle_pb2.REGISTRATION_STATE_PENDING,
        attempts=3,
        last_error="ConnectError",
    )
    registered = RegistrationStatus(URL, RegistrationState.REGISTERED, 1)
    assert orchestrator_status(registered).state == lifecycle_pb2.REGISTRATION_STATE_REGISTERED

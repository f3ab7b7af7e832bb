"""What `tcctl get` and `tcctl status` print, from messages to text, without a controller."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.cli import output
from tc.cli.documents import parse_text

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def stamp(ago: timedelta) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(NOW - ago)
    return timestamp


def condition(
    status: intent_pb2.ConditionStatus,
    reason: str = "",
    message: str = "",
    observed: int = 0,
) -> intent_pb2.Condition:
    return intent_pb2.Condition(
        type="Ready", status=status, reason=reason, message=message, observed_generation=observed
    )


def make_intent(name: str, *, generation: int = 1, **fields: Any) -> intent_pb2.Intent:
    intent = intent_pb2.Intent(
        name=name, generation=generation, create_time=stamp(timedelta(minutes=5)), **fields
    )
    if not intent.WhichOneof("spec"):
        intent.service.hosts.append(f"{name}.example.com")
    return intent


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_intents_table_columns_and_readiness() -> None:
    ready = make_intent(
        "web",
        generation=2,
        status=intent_pb2.IntentStatus(
            conditions=[condition(intent_pb2.CONDITION_STATUS_TRUE, "Ready", "all good", 2)]
        ),
    )
    failing = make_intent(
        "names",
        dns=intent_pb2.DnsSpec(zone="example.com"),
        status=intent_pb2.IntentStatus(
            conditions=[
                condition(intent_pb2.CONDITION_STATUS_FALSE, "PluginFailed", "dns: refused", 1)
            ]
        ),
    )
    fresh = make_intent("new")
    text = output.render(output.intents_table([ready, failing, fresh], NOW))
    assert text.splitlines() == [
        "NAME    KIND      GENERATION   READY     AGE   MESSAGE",
        "web     service   2            True      5m",
        "names   dns       1            False     5m    PluginFailed: dns: refused",
        "new     service   1            Unknown   5m    NotReconciled: no Ready condition yet",
    ]


def test_microservices_table() -> None:
    down = lifecycle_pb2.Microservice(
        service="shop",
        address="10.0.0.2",
        port=8080,
        health=lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY,
        last_probe_time=stamp(timedelta(seconds=3)),
        last_latency=Duration(nanos=1_500_000),
        consecutive_failures=4,
        last_transition_time=stamp(timedelta(minutes=2)),
        last_error="connection refused",
    )
    new = lifecycle_pb2.Microservice(
        service="shop", address="fd00::1", port=8080, health=lifecycle_pb2.ENDPOINT_HEALTH_UNKNOWN
    )
    text = output.render(output.microservices_table([down, new], NOW))
    assert lines(text) == [
        ["SERVICE", "ENDPOINT", "HEALTH", "LAST", "PROBE", "LATENCY", "FAILURES", "SINCE", "ERROR"],
        [
            "shop",
            "10.0.0.2:8080",
            "Unhealthy",
            "3s",
            "ago",
            "1.5ms",
            "4",
            "2m",
            "connection",
            "refused",
        ],
        ["shop", "[fd00::1]:8080", "Unknown", "-", "-", "0", "-"],
    ]


def test_a_ready_condition_about_an_older_generation_is_unknown() -> None:
    stale = make_intent(
        "web",
        generation=3,
        status=intent_pb2.IntentStatus(
            conditions=[condition(intent_pb2.CONDITION_STATUS_TRUE, "Ready", "", 2)]
        ),
    )
    assert output.readiness(stale) == ("Unknown", "Reconciling: generation 3, Ready is about 2")


def test_deleting_intents_say_so() -> None:
    deleting = make_intent("old", delete_time=stamp(timedelta(seconds=3)))
    ready, message = output.readiness(deleting)
    assert ready == "Unknown"
    assert message.startswith("Deleting: ")


def test_long_messages_are_cut_to_one_short_line() -> None:
    long = make_intent(
        "x",
        status=intent_pb2.IntentStatus(
            conditions=[
                condition(intent_pb2.CONDITION_STATUS_FALSE, "Failed", "line one\nline two " * 20)
            ]
        ),
    )
    _, message = output.readiness(long)
    assert len(message) == output.MESSAGE_WIDTH
    assert message.endswith("...")
    assert "\n" not in message


def test_cells_are_text_not_markup_and_lines_have_no_trailing_blanks() -> None:
    intent = make_intent(
        "x",
        status=intent_pb2.IntentStatus(
            conditions=[condition(intent_pb2.CONDITION_STATUS_FALSE, "Bad", "[bold]value[/]")]
        ),
    )
    text = output.render(output.intents_table([intent], NOW))
    assert "Bad: [bold]value[/]" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_table_renders_the_same_on_a_plain_rich_console() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(
        output.intents_table([make_intent("web")], NOW)
    )
    header, row = buffer.getvalue().splitlines()
    assert header.split() == ["NAME", "KIND", "GENERATION", "READY", "AGE", "MESSAGE"]
    assert row.rstrip().endswith("NotReconciled: no Ready condition yet")
    assert row.split()[:5] == ["web", "service", "1", "Unknown", "5m"]


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=-0.5), "0s"),
        (timedelta(seconds=-30), "<invalid>"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=7), "7m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=5, minutes=10), "5h10m"),
        (timedelta(hours=20), "20h"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=30), "30d"),
        (timedelta(days=365 * 3 + 20), "3y20d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_age_reads_like_kubectl(ago: timedelta, shown: str) -> None:
    assert output.age(stamp(ago), NOW) == shown


def test_yaml_and_json_are_protojson_with_proto_names_and_defaults() -> None:
    intent = make_intent("web")
    data = output.intents_data([intent], single=True)
    assert data["name"] == "web"
    assert data["generation"] == "1"  # int64 is a string in protojson
    assert data["labels"] == {}
    assert "create_time" in data
    assert data["service"]["namespace"] == ""
    assert json.loads(output.dump(data, "json")) == data
    assert yaml.safe_load(output.dump(data, "yaml")) == data


def test_lists_are_an_items_document_that_apply_reads_back() -> None:
    intents = [
        make_intent("a", labels={"team": "x"}),
        make_intent(
            "b",
            dns=intent_pb2.DnsSpec(
                zone="example.com",
                records=[intent_pb2.DnsRecord(name="www", type=intent_pb2.RECORD_TYPE_A)],
            ),
        ),
    ]
    for fmt in ("yaml", "json"):
        text = output.dump(output.intents_data(intents, single=False), fmt)
        documents, errors = parse_text(text, f"out.{fmt}", syntax=fmt)
        assert errors == []
        assert [d.intent for d in documents] == intents
    assert output.intents_data([], single=False) == {"items": []}


def make_status() -> lifecycle_pb2.GetStatusResponse:
    return lifecycle_pb2.GetStatusResponse(
        controller=lifecycle_pb2.ControllerStatus(
            version="0.1.0",
            state=lifecycle_pb2.CONTROLLER_STATE_DEGRADED,
            start_time=stamp(timedelta(hours=2)),
            address="127.0.0.1:50051",
            intents=3,
            queue_depth=1,
            pending=2,
        ),
        plugins=[
            lifecycle_pb2.PluginKindStatus(
                name="envoy",
                replicas=2,
                instances=[
                    lifecycle_pb2.PluginInstanceStatus(
                        id="envoy-0",
                        pid=4242,
                        address="127.0.0.1:18000",
                        state=lifecycle_pb2.INSTANCE_STATE_READY,
                    ),
                    lifecycle_pb2.PluginInstanceStatus(
                        id="envoy-1",
                        state=lifecycle_pb2.INSTANCE_STATE_BACKOFF,
                        restarts=7,
                        crash_looping=True,
                        last_error="exit code 1: bind: address in use",
                    ),
                ],
            ),
            lifecycle_pb2.PluginKindStatus(name="dns", replicas=2),
        ],
        orchestrator=lifecycle_pb2.OrchestratorStatus(
            url="http://emco:9015",
            state=lifecycle_pb2.REGISTRATION_STATE_FAILED,
            attempts=4,
            last_error="connection refused",
        ),
    )


def test_status_text_has_the_controller_line_and_an_instance_table() -> None:
    text = output.status_text(make_status(), NOW)
    assert text.splitlines() == [
        "controller     DEGRADED   address 127.0.0.1:50051   intents 3   queue 1   pending 2"
        "   version 0.1.0   up 120m",
        "orchestrator   FAILED   http://emco:9015   attempts 4   last error: connection refused",
        "",
        "PLUGIN   INSTANCE   PID    ADDRESS           STATE                  RESTARTS   LAST ERROR",
        "envoy    envoy-0    4242   127.0.0.1:18000   READY                  0",
        "envoy    envoy-1    -      -                 BACKOFF (crash loop)   7"
        "          exit code 1: bind: address in use",
        "dns      -          -      -                 -                      0",
    ]


def test_status_without_plugins() -> None:
    status = lifecycle_pb2.GetStatusResponse(
        controller=lifecycle_pb2.ControllerStatus(state=lifecycle_pb2.CONTROLLER_STATE_STARTING)
    )
    assert output.status_text(status, NOW).splitlines() == [
        "controller   STARTING   address -   intents 0   queue 0   pending 0",
        "",
        "no plugins configured",
    ]

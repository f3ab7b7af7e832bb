"""What tcctl prints: kubectl-style tables, and protojson as YAML or JSON.

Pure functions from messages to text, so the layout is tested without a controller. Tables
are laid out by rich but printed as plain text (no colour, no trailing blanks) so they read
the same in a terminal, a pipe and a test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.cli import enums

FORMATS = ("table", "yaml", "json")
MESSAGE_WIDTH = 80
# Wide enough that rich never squeezes or wraps a column; a terminal wraps long lines as
# it does for kubectl, and `grep` sees one line per row.
_RENDER_WIDTH = 10_000
_NONE = "-"

_CONDITION_STATUS = intent_pb2.ConditionStatus.DESCRIPTOR
_CONTROLLER_STATE = lifecycle_pb2.ControllerState.DESCRIPTOR
_INSTANCE_STATE = lifecycle_pb2.InstanceState.DESCRIPTOR
_REGISTRATION_STATE = lifecycle_pb2.RegistrationState.DESCRIPTOR


def message_to_dict(message: Message) -> dict[str, Any]:
    """protojson as the REST gateway speaks it: proto field names, defaults included."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def dump(data: Any, output: str) -> str:
    """`data` as `json` or `yaml` text, ending in a newline."""
    if output == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    raise ValueError(f"unknown output format {output!r}")


def intents_data(intents: Sequence[intent_pb2.Intent], *, single: bool) -> Any:
    """One intent as itself; a list as `{"items": [...]}`, which `tcctl apply` reads back."""
    if single and len(intents) == 1:
        return message_to_dict(intents[0])
    return {"items": [message_to_dict(intent) for intent in intents]}


def render(*renderables: RenderableType) -> str:
    """Plain text of rich renderables, one line per row, no trailing blanks."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=_RENDER_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
    )
    for renderable in renderables:
        console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def plain_table(*headers: str) -> Table:
    """A borderless table laid out like kubectl's: three spaces between columns."""
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 3, 0, 0))
    for header in headers:
        table.add_column(header, no_wrap=True)
    return table


def intents_table(intents: Iterable[intent_pb2.Intent], now: datetime) -> Table:
    table = plain_table("NAME", "KIND", "GENERATION", "READY", "AGE", "MESSAGE")
    for intent in intents:
        ready, message = readiness(intent)
        created = age(intent.create_time, now) if intent.HasField("create_time") else "<unknown>"
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    intent.name,
                    intent.WhichOneof("spec") or _NONE,
                    str(intent.generation),
                    ready,
                    created,
                    message,
                )
            )
        )
    return table


_HEALTH_WORDS = {
    lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY: "Healthy",
    lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY: "Unhealthy",
    lifecycle_pb2.ENDPOINT_HEALTH_UNKNOWN: "Unknown",
}


def microservices_table(found: Iterable[lifecycle_pb2.Microservice], now: datetime) -> Table:
    table = plain_table(
        "SERVICE", "ENDPOINT", "HEALTH", "LAST PROBE", "LATENCY", "FAILURES", "SINCE", "ERROR"
    )
    for m in found:
        host = f"[{m.address}]" if ":" in m.address else m.address
        probed = f"{age(m.last_probe_time, now)} ago" if m.HasField("last_probe_time") else _NONE
        latency = (
            f"{m.last_latency.ToNanoseconds() / 1e6:.1f}ms" if m.HasField("last_latency") else _NONE
        )
        since = age(m.last_transition_time, now) if m.HasField("last_transition_time") else _NONE
        cells = (
            m.service,
            f"{host}:{m.port}",
            _HEALTH_WORDS.get(m.health, "Unknown"),
            probed,
            latency,
            str(m.consecutive_failures),
            since,
            shorten(m.last_error),
        )
        table.add_row(*(Text(cell) for cell in cells))
    return table


def readiness(intent: intent_pb2.Intent) -> tuple[str, str]:
    """(READY, MESSAGE) from the intent's summary Ready condition."""
    condition = next((c for c in intent.status.conditions if c.type == "Ready"), None)
    if condition is None:
        ready, message = "Unknown", "NotReconciled: no Ready condition yet"
    else:
        ready = {"TRUE": "True", "FALSE": "False"}.get(
            enums.short_name(_CONDITION_STATUS, condition.status), "Unknown"
        )
        message = _reason(condition.reason, condition.message)
        # A Ready condition about an older generation says nothing about the current spec.
        if 0 < condition.observed_generation < intent.generation:
            ready = "Unknown"
            message = (
                f"Reconciling: generation {intent.generation}, "
                f"Ready is about {condition.observed_generation}"
            )
    if intent.HasField("delete_time"):
        message = _reason("Deleting", message if ready != "True" else "")
    elif ready == "True":
        message = ""
    return ready, shorten(message)


def _reason(reason: str, message: str) -> str:
    if reason and message:
        return f"{reason}: {message}"
    return reason or message


def shorten(text: str, width: int = MESSAGE_WIDTH) -> str:
    """One line of at most `width` characters, for table cells."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def age(timestamp: Timestamp, now: datetime) -> str:
    """Time since `timestamp` the way kubectl prints it: 45s, 5m30s, 3h, 2d4h, 1y20d."""
    seconds = int((now - timestamp.ToDatetime(tzinfo=UTC)).total_seconds())
    if seconds < -1:
        return "<invalid>"  # clock skew between the controller and this host
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _two_units(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _two_units(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _two_units(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def status_summary(status: lifecycle_pb2.GetStatusResponse, now: datetime) -> Table:
    """The controller and orchestrator lines of `tcctl status`."""
    controller = status.controller
    facts = [
        enums.short_name(_CONTROLLER_STATE, controller.state),
        f"address {controller.address or _NONE}",
        f"intents {controller.intents}",
        f"queue {controller.queue_depth}",
        f"pending {controller.pending}",
    ]
    if controller.version:
        facts.append(f"version {controller.version}")
    if controller.HasField("start_time"):
        facts.append(f"up {age(controller.start_time, now)}")
    table = Table.grid(padding=(0, 3))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row(Text("controller"), Text("   ".join(facts)))
    if status.HasField("orchestrator"):
        orchestrator = status.orchestrator
        link = [enums.short_name(_REGISTRATION_STATE, orchestrator.state)]
        if orchestrator.url:
            link.append(orchestrator.url)
        if orchestrator.attempts:
            link.append(f"attempts {orchestrator.attempts}")
        if orchestrator.last_error:
            link.append(f"last error: {shorten(orchestrator.last_error)}")
        table.add_row(Text("orchestrator"), Text("   ".join(link)))
    return table


def instances_table(status: lifecycle_pb2.GetStatusResponse) -> Table:
    """One row per plugin instance, then per auxiliary process (the REST gateway, whose
    address is that of its health endpoint); a plugin with no instance still gets a row."""
    table = plain_table("PLUGIN", "INSTANCE", "PID", "ADDRESS", "STATE", "RESTARTS", "LAST ERROR")
    for plugin in [*status.plugins, *status.auxiliary_processes]:
        if not plugin.instances:
            table.add_row(*(Text(c) for c in (plugin.name, _NONE, _NONE, _NONE, _NONE, "0", "")))
        for instance in plugin.instances:
            state = enums.short_name(_INSTANCE_STATE, instance.state)
            if instance.crash_looping:
                state += " (crash loop)"
            table.add_row(
                *(
                    Text(cell)
                    for cell in (
                        plugin.name,
                        instance.id or _NONE,
                        str(instance.pid) if instance.pid else _NONE,
                        instance.address or _NONE,
                        state,
                        str(instance.restarts),
                        shorten(instance.last_error),
                    )
                )
            )
    return table


def status_text(status: lifecycle_pb2.GetStatusResponse, now: datetime) -> str:
    """The whole `tcctl status` table output."""
    if not status.plugins and not status.auxiliary_processes:
        return render(status_summary(status, now)) + "\nno plugins configured\n"
    return render(status_summary(status, now)) + "\n" + render(instances_table(status))


def drain_text(response: lifecycle_pb2.DrainResponse, waited: float) -> str:
    """`tcctl drain`: one line, "drained" or what is left after `waited` seconds."""
    not_ready = f"{response.pending} intent(s) not Ready"
    if response.drained:
        return "drained" + (f" ({not_ready})" if response.pending else "") + "\n"
    return (
        f"not drained after {waited:g}s: {response.queue_depth} queued, "
        f"{response.in_flight} in flight, {not_ready}\n"
    )


def event_line(event: lifecycle_pb2.WatchEventsResponse) -> str:
    """`tcctl events`: TIME TYPE SUBJECT MESSAGE on one line (a stream cannot align columns)."""
    when = (
        event.time.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if event.HasField("time")
        else _NONE
    )
    message = " ".join(event.message.split())
    return f"{when}  {event.type or _NONE}  {event.subject or _NONE}  {message}".rstrip() + "\n"


def event_json(event: lifecycle_pb2.WatchEventsResponse) -> str:
    """`tcctl events -o json`: one compact protojson object per line (JSON Lines)."""
    return json.dumps(message_to_dict(event), ensure_ascii=False, separators=(",", ":")) + "\n"


def now_utc() -> datetime:
    return datetime.now(UTC)

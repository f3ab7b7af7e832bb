"""The Plugin base class: the five operations a plugin implements, in plain coroutines.

Plugins receive and return tc.v1 messages directly (convert to the IR with tc.convert when
rendering), so a plugin needs no knowledge of how it is served.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.sdk.endpoint_health import HealthBook


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What Describe answers: the plugin kind, the intent kinds it handles and its fan-out."""

    kind: str
    intent_kinds: tuple[plugin_pb2.IntentKind, ...]
    fanout_mode: plugin_pb2.FanoutMode
    version: str = "0.1.0"
    endpoint_health: bool = False
    """The plugin acts on endpoint health: the controller sends it only then."""


_KIND_OF_SPEC: dict[str, plugin_pb2.IntentKind] = {
    "service": plugin_pb2.INTENT_KIND_SERVICE,
    "dns": plugin_pb2.INTENT_KIND_DNS,
    "workload": plugin_pb2.INTENT_KIND_WORKLOAD,
}


def intent_kind(intent: intent_pb2.Intent) -> plugin_pb2.IntentKind:
    """The kind of an intent, from its spec oneof."""
    return _KIND_OF_SPEC.get(intent.WhichOneof("spec") or "", plugin_pb2.INTENT_KIND_UNSPECIFIED)


def applied_intents(held: Iterable[intent_pb2.Intent]) -> list[plugin_pb2.AppliedIntent]:
    """What GetState lists for the intents a plugin holds, in name order."""
    return [
        plugin_pb2.AppliedIntent(name=i.name, generation=i.generation, kind=intent_kind(i))
        for i in sorted(held, key=lambda i: i.name)
    ]


@dataclass(slots=True)
class PluginState:
    """What GetState answers."""

    intents: list[plugin_pb2.AppliedIntent] = field(default_factory=list)
    last_sync_id: str = ""
    details: dict[str, str] = field(default_factory=dict)


class Plugin(abc.ABC):
    """Subclass this; `run(MyPlugin)` serves it. One instance per process.

    Calls may overlap (the controller batches but several batches can be in flight), so an
    implementation that keeps state guards it, typically with an asyncio.Lock.
    """

    def __init__(self, settings: dict[str, Any], instance_id: str) -> None:
        self.settings = settings
        self.instance_id = instance_id
        self.endpoint_health = HealthBook()
        """What the controller said of endpoint health (plugins declaring it render with it)."""

    def add_services(self, server: grpc.aio.Server) -> list[str]:
        """Optional hook: services the plugin serves beside PluginService on the same port
        (the envoy plugin serves ADS there, so proxies and controller share one address).
        Returns their full names, for health and reflection."""
        return []

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Called before the server reports SERVING; open connections here."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Called on shutdown, after the server stopped taking calls."""

    @abc.abstractmethod
    def describe(self) -> PluginInfo: ...

    @abc.abstractmethod
    async def apply(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        """One result per intent, in order."""

    @abc.abstractmethod
    async def remove(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        """One result per intent, in order; Programmed=True means it is gone."""

    @abc.abstractmethod
    async def sync(
        self, intents: Sequence[intent_pb2.Intent], sync_id: str
    ) -> tuple[list[plugin_pb2.IntentResult], list[str]]:
        """Make the target hold exactly `intents`; returns results and the names pruned."""

    @abc.abstractmethod
    async def get_state(self) -> PluginState: ...

    def note_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], *, replace_all: bool
    ) -> set[str]:
        """Called with the health an Apply or Sync carries, just before apply() or sync();
        keeps it in `endpoint_health` and returns the services whose health changed.
        `replace_all` for a Sync: `services` is the whole known set. Override to also drop
        what was rendered with older health (call this first)."""
        return self.endpoint_health.note(services, replace_all=replace_all)

    async def set_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], intents: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        """Plugins declaring `endpoint_health`: the health of `services` changed; act on it
        without waiting for an Apply. `intents` are those services' intents as last applied
        (for a plugin that must render them again); one result per intent, in order."""
        raise NotImplementedError(f"{type(self).__name__} does not act on endpoint health")

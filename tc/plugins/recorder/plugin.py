"""RecorderPlugin: an in-memory desired-state holder with an optional JSON-lines journal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.sdk import (
    Plugin,
    PluginInfo,
    PluginState,
    accepted_false,
    applied_intents,
    programmed,
)

_KINDS: dict[str, plugin_pb2.IntentKind] = {
    "service": plugin_pb2.INTENT_KIND_SERVICE,
    "dns": plugin_pb2.INTENT_KIND_DNS,
    "workload": plugin_pb2.INTENT_KIND_WORKLOAD,
}
_MODES = {"any": plugin_pb2.FANOUT_MODE_ANY, "broadcast": plugin_pb2.FANOUT_MODE_BROADCAST}

# Intents carrying this label are refused, so operators and tests can see how a plugin's
# rejection surfaces in an intent's status.
REJECT_LABEL = "recorder.tc.dev/reject"


class RecorderPlugin(Plugin):
    """Settings: kind (default "recorder"), intent_kinds (list, default all three),
    fanout ("broadcast" default, or "any"), journal_dir (optional), endpoint_health (bool:
    declare it and show what it holds in GetState as `health.<service>`)."""

    def __init__(self, settings: dict[str, Any], instance_id: str) -> None:
        super().__init__(settings, instance_id)
        kinds = settings.get("intent_kinds", list(_KINDS))
        unknown = [k for k in kinds if k not in _KINDS]
        if unknown:
            raise ValueError(f"intent_kinds: unknown kinds {unknown}; known: {sorted(_KINDS)}")
        fanout = settings.get("fanout", "broadcast")
        if fanout not in _MODES:
            raise ValueError(f"fanout: must be one of {sorted(_MODES)}, got {fanout!r}")
        self._info = PluginInfo(
            kind=str(settings.get("kind", "recorder")),
            intent_kinds=tuple(_KINDS[k] for k in kinds),
            fanout_mode=_MODES[fanout],
            endpoint_health=bool(settings.get("endpoint_health", False)),
        )
        self._held: dict[str, intent_pb2.Intent] = {}
        self._last_sync_id = ""
        # What the last Apply was given as references, so operators and tests can see what
        # the controller sends along for rendering.
        self._last_references: list[str] = []
        self._lock = asyncio.Lock()
        self._journal: TextIO | None = None
        journal_dir = settings.get("journal_dir")
        if journal_dir:
            path = Path(journal_dir)
            path.mkdir(parents=True, exist_ok=True)
            self._journal = (path / f"{instance_id}.jsonl").open("a", encoding="utf-8")

    def describe(self) -> PluginInfo:
        return self._info

    def _record(self, op: str, name: str, generation: int) -> None:
        if self._journal is not None:
            entry = {"time": time.time(), "op": op, "name": name, "generation": generation}
            self._journal.write(json.dumps(entry) + "\n")

    def _apply_one(self, intent: intent_pb2.Intent) -> plugin_pb2.IntentResult:
        if intent.labels.get(REJECT_LABEL) == "true":
            return accepted_false(intent, "RejectedByLabel", f"label {REJECT_LABEL}=true is set")
        held = self._held.get(intent.name)
        if held is None or held.generation != intent.generation:
            stored = intent_pb2.Intent()
            stored.CopyFrom(intent)
            stored.ClearField("status")
            self._held[intent.name] = stored
            self._record("apply", intent.name, intent.generation)
        return programmed(intent)

    async def apply(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        async with self._lock:
            results = [self._apply_one(i) for i in intents]
            self._last_references = sorted(r.name for r in references)
            self._flush()
            return results

    async def remove(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        async with self._lock:
            for intent in intents:
                if self._held.pop(intent.name, None) is not None:
                    self._record("remove", intent.name, intent.generation)
            self._flush()
            return [programmed(i, "removed") for i in intents]

    async def sync(
        self, intents: Sequence[intent_pb2.Intent], sync_id: str
    ) -> tuple[list[plugin_pb2.IntentResult], list[str]]:
        async with self._lock:
            wanted = {i.name for i in intents}
            pruned = sorted(name for name in self._held if name not in wanted)
            for name in pruned:
                held = self._held.pop(name)
                self._record("prune", name, held.generation)
            results = [self._apply_one(i) for i in intents]
            self._last_sync_id = sync_id
            self._flush()
            return results, pruned

    async def set_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], intents: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        self.note_endpoint_health(services, replace_all=False)
        return [programmed(i, "endpoint health recorded") for i in intents]

    async def get_state(self) -> PluginState:
        async with self._lock:
            details = {
                "held": str(len(self._held)),
                "last_references": ",".join(self._last_references),
            }
            for name in sorted(self._held):
                known = self.endpoint_health.of(name)
                if known:
                    details[f"health.{name}"] = ",".join(
                        f"{a}:{p}={'up' if up else 'down'}" for (a, p), up in sorted(known.items())
                    )
            return PluginState(
                intents=applied_intents(self._held.values()),
                last_sync_id=self._last_sync_id,
                details=details,
            )

    def _flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    async def stop(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

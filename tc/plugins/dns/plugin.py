"""DnsPlugin: record sets for DNS intents and for the hosts of service intents.

Fan-out is ANY: the instances share one target (an authoritative server, or a directory of
zone files), and what a zone holds is the only shared memory between them. So every
decision is made against what the zone holds, read back, never against what this instance
remembers having written: each write carries prerequisites for the values it read, and
when another instance (or a person) changed the zone since, the write fails as a whole,
the zone is read again and the plan made again, once. Ownership records decide what we
may change (tc.plugins.dns.plan).

A zone read is cached between calls (a whole-zone read per Apply would make every change
cost a transfer); the prerequisites make a stale cache safe, and a failed prerequisite
drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tc import convert, ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.dns.plan import plan_zone
from tc.plugins.dns.records import Change, Conflict, Plan
from tc.plugins.dns.render import Wanted, render_intent
from tc.plugins.dns.settings import DnsSettings, make_sink, parse_plugin_settings
from tc.plugins.dns.sinks.base import PrerequisiteFailed, Sink, SinkError
from tc.plugins.dns.zones import zone_for
from tc.plugins.dns.zoneview import ZoneView
from tc.plugins.sdk import (
    Plugin,
    PluginInfo,
    PluginState,
    accepted_false,
    applied_intents,
    programmed,
    programmed_false,
)
from tc.plugins.sdk.render_groups import errors_text

log = logging.getLogger(__name__)

# How many changes a status message lists before it only counts the rest.
_SHOWN = 5


@dataclass
class _Outcome:
    """What happened to each intent of a batch, filled zone by zone."""

    conflicts: dict[str, list[Conflict]] = field(default_factory=dict)
    failures: dict[str, SinkError] = field(default_factory=dict)
    changes: dict[str, list[Change]] = field(default_factory=dict)

    def fail(self, intents: Iterable[str], error: SinkError) -> None:
        for name in intents:
            self.failures.setdefault(name, error)


class DnsPlugin(Plugin):
    """Settings: see tc.plugins.dns.settings.DnsSettings (owner_id, ownership_affix, zones,
    min_ttl, dry_run, sink)."""

    def __init__(self, settings: dict[str, Any], instance_id: str) -> None:
        super().__init__(settings, instance_id)
        self._settings: DnsSettings = parse_plugin_settings(settings)
        self._sink: Sink | None = None
        self._zones: dict[str, ZoneView] = {}
        self._held: dict[str, intent_pb2.Intent] = {}
        self._last_sync_id = ""
        self._last_plan: Plan | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._sink = make_sink(self._settings.sink)

    async def stop(self) -> None:
        if self._sink is not None:
            await self._sink.close()

    def describe(self) -> PluginInfo:
        return PluginInfo(
            kind="dns",
            intent_kinds=(plugin_pb2.INTENT_KIND_DNS, plugin_pb2.INTENT_KIND_SERVICE),
            fanout_mode=plugin_pb2.FANOUT_MODE_ANY,
            endpoint_health=True,
        )

    # -- rendering ----------------------------------------------------------------------------

    def _render(
        self, intents: Sequence[intent_pb2.Intent]
    ) -> tuple[dict[str, ir.Intent], dict[str, list[Wanted]], dict[str, str]]:
        """Models, wanted record sets and problems (invalid intents), by intent name."""
        models: dict[str, ir.Intent] = {}
        wanted: dict[str, list[Wanted]] = {}
        problems: dict[str, str] = {}
        for pb in intents:
            try:
                model = convert.intent_from_proto(pb)
            except ir.InvalidIntentError as exc:
                problems[pb.name] = str(exc)
                continue
            records, errors = render_intent(
                model,
                zones=self._settings.zones,
                min_ttl=self._settings.min_ttl,
                endpoint_health=self.endpoint_health.of(pb.name),
                affix=self._settings.ownership_affix,
            )
            if errors:
                problems[pb.name] = errors_text(errors)
                continue
            models[pb.name] = model
            wanted[pb.name] = records
        return models, wanted, problems

    async def set_endpoint_health(
        self, services: Sequence[plugin_pb2.ServiceHealth], intents: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        """Applies `intents` again with the new health: a service with
        `dns.withdraw_unhealthy` loses (or gets back) its endpoints' address records; for
        the others the plan is empty and nothing is written."""
        self.note_endpoint_health(services, replace_all=False)
        return await self.apply(intents, [])

    # -- zones --------------------------------------------------------------------------------

    async def _read(self, zone: str, *, fresh: bool = False) -> ZoneView:
        assert self._sink is not None
        if fresh or zone not in self._zones:
            self._zones[zone] = ZoneView(
                zone,
                await self._sink.read(zone),
                owner=self._settings.owner_id,
                affix=self._settings.ownership_affix,
            )
        return self._zones[zone]

    async def _reconcile_zone(
        self,
        zone: str,
        wanted: Sequence[Wanted],
        *,
        scope: Iterable[str] | None,
        policies: Mapping[str, ir.DnsPolicy],
        outcome: _Outcome,
        plan_out: Plan,
    ) -> None:
        """Plans and writes one zone; on a failed prerequisite reads it again and retries once.

        `scope` is the intents whose record sets this may delete (None: all of ours)."""
        assert self._sink is not None
        in_scope = None if scope is None else set(scope)
        intents = {w.intent for w in wanted} | (in_scope or set())
        for attempt in (1, 2):
            try:
                view = await self._read(zone, fresh=attempt == 2)
            except SinkError as exc:
                outcome.fail(intents, exc)
                return
            plan = plan_zone(
                zone,
                wanted,
                view.records if in_scope is None else view.around(wanted, in_scope),
                owner=self._settings.owner_id,
                affix=self._settings.ownership_affix,
                scope=in_scope,
                policies=policies,
            )
            if self._settings.dry_run or not plan.changes:
                break
            # Deletes first: within one UPDATE, BIND ignores an add next to a CNAME that a
            # later delete in the same message would have removed.
            ordered = sorted(plan.changes, key=lambda c: c.action != "delete")
            try:
                await self._sink.write(zone, ordered)
            except PrerequisiteFailed as exc:
                self._zones.pop(zone, None)
                if attempt == 2:
                    outcome.fail({c.intent for c in plan.changes}, exc)
                    return
                log.info("zone changed since read; reading it again", extra={"zone": zone})
                continue
            except SinkError as exc:
                self._zones.pop(zone, None)
                outcome.fail({c.intent for c in plan.changes}, exc)
                return
            view.written(plan.changes)
            break
        for conflict in plan.conflicts:
            outcome.conflicts.setdefault(conflict.intent, []).append(conflict)
        for change in plan.changes:
            outcome.changes.setdefault(change.intent, []).append(change)
        plan_out.changes.extend(plan.changes)
        plan_out.conflicts.extend(plan.conflicts)

    async def _reconcile(
        self,
        wanted: Mapping[str, Sequence[Wanted]],
        zones: Iterable[str],
        scope: Iterable[str] | None,
        policies: Mapping[str, ir.DnsPolicy],
    ) -> _Outcome:
        by_zone: dict[str, list[Wanted]] = {zone: [] for zone in zones}
        for records in wanted.values():
            for w in records:
                by_zone.setdefault(w.zone, []).append(w)
        outcome = _Outcome()
        plan = Plan()
        for zone in sorted(by_zone):
            await self._reconcile_zone(
                zone, by_zone[zone], scope=scope, policies=policies, outcome=outcome, plan_out=plan
            )
        self._last_plan = plan
        return outcome

    # -- results ------------------------------------------------------------------------------

    def _result(
        self, pb: intent_pb2.Intent, problems: Mapping[str, str], outcome: _Outcome
    ) -> plugin_pb2.IntentResult:
        if pb.name in problems:
            return accepted_false(pb, "Invalid", problems[pb.name])
        conflicts = outcome.conflicts.get(pb.name)
        if conflicts:
            return accepted_false(pb, "Conflict", "; ".join(c.message for c in conflicts))
        failure = outcome.failures.get(pb.name)
        if failure is not None:
            return programmed_false(pb, failure.reason, str(failure), retryable=failure.retryable)
        changes = outcome.changes.get(pb.name, [])
        if self._settings.dry_run:
            return programmed_false(pb, "DryRun", _plan_text(changes), retryable=False)
        self._held[pb.name] = pb
        return programmed(pb, _plan_text(changes) if changes else "up to date")

    # -- operations ---------------------------------------------------------------------------

    async def apply(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        # Rendering is pure: done before taking the lock, so a batch renders while the
        # one before it waits for the server.
        models, wanted, problems = self._render(intents)
        async with self._lock:
            policies = _policies(models.values())
            names = {pb.name for pb in intents}
            zones = set(_zones_of(models.values(), self._settings.zones))
            zones |= {zone for zone, view in self._zones.items() if view.owned_by_any(names)}
            outcome = await self._reconcile(wanted, zones, list(wanted), policies)
            return [self._result(pb, problems, outcome) for pb in intents]

    async def remove(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        models, _, _ = self._render(intents)
        async with self._lock:
            # Where the removed intents' records may be: their own zones when their specs
            # came along, and every zone this instance has seen otherwise.
            names = {pb.name for pb in intents}
            zones = set(_zones_of(models.values(), self._settings.zones))
            zones |= {zone for zone, view in self._zones.items() if view.owned_by_any(names)}
            if len(models) < len(intents):
                zones |= set(self._zones) | set(self._settings.zones)
            outcome = await self._reconcile(
                {}, zones, [pb.name for pb in intents], _policies(models.values())
            )
            results = []
            for pb in intents:
                self._held.pop(pb.name, None)
                failure = outcome.failures.get(pb.name)
                conflicts = outcome.conflicts.get(pb.name)
                if failure is not None:
                    results.append(
                        programmed_false(
                            pb, failure.reason, str(failure), retryable=failure.retryable
                        )
                    )
                elif conflicts:
                    message = "; ".join(c.message for c in conflicts)
                    results.append(programmed_false(pb, "Conflict", message, retryable=False))
                else:
                    results.append(programmed(pb, "removed"))
            return results

    async def sync(
        self, intents: Sequence[intent_pb2.Intent], sync_id: str
    ) -> tuple[list[plugin_pb2.IntentResult], list[str]]:
        async with self._lock:
            before = set(self._held)
            self._held = {}
            models, wanted, problems = self._render(intents)
            zones = set(_zones_of(models.values(), self._settings.zones))
            zones |= set(self._zones) | set(self._settings.zones)
            # A full read of every zone: records deleted behind our back are recreated, and
            # ours that no intent wants any more are pruned.
            self._zones = {}
            outcome = await self._reconcile(wanted, zones, None, _policies(models.values()))
            self._last_sync_id = sync_id
            sent = {pb.name for pb in intents}
            for name, conflicts in sorted(outcome.conflicts.items()):
                if name not in sent:
                    # Record sets of an intent that is gone, kept because they were edited
                    # by hand since: nobody's status shows them, so the log must.
                    for conflict in conflicts:
                        log.warning(
                            "record set left in place",
                            extra={
                                "intent": name,
                                "record": str(conflict.key),
                                "reason": conflict.message,
                            },
                        )
            results = [self._result(pb, problems, outcome) for pb in intents]
            return results, sorted(before - {pb.name for pb in intents})

    async def get_state(self) -> PluginState:
        async with self._lock:
            details = {
                "owner_id": self._settings.owner_id,
                "dry_run": str(self._settings.dry_run).lower(),
                "zones.cached": ",".join(sorted(self._zones)),
            }
            if self._last_plan is not None:
                for action, count in self._last_plan.summary().items():
                    details[f"last_plan.{action}"] = str(count)
                details["last_plan.conflicts"] = str(len(self._last_plan.conflicts))
                for i, change in enumerate(self._last_plan.changes[:100]):
                    details[f"last_plan.change.{i:03d}"] = f"{change} ({change.intent})"
            return PluginState(
                intents=applied_intents(self._held.values()),
                last_sync_id=self._last_sync_id,
                details=details,
            )


def _policies(models: Iterable[ir.Intent]) -> dict[str, ir.DnsPolicy]:
    return {m.name: m.spec.policy for m in models if isinstance(m.spec, ir.DnsSpec)}


def _zones_of(models: Iterable[ir.Intent], configured: Sequence[str]) -> list[str]:
    """The zones an intent's records go to (or went to, for a removal), so an intent whose
    records are all gone still has its old ones pruned."""
    out: set[str] = set()
    for model in models:
        spec = model.spec
        zone = (
            spec.zone
            if isinstance(spec, ir.DnsSpec)
            else spec.dns.zone
            if isinstance(spec, ir.ServiceSpec) and spec.dns is not None
            else None
        )
        if zone is None:
            continue
        if configured:
            matched = zone_for(zone, configured)
            if matched is not None:
                out.add(matched)
        else:
            out.add(zone.rstrip(".").lower())
    return sorted(out)


def _plan_text(changes: Sequence[Change]) -> str:
    shown = "; ".join(str(c) for c in changes[:_SHOWN])
    more = f" (and {len(changes) - _SHOWN} more)" if len(changes) > _SHOWN else ""
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    return f"{summary or 'no changes'}: {shown}{more}" if changes else "no changes"

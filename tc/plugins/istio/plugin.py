"""IstioPlugin: the plugin process's view of intents, rendered and written through a sink.

Service intents own the objects rendered for them; a workload intent reshapes its target
service's VirtualService, so applying or removing a workload re-renders and rewrites its
target. Fan-out is ANY: instances share one target (a GitOps directory or an API server),
and the controller sends along every intent a render needs (a workload's target, the
workloads on a service), so an instance needs no memory of earlier calls to be correct.

A workload that fails the semantic checks is refused on its own (Accepted=False with the
field and reason) and its target renders without it; a service that fails them has
nothing written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tc import ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.istio.render import render
from tc.plugins.istio.sinks import Plan, Sink, SinkError, SyncError, make_sink
from tc.plugins.sdk import (
    Plugin,
    PluginInfo,
    PluginState,
    accepted_false,
    applied_intents,
    programmed,
    programmed_false,
)
from tc.plugins.sdk.render_groups import Known, RenderGroups, errors_text

TRUE = intent_pb2.CONDITION_STATUS_TRUE
DEFAULT_SINK = {"type": "directory", "path": "./var/istio"}


class IstioPlugin(Plugin):
    """Settings: `sink` (see tc.plugins.istio.sinks.make_sink; default a directory under
    ./var/istio)."""

    def __init__(self, settings: dict[str, Any], instance_id: str) -> None:
        super().__init__(settings, instance_id)
        self._sink_settings = dict(settings.get("sink") or DEFAULT_SINK)
        self._sink: Sink | None = None
        self._groups = RenderGroups()
        self._held: dict[str, intent_pb2.Intent] = {}
        self._last_sync_id = ""
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._sink = make_sink(self._sink_settings)

    async def stop(self) -> None:
        if self._sink is not None:
            await self._sink.close()

    def describe(self) -> PluginInfo:
        return PluginInfo(
            kind="istio",
            intent_kinds=(plugin_pb2.INTENT_KIND_SERVICE, plugin_pb2.INTENT_KIND_WORKLOAD),
            fanout_mode=plugin_pb2.FANOUT_MODE_ANY,
        )

    def _render_service(self, service: Known) -> tuple[list[dict[str, Any]], str, dict[str, str]]:
        """Objects for the service, the service's own problem, and refused workloads."""
        assert service.model is not None
        workloads = [w for w in self._groups.workloads_on(service.pb.name) if w.model is not None]
        rendered = render(
            service.model,
            [w.model for w in workloads if w.model is not None],
            service.pb.generation,
            {w.pb.name: w.pb.generation for w in workloads},
        )
        if rendered.service_errors:
            return [], errors_text(rendered.service_errors), {}
        refused = {
            name: errors_text(errors) for name, errors in rendered.workload_errors.items() if errors
        }
        return rendered.objects, "", refused

    # -- operations ---------------------------------------------------------------------------

    async def _write_service(self, name: str) -> tuple[str, dict[str, str], SinkError | None]:
        """Renders and writes one service; returns its problem, refused workloads, sink error."""
        assert self._sink is not None
        service = self._groups.known.get(name)
        if service is None or service.model is None:
            return (service.problem if service else "not known"), {}, None
        objects, problem, refused = self._render_service(service)
        if problem:
            return problem, refused, None
        try:
            await self._sink.apply(name, objects)
        except SinkError as exc:
            return "", refused, exc
        return "", refused, None

    def _result(
        self,
        pb: intent_pb2.Intent,
        problems: Mapping[str, str],
        failures: Mapping[str, SinkError],
    ) -> plugin_pb2.IntentResult:
        known = self._groups.known.get(pb.name)
        if known is not None and known.model is None:
            return accepted_false(pb, "Invalid", known.problem)
        owner = pb.name
        spec = known.model.spec if known is not None and known.model is not None else None
        if isinstance(spec, ir.WorkloadSpec):
            owner = spec.target
            target = self._groups.known.get(owner)
            if target is None:
                return programmed_false(
                    pb, "TargetNotFound", f"service intent {owner!r} is not known to the plugin"
                )
            if target.model is None or problems.get(owner):
                return programmed_false(
                    pb, "TargetInvalid", f"service intent {owner!r} is refused", retryable=False
                )
        if problems.get(pb.name):
            return accepted_false(pb, "Invalid", problems[pb.name])
        failure = failures.get(owner)
        if failure is not None:
            return programmed_false(pb, "SinkFailed", str(failure), retryable=failure.retryable)
        self._held[pb.name] = pb
        return programmed(pb)

    async def _apply_batch(
        self, intents: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        owners: set[str] = set()
        for pb in intents:
            known = self._groups.known[pb.name]
            if known.model is None:
                continue
            if isinstance(known.model.spec, ir.WorkloadSpec):
                owners.add(known.model.spec.target)
            else:
                owners.add(pb.name)
        problems: dict[str, str] = {}
        failures: dict[str, SinkError] = {}
        for owner in sorted(owners):
            if owner not in self._groups.known:
                continue
            problem, refused, failure = await self._write_service(owner)
            if problem:
                problems[owner] = problem
            problems.update(refused)
            if failure is not None:
                failures[owner] = failure
        return [self._result(pb, problems, failures) for pb in intents]

    async def apply(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        async with self._lock:
            for pb in [*references, *intents]:
                self._groups.learn(pb)
            self._groups.trust_only(intents, references)
            results = await self._apply_batch(intents)
            # Programmed means in effect: the directory's listing names the files too.
            return await self._sink_flush(intents, results)

    async def remove(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> list[plugin_pb2.IntentResult]:
        assert self._sink is not None
        async with self._lock:
            for pb in references:
                self._groups.learn(pb)
            self._groups.trust_only([], references)
            results = []
            for pb in intents:
                known = self._groups.forget(pb.name) or self._learn_removed(pb)
                self._held.pop(pb.name, None)
                try:
                    if known.model is not None and isinstance(known.model.spec, ir.WorkloadSpec):
                        target = known.model.spec.target
                        if target in self._groups.known:
                            _, _, failure = await self._write_service(target)
                            if failure is not None:
                                raise failure
                    else:
                        await self._sink.remove(pb.name)
                except SinkError as exc:
                    self._groups.remember(known)
                    results.append(
                        programmed_false(pb, "SinkFailed", str(exc), retryable=exc.retryable)
                    )
                    continue
                results.append(programmed(pb, "removed"))
            return await self._sink_flush(intents, results)

    async def _sink_flush(
        self, intents: Sequence[intent_pb2.Intent], results: list[plugin_pb2.IntentResult]
    ) -> list[plugin_pb2.IntentResult]:
        """Flushes the sink; if that fails, nothing in the batch counts as programmed."""
        assert self._sink is not None
        try:
            await self._sink.flush()
        except SinkError as exc:
            return [
                programmed_false(pb, "SinkFailed", str(exc), retryable=exc.retryable)
                if any(c.type == "Programmed" and c.status == TRUE for c in result.conditions)
                else result
                for pb, result in zip(intents, results, strict=True)
            ]
        return results

    def _learn_removed(self, pb: intent_pb2.Intent) -> Known:
        known = self._groups.learn(pb)
        self._groups.forget(pb.name)
        return known

    async def sync(
        self, intents: Sequence[intent_pb2.Intent], sync_id: str
    ) -> tuple[list[plugin_pb2.IntentResult], list[str]]:
        assert self._sink is not None
        async with self._lock:
            self._groups.clear()
            self._held = {}
            for pb in intents:
                self._groups.learn(pb)
            desired: dict[str, list[dict[str, Any]]] = {}
            problems: dict[str, str] = {}
            for name, known in sorted(self._groups.known.items()):
                if known.model is None or not isinstance(known.model.spec, ir.ServiceSpec):
                    continue
                objects, problem, refused = self._render_service(known)
                problems.update(refused)
                if problem:
                    problems[name] = problem
                else:
                    desired[name] = objects
            failures: dict[str, SinkError] = {}
            pruned: list[str] = []
            plan: Plan | None
            try:
                plan = await self._sink.sync(desired)
            except SyncError as exc:
                # The other intents were written; only these failed.
                failures, plan = dict(exc.failed), exc.plan
            except SinkError as exc:
                failures, plan = dict.fromkeys(desired, exc), None
            if plan is not None:
                wanted = {pb.name for pb in intents}
                pruned = sorted({c.intent for c in plan.changes if c.action == "delete"} - wanted)
            self._last_sync_id = sync_id
            return [self._result(pb, problems, failures) for pb in intents], pruned

    async def get_state(self) -> PluginState:
        async with self._lock:
            return PluginState(
                intents=applied_intents(self._held.values()),
                last_sync_id=self._last_sync_id,
                details={"sink": str(self._sink_settings.get("type", ""))},
            )

"""What a rendering plugin knows of intents: services and the workloads that shape them.

A service intent and every workload intent that targets it form a render group: the
service's config depends on all of them. The controller sends a whole group with every
call (the batch plus `references`), so a plugin keeps the last version of each intent it
was sent, indexed by target, and for the groups in play trusts only what was sent: another
instance may have applied or removed a workload since this one last heard of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tc import convert, ir
from tc._proto.tc.v1 import intent_pb2


@dataclass(frozen=True)
class Known:
    """An intent as last sent by the controller, with its IR (None when invalid)."""

    pb: intent_pb2.Intent
    model: ir.Intent | None
    problem: str = ""

    @property
    def target(self) -> str | None:
        """The service a workload shapes; None for anything else."""
        if self.model is not None and isinstance(self.model.spec, ir.WorkloadSpec):
            return self.model.spec.target
        return None

    @property
    def owner(self) -> str:
        """The service whose config this intent's changes land in."""
        return self.target or self.pb.name


def errors_text(errors: Iterable[ir.FieldError]) -> str:
    """Field errors as one status message, joined the way InvalidIntentError joins them."""
    return "; ".join(str(e) for e in errors)


class RenderGroups:
    def __init__(self) -> None:
        self.known: dict[str, Known] = {}
        # target service -> workloads on it, so rendering a service is not a scan.
        self._by_target: dict[str, set[str]] = {}

    def clear(self) -> None:
        self.known = {}
        self._by_target = {}

    def learn(self, pb: intent_pb2.Intent) -> Known:
        known = self.known.get(pb.name)
        if known is not None and known.pb.generation == pb.generation and known.pb.uid == pb.uid:
            return known
        try:
            known = Known(pb, convert.intent_from_proto(pb))
        except ir.InvalidIntentError as exc:
            known = Known(pb, None, str(exc))
        self.remember(known)
        return known

    def remember(self, known: Known) -> None:
        self.forget(known.pb.name)
        self.known[known.pb.name] = known
        if known.target:
            self._by_target.setdefault(known.target, set()).add(known.pb.name)

    def forget(self, name: str) -> Known | None:
        known = self.known.pop(name, None)
        if known is not None and known.target:
            self._by_target.get(known.target, set()).discard(name)
        return known

    def trust_only(
        self, intents: Sequence[intent_pb2.Intent], references: Sequence[intent_pb2.Intent]
    ) -> None:
        """For the groups of the intents sent, forget workloads that were not sent."""
        sent = {pb.name for pb in [*intents, *references]}
        services = {k.owner for pb in [*intents, *references] if (k := self.known.get(pb.name))}
        for service in services:
            for workload in list(self._by_target.get(service, ())):
                if workload not in sent:
                    self.forget(workload)

    def workloads_on(self, service: str) -> list[Known]:
        return [self.known[n] for n in sorted(self._by_target.get(service, ()))]

    def services(self) -> list[Known]:
        return [
            k
            for _, k in sorted(self.known.items())
            if k.model is not None and isinstance(k.model.spec, ir.ServiceSpec)
        ]

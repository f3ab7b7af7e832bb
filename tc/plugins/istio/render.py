"""Istio objects from one service intent and the workload intents that target it: pure.

`render` takes the IR and returns plain dicts (what a sink applies with server-side apply
or writes to a GitOps directory) and the broken rules; it does no I/O, so golden files pin
its output and a dry-run can reuse it.

Ownership: the service intent owns every object rendered for it (DestinationRule,
VirtualService, ServiceEntry when outside the cluster, Gateway when external,
AuthorizationPolicy when clients are listed). Workload intents own nothing; they change
the VirtualService of the service they target, which therefore records their names and
generations in its `tc.dev/workloads` annotation.

Errors are collected, never raised: every rule an intent breaks is reported at once with
its field path (as Envoy Gateway's translator does), and a failing intent has nothing
written for it. A failing service renders no objects at all; a failing workload is left
out and the service renders without it. `Rendered.errors` lists them all and
`Rendered.errors_of(name)` tells whose they are.

Several workloads on one service are merged in intent name order (see workloads.py):
split and mirror belong to the first workload that sets them, and a later workload that
sets one too is rejected on that field; header routes accumulate, earlier names first,
and a route that an earlier one would shadow is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tc import ir
from tc.ir import FieldError
from tc.plugins.istio.authorization import authorization_policy
from tc.plugins.istio.checks import check_service
from tc.plugins.istio.common import authorization_name, destination_host, gateway_name, is_external
from tc.plugins.istio.destination_rule import destination_rule
from tc.plugins.istio.gateway import gateway
from tc.plugins.istio.metadata import canonical, object_meta, workloads_annotation
from tc.plugins.istio.service_entry import needs_service_entry, service_entry
from tc.plugins.istio.virtual_service import virtual_service
from tc.plugins.istio.workloads import merge

__all__ = ["Rendered", "render"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """The outcome of rendering one service and its workloads."""

    service: str
    """The service intent's name."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Sorted by (kind, namespace, name), every mapping's keys sorted; empty when the
    service intent has errors."""
    errors: list[FieldError] = field(default_factory=list)
    """Every broken rule: the service's (paths under spec.service), then each rejected
    workload's (paths under spec.workload) in name order. errors_of tells them apart."""
    service_errors: list[FieldError] = field(default_factory=list)
    """The service intent's own broken rules; objects is empty exactly when there are any."""
    workload_errors: dict[str, list[FieldError]] = field(default_factory=dict)
    """The broken rules of each rejected workload intent, by intent name; a rejected
    workload shaped nothing."""
    workloads: tuple[str, ...] = ()
    """The workload intents that shaped the VirtualService, in name order."""

    def errors_of(self, intent_name: str) -> list[FieldError]:
        """The broken rules of one intent (the service or a workload); empty when accepted."""
        if intent_name == self.service:
            return self.service_errors
        return self.workload_errors.get(intent_name, [])


def _outcome(
    service: str,
    service_errors: list[FieldError],
    workload_errors: dict[str, list[FieldError]],
    objects: list[dict[str, Any]] | None = None,
    workloads: tuple[str, ...] = (),
) -> Rendered:
    every = list(service_errors)
    for name in sorted(workload_errors):
        every.extend(workload_errors[name])
    return Rendered(
        service=service,
        objects=objects or [],
        errors=every,
        service_errors=service_errors,
        workload_errors=workload_errors,
        workloads=workloads,
    )


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta["namespace"]), str(meta["name"]))


def render(
    service: ir.Intent,
    workloads: Sequence[ir.Intent],
    generation: int,
    workload_generations: Mapping[str, int] | None = None,
) -> Rendered:
    """The Istio objects of `service` as shaped by `workloads`, or why they cannot be.

    `workloads` are the workload intents whose target is `service`; `generation` is the
    service intent's and `workload_generations` the workloads' (by intent name), which
    go into annotations so an object shows what it was rendered from. A workload whose
    target is another service is rejected on spec.workload.target. An intent of the wrong
    kind, or one workload given twice, is the caller's mistake, not the user's, and raises
    TypeError or ValueError.
    """
    spec = service.spec
    if not isinstance(spec, ir.ServiceSpec):
        raise TypeError(f"intent {service.name!r} is a {service.kind} intent, not a service")
    errors = check_service(spec)
    routing, workload_errors = merge(service, spec, workloads)
    if errors:
        return _outcome(service.name, errors, workload_errors)
    host = destination_host(spec)
    if host is None:
        raise AssertionError("check_service guarantees a destination host")

    def meta(name: str, shaped_by: str | None = None) -> dict[str, Any]:
        return object_meta(
            name,
            spec.namespace,
            intent_name=service.name,
            intent_labels=service.labels,
            generation=generation,
            workloads=shaped_by,
        )

    shaped_by = None
    if routing.workloads:
        shaped_by = workloads_annotation(list(routing.workloads), workload_generations or {})
    objects = [
        destination_rule(spec, host, meta(spec.name)),
        virtual_service(spec, host, routing, meta(spec.name, shaped_by)),
    ]
    if needs_service_entry(spec):
        objects.append(service_entry(spec, meta(spec.name)))
    if is_external(spec):
        objects.append(gateway(spec, meta(gateway_name(spec))))
    if spec.allowed_clients:
        objects.append(authorization_policy(spec, meta(authorization_name(spec))))
    return _outcome(
        service.name,
        [],
        workload_errors,
        [canonical(obj) for obj in sorted(objects, key=_sort_key)],
        routing.workloads,
    )

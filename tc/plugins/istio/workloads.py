"""How several workload intents on one service combine into one VirtualService.

Each workload is taken whole or not at all, in intent name order (names are unique and
stable, unlike arrival order, so every plugin instance and every resync agree):

- split and mirror have one owner: the first workload in name order that sets it. A later
  workload that sets it too is rejected with an error on its own field, because two
  splits cannot both hold and picking one silently would hide the conflict.
- header routes add up: the earlier workload's come first, each workload's in its own
  order. A route whose headers equal an earlier route's would never match (Istio tries
  routes first to last), so that workload is rejected on that route.
- drain is not Istio's to do (it has no per-endpoint drain); the envoy plugin does it.

A rejected workload contributes nothing, so its status (Accepted=False with the field)
describes exactly what the VirtualService does not contain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tc import ir
from tc.ir import FieldError
from tc.plugins.istio.checks import WORKLOAD, check_workload, header_key


@dataclass(frozen=True, slots=True)
class Routing:
    """What the accepted workloads ask of their service's VirtualService."""

    split: tuple[ir.TrafficSplit, ...] = ()
    mirror: ir.Mirror | None = None
    header_routes: tuple[ir.HeaderRoute, ...] = ()
    workloads: tuple[str, ...] = ()
    """The accepted workload intents, in name order."""


NO_ROUTING = Routing()


def merge(
    service: ir.Intent, spec: ir.ServiceSpec, workloads: Sequence[ir.Intent]
) -> tuple[Routing, dict[str, list[FieldError]]]:
    """The combined routing of the workloads, and the errors of each rejected one."""
    errors: dict[str, list[FieldError]] = {}
    split: tuple[ir.TrafficSplit, ...] = ()
    split_owner = ""
    mirror: ir.Mirror | None = None
    mirror_owner = ""
    routes: list[ir.HeaderRoute] = []
    # (headers, owner, index in the owner's header_routes) of every accepted route.
    route_owners: dict[frozenset[tuple[str, str, str]], tuple[str, int]] = {}
    accepted: list[str] = []
    for intent in sorted(workloads, key=lambda w: w.name):
        if not isinstance(intent.spec, ir.WorkloadSpec):
            raise TypeError(f"intent {intent.name!r} is a {intent.kind} intent, not a workload")
        if intent.name in errors or intent.name in accepted:
            raise ValueError(f"workload intent {intent.name!r} is given more than once")
        workload = intent.spec
        found = check_workload(workload, service.name, spec)
        if workload.split and split_owner:
            found.append(
                FieldError(
                    f"{WORKLOAD}.split",
                    f'service "{service.name}" already takes its split from workload '
                    f'"{split_owner}", which comes first in name order; '
                    "only one workload may set split",
                )
            )
        if workload.mirror is not None and mirror_owner:
            found.append(
                FieldError(
                    f"{WORKLOAD}.mirror",
                    f'service "{service.name}" is already mirrored by workload '
                    f'"{mirror_owner}", which comes first in name order; '
                    "only one workload may set mirror",
                )
            )
        for i, route in enumerate(workload.header_routes):
            earlier = route_owners.get(header_key(route))
            if earlier is not None:
                owner, index = earlier
                found.append(
                    FieldError(
                        f"{WORKLOAD}.header_routes[{i}].headers",
                        f'same headers as header_routes[{index}] of workload "{owner}", '
                        "which is tried first: this route would never match",
                    )
                )
        if found:
            errors[intent.name] = found
            continue
        accepted.append(intent.name)
        if workload.split:
            split, split_owner = workload.split, intent.name
        if workload.mirror is not None:
            mirror, mirror_owner = workload.mirror, intent.name
        for i, route in enumerate(workload.header_routes):
            route_owners[header_key(route)] = (intent.name, i)
            routes.append(route)
    routing = Routing(
        split=split, mirror=mirror, header_routes=tuple(routes), workloads=tuple(accepted)
    )
    return routing, errors

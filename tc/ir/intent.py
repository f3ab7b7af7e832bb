"""The intent: a named, labelled piece of desired traffic configuration of one kind.

This is the unit the store keeps and the plugins receive. Only what the client asks for
lives here; generation, uid, times and status are the controller's bookkeeping and stay
on the wire type.
"""

from __future__ import annotations

import json
from enum import StrEnum

from tc.ir.base import IRModel, at
from tc.ir.dns import DnsSpec
from tc.ir.errors import FieldError
from tc.ir.labels import EMPTY_LABELS, Labels
from tc.ir.service import ServiceSpec
from tc.ir.syntax import dns1123_subdomain_problem, label_key_problem, label_value_problem
from tc.ir.workload import WorkloadSpec


class IntentKind(StrEnum):
    """What an intent is about; plugins declare the kinds they handle."""

    SERVICE = "service"
    DNS = "dns"
    WORKLOAD = "workload"


Spec = ServiceSpec | DnsSpec | WorkloadSpec

_KINDS: dict[type[IRModel], IntentKind] = {
    ServiceSpec: IntentKind.SERVICE,
    DnsSpec: IntentKind.DNS,
    WorkloadSpec: IntentKind.WORKLOAD,
}


def spec_path(kind: IntentKind) -> str:
    """Where the spec of a kind sits: the proto oneof field, e.g. "spec.service"."""
    return f"spec.{kind.value}"


def label_path(key: str) -> str:
    """labels["app"]: JSON quoting keeps odd keys readable and unambiguous."""
    return f"labels[{json.dumps(key, ensure_ascii=False)}]"


def check_name(name: str, out: list[FieldError]) -> None:
    """The intent name becomes object names in Kubernetes and Envoy: a DNS-1123 subdomain."""
    problem = dns1123_subdomain_problem(name)
    if problem is not None:
        out.append(FieldError("name", problem))


def check_labels(labels: Labels, out: list[FieldError]) -> None:
    """Labels follow Kubernetes syntax so they carry over to the objects plugins write."""
    for key, value in labels.items():
        problem = label_key_problem(key)
        if problem is None:
            value_problem = label_value_problem(value)
            if value_problem is not None:
                problem = f"value {value_problem}"
        if problem is not None:
            out.append(FieldError(label_path(key), problem))


class Intent(IRModel):
    """One desired piece of traffic configuration."""

    name: str
    labels: Labels = EMPTY_LABELS
    spec: Spec

    @property
    def kind(self) -> IntentKind:
        return _KINDS[type(self.spec)]

    def fill_defaults(self) -> None:
        if isinstance(self.spec, ServiceSpec) and not self.spec.name:
            self._set("spec", self.spec.model_copy(update={"name": self.name}))

    def check(self, path: str, out: list[FieldError]) -> None:
        check_name(self.name, out)
        check_labels(self.labels, out)
        where = at(path, spec_path(self.kind))
        before = len(out)
        self.spec.check(where, out)
        if isinstance(self.spec, ServiceSpec) and self.spec.name == self.name:
            # The service name defaults to the intent name: one mistake, reported once.
            name_path = f"{where}.name"
            out[before:] = [e for e in out[before:] if e.path != name_path]

"""What every istio sink promises, so the plugin is written once for a directory or a cluster.

Rendering is pure; a sink is where its objects land. Each write operation has a plan_*
twin that computes the same diff without writing, which is what a dry-run `Plan` and a
future `tcctl diff` are built on. Ownership is read from the labels and annotations the
renderer sets (tc.plugins.istio.metadata): a sink only ever changes or deletes what
carries our managed-by label, and refuses to overwrite anything that does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pydantic

from tc.plugins.istio.metadata import INTENT, MANAGED_BY, MANAGER
from tc.plugins.sdk.settings import parse_settings

Action = Literal["create", "update", "delete", "unchanged"]

ISTIO_KINDS: tuple[tuple[str, str], ...] = (
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "Gateway"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
)
"""(apiVersion, kind) of everything the renderer emits; the Kubernetes sink lists these to
prune, so an object of another kind would be written and then never cleaned up."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One object's identity on a target. Field order is the sort order of a Plan."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Change:
    action: Action
    ref: ObjectRef
    intent: str


@dataclass
class Plan:
    """What an operation did (apply, remove, sync) or would do (plan_*), one Change per
    object, sorted by intent then object so two runs over the same state compare equal."""

    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> list[Change]:
        """The changes that write or delete something."""
        return [c for c in self.changes if c.action != "unchanged"]


def make_plan(changes: Iterable[Change]) -> Plan:
    return Plan(
        sorted(
            changes,
            key=lambda c: (c.intent, c.ref.namespace, c.ref.kind, c.ref.name, c.ref.api_version),
        )
    )


class SinkError(Exception):
    """A write that did not happen. `retryable` says whether trying again unchanged can help
    (target unreachable) or not until something changes (conflict, invalid object)."""

    def __init__(self, message: str, *, retryable: bool, ref: ObjectRef | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.ref = ref


class SyncError(SinkError):
    """A sync that wrote everything it could but failed for some intents.

    One bad intent (a conflict, a hand-written file in the way) must not hold back the rest
    of the target, so sync carries on and reports at the end: `failed` maps each failed
    intent to its error (nothing of a failed intent is deleted), `plan` is what was done.
    Catching it as a plain SinkError (marking every intent failed) stays safe.
    """

    def __init__(self, failed: Mapping[str, SinkError], plan: Plan) -> None:
        names = sorted(failed)
        shown = "; ".join(f"{name}: {failed[name]}" for name in names[:3])
        more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
        super().__init__(
            f"sync failed for {len(names)} intent(s): {shown}{more}",
            retryable=all(e.retryable for e in failed.values()),
        )
        self.failed = dict(failed)
        self.plan = plan


class Sink(Protocol):
    async def plan_apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        """What apply would do, writing nothing."""
        ...

    async def apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        """Write the intent's objects; delete those it owned before that are not among them."""
        ...

    async def remove(self, intent: str) -> Plan:
        """Delete everything the intent owns."""
        ...

    async def plan_sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        """What sync would do, writing nothing."""
        ...

    async def sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        """Make the target hold exactly `desired` (by intent name) of what we manage: write it,
        prune every managed object not in it, never touch an unmanaged one."""
        ...

    async def flush(self) -> None:
        """Make everything written so far take effect (a sink may defer shared bookkeeping,
        such as a listing, to amortize it over a batch); the plugin calls it per batch."""
        ...

    async def close(self) -> None: ...


# -- reading ownership off an object -------------------------------------------------------


def _meta(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return {}
    value = metadata.get(key)
    return value if isinstance(value, Mapping) else {}


def is_managed(obj: Mapping[str, Any]) -> bool:
    """Carries our managed-by label: the one test for whether a sink may change or delete it."""
    return _meta(obj, "labels").get(MANAGED_BY) == MANAGER


def owner_of(obj: Mapping[str, Any]) -> str:
    """The full intent name from the annotation ('' when absent)."""
    value = _meta(obj, "annotations").get(INTENT)
    return value if isinstance(value, str) else ""


def ref_of(obj: Mapping[str, Any]) -> ObjectRef | None:
    """The identity of something read back from a target; None when it has none."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    parts = (
        obj.get("apiVersion"),
        obj.get("kind"),
        metadata.get("namespace"),
        metadata.get("name"),
    )
    if not all(isinstance(p, str) and p for p in parts):
        return None
    return ObjectRef(*parts)  # type: ignore[arg-type]


def check_objects(
    intent: str, objects: Sequence[Mapping[str, Any]], *, kinds: Iterable[tuple[str, str]] = ()
) -> dict[ObjectRef, Mapping[str, Any]]:
    """The intent's objects by ref, each checked to carry the ownership metadata the sinks
    rely on, with names safe to use as path segments. A rendered object that fails this is
    a renderer bug, so the error is not retryable."""
    allowed = set(kinds)
    out: dict[ObjectRef, Mapping[str, Any]] = {}
    for obj in objects:
        ref = ref_of(obj) if isinstance(obj, Mapping) else None
        if ref is None:
            raise SinkError(
                f"intent {intent!r}: an object lacks apiVersion, kind, metadata.name or "
                "metadata.namespace",
                retryable=False,
            )
        problem = ""
        if not _KIND.match(ref.kind):
            problem = f"kind {ref.kind!r} is not a Kubernetes kind"
        elif not _DNS_LABEL.match(ref.namespace):
            problem = f"namespace {ref.namespace!r} is not a DNS-1123 label"
        elif len(ref.name) > 253 or not _DNS_SUBDOMAIN.match(ref.name):
            problem = f"name {ref.name!r} is not a DNS-1123 subdomain"
        elif allowed and (ref.api_version, ref.kind) not in allowed:
            problem = f"{ref.api_version} {ref.kind} is not a kind this sink manages"
        elif not is_managed(obj):
            problem = f"it lacks the label {MANAGED_BY}={MANAGER}"
        elif owner_of(obj) != intent:
            problem = f"its {INTENT} annotation is {owner_of(obj)!r}, not the intent's name"
        elif ref in out:
            problem = "it is rendered twice"
        if problem:
            raise SinkError(f"intent {intent!r}: {ref}: {problem}", retryable=False, ref=ref)
        out[ref] = obj
    return out


# -- settings --------------------------------------------------------------------------------


class SinkSettings(pydantic.BaseModel):
    """Base of each sink's settings: unknown keys and loose types are errors, not ignored."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


def make_sink(settings: Mapping[str, Any], *, where: str = "sink") -> Sink:
    """A sink from plugin settings: {"type": "directory", "path": ...} or {"type":
    "kubernetes", ...} (see each sink's Settings). Connects lazily: nothing here does I/O.
    Bad settings raise ValueError naming the key (prefixed with `where`)."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"{where}: expected a mapping of settings")
    kind = settings.get("type")
    rest = {k: v for k, v in settings.items() if k != "type"}
    if kind == "directory":
        from tc.plugins.istio.sinks.directory import DirectorySettings, DirectorySink

        return DirectorySink(parse_settings(DirectorySettings, rest, where))
    if kind == "kubernetes":
        # Imported here so that the directory default never pays for the client's import.
        from tc.plugins.istio.sinks.kubernetes import KubernetesSettings, KubernetesSink

        return KubernetesSink(parse_settings(KubernetesSettings, rest, where))
    raise ValueError(f"{where}.type: expected 'directory' or 'kubernetes', got {kind!r}")


def make_sinks(targets: Mapping[str, Mapping[str, Any]]) -> dict[str, Sink]:
    """One sink per named target (a cluster, a directory), so a second cluster is one more
    config entry. Errors name the target: `targets.<name>.<key>`."""
    return {name: make_sink(s, where=f"targets.{name}") for name, s in sorted(targets.items())}

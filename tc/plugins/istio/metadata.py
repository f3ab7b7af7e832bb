"""Who wrote an object and from what: the labels and annotations on every rendered object.

A sink prunes exactly the objects labelled as ours and maps each back to its intent, and
an operator reading `kubectl get` sees which intent and generation an object came from.
A label value is at most 63 characters while an intent name may be 253, so the label
holds a stable, hash-suffixed truncation and the full name stays in an annotation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "traffic-controller"
INTENT = "tc.dev/intent"
GENERATION = "tc.dev/generation"
WORKLOADS = "tc.dev/workloads"

MAX_LABEL_VALUE = 63
_HASH_CHARS = 10


def intent_label(name: str) -> str:
    """The intent name as a label value: itself when it fits, else a prefix and a hash.

    The hash is of the full name, so two long names with the same prefix stay apart and
    the same name always gives the same value (a sink can select on it across restarts).
    """
    if len(name) <= MAX_LABEL_VALUE:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_CHARS]
    # Intent names are DNS-1123 subdomains: a cut may end on '-' or '.', which a label
    # value may not, and the name starts with an alphanumeric so the prefix is not empty.
    prefix = name[: MAX_LABEL_VALUE - _HASH_CHARS - 1].rstrip("-.")
    return f"{prefix}-{digest}"


def workloads_annotation(names: list[str], generations: Mapping[str, int]) -> str:
    """ "name=generation,..." in name order; a name alone when its generation is unknown."""
    return ",".join(
        f"{name}={generations[name]}" if name in generations else name for name in sorted(names)
    )


def object_meta(
    name: str,
    namespace: str,
    *,
    intent_name: str,
    intent_labels: Mapping[str, str],
    generation: int,
    workloads: str | None = None,
) -> dict[str, Any]:
    """metadata for one object. The intent's own labels are carried over (they follow
    Kubernetes syntax for that reason); ours are applied last, so an intent cannot hide
    an object from the sink by setting managed-by itself."""
    labels = dict(intent_labels)
    labels[MANAGED_BY] = MANAGER
    labels[INTENT] = intent_label(intent_name)
    annotations = {INTENT: intent_name, GENERATION: str(generation)}
    if workloads:
        annotations[WORKLOADS] = workloads
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    }


def canonical(value: Any) -> Any:
    """A copy with every mapping's keys sorted, so equal objects serialise to equal bytes
    whichever order the renderer happened to build them in. Lists keep their order: in
    Istio it means something (routes are tried first to last)."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value

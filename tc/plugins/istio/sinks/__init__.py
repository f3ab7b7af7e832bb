"""Where the istio plugin's rendered objects are written: a GitOps directory or a cluster.

Import from here; the Kubernetes sink (and the client it needs) loads only when a
`kubernetes` sink is configured.
"""

from tc.plugins.istio.sinks.base import (
    ISTIO_KINDS,
    Action,
    Change,
    ObjectRef,
    Plan,
    Sink,
    SinkError,
    SyncError,
    make_sink,
    make_sinks,
)

__all__ = [
    "ISTIO_KINDS",
    "Action",
    "Change",
    "ObjectRef",
    "Plan",
    "Sink",
    "SinkError",
    "SyncError",
    "make_sink",
    "make_sinks",
]

"""The ServiceEntry: a service whose endpoints the mesh cannot discover by itself.

Pods in the cluster are found through their Kubernetes Service; VMs with a sidecar
(location mesh-internal) and anything outside the mesh (mesh-external) have to be listed,
with how to resolve them. Endpoints carry the subset label, so the DestinationRule's
subsets select them exactly as they select pods, and their locality so that Istio's
locality-aware load balancing prefers nearby ones.
"""

from __future__ import annotations

from typing import Any

from tc import ir
from tc.plugins.istio.common import NETWORKING, SUBSET_LABEL

_LOCATIONS = {
    ir.Location.MESH_INTERNAL: "MESH_INTERNAL",
    ir.Location.MESH_EXTERNAL: "MESH_EXTERNAL",
}
_RESOLUTIONS = {
    ir.Resolution.STATIC: "STATIC",
    ir.Resolution.DNS: "DNS",
    ir.Resolution.NONE: "NONE",
}


def needs_service_entry(spec: ir.ServiceSpec) -> bool:
    return spec.location is not ir.Location.CLUSTER


def locality(where: ir.Locality) -> str:
    """Istio's "region/zone/sub_zone", as coarse as the intent gives it."""
    parts = [where.region, where.zone, where.sub_zone]
    return "/".join(part for part in parts if part)


def endpoint(spec: ir.ServiceSpec, e: ir.Endpoint) -> dict[str, Any]:
    # An endpoint port set in the intent serves every service port; unset, each port's
    # target port. Written out in full so nobody has to know Istio's fallback rules.
    out: dict[str, Any] = {
        "address": e.address,
        "ports": {port.name: e.port or port.target_port for port in spec.ports},
        "weight": e.weight,
    }
    if e.subset is not None:
        out["labels"] = {SUBSET_LABEL: e.subset}
    if e.locality is not None:
        out["locality"] = locality(e.locality)
    return out


def service_entry(spec: ir.ServiceSpec, metadata: dict[str, Any]) -> dict[str, Any]:
    ports: list[dict[str, Any]] = []
    for port in spec.ports:
        entry: dict[str, Any] = {
            "number": port.number,
            "name": port.name,
            "protocol": port.protocol.value.upper(),
        }
        if port.target_port != port.number:
            entry["targetPort"] = port.target_port
        ports.append(entry)
    body: dict[str, Any] = {
        "hosts": list(spec.hosts),
        "ports": ports,
        "location": _LOCATIONS[spec.location],
        "resolution": _RESOLUTIONS[spec.resolution],
    }
    # Resolution NONE takes no endpoints (the CRD refuses them); the IR keeps it so.
    if spec.endpoints and spec.resolution is not ir.Resolution.NONE:
        body["endpoints"] = [endpoint(spec, e) for e in spec.endpoints]
    return {
        "apiVersion": NETWORKING,
        "kind": "ServiceEntry",
        "metadata": metadata,
        "spec": body,
    }

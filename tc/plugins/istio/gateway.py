"""The Gateway: a service exposed outside the mesh through the ingress gateway.

The Gateway opens the port on Istio's ingress gateway for the service's public host; the
VirtualService binds to it by name (virtual_service.py). With a TLS credential the
gateway terminates HTTPS on 443 with that Secret, which Istio reads from the namespace
the ingress gateway runs in; without one it serves plain HTTP on 80.
"""

from __future__ import annotations

from typing import Any

from tc import ir
from tc.plugins.istio.common import NETWORKING

INGRESS_SELECTOR = {"istio": "ingressgateway"}
"""The label of Istio's default ingress gateway deployment."""


def gateway(spec: ir.ServiceSpec, metadata: dict[str, Any]) -> dict[str, Any]:
    exposure = spec.exposure
    host = exposure.gateway_host
    if host is None:
        raise ValueError("an external service has a gateway host")  # checks.py reports it
    server: dict[str, Any]
    if exposure.tls_credential_name is not None:
        server = {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": [host],
            "tls": {"mode": "SIMPLE", "credentialName": exposure.tls_credential_name},
        }
    else:
        server = {
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": [host],
        }
    return {
        "apiVersion": NETWORKING,
        "kind": "Gateway",
        "metadata": metadata,
        "spec": {"selector": dict(INGRESS_SELECTOR), "servers": [server]},
    }

"""The AuthorizationPolicy: only the listed clients may call the service.

Clients are identified by their mTLS identity, which Istio derives from the service
account (a SPIFFE-style principal "<trust domain>/ns/<namespace>/sa/<account>"), or by
namespace when every workload there is allowed. A service that is also exposed
externally gets the ingress gateway's identity added: its traffic arrives from the
gateway, so leaving it out would lock out every external caller the exposure is for.
"""

from __future__ import annotations

from typing import Any

from tc import ir
from tc.plugins.istio.common import CLUSTER_DOMAIN, SECURITY, is_external

INGRESS_GATEWAY_PRINCIPAL = (
    f"{CLUSTER_DOMAIN}/ns/istio-system/sa/istio-ingressgateway-service-account"
)
"""The identity of Istio's default ingress gateway installation."""


def principal(namespace: str, service_account: str) -> str:
    return f"{CLUSTER_DOMAIN}/ns/{namespace}/sa/{service_account}"


def authorization_policy(spec: ir.ServiceSpec, metadata: dict[str, Any]) -> dict[str, Any]:
    principals: list[str] = []
    namespaces: list[str] = []
    for client in spec.allowed_clients:
        if client.service_account is None:
            namespaces.append(client.namespace)
        else:
            principals.append(principal(client.namespace, client.service_account))
    if is_external(spec):
        principals.append(INGRESS_GATEWAY_PRINCIPAL)
    # Sources in one `from` list are alternatives: any one of them is allowed.
    sources: list[dict[str, Any]] = []
    if principals:
        sources.append({"source": {"principals": list(dict.fromkeys(principals))}})
    if namespaces:
        sources.append({"source": {"namespaces": list(dict.fromkeys(namespaces))}})
    return {
        "apiVersion": SECURITY,
        "kind": "AuthorizationPolicy",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": spec.name}},
            "action": "ALLOW",
            "rules": [{"from": sources}],
        },
    }

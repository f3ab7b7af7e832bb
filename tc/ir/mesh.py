"""Where a service runs, how the mesh finds its endpoints, who may call it, TLS towards it.

In Istio's terms: a service outside the cluster (location mesh-internal or mesh-external)
becomes a ServiceEntry with a resolution, allowed clients an AuthorizationPolicy, and
upstream TLS a DestinationRule's client TLS settings. The rules that tie these to the rest
of a service (endpoints, hosts) live on ServiceSpec; the ones here need only their model.
"""

from __future__ import annotations

from enum import StrEnum

from tc.ir.base import IRModel, at, has_text
from tc.ir.errors import FieldError
from tc.ir.syntax import dns1123_label_problem, dns1123_subdomain_problem, domain_problem


class Location(StrEnum):
    """Where the endpoints of a service run."""

    CLUSTER = "cluster"
    """Kubernetes pods in this cluster's mesh: the mesh discovers the endpoints itself."""
    MESH_INTERNAL = "mesh-internal"
    """Outside the cluster but in the mesh (VMs with a sidecar)."""
    MESH_EXTERNAL = "mesh-external"
    """Outside the mesh (a SaaS API, a database): no sidecar on the endpoints."""


class Resolution(StrEnum):
    """How the mesh finds the endpoints of a service outside the cluster."""

    STATIC = "static"
    """The endpoint addresses, all IP addresses."""
    DNS = "dns"
    """The endpoint addresses resolved in DNS, or the hosts when there are no endpoints."""
    NONE = "none"
    """No lookup: traffic goes to the address the client connected to."""


class TlsMode(StrEnum):
    """TLS from the client's proxy to a service's endpoints, as Istio's ClientTLSSettings."""

    DISABLE = "disable"
    SIMPLE = "simple"
    MUTUAL = "mutual"
    ISTIO_MUTUAL = "istio-mutual"


CREDENTIAL_MODES = frozenset({TlsMode.SIMPLE, TlsMode.MUTUAL})
"""The modes that use a credential_name: CA (simple) or client certificate (mutual)."""


def is_ip_literal(address: str) -> bool:
    """Whether a valid endpoint address is an IP address rather than a host name.

    Cheap because it relies on the address rules: a host name never has ':' and its last
    label is never all digits, while an IPv6 address has ':' and an IPv4 address ends in
    digits. For an invalid address the answer is only a guess (which is reported anyway).
    """
    return ":" in address or address.rpartition(".")[2].isdigit()


class ClientRef(IRModel):
    """Workloads allowed to call a service: a namespace, or one service account in it."""

    namespace: str
    """DNS-1123 label."""
    service_account: str | None = None
    """None: every workload in the namespace."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = dns1123_label_problem(self.namespace)
        if problem is not None:
            out.append(FieldError(at(path, "namespace"), problem))
        if has_text(self.service_account, path, "service_account", out):
            problem = dns1123_subdomain_problem(self.service_account)
            if problem is not None:
                out.append(FieldError(at(path, "service_account"), problem))


class UpstreamTls(IRModel):
    """TLS from the client's proxy to the endpoints of a service."""

    mode: TlsMode
    credential_name: str | None = None
    """Secret with the CA (simple) or the client certificate (mutual); required for mutual."""
    sni: str | None = None
    """Server name to present; None: the host."""

    def check(self, path: str, out: list[FieldError]) -> None:
        credential_path = at(path, "credential_name")
        if self.credential_name is None:
            if self.mode is TlsMode.MUTUAL:
                out.append(FieldError(credential_path, "required when mode is mutual"))
        elif self.mode not in CREDENTIAL_MODES:
            out.append(FieldError(credential_path, "only allowed when mode is simple or mutual"))
        elif has_text(self.credential_name, path, "credential_name", out):
            problem = dns1123_subdomain_problem(self.credential_name)
            if problem is not None:
                out.append(FieldError(credential_path, problem))
        if self.sni is not None and self.mode is TlsMode.DISABLE:
            out.append(FieldError(at(path, "sni"), "not allowed when mode is disable"))
        elif has_text(self.sni, path, "sni", out):
            problem = domain_problem(self.sni)
            if problem is not None:
                out.append(FieldError(at(path, "sni"), problem))

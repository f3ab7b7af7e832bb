"""Semantic checks that Istio's admission webhook leaves to `istioctl analyze`.

istiod accepts a VirtualService that routes to a subset no DestinationRule declares, or a
host written as a short name (read relative to the rule's namespace), and the mistake only
shows as 503s or traffic going elsewhere. These checks run before anything is written, so
such an intent is refused (Accepted=False with the field and the reason) instead.

Several rules repeat the IR's own (hosts, ports, subset names): the renderer is also
handed models built without checks (IRModel.trusted), and it must never write an object
these rules reject. The rest need two intents at once (a workload and its service) or
know Istio's limits (durations under 1ms, where an ingress gateway can send traffic).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tc import ir
from tc.ir import FieldError
from tc.ir.syntax import MAX_NAME, dns1123_label_problem, fqdn_problem, label_value_problem
from tc.plugins.istio.common import (
    authorization_name,
    destination_host,
    gateway_name,
    http_ports,
    is_external,
)

SERVICE = "spec.service"
WORKLOAD = "spec.workload"

MIN_DURATION = 0.001
"""Istio's CRDs refuse durations under a millisecond (CEL: duration(self) >= 1ms)."""

# A Kubernetes Service name (DNS-1035 label): what the mesh discovers pods under.
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def check_service(spec: ir.ServiceSpec) -> list[FieldError]:
    """Every rule the objects of one service intent break; paths under spec.service, in
    the order of the fields."""
    out: list[FieldError] = []
    _check_names(spec, out)
    _check_hosts(spec, out)
    _check_ports(spec, out)
    _check_subsets(spec, out)
    _check_exposure(spec, out)
    _check_durations(spec.traffic_policy, out)
    _check_upstream_tls(spec, out)
    if spec.allowed_clients and spec.location is ir.Location.MESH_EXTERNAL:
        out.append(
            FieldError(
                f"{SERVICE}.allowed_clients",
                "must be empty with location mesh-external: "
                "there is no sidecar on the endpoints to enforce it",
            )
        )
    return out


def _check_names(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    where = f"{SERVICE}.name"
    if spec.location is ir.Location.CLUSTER and not _DNS1035_LABEL.fullmatch(spec.name):
        out.append(
            FieldError(
                where,
                "must be a Kubernetes Service name with location cluster (a DNS-1035 label: "
                "at most 63 lower-case letters, digits and '-', starting with a letter)",
            )
        )
        return
    if is_external(spec) and len(gateway_name(spec)) > MAX_NAME:
        out.append(FieldError(where, f'too long for the Gateway name "{gateway_name(spec)}"'))
    if spec.allowed_clients:
        if len(authorization_name(spec)) > MAX_NAME:
            message = f'too long for the AuthorizationPolicy name "{authorization_name(spec)}"'
            out.append(FieldError(where, message))
        # The policy selects the workloads by their app label, which is this name.
        problem = label_value_problem(spec.name)
        if problem is not None:
            out.append(FieldError(where, f"with allowed_clients, as the app label: {problem}"))


def _check_hosts(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    # A short name would be read relative to the namespace of each rule: not what was meant.
    seen: dict[str, int] = {}
    for i, host in enumerate(spec.hosts):
        problem = fqdn_problem(host, wildcard=True)
        if problem is None and host in seen:
            problem = f'"{host}" is already used by hosts[{seen[host]}]'
        if problem is not None:
            out.append(FieldError(f"{SERVICE}.hosts[{i}]", problem))
        seen.setdefault(host, i)
    if spec.location is not ir.Location.CLUSTER and destination_host(spec) is None:
        out.append(
            FieldError(
                f"{SERVICE}.hosts",
                f"needs a host without a wildcard with location {spec.location}: "
                "routes need one host to send traffic to",
            )
        )


def _check_ports(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    if not spec.ports:
        out.append(FieldError(f"{SERVICE}.ports", "at least one port is required"))
    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    for i, port in enumerate(spec.ports):
        where = f"{SERVICE}.ports[{i}]"
        first = numbers.setdefault(port.number, i)
        if first != i:
            out.append(
                FieldError(f"{where}.number", f"{port.number} is already used by ports[{first}]")
            )
        problem = dns1123_label_problem(port.name)
        if problem is None:
            first = names.setdefault(port.name, i)
            if first != i:
                problem = f'"{port.name}" is already used by ports[{first}]'
        if problem is not None:
            out.append(FieldError(f"{where}.name", problem))


def _check_subsets(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    # Subsets are one per distinct label, so they are unique by construction; what can be
    # wrong is the name, which Istio requires to be a DNS-1123 label.
    reported: set[str] = set()
    for i, endpoint in enumerate(spec.endpoints):
        subset = endpoint.subset
        if subset is None or subset in reported:
            continue
        problem = dns1123_label_problem(subset)
        if problem is not None:
            reported.add(subset)
            out.append(FieldError(f"{SERVICE}.endpoints[{i}].subset", problem))


def _check_exposure(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    if not is_external(spec):
        return
    where = f"{SERVICE}.exposure"
    gateway_host = spec.exposure.gateway_host
    if not gateway_host:
        out.append(FieldError(f"{where}.gateway_host", "required when external"))
    else:
        problem = fqdn_problem(gateway_host, wildcard=True)
        if problem is not None:
            out.append(FieldError(f"{where}.gateway_host", problem))
    if not http_ports(spec):
        out.append(
            FieldError(
                f"{where}.visibility",
                "external needs an HTTP, HTTP2 or GRPC port: "
                "the ingress gateway serves HTTP and HTTPS",
            )
        )


def _check_upstream_tls(spec: ir.ServiceSpec, out: list[FieldError]) -> None:
    tls = spec.traffic_policy.upstream_tls
    if tls is None or tls.mode not in {ir.TlsMode.SIMPLE, ir.TlsMode.MUTUAL}:
        return
    # Simple and mutual make the sidecar originate TLS: on a port where the client already
    # speaks TLS, the connection would be encrypted twice and the server could not read it.
    for port in spec.ports:
        if port.protocol is ir.Protocol.TLS:
            out.append(
                FieldError(
                    f"{SERVICE}.traffic_policy.upstream_tls.mode",
                    f"{tls.mode} originates TLS, but clients already speak TLS on port "
                    f'"{port.name}" ({port.number}): declare the port as HTTP or TCP '
                    "so the sidecar does the TLS, or leave upstream_tls unset",
                )
            )
            return


def _check_durations(policy: ir.TrafficPolicy, out: list[FieldError]) -> None:
    where = f"{SERVICE}.traffic_policy"
    durations: list[tuple[str, float | None]] = [
        ("connect_timeout", policy.connect_timeout),
        ("request_timeout", policy.request_timeout),
    ]
    if policy.retries is not None and policy.retries.attempts:
        durations.append(("retries.per_try_timeout", policy.retries.per_try_timeout))
    if policy.outlier_detection is not None:
        durations.append(("outlier_detection.interval", policy.outlier_detection.interval))
        durations.append(
            ("outlier_detection.base_ejection_time", policy.outlier_detection.base_ejection_time)
        )
    for name, seconds in durations:
        if seconds is not None and seconds < MIN_DURATION:
            out.append(FieldError(f"{where}.{name}", "must be at least 1ms for Istio"))


def header_key(route: ir.HeaderRoute) -> frozenset[tuple[str, str, str]]:
    """What a header route matches, independent of the order its headers are listed in."""
    key: set[tuple[str, str, str]] = set()
    for header in route.headers:
        for kind, value in (
            ("exact", header.exact),
            ("prefix", header.prefix),
            ("regex", header.regex),
        ):
            if value is not None:
                key.add((header.name, kind, value))
    return frozenset(key)


def _subset_problem(subset: str, service_name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    have = f"it has {', '.join(names)}" if names else "it has none: set subset on its endpoints"
    return f'subset "{subset}" does not exist on service "{service_name}" ({have})'


def check_workload(
    workload: ir.WorkloadSpec, service_name: str, spec: ir.ServiceSpec
) -> list[FieldError]:
    """Every rule one workload intent breaks against its service; paths under spec.workload.

    `service_name` is the service intent's name, which is what `target` refers to.
    """
    out: list[FieldError] = []
    if workload.target != service_name:
        out.append(
            FieldError(
                f"{WORKLOAD}.target",
                f'"{workload.target}" is not the service "{service_name}" being rendered',
            )
        )
        return out
    known = spec.subsets

    def need_subset(path: str, subset: str) -> None:
        if subset not in known:
            out.append(FieldError(path, _subset_problem(subset, service_name, known)))

    seen: dict[str, int] = {}
    for i, share in enumerate(workload.split):
        where = f"{WORKLOAD}.split[{i}].subset"
        first = seen.setdefault(share.subset, i)
        if first != i:
            out.append(FieldError(where, f'"{share.subset}" is already used by split[{first}]'))
        else:
            need_subset(where, share.subset)
    if workload.split and sum(share.weight for share in workload.split) <= 0:
        out.append(FieldError(f"{WORKLOAD}.split", "weights must add up to 100"))
    no_http = not http_ports(spec)
    if workload.mirror is not None:
        if no_http:
            out.append(_needs_http(f"{WORKLOAD}.mirror", service_name, "mirror"))
        need_subset(f"{WORKLOAD}.mirror.subset", workload.mirror.subset)
    if workload.header_routes and no_http:
        out.append(_needs_http(f"{WORKLOAD}.header_routes", service_name, "match headers"))
    keys: dict[frozenset[tuple[str, str, str]], int] = {}
    for i, route in enumerate(workload.header_routes):
        where = f"{WORKLOAD}.header_routes[{i}]"
        need_subset(f"{where}.subset", route.subset)
        first = keys.setdefault(header_key(route), i)
        if first != i:
            out.append(
                FieldError(
                    f"{where}.headers",
                    f"same headers as header_routes[{first}], which is tried first: "
                    "this route would never match",
                )
            )
    return out


def _needs_http(path: str, service_name: str, what: str) -> FieldError:
    return FieldError(
        path, f'service "{service_name}" has no HTTP, HTTP2 or GRPC port to {what} on'
    )

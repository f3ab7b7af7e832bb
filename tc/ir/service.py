"""The service intent: the traffic of one micro-service, and its rules.

Mirrors tc.v1.ServiceSpec field for field, with every default filled in so that renderers
never guess: a port has its name and target port, an endpoint its weight, a traffic policy
its load-balancing algorithm, a health check its timings, a service its location and
resolution. "Unset" survives only where it means something different from any value (no
retry policy, no health check, no DNS, the mesh's default upstream TLS).

Durations are float seconds; zero-means-default numbers from the wire are None or the
default here, never 0, so one IR value has exactly one wire form.
"""

from __future__ import annotations

import re
from enum import StrEnum

from tc.ir.base import IRModel, at, duplicate_message, has_text
from tc.ir.durations import Seconds, duration_problem, show_seconds
from tc.ir.errors import FieldError
from tc.ir.limits import (
    DEFAULT_TTL,
    MAX_TTL,
    optional_port_problem,
    port_problem,
    positive_problem,
)
from tc.ir.mesh import (
    ClientRef,
    Location,
    Resolution,
    TlsMode,
    UpstreamTls,
    is_ip_literal,
)
from tc.ir.syntax import (
    address_problem,
    dns1123_label_problem,
    dns1123_subdomain_problem,
    fqdn_problem,
    label_value_problem,
)

MAX_ENDPOINT_WEIGHT = 128
MAX_RETRY_ATTEMPTS = 10
DEFAULT_NAMESPACE = "default"


class Protocol(StrEnum):
    """Protocol spoken on a port."""

    HTTP = "http"
    HTTP2 = "http2"
    GRPC = "grpc"
    TCP = "tcp"
    TLS = "tls"


class Visibility(StrEnum):
    """Whether a service is reachable from outside the mesh."""

    INTERNAL = "internal"
    EXTERNAL = "external"


class LbAlgorithm(StrEnum):
    """Load-balancing algorithm across a service's endpoints."""

    ROUND_ROBIN = "round-robin"
    LEAST_REQUEST = "least-request"
    RANDOM = "random"
    RING_HASH = "ring-hash"
    MAGLEV = "maglev"


class HealthCheckType(StrEnum):
    """How an endpoint is checked."""

    GRPC = "grpc"
    HTTP = "http"
    TCP = "tcp"


# Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on conditions; Istio accepts the same
# words plus bare HTTP status codes.
RETRY_CONDITIONS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)


# Visible ASCII: anything else in a request line has to be percent-encoded.
_HTTP_PATH = re.compile(r"/[\x21-\x7e]*")
_HTTP_PATH_MESSAGE = "must be visible ASCII characters without spaces (percent-encode the rest)"


def default_port_name(protocol: Protocol, number: int) -> str:
    """Names a port "<protocol>-<number>", which follows Istio's port naming convention."""
    return f"{protocol.value}-{number}"


def _check_duration(value: float | None, path: str, name: str, out: list[FieldError]) -> None:
    if value is not None:
        problem = duration_problem(value)
        if problem is not None:
            out.append(FieldError(at(path, name), problem))


class Port(IRModel):
    """One port of a service."""

    number: int
    protocol: Protocol
    name: str = ""
    """DNS-1123 label; empty when built by code means "<protocol>-<number>"."""
    target_port: int = 0
    """Port on the endpoints; 0 when built by code means the same number."""

    def fill_defaults(self) -> None:
        if not self.name:
            self._set("name", default_port_name(self.protocol, self.number))
        if not self.target_port:
            self._set("target_port", self.number)

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = port_problem(self.number)
        if problem is not None:
            out.append(FieldError(at(path, "number"), problem))
        problem = dns1123_label_problem(self.name)
        if problem is not None:
            out.append(FieldError(at(path, "name"), problem))
        # Defaulted from the number: a bad number is reported once, on the number.
        if self.target_port != self.number:
            problem = port_problem(self.target_port)
            if problem is not None:
                out.append(FieldError(at(path, "target_port"), problem))


class Locality(IRModel):
    """Where an endpoint runs: Kubernetes topology label values, coarse to fine."""

    region: str
    zone: str = ""
    sub_zone: str = ""

    def check(self, path: str, out: list[FieldError]) -> None:
        if not self.region:
            out.append(FieldError(at(path, "region"), "required"))
        for name, value in (
            ("region", self.region),
            ("zone", self.zone),
            ("sub_zone", self.sub_zone),
        ):
            if value:
                problem = label_value_problem(value)
                if problem is not None:
                    out.append(FieldError(at(path, name), problem))
        # Istio writes a locality as "region/zone/sub_zone": a finer part needs the coarser.
        if self.sub_zone and not self.zone:
            out.append(FieldError(at(path, "sub_zone"), "requires zone to be set"))


class Endpoint(IRModel):
    """One instance of a service."""

    address: str
    """IPv4 or IPv6 address, or a host name."""
    port: int | None = None
    """None: each service port's target port."""
    weight: int = 1
    """Relative weight 1..128."""
    subset: str | None = None
    """Version / subset label that workloads route to; None: no subset."""
    locality: Locality | None = None

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = address_problem(self.address)
        if problem is not None:
            out.append(FieldError(at(path, "address"), problem))
        problem = optional_port_problem(self.port)
        if problem is not None:
            out.append(FieldError(at(path, "port"), problem))
        problem = positive_problem(self.weight, MAX_ENDPOINT_WEIGHT)
        if problem is not None:
            out.append(FieldError(at(path, "weight"), problem))
        if has_text(self.subset, path, "subset", out):
            problem = dns1123_label_problem(self.subset)
            if problem is not None:
                out.append(FieldError(at(path, "subset"), problem))
        if self.locality is not None:
            self.locality.check(at(path, "locality"), out)


class Exposure(IRModel):
    """Whether and how a service is reachable from outside the mesh."""

    visibility: Visibility = Visibility.INTERNAL
    gateway_host: str | None = None
    """Host name on the ingress gateway; required when external, "*." wildcard allowed."""
    tls_credential_name: str | None = None
    """Secret holding the gateway's certificate; None: plain text."""

    def check(self, path: str, out: list[FieldError]) -> None:
        external = self.visibility is Visibility.EXTERNAL
        host_path = at(path, "gateway_host")
        if self.gateway_host is None:
            if external:
                out.append(FieldError(host_path, "required when visibility is external"))
        elif not external:
            out.append(FieldError(host_path, "only allowed when visibility is external"))
        elif has_text(self.gateway_host, path, "gateway_host", out):
            problem = fqdn_problem(self.gateway_host, wildcard=True)
            if problem is not None:
                out.append(FieldError(host_path, problem))
        tls_path = at(path, "tls_credential_name")
        if self.tls_credential_name is not None and not external:
            out.append(FieldError(tls_path, "only allowed when visibility is external"))
        elif has_text(self.tls_credential_name, path, "tls_credential_name", out):
            problem = dns1123_subdomain_problem(self.tls_credential_name)
            if problem is not None:
                out.append(FieldError(tls_path, problem))


class RetryPolicy(IRModel):
    """Retries of requests to a service; attempts 0 turns retries off."""

    attempts: int = 0
    per_try_timeout: Seconds | None = None
    """None: each try may take the whole request timeout."""
    retry_on: tuple[str, ...] = ()
    """Envoy retry conditions ("5xx", "connect-failure", ...) or HTTP status codes."""

    def check(self, path: str, out: list[FieldError]) -> None:
        if not 0 <= self.attempts <= MAX_RETRY_ATTEMPTS:
            out.append(FieldError(at(path, "attempts"), f"must be 0..{MAX_RETRY_ATTEMPTS}"))
        _check_duration(self.per_try_timeout, path, "per_try_timeout", out)
        seen: dict[str, int] = {}
        for i, condition in enumerate(self.retry_on):
            where = at(path, f"retry_on[{i}]")
            if condition in seen:
                out.append(
                    FieldError(where, duplicate_message(condition, f"retry_on[{seen[condition]}]"))
                )
                continue
            seen[condition] = i
            if condition not in RETRY_CONDITIONS and not _is_status_code(condition):
                out.append(
                    FieldError(
                        where,
                        f'unknown retry condition "{condition}": use one of Envoy\'s '
                        "(5xx, gateway-error, connect-failure, reset, ...) or an HTTP status code",
                    )
                )


def _is_status_code(value: str) -> bool:
    return len(value) == 3 and value.isdigit() and value.isascii() and "100" <= value <= "599"


class OutlierDetection(IRModel):
    """Passive ejection of failing endpoints; unset fields take Envoy's defaults."""

    consecutive_5xx_errors: int = 5
    interval: Seconds = 10.0
    base_ejection_time: Seconds = 30.0
    max_ejection_percent: int = 10

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = positive_problem(self.consecutive_5xx_errors)
        if problem is not None:
            out.append(FieldError(at(path, "consecutive_5xx_errors"), problem))
        _check_duration(self.interval, path, "interval", out)
        _check_duration(self.base_ejection_time, path, "base_ejection_time", out)
        problem = positive_problem(self.max_ejection_percent, 100)
        if problem is not None:
            out.append(FieldError(at(path, "max_ejection_percent"), problem))


class ConnectionLimits(IRModel):
    """Circuit breakers of a service; None means no limit set here."""

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_requests_per_connection: int | None = None

    def check(self, path: str, out: list[FieldError]) -> None:
        for name in (
            "max_connections",
            "max_pending_requests",
            "max_requests",
            "max_requests_per_connection",
        ):
            value = getattr(self, name)
            if value is not None:
                problem = positive_problem(value)
                if problem is not None:
                    out.append(FieldError(at(path, name), problem))


NO_CONNECTION_LIMITS = ConnectionLimits.model_construct(
    max_connections=None,
    max_pending_requests=None,
    max_requests=None,
    max_requests_per_connection=None,
)


class TrafficPolicy(IRModel):
    """How traffic reaches the endpoints of a service."""

    lb_algorithm: LbAlgorithm = LbAlgorithm.ROUND_ROBIN
    """Unspecified on the wire means round robin, Envoy's default."""
    connect_timeout: Seconds | None = None
    request_timeout: Seconds | None = None
    retries: RetryPolicy | None = None
    """None: the data plane's default retries, which differ from none (attempts 0)."""
    outlier_detection: OutlierDetection | None = None
    connection_limits: ConnectionLimits = NO_CONNECTION_LIMITS
    upstream_tls: UpstreamTls | None = None
    """None: the mesh's default (Istio: istio-mutual to endpoints with a sidecar, else
    whatever the client sends)."""

    def check(self, path: str, out: list[FieldError]) -> None:
        _check_duration(self.connect_timeout, path, "connect_timeout", out)
        _check_duration(self.request_timeout, path, "request_timeout", out)
        if self.retries is not None:
            self.retries.check(at(path, "retries"), out)
        if self.outlier_detection is not None:
            self.outlier_detection.check(at(path, "outlier_detection"), out)
        self.connection_limits.check(at(path, "connection_limits"), out)
        if self.upstream_tls is not None:
            self.upstream_tls.check(at(path, "upstream_tls"), out)


DEFAULT_TRAFFIC_POLICY = TrafficPolicy.model_construct(
    lb_algorithm=LbAlgorithm.ROUND_ROBIN,
    connect_timeout=None,
    request_timeout=None,
    retries=None,
    outlier_detection=None,
    connection_limits=NO_CONNECTION_LIMITS,
    upstream_tls=None,
)


class HealthCheck(IRModel):
    """How the endpoints of a service are checked."""

    type: HealthCheckType
    path: str | None = None
    """HTTP path, "/" unless given; None for other types."""
    service_name: str = ""
    """grpc.health.v1 service, gRPC checks only; empty: the whole server."""
    interval: Seconds = 10.0
    timeout: Seconds = 1.0
    unhealthy_threshold: int = 3
    healthy_threshold: int = 2
    port: int | None = None
    """None: the endpoint's first port."""

    def fill_defaults(self) -> None:
        if self.type is HealthCheckType.HTTP and self.path is None:
            self._set("path", "/")

    def check(self, path: str, out: list[FieldError]) -> None:
        http = self.type is HealthCheckType.HTTP
        if self.path is None:
            if http:
                out.append(FieldError(at(path, "path"), "required for http checks"))
        elif not http:
            out.append(FieldError(at(path, "path"), "only allowed for http checks"))
        elif not self.path.startswith("/"):
            out.append(FieldError(at(path, "path"), "must start with '/'"))
        elif not _HTTP_PATH.fullmatch(self.path):
            out.append(FieldError(at(path, "path"), _HTTP_PATH_MESSAGE))
        if self.service_name and self.type is not HealthCheckType.GRPC:
            out.append(FieldError(at(path, "service_name"), "only allowed for grpc checks"))
        _check_duration(self.interval, path, "interval", out)
        _check_duration(self.timeout, path, "timeout", out)
        if (
            duration_problem(self.interval) is None
            and duration_problem(self.timeout) is None
            and self.timeout >= self.interval
        ):
            out.append(
                FieldError(
                    at(path, "timeout"),
                    f"must be shorter than the interval ({show_seconds(self.interval)})",
                )
            )
        for name, value in (
            ("unhealthy_threshold", self.unhealthy_threshold),
            ("healthy_threshold", self.healthy_threshold),
        ):
            problem = positive_problem(value)
            if problem is not None:
                out.append(FieldError(at(path, name), problem))
        problem = optional_port_problem(self.port)
        if problem is not None:
            out.append(FieldError(at(path, "port"), problem))


class ServiceDns(IRModel):
    """DNS records to publish for the hosts of a service."""

    zone: str
    ttl: int = DEFAULT_TTL
    withdraw_unhealthy: bool = False

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = fqdn_problem(self.zone)
        if problem is not None:
            out.append(FieldError(at(path, "zone"), problem))
        problem = positive_problem(self.ttl, MAX_TTL)
        if problem is not None:
            out.append(FieldError(at(path, "ttl"), problem))


DEFAULT_EXPOSURE = Exposure.model_construct(
    visibility=Visibility.INTERNAL, gateway_host=None, tls_credential_name=None
)


class ServiceSpec(IRModel):
    """The traffic of one micro-service."""

    name: str = ""
    """Service name (DNS-1123 subdomain); empty when built by code means the intent name."""
    namespace: str = DEFAULT_NAMESPACE
    hosts: tuple[str, ...] = ()
    ports: tuple[Port, ...]
    endpoints: tuple[Endpoint, ...] = ()
    exposure: Exposure = DEFAULT_EXPOSURE
    traffic_policy: TrafficPolicy = DEFAULT_TRAFFIC_POLICY
    health_check: HealthCheck | None = None
    dns: ServiceDns | None = None
    location: Location = Location.CLUSTER
    resolution: Resolution = Resolution.STATIC
    """Left out when built by code: what the wire's unspecified means, STATIC when every
    endpoint address is an IP address (or there are no endpoints), DNS otherwise. Anything
    else is only for services outside the cluster."""
    allowed_clients: tuple[ClientRef, ...] = ()
    """Workloads allowed to call the service; empty: no restriction."""

    @property
    def subsets(self) -> frozenset[str]:
        """The subsets the endpoints declare: what a workload intent may route to."""
        return frozenset(e.subset for e in self.endpoints if e.subset is not None)

    def endpoint_key(self, endpoint: Endpoint) -> tuple[str, int]:
        """How heartbeats and endpoint health name an endpoint: its address and its own port,
        or the target port of the service's first port (where an endpoint without a port
        of its own is checked and sends its heartbeats from)."""
        if endpoint.port is not None:
            return endpoint.address, endpoint.port
        first = self.ports[0] if self.ports else None
        return endpoint.address, (first.target_port or first.number) if first is not None else 0

    def _implied_resolution(self) -> Resolution:
        """What an unset resolution means: STATIC when every endpoint address is an IP
        address (also when there are no endpoints), DNS otherwise."""
        for endpoint in self.endpoints:
            if not is_ip_literal(endpoint.address):
                return Resolution.DNS
        return Resolution.STATIC

    def fill_defaults(self) -> None:
        if "resolution" not in self.model_fields_set:
            self._set("resolution", self._implied_resolution())

    def check(self, path: str, out: list[FieldError]) -> None:
        # Left empty only by code that builds a spec on its own; Intent fills it in.
        if self.name:
            problem = dns1123_subdomain_problem(self.name)
            if problem is not None:
                out.append(FieldError(at(path, "name"), problem))
        problem = dns1123_label_problem(self.namespace)
        if problem is not None:
            out.append(FieldError(at(path, "namespace"), problem))
        outside = self.location is not Location.CLUSTER
        self._check_hosts(path, out)
        self._check_ports(path, out)
        self._check_endpoints(path, out, outside and self.resolution is Resolution.STATIC)
        self.exposure.check(at(path, "exposure"), out)
        self.traffic_policy.check(at(path, "traffic_policy"), out)
        if self.health_check is not None:
            self.health_check.check(at(path, "health_check"), out)
        if self.dns is not None:
            self.dns.check(at(path, "dns"), out)
            if not self.hosts:
                out.append(FieldError(at(path, "hosts"), "at least one host is required with dns"))
        if outside:
            self._check_outside_cluster(path, out)
        elif self.resolution is not self._implied_resolution():
            out.append(
                FieldError(
                    at(path, "resolution"),
                    f"{self.resolution} is only for services outside the cluster "
                    "(location mesh-internal or mesh-external): leave it unset",
                )
            )
        if self.allowed_clients:
            self._check_allowed_clients(path, out)

    def _check_hosts(self, path: str, out: list[FieldError]) -> None:
        seen: dict[str, int] = {}
        for i, host in enumerate(self.hosts):
            problem = fqdn_problem(host, wildcard=True)
            if problem is None and host in seen:
                problem = duplicate_message(host, f"hosts[{seen[host]}]")
            if problem is not None:
                out.append(FieldError(at(path, f"hosts[{i}]"), problem))
            seen.setdefault(host, i)

    def _check_ports(self, path: str, out: list[FieldError]) -> None:
        if not self.ports:
            out.append(FieldError(at(path, "ports"), "at least one port is required"))
        numbers: dict[int, int] = {}
        names: dict[str, int] = {}
        for i, port in enumerate(self.ports):
            where = at(path, f"ports[{i}]")
            before = len(out)
            port.check(where, out)
            reported = {e.path for e in out[before:]} if len(out) > before else set()
            first = numbers.setdefault(port.number, i)
            number_taken = first != i
            if number_taken and f"{where}.number" not in reported:
                message = duplicate_message(port.number, f"ports[{first}]")
                out.append(FieldError(f"{where}.number", message))
            first = names.setdefault(port.name, i)
            # A name derived from a duplicate number is the same mistake, reported once.
            derived = number_taken and port.name == default_port_name(port.protocol, port.number)
            if first != i and not derived and f"{where}.name" not in reported:
                out.append(
                    FieldError(f"{where}.name", duplicate_message(port.name, f"ports[{first}]"))
                )

    def _check_endpoints(self, path: str, out: list[FieldError], static: bool) -> None:
        """`static`: every address must be an IP address (resolution static, outside)."""
        seen: dict[tuple[str, int | None], int] = {}
        for i, endpoint in enumerate(self.endpoints):
            where = at(path, f"endpoints[{i}]")
            before = len(out)
            endpoint.check(where, out)
            if static and len(out) == before and not is_ip_literal(endpoint.address):
                message = "must be an IP address with resolution static"
                out.append(FieldError(f"{where}.address", message))
            if len(out) > before:
                continue  # only otherwise valid endpoints can be duplicates worth reporting
            first = seen.setdefault((endpoint.address, endpoint.port), i)
            if first != i:
                shown = (
                    endpoint.address
                    if endpoint.port is None
                    else f"{endpoint.address} port {endpoint.port}"
                )
                out.append(FieldError(where, f"{shown} is already used by endpoints[{first}]"))

    def _check_outside_cluster(self, path: str, out: list[FieldError]) -> None:
        """A service outside the cluster is a ServiceEntry: hosts are how clients reach it,
        and the resolution says what the endpoints are."""
        if not self.hosts and self.dns is None:  # with dns, reported once above
            message = f"at least one host is required with location {self.location}"
            out.append(FieldError(at(path, "hosts"), message))
        resolution = self.resolution
        if resolution is Resolution.STATIC and not self.endpoints:
            out.append(
                FieldError(
                    at(path, "endpoints"),
                    "at least one endpoint is required with resolution static "
                    "(or set resolution dns to resolve the hosts)",
                )
            )
        elif resolution is Resolution.NONE and self.endpoints:
            out.append(
                FieldError(
                    at(path, "endpoints"),
                    "must be empty with resolution none "
                    "(traffic goes to the address the client connected to)",
                )
            )
        elif resolution is Resolution.DNS and not self.endpoints:
            # The hosts themselves are looked up: a wildcard has no address.
            for i, host in enumerate(self.hosts):
                if host.startswith("*.") and fqdn_problem(host, wildcard=True) is None:
                    out.append(
                        FieldError(
                            at(path, f"hosts[{i}]"),
                            "must not be a wildcard with resolution dns and no endpoints "
                            "(the hosts themselves are resolved)",
                        )
                    )
        tls = self.traffic_policy.upstream_tls
        if (
            tls is not None
            and tls.mode is TlsMode.ISTIO_MUTUAL
            and self.location is Location.MESH_EXTERNAL
        ):
            out.append(
                FieldError(
                    at(path, "traffic_policy.upstream_tls.mode"),
                    "istio-mutual needs the mesh's sidecars on the endpoints: "
                    "not for location mesh-external",
                )
            )

    def _check_allowed_clients(self, path: str, out: list[FieldError]) -> None:
        # A whole namespace already allows each of its service accounts: listing one of
        # them as well is the same rule twice, refused like any other duplicate.
        valid: list[tuple[int, ClientRef]] = []
        namespaces: dict[str, int] = {}
        for i, client in enumerate(self.allowed_clients):
            before = len(out)
            client.check(at(path, f"allowed_clients[{i}]"), out)
            if len(out) == before:
                valid.append((i, client))
                if client.service_account is None:
                    namespaces.setdefault(client.namespace, i)
        accounts: dict[tuple[str, str], int] = {}
        for i, client in valid:
            whole = namespaces.get(client.namespace)
            if client.service_account is None:
                message = None if whole == i else f"already listed as allowed_clients[{whole}]"
            elif whole is not None:
                message = (
                    f"already allowed by allowed_clients[{whole}], "
                    f'which allows every workload in namespace "{client.namespace}"'
                )
            else:
                first = accounts.setdefault((client.namespace, client.service_account), i)
                message = None if first == i else f"already listed as allowed_clients[{first}]"
            if message is not None:
                out.append(FieldError(at(path, f"allowed_clients[{i}]"), message))

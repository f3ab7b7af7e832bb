"""What the heartbeat monitor checks for a service intent: pure.

Every endpoint of a service intent with a health check is one target, named as
ir.ServiceSpec.endpoint_key names it (the same key plugins receive endpoint health under
and pushed heartbeats use), probed on the health check's port or else on that key's port.
Host-name endpoints are probed by name; a service whose hosts are resolved by DNS without
listed endpoints has nothing to probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from tc import ir
from tc.server.heartbeat.state import Thresholds

TTL_INTERVALS = 3
"""A pushed heartbeat without a TTL vouches for this many check intervals."""


@dataclass(frozen=True, slots=True)
class Check:
    type: ir.HealthCheckType
    interval: float
    timeout: float
    thresholds: Thresholds
    path: str = "/"
    service_name: str = ""
    port: int | None = None

    @property
    def default_ttl(self) -> float:
        return TTL_INTERVALS * self.interval


@dataclass(frozen=True, slots=True)
class Target:
    service: str
    """Service intent name."""
    address: str
    port: int
    """The endpoint's key port (see module docstring)."""
    probe_port: int
    check: Check

    @property
    def key(self) -> tuple[str, int]:
        return self.address, self.port


def check_of(health: ir.HealthCheck) -> Check:
    return Check(
        type=health.type,
        interval=health.interval,
        timeout=health.timeout,
        thresholds=Thresholds(
            unhealthy=health.unhealthy_threshold, healthy=health.healthy_threshold
        ),
        path=health.path or "/",
        service_name=health.service_name,
        port=health.port,
    )


def targets_of(intent: ir.Intent) -> list[Target]:
    """The targets of a service intent, one per distinct endpoint key, in endpoint order;
    none for other intents and for services without a health check."""
    spec = intent.spec
    if not isinstance(spec, ir.ServiceSpec) or spec.health_check is None:
        return []
    check = check_of(spec.health_check)
    out: dict[tuple[str, int], Target] = {}
    for endpoint in spec.endpoints:
        address, port = spec.endpoint_key(endpoint)
        if (address, port) not in out:
            probe_port = check.port or port
            out[(address, port)] = Target(intent.name, address, port, probe_port, check)
    return list(out.values())

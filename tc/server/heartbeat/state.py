"""The health of one checked endpoint, and how probes and pushed heartbeats move it: pure.

Kept apart from the probing and the scheduling so the rules (N failures in a row make an
endpoint unhealthy, M successes make it healthy again, a push keeps it alive for its TTL,
a restart starts from Unknown) are tested with plain data and no clock.

An endpoint starts Unknown, which takes traffic (Envoy treats UNKNOWN as healthy): the
controller has not seen it fail, and after a restart it must not take everything out of
traffic until it has looked. From Unknown one success is enough to call it Healthy (its
traffic does not change); `unhealthy_threshold` failures in a row make it Unhealthy from
Unknown or Healthy; `healthy_threshold` successes in a row bring it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Health(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class Thresholds:
    unhealthy: int = 3
    """Failures in a row before unhealthy."""
    healthy: int = 2
    """Successes in a row before healthy again."""


@dataclass(slots=True)
class EndpointState:
    """What is known of one endpoint. Times are wall-clock seconds (for people); only
    `pushed_until` is compared with the clock, and on the monotonic one."""

    health: Health = Health.UNKNOWN
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_probe_time: float | None = None
    last_latency: float | None = None
    last_error: str = ""
    last_transition_time: float | None = None
    pushed_until: float = 0.0
    """Monotonic time until which a pushed heartbeat vouches for the endpoint."""


def observe(
    state: EndpointState,
    ok: bool,
    thresholds: Thresholds,
    *,
    now: float,
    latency: float | None = None,
    error: str = "",
) -> Health | None:
    """Records one probe result (or pushed heartbeat, `ok=True`) taken at wall time `now`;
    returns the new health when it changed, else None."""
    state.last_probe_time = now
    state.last_latency = latency
    state.last_error = "" if ok else error
    if ok:
        state.consecutive_failures = 0
        state.consecutive_successes += 1
        promote = state.health is Health.UNKNOWN or (
            state.health is Health.UNHEALTHY and state.consecutive_successes >= thresholds.healthy
        )
        target = Health.HEALTHY if promote else None
    else:
        state.consecutive_successes = 0
        state.consecutive_failures += 1
        demote = (
            state.health is not Health.UNHEALTHY
            and state.consecutive_failures >= thresholds.unhealthy
        )
        target = Health.UNHEALTHY if demote else None
    if target is None or target is state.health:
        return None
    state.health = target
    state.last_transition_time = now
    return target

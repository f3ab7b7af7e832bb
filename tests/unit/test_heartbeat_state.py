"""The rules an endpoint's health follows (tc.server.heartbeat.state), and what the monitor
checks for a service intent (tc.server.heartbeat.targets): plain data, no clock."""

from __future__ import annotations

import pytest

from tc import ir
from tc.server.heartbeat.state import EndpointState, Health, Thresholds, observe
from tc.server.heartbeat.targets import targets_of

U, H, X = Health.UNKNOWN, Health.HEALTHY, Health.UNHEALTHY
DEFAULTS = Thresholds(unhealthy=3, healthy=2)


def run(results: str, thresholds: Thresholds = DEFAULTS) -> list[Health]:
    """Feeds "+" (success) and "-" (failure); returns the health after each."""
    state = EndpointState()
    out = []
    for i, r in enumerate(results):
        observe(state, r == "+", thresholds, now=float(i), error="" if r == "+" else "refused")
        out.append(state.health)
    return out


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ("", []),
        ("+", [H]),
        ("-", [U]),
        ("--", [U, U]),
        ("---", [U, U, X]),
        ("--+--", [U, U, H, H, H]),
        ("+---", [H, H, H, X]),
        ("+--+---", [H, H, H, H, H, H, X]),
        ("---+", [U, U, X, X]),
        ("---++", [U, U, X, X, H]),
        ("---+-++", [U, U, X, X, X, X, H]),
    ],
)
def test_thresholds(results: str, expected: list[Health]) -> None:
    assert run(results) == expected


def test_thresholds_of_one() -> None:
    assert run("+-+", Thresholds(1, 1)) == [H, X, H]


def test_transition_reported_once_with_time_and_error() -> None:
    state = EndpointState()
    t = Thresholds(2, 1)
    assert observe(state, False, t, now=1.0, error="refused") is None
    assert observe(state, False, t, now=2.0, error="refused") is X
    assert (state.last_transition_time, state.last_error, state.consecutive_failures) == (
        2.0,
        "refused",
        2,
    )
    assert observe(state, False, t, now=3.0, error="timed out") is None
    assert state.last_transition_time == 2.0
    assert observe(state, True, t, now=4.0, latency=0.002) is H
    assert (state.last_error, state.consecutive_failures, state.last_latency) == ("", 0, 0.002)


def service(endpoints: list[ir.Endpoint], check: ir.HealthCheck | None) -> ir.Intent:
    return ir.Intent(
        name="shop",
        spec=ir.ServiceSpec(
            hosts=("shop.example.com",),
            ports=(ir.Port(number=80, protocol=ir.Protocol.HTTP, target_port=8080),),
            endpoints=tuple(endpoints),
            health_check=check,
        ),
    )


def test_targets_key_on_the_endpoint_port_and_probe_the_check_port() -> None:
    check = ir.HealthCheck(type=ir.HealthCheckType.HTTP, path="/healthz", port=9000)
    intent = service(
        [
            ir.Endpoint(address="10.0.0.1"),
            ir.Endpoint(address="10.0.0.2", port=8081),
        ],
        check,
    )
    targets = targets_of(intent)
    assert [(t.address, t.port, t.probe_port) for t in targets] == [
        ("10.0.0.1", 8080, 9000),
        ("10.0.0.2", 8081, 9000),
    ]
    assert targets[0].check.path == "/healthz"
    assert targets[0].check.default_ttl == 30.0


def test_targets_probe_the_key_port_without_a_check_port() -> None:
    check = ir.HealthCheck(type=ir.HealthCheckType.TCP)
    targets = targets_of(service([ir.Endpoint(address="10.0.0.1")], check))
    assert [(t.port, t.probe_port) for t in targets] == [(8080, 8080)]


def test_no_health_check_no_targets() -> None:
    assert targets_of(service([ir.Endpoint(address="10.0.0.1")], None)) == []

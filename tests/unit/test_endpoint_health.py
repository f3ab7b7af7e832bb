"""Endpoint health as plugins hold it (HealthBook), spread over EDS entries (eds_health),
and summed up in the Healthy condition: plain data."""

from __future__ import annotations

import pytest

from tc import ir
from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tc.plugins.envoy.endpoints import eds_health
from tc.plugins.sdk.endpoint_health import HealthBook
from tc.server import status


def health(service: str, revision: int, **endpoints: bool) -> plugin_pb2.ServiceHealth:
    return plugin_pb2.ServiceHealth(
        service=service,
        revision=revision,
        endpoints=[
            plugin_pb2.EndpointState(address=a.replace("_", "."), port=80, healthy=h)
            for a, h in endpoints.items()
        ],
    )


def test_book_keeps_the_newest_revision() -> None:
    book = HealthBook()
    assert book.note([health("shop", 2, ip_1=False)]) == {"shop"}
    # An Apply built before revision 2 arrives late: it must not bring the endpoint back.
    assert book.note([health("shop", 1, ip_1=True)]) == set()
    assert book.of("shop") == {("ip.1", 80): False}
    assert book.note([health("shop", 3, ip_1=True)]) == {"shop"}
    assert book.note([health("shop", 3, ip_1=True)]) == set()
    assert book.of("shop") == {("ip.1", 80): True}


def test_book_sync_replaces_everything() -> None:
    book = HealthBook()
    book.note([health("shop", 1, ip_1=False), health("cart", 1, ip_2=False)])
    changed = book.note([health("shop", 1, ip_1=False)], replace_all=True)
    assert changed == {"cart"}
    assert book.of("cart") == {}
    assert book.of("unknown") == {}


def spec() -> ir.ServiceSpec:
    return ir.ServiceSpec(
        hosts=("shop.example.com",),
        ports=(
            ir.Port(number=80, protocol=ir.Protocol.HTTP, target_port=8080),
            ir.Port(number=9090, protocol=ir.Protocol.GRPC),
        ),
        endpoints=(ir.Endpoint(address="10.0.0.1"), ir.Endpoint(address="10.0.0.2", port=7000)),
    )


def test_eds_health_covers_every_port_of_the_endpoint() -> None:
    got = eds_health(spec(), {("10.0.0.1", 8080): False, ("10.0.0.2", 7000): True})
    assert got == {
        ("10.0.0.1", 8080): False,
        ("10.0.0.1", 9090): False,
        ("10.0.0.2", 7000): True,
    }


def test_eds_health_ignores_unknown_keys() -> None:
    assert eds_health(spec(), {("10.0.0.1", 9090): False}) == {}


@pytest.mark.parametrize(
    ("counts", "expected", "reason"),
    [
        ((3, 0, 0), intent_pb2.CONDITION_STATUS_TRUE, "EndpointsHealthy"),
        ((2, 1, 0), intent_pb2.CONDITION_STATUS_FALSE, "EndpointsUnhealthy"),
        ((0, 1, 2), intent_pb2.CONDITION_STATUS_FALSE, "EndpointsUnhealthy"),
        ((1, 0, 2), intent_pb2.CONDITION_STATUS_UNKNOWN, "Checking"),
    ],
)
def test_healthy_condition(counts: tuple[int, int, int], expected: int, reason: str) -> None:
    cond = status.healthy_condition(*counts, generation=4)
    assert (cond.type, cond.status, cond.reason, cond.observed_generation) == (
        "Healthy",
        expected,
        reason,
        4,
    )
    assert f"of {sum(counts)} endpoints" in cond.message

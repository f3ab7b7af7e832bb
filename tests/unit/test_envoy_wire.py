"""wire.py's hand-written responses are what protobuf writes, as protobuf reads them back."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from tc.plugins.envoy.resources import CLUSTER, ROUTE
from tc.plugins.envoy.wire import delta_response, sotw_response

RESOURCES = [
    pytest.param([], id="none"),
    pytest.param([("web", "0a1b", b"\x0a\x03web")], id="one"),
    pytest.param(
        [("a" * 200, "v" * 130, b"x" * 300), ("b", "v2", b"y" * 20_000)], id="multi-byte lengths"
    ),
    pytest.param([("café/ünï:8080", "v", b"")], id="non-ascii name, empty value"),
]


@pytest.mark.parametrize("resources", RESOURCES)
@pytest.mark.parametrize("removed", [[], ["gone"], ["x" * 150, "y"]])
def test_delta_response_reads_back(
    resources: list[tuple[str, str, bytes]], removed: list[str]
) -> None:
    wrote = delta_response("00ff", CLUSTER, "3-17", resources, removed)
    expected = discovery_pb2.DeltaDiscoveryResponse(
        system_version_info="00ff",
        type_url=CLUSTER,
        nonce="3-17",
        resources=[
            discovery_pb2.Resource(
                name=name, version=version, resource=any_pb2.Any(type_url=CLUSTER, value=value)
            )
            for name, version, value in resources
        ],
        removed_resources=removed,
    )
    assert discovery_pb2.DeltaDiscoveryResponse.FromString(wrote) == expected


@pytest.mark.parametrize("resources", RESOURCES)
def test_sotw_response_reads_back(resources: list[tuple[str, str, bytes]]) -> None:
    values = [value for _, _, value in resources]
    wrote = sotw_response("", ROUTE, "1-1", values)
    expected = discovery_pb2.DiscoveryResponse(
        type_url=ROUTE,
        nonce="1-1",
        resources=[any_pb2.Any(type_url=ROUTE, value=value) for value in values],
    )
    assert discovery_pb2.DiscoveryResponse.FromString(wrote) == expected


def test_same_bytes_as_protobuf_for_a_typical_response() -> None:
    """Fields in field-number order, as protobuf's deterministic encoding has them (the
    Resource message puts version and resource before name, as its numbers do)."""
    wrote = sotw_response("v1", ROUTE, "n", [b"\x0a\x01r"])
    expected = discovery_pb2.DiscoveryResponse(
        version_info="v1",
        type_url=ROUTE,
        nonce="n",
        resources=[any_pb2.Any(type_url=ROUTE, value=b"\x0a\x01r")],
    )
    assert wrote == expected.SerializeToString(deterministic=True)

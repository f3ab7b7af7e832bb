"""The envoy plugin's Apply, in process: what it publishes and when it need not."""

from __future__ import annotations

from tc._proto.tc.v1 import intent_pb2
from tc.plugins.envoy.plugin import EnvoyPlugin
from tc.plugins.envoy.resources import CLUSTER


def web(generation: int, port: int = 8080) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name="web",
        uid="u-web",
        generation=generation,
        service=intent_pb2.ServiceSpec(
            hosts=["web.example.com"],
            ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=9001)],
        ),
    )


async def test_a_retried_apply_publishes_nothing_new_and_a_new_generation_does() -> None:
    plugin = EnvoyPlugin({"ack_wait_seconds": 0}, "envoy-0")
    await plugin.start()
    await plugin.apply([web(1)], [])
    first = plugin.cache.snapshot
    assert first is not None and "default/web:8080" in first.of_type(CLUSTER)

    # The controller asks again while proxies have not ACKed: same intent, same group.
    results = await plugin.apply([web(1)], [])
    assert plugin.cache.snapshot is first
    assert results[0].generation == 1

    await plugin.apply([web(2, port=8081)], [])
    second = plugin.cache.snapshot
    assert second is not first and second is not None
    assert set(second.of_type(CLUSTER)) == {"default/web:8081"}

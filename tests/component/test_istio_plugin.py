"""The istio plugin behind a real controller: intents in, Istio YAML files out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tests.component.conftest import Running, start_controller
from tests.support import wait_until


def shop(port: int = 8080) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name="shop",
        service=intent_pb2.ServiceSpec(
            namespace="shop",
            hosts=["shop.example.com"],
            ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[
                intent_pb2.Endpoint(address="10.0.1.10", port=8080, subset="v1"),
                intent_pb2.Endpoint(address="10.0.1.20", port=8080, subset="v2"),
            ],
        ),
    )


def canary(v2_weight: int, subset: str = "v2") -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name="shop-canary",
        workload=intent_pb2.WorkloadSpec(
            target="shop",
            split=[
                intent_pb2.TrafficSplit(subset="v1", weight=100 - v2_weight),
                intent_pb2.TrafficSplit(subset=subset, weight=v2_weight),
            ],
        ),
    )


@pytest.fixture
async def istio(tmp_path: Path) -> AsyncIterator[tuple[Running, Path]]:
    out = tmp_path / "gitops"
    plugins = tmp_path / "plugins.d"
    plugins.mkdir()
    (plugins / "istio.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "istio",
                "module": "tc.plugins.istio",
                "settings": {"sink": {"type": "directory", "path": str(out)}},
            }
        )
    )
    r = await start_controller(tmp_path)
    await wait_until(
        lambda: all(i.ready for g in r.controller.supervisor.groups for i in g.instances),
        what="istio instances ready",
    )
    yield r, out
    await r.channel.close()
    await r.controller.stop()


async def get(r: Running, name: str) -> intent_pb2.Intent:
    return (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent


async def apply(r: Running, intent: intent_pb2.Intent) -> None:
    await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))


def weights(out: Path) -> dict[str, int]:
    vs = yaml.safe_load((out / "shop" / "virtualservice-shop.yaml").read_text())
    route = vs["spec"]["http"][-1]["route"]
    return {d["destination"].get("subset", ""): d.get("weight", 100) for d in route}


async def test_service_and_canary_become_istio_files(istio: tuple[Running, Path]) -> None:
    r, out = istio
    await apply(r, shop())
    await wait_until(lambda: r.ready("shop"), what="shop Ready")
    files = sorted(p.name for p in (out / "shop").iterdir())
    assert "virtualservice-shop.yaml" in files and "destinationrule-shop.yaml" in files
    dr = yaml.safe_load((out / "shop" / "destinationrule-shop.yaml").read_text())
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2"]
    assert dr["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "traffic-controller"
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert "shop/virtualservice-shop.yaml" in kustomization["resources"]

    await apply(r, canary(10))
    await wait_until(lambda: r.ready("shop-canary"), what="canary Ready")
    assert weights(out) == {"v1": 90, "v2": 10}

    await r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="shop-canary"))
    await wait_until(lambda: r.gone("shop-canary"), what="canary removed")
    assert sum(weights(out).values()) == 100 and "v2" not in weights(out)

    await r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="shop"))
    await wait_until(lambda: r.gone("shop"), what="shop removed")
    assert not list((out / "shop").glob("*.yaml")) if (out / "shop").exists() else True


async def test_unknown_subset_is_refused_and_nothing_changes(istio: tuple[Running, Path]) -> None:
    r, out = istio
    await apply(r, shop())
    await wait_until(lambda: r.ready("shop"), what="shop Ready")
    before = (out / "shop" / "virtualservice-shop.yaml").read_text()
    await apply(r, canary(10, subset="v3"))

    async def refused() -> bool:
        got = await get(r, "shop-canary")
        return any(
            c.type == "Accepted" and c.status == intent_pb2.CONDITION_STATUS_FALSE
            for c in got.status.conditions
        )

    await wait_until(refused, what="canary Accepted=False")
    got = await get(r, "shop-canary")
    accepted = next(c for c in got.status.conditions if c.type == "Accepted")
    assert "spec.workload.split[1].subset" in accepted.message
    assert (out / "shop" / "virtualservice-shop.yaml").read_text() == before


async def test_the_other_instance_takes_over(istio: tuple[Running, Path]) -> None:
    r, out = istio
    status = await r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
    first = status.plugins[0].instances[0]
    await r.lifecycle.RestartPluginInstance(
        lifecycle_pb2.RestartPluginInstanceRequest(plugin="istio", instance=first.id)
    )
    await apply(r, shop(port=9090))
    await wait_until(lambda: r.ready("shop"), what="shop Ready with one instance restarting")
    vs = yaml.safe_load((out / "shop" / "virtualservice-shop.yaml").read_text())
    assert vs["metadata"]["annotations"]["tc.dev/generation"] == "1"


async def test_service_and_workload_applied_together_converge(
    istio: tuple[Running, Path],
) -> None:
    """Both instances write (ANY, round robin): whichever lands last, the tree ends right."""
    r, out = istio
    for round_ in range(3):
        split = 10 + round_
        await asyncio.gather(apply(r, shop(port=8080 + round_)), apply(r, canary(split)))

        def converged(split: int = split) -> bool:
            try:
                return weights(out) == {"v1": 100 - split, "v2": split}
            except (OSError, KeyError, TypeError):
                return False

        await wait_until(converged, what=f"90/10-ish split {split} in the VirtualService")

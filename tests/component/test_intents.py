"""IntentService against an in-process controller with two real recorder instances."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tc._proto.tc.v1 import intent_pb2, plugin_pb2
from tests.component.conftest import Running
from tests.support import dns_intent, ready, service_intent, wait_until


async def get(r: Running, name: str) -> intent_pb2.Intent:
    return (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent


async def test_apply_reaches_every_instance_and_becomes_ready(running: Running) -> None:
    response = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("shop"))
    )
    assert response.result == intent_pb2.APPLY_RESULT_CREATED
    assert response.intent.generation == 1 and response.intent.uid

    async def is_ready() -> bool:
        return ready(await get(running, "shop"))

    await wait_until(is_ready, what="shop Ready")
    intent = await get(running, "shop")
    plugin = intent.status.plugins[0]
    assert plugin.plugin == "recorder"
    assert sorted(plugin.instances) == ["recorder-0", "recorder-1"]
    for index in (0, 1):
        state = await running.plugin_stub("recorder", index).GetState(plugin_pb2.GetStateRequest())
        assert [(i.name, i.generation) for i in state.intents] == [("shop", 1)]


async def test_reapply_is_unchanged_and_spec_change_bumps_generation(running: Running) -> None:
    first = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("a"))
    )
    again = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("a"))
    )
    assert again.result == intent_pb2.APPLY_RESULT_UNCHANGED
    assert again.intent.generation == first.intent.generation == 1
    changed = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("a", port=9090))
    )
    assert changed.result == intent_pb2.APPLY_RESULT_CONFIGURED
    assert changed.intent.generation == 2
    relabelled = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("a", port=9090, labels={"team": "x"}))
    )
    assert relabelled.result == intent_pb2.APPLY_RESULT_CONFIGURED
    assert relabelled.intent.generation == 2

    async def gen2_ready() -> bool:
        got = await get(running, "a")
        return got.generation == 2 and ready(got)

    await wait_until(gen2_ready, what="generation 2 Ready")


async def test_expected_generation_guards_updates(running: Running) -> None:
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("g")))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(
                intent=service_intent("g", port=81), expected_generation=7
            )
        )
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert (await get(running, "g")).generation == 1
    ok = await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("g", port=81), expected_generation=1)
    )
    assert ok.intent.generation == 2


async def test_invalid_intent_names_the_field_and_changes_nothing(running: Running) -> None:
    bad = service_intent("bad")
    bad.service.ports[0].number = 70000
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=bad))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.service.ports[0].number" in (info.value.details() or "")
    trailers = dict(info.value.trailing_metadata() or ())
    detail = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    violations = error_details_pb2.BadRequest()
    assert detail.details[0].Unpack(violations)
    assert violations.field_violations[0].field == "spec.service.ports[0].number"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await get(running, "bad")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_plugin_rejection_shows_in_status(running: Running) -> None:
    intent = service_intent("refused", labels={"recorder.tc.dev/reject": "true"})
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))

    async def rejected() -> bool:
        got = await get(running, "refused")
        return any(
            c.type == "Accepted" and c.status == intent_pb2.CONDITION_STATUS_FALSE
            for c in got.status.conditions
        )

    await wait_until(rejected, what="Accepted=False")
    got = await get(running, "refused")
    ready_cond = next(c for c in got.status.conditions if c.type == "Ready")
    assert ready_cond.status == intent_pb2.CONDITION_STATUS_FALSE
    assert ready_cond.reason == "RejectedByLabel"
    assert "plugin recorder" in ready_cond.message


async def test_delete_is_two_phase(running: Running) -> None:
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=dns_intent("gone")))
    await wait_until(lambda: _ready(running, "gone"), what="gone Ready")
    deleted = await running.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="gone"))
    assert deleted.intent.HasField("delete_time")

    async def dropped() -> bool:
        try:
            await get(running, "gone")
        except grpc.aio.AioRpcError as exc:
            return exc.code() == grpc.StatusCode.NOT_FOUND
        return False

    await wait_until(dropped, what="intent dropped")
    for index in (0, 1):
        state = await running.plugin_stub("recorder", index).GetState(plugin_pb2.GetStateRequest())
        assert [i.name for i in state.intents] == []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="gone"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def _ready(r: Running, name: str) -> bool:
    return ready(await get(r, name))


async def test_list_pages_and_filters(running: Running) -> None:
    for i in range(25):
        labels = {"tier": "gold"} if i % 5 == 0 else {}
        await running.intents.ApplyIntent(
            intent_pb2.ApplyIntentRequest(intent=service_intent(f"svc-{i:02d}", labels=labels))
        )
    names: list[str] = []
    token = ""
    while True:
        page = await running.intents.ListIntents(
            intent_pb2.ListIntentsRequest(page_size=10, page_token=token)
        )
        names += [i.name for i in page.intents]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"svc-{i:02d}" for i in range(25)]
    gold = await running.intents.ListIntents(
        intent_pb2.ListIntentsRequest(label_selector="tier=gold")
    )
    assert [i.name for i in gold.intents] == [f"svc-{i:02d}" for i in range(0, 25, 5)]
    for request, field in [
        (intent_pb2.ListIntentsRequest(page_size=5000), "page_size"),
        (intent_pb2.ListIntentsRequest(label_selector="tier"), "label_selector"),
        (intent_pb2.ListIntentsRequest(page_token="%%%"), "page_token"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.intents.ListIntents(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith(field)


async def test_watch_sees_changes_after_the_initial_list(running: Running) -> None:
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("w1")))
    stream = running.intents.WatchIntents(intent_pb2.WatchIntentsRequest(send_initial=True))
    first = await stream.read()
    assert (first.type, first.intent.name) == (intent_pb2.WATCH_EVENT_TYPE_ADDED, "w1")
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("w2")))
    seen = set()
    while "w2" not in seen:
        event = await stream.read()
        seen.add(event.intent.name)
    stream.cancel()


async def test_plugins_get_what_they_need_to_render(running: Running) -> None:
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("shop")))
    await wait_until(lambda: _ready(running, "shop"), what="shop Ready")
    canary = intent_pb2.Intent(
        name="shop-canary",
        workload=intent_pb2.WorkloadSpec(
            target="shop",
            split=[intent_pb2.TrafficSplit(subset="v1", weight=100)],
        ),
    )
    await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=canary))
    await wait_until(lambda: _ready(running, "shop-canary"), what="canary Ready")
    state = await running.plugin_stub("recorder", 0).GetState(plugin_pb2.GetStateRequest())
    assert state.details["last_references"] == "shop"  # the workload's target
    await running.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("shop", port=81))
    )

    async def shop_gen2_ready() -> bool:
        got = await get(running, "shop")
        return got.generation == 2 and ready(got)

    await wait_until(shop_gen2_ready, what="shop generation 2 Ready")
    state = await running.plugin_stub("recorder", 0).GetState(plugin_pb2.GetStateRequest())
    assert state.details["last_references"] == "shop-canary"  # workloads on the service


async def test_a_flood_of_errors_is_still_a_clear_refusal(running: Running) -> None:
    bad = service_intent("many")
    bad.service.hosts[:] = [f"Bad_Host_{i}!" * 5 for i in range(200)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=bad))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert details.startswith("spec.service.hosts[0]")
    assert details.endswith("more errors")

"""The istio plugin's Kubernetes sink through the real `kubernetes` client, over HTTP, against
tests/doubles/kube_apiserver.py (a double of the API server, which cannot run here):
server-side apply, conflicts with other field managers, dry-run, and pruning that never
touches an object without our label."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tc.plugins.istio.metadata import MANAGED_BY, intent_label
from tc.plugins.istio.sinks import Change, ObjectRef, SinkError, SyncError, make_sink
from tc.plugins.istio.sinks.kubernetes import KubernetesSink
from tests.doubles.kube_apiserver import ISTIO_KINDS, KubeApiServerDouble

NET = "networking.istio.io/v1"
SEC = "security.istio.io/v1"


def meta(name: str, intent: str, *, ns: str = "default", gen: int = 1) -> dict[str, Any]:
    """The ownership metadata the renderer sets on every object."""
    return {
        "name": name,
        "namespace": ns,
        "labels": {MANAGED_BY: "traffic-controller", "tc.dev/intent": intent_label(intent)},
        "annotations": {"tc.dev/intent": intent, "tc.dev/generation": str(gen)},
    }


def vs(intent: str, *, name: str | None = None, ns: str = "default",
       hosts: list[str] | None = None, gen: int = 1) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": NET,
        "kind": "VirtualService",
        "metadata": meta(name or intent, intent, ns=ns, gen=gen),
        "spec": {"hosts": hosts or [f"{intent}.example.com"], "http": [{"route": []}]},
    }


def dr(intent: str, *, ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": NET,
        "kind": "DestinationRule",
        "metadata": meta(intent, intent, ns=ns),
        "spec": {"host": f"{intent}.{ns}.svc.cluster.local"},
    }


def ap(intent: str, *, ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": SEC,
        "kind": "AuthorizationPolicy",
        "metadata": meta(f"{intent}-allow", intent, ns=ns),
        "spec": {"action": "ALLOW", "rules": [{}]},
    }


def service(intent: str, *, ns: str = "default") -> list[dict[str, Any]]:
    return [vs(intent, ns=ns), dr(intent, ns=ns), ap(intent, ns=ns)]


def rv(api: KubeApiServerDouble, obj: dict[str, Any]) -> str:
    live = api.get(
        obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
    )
    assert live is not None
    return str(live["metadata"]["resourceVersion"])


@pytest.fixture
def api() -> Iterator[KubeApiServerDouble]:
    with KubeApiServerDouble() as double:
        yield double


@pytest.fixture
def kubeconfig(api: KubeApiServerDouble, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def sink(kubeconfig: Path) -> AsyncIterator[KubernetesSink]:
    s = new_sink(kubeconfig)
    yield s
    await s.close()


def new_sink(kubeconfig: Path, **settings: Any) -> KubernetesSink:
    s = make_sink({"type": "kubernetes", "kubeconfig": str(kubeconfig), **settings})
    assert isinstance(s, KubernetesSink)
    return s


async def test_apply_creates_with_server_side_apply_as_our_field_manager(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    plan = await sink.apply("web", service("web"))

    assert plan.changes == [
        Change("create", ObjectRef(SEC, "AuthorizationPolicy", "default", "web-allow"), "web"),
        Change("create", ObjectRef(NET, "DestinationRule", "default", "web"), "web"),
        Change("create", ObjectRef(NET, "VirtualService", "default", "web"), "web"),
    ]
    live = api.get(NET, "VirtualService", "default", "web")
    assert live is not None
    assert live["spec"] == vs("web")["spec"]
    assert live["metadata"]["labels"] == vs("web")["metadata"]["labels"]
    assert [(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]] == [
        ("traffic-controller", "Apply")
    ]
    patches = [r for r in api.writes() if r.method == "PATCH"]
    assert len(patches) == 3
    assert {r.content_type for r in patches} == {"application/apply-patch+yaml"}
    assert {r.query.get("fieldManager") for r in patches} == {"traffic-controller"}
    assert not any("force" in r.query or "dryRun" in r.query for r in patches)


async def test_reapplying_unchanged_objects_keeps_the_resource_version(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", service("web"))
    before = [rv(api, o) for o in service("web")]

    plan = await sink.apply("web", service("web"))

    assert [c.action for c in plan.changes] == ["unchanged"] * 3
    assert [rv(api, o) for o in service("web")] == before


async def test_an_update_is_applied_and_a_dropped_object_pruned(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", service("web"))
    before = rv(api, vs("web"))

    plan = await sink.apply("web", [vs("web", hosts=["web.example.org"], gen=2), dr("web")])

    assert [(c.action, c.ref.kind) for c in plan.changes] == [
        ("delete", "AuthorizationPolicy"),
        ("unchanged", "DestinationRule"),
        ("update", "VirtualService"),
    ]
    live = api.get(NET, "VirtualService", "default", "web")
    assert live is not None
    assert live["spec"]["hosts"] == ["web.example.org"]
    assert live["metadata"]["annotations"]["tc.dev/generation"] == "2"
    assert int(live["metadata"]["resourceVersion"]) > int(before)
    assert api.get(SEC, "AuthorizationPolicy", "default", "web-allow") is None
    # The prune re-read the object and deleted it only on its uid and resourceVersion.
    delete = next(r for r in api.writes() if r.method == "DELETE")
    assert set(delete.body["preconditions"]) == {"uid", "resourceVersion"}


async def test_a_conflict_with_another_manager_is_reported_not_overwritten(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", [vs("web")])
    # Someone takes spec.hosts over with kubectl's server-side apply --force-conflicts.
    theirs = vs("web", hosts=["hijacked.example.com"])
    api.apply_as(
        "kubectl", {**theirs, "metadata": {"name": "web", "namespace": "default"}}, force=True
    )

    with pytest.raises(SinkError) as caught:
        await sink.apply("web", [vs("web", gen=2)])

    err = caught.value
    assert err.retryable is False
    assert err.ref == ObjectRef(NET, "VirtualService", "default", "web")
    assert "VirtualService default/web" in str(err)
    assert 'conflict with "kubectl"' in str(err)
    assert ".spec.hosts" in str(err)
    live = api.get(NET, "VirtualService", "default", "web")
    assert live is not None
    assert live["spec"]["hosts"] == ["hijacked.example.com"]
    assert live["metadata"]["annotations"]["tc.dev/generation"] == "1"


async def test_force_conflicts_takes_the_field_back(
    api: KubeApiServerDouble, sink: KubernetesSink, kubeconfig: Path
) -> None:
    await sink.apply("web", [vs("web")])
    theirs = {
        **vs("web", hosts=["hijacked.example.com"]),
        "metadata": {"name": "web", "namespace": "default"},
    }
    api.apply_as("kubectl", theirs, force=True)
    forcing = new_sink(kubeconfig, force_conflicts=True)

    plan = await forcing.apply("web", [vs("web")])
    await forcing.close()

    assert [c.action for c in plan.changes] == ["update"]
    live = api.get(NET, "VirtualService", "default", "web")
    assert live is not None
    assert live["spec"]["hosts"] == ["web.example.com"]
    assert [r.query.get("force") for r in api.writes()][-1] == "true"
    managers = {m["manager"]: m["fieldsV1"] for m in live["metadata"]["managedFields"]}
    assert "f:hosts" in managers["traffic-controller"]["f:spec"]
    assert "f:hosts" not in managers.get("kubectl", {}).get("f:spec", {})


async def test_an_existing_object_without_our_label_is_not_taken_over(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    api.create({**vs("web"), "metadata": {"name": "web", "namespace": "default"}})

    with pytest.raises(SinkError, match="not managed by traffic-controller") as caught:
        await sink.apply("web", [vs("web")])

    assert caught.value.retryable is False
    live = api.get(NET, "VirtualService", "default", "web")
    assert live is not None
    assert "labels" not in live["metadata"]


async def test_dry_run_reports_and_changes_nothing(
    api: KubeApiServerDouble, sink: KubernetesSink, kubeconfig: Path
) -> None:
    await sink.apply("old", [vs("old")])
    revision = rv(api, vs("old"))
    dry = new_sink(kubeconfig, dry_run=True)

    created = await dry.apply("web", service("web"))
    removed = await dry.remove("old")
    await dry.close()

    assert [c.action for c in created.changes] == ["create"] * 3
    assert [c.action for c in removed.changes] == ["delete"]
    assert [o["metadata"]["name"] for o in api.objects()] == ["old"]
    assert rv(api, vs("old")) == revision
    dry_writes = api.writes()[1:]
    assert dry_writes and all(r.query.get("dryRun") == "All" for r in dry_writes)


async def test_plans_use_server_dry_run_and_match_what_apply_does(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", service("web"))
    await sink.apply("api", [vs("api")])
    writes = len(api.writes())
    wanted = [vs("web", hosts=["web.example.org"]), dr("web")]

    planned = await sink.plan_apply("web", wanted)
    planned_sync = await sink.plan_sync({"web": wanted})

    assert all(r.method == "PATCH" and r.query["dryRun"] == "All" for r in api.writes()[writes:])
    assert [(c.action, c.ref.kind) for c in planned.changes] == [
        ("delete", "AuthorizationPolicy"),
        ("unchanged", "DestinationRule"),
        ("update", "VirtualService"),
    ]
    assert [(c.action, c.intent, c.ref.kind) for c in planned_sync.changed] == [
        ("delete", "api", "VirtualService"),
        ("delete", "web", "AuthorizationPolicy"),
        ("update", "web", "VirtualService"),
    ]
    assert await sink.apply("web", wanted) == planned


async def test_a_dry_run_plan_reports_a_conflict(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", [vs("web")])
    theirs = {
        **vs("web", hosts=["x.example.com"]),
        "metadata": {"name": "web", "namespace": "default"},
    }
    api.apply_as("kubectl", theirs, force=True)

    with pytest.raises(SinkError, match='conflict with "kubectl"'):
        await sink.plan_apply("web", [vs("web")])


async def test_sync_prunes_only_objects_carrying_our_label(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", service("web"))
    await sink.apply("gone", [vs("gone", ns="other")])
    # Not ours: hand-made, and one of ours whose managed-by label someone removed.
    api.create({**vs("hand"), "metadata": {"name": "hand", "namespace": "default"}})
    api.merge_patch_as(
        "kubectl-edit",
        NET,
        "DestinationRule",
        namespace="default",
        name="web",
        patch={"metadata": {"labels": {MANAGED_BY: None}}},
    )

    plan = await sink.sync({"web": [vs("web")]})

    assert [(c.action, c.intent, c.ref.kind) for c in plan.changed] == [
        ("delete", "gone", "VirtualService"),
        ("delete", "web", "AuthorizationPolicy"),
    ]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in api.objects()) == [
        ("DestinationRule", "web"),
        ("VirtualService", "hand"),
        ("VirtualService", "web"),
    ]
    lists = [r for r in api.requests if r.method == "GET" and "labelSelector" in r.query]
    assert {r.query["labelSelector"] for r in lists} == {
        "app.kubernetes.io/managed-by=traffic-controller",
        "app.kubernetes.io/managed-by=traffic-controller,tc.dev/intent=web",
        "app.kubernetes.io/managed-by=traffic-controller,tc.dev/intent=gone",
    }


async def test_remove_deletes_by_intent_label(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    long_name = "a-very-long-service-intent-name-" + "x" * 60
    await sink.apply("web", service("web"))
    await sink.apply(long_name, [vs(long_name, name="long")])

    plan = await sink.remove(long_name)
    assert [(c.action, c.ref.name) for c in plan.changes] == [("delete", "long")]
    plan = await sink.remove("web")

    assert [c.action for c in plan.changes] == ["delete"] * 3
    assert list(api.objects()) == []
    selectors = {r.query.get("labelSelector") for r in api.requests if r.method == "GET"}
    assert (
        f"app.kubernetes.io/managed-by=traffic-controller,tc.dev/intent={intent_label(long_name)}"
        in selectors
    )


async def test_a_restarted_sink_sync_changes_nothing_that_is_already_right(
    api: KubeApiServerDouble, sink: KubernetesSink, kubeconfig: Path
) -> None:
    desired = {"web": service("web"), "api": service("api", ns="shop")}
    await sink.sync(desired)
    revisions = {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in api.objects()
    }

    restarted = new_sink(kubeconfig)
    plan = await restarted.sync(desired)
    await restarted.close()

    assert plan.changed == []
    assert len(plan.changes) == 6
    assert {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in api.objects()
    } == revisions


async def test_sync_reports_a_failing_intent_and_carries_on(
    api: KubeApiServerDouble, sink: KubernetesSink
) -> None:
    await sink.apply("web", [vs("web"), dr("web")])
    theirs = {
        **vs("web", hosts=["x.example.com"]),
        "metadata": {"name": "web", "namespace": "default"},
    }
    api.apply_as("kubectl", theirs, force=True)

    with pytest.raises(SyncError) as caught:
        await sink.sync({"web": [vs("web")], "api": [vs("api")]})

    assert set(caught.value.failed) == {"web"}
    assert 'conflict with "kubectl"' in str(caught.value.failed["web"])
    assert [(c.action, c.intent) for c in caught.value.plan.changed] == [("create", "api")]
    # The failed intent's objects stay, even the one it no longer renders.
    assert api.get(NET, "DestinationRule", "default", "web") is not None


async def test_server_errors_and_an_unreachable_server_are_retryable(
    api: KubeApiServerDouble, sink: KubernetesSink, kubeconfig: Path
) -> None:
    await sink.apply("web", [vs("web")])
    api.fail_next(503)
    with pytest.raises(SinkError) as caught:
        await sink.apply("web", [vs("web")])
    assert caught.value.retryable is True

    api.stop()
    with pytest.raises(SinkError, match="unreachable") as caught:
        await sink.apply("web", [vs("web")])
    assert caught.value.retryable is True

    fresh = new_sink(kubeconfig)  # connecting (discovery) fails the same way
    with pytest.raises(SinkError) as caught:
        await fresh.apply("web", [vs("web")])
    await fresh.close()
    assert caught.value.retryable is True


async def test_a_missing_kubeconfig_is_a_permanent_error(tmp_path: Path) -> None:
    s = new_sink(tmp_path / "missing")
    with pytest.raises(SinkError, match="cannot load kubeconfig") as caught:
        await s.apply("web", [vs("web")])
    await s.close()
    assert caught.value.retryable is False


async def test_kinds_other_than_istios_are_refused(sink: KubernetesSink) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("web", "web"), "data": {}}
    with pytest.raises(SinkError, match="not a kind this sink manages"):
        await sink.apply("web", [obj])


async def test_a_kind_the_server_does_not_serve_is_a_retryable_error(tmp_path: Path) -> None:
    without_security = tuple(k for k in ISTIO_KINDS if k.group != "security.istio.io")
    with KubeApiServerDouble(kinds=without_security) as api:
        s = new_sink(api.write_kubeconfig(tmp_path / "kubeconfig"))
        with pytest.raises(SinkError, match="not served") as caught:
            await s.apply("web", service("web"))
        assert caught.value.retryable is True
        assert list(api.objects()) == []  # refused before anything was written
        # What is served still syncs.
        plan = await s.sync({"web": [vs("web")]})
        await s.close()
    assert [c.action for c in plan.changes] == ["create"]

"""The istio plugin's directory sink on a real filesystem (tmp_path): layout, atomic and
minimal writes, the kustomization listing, pruning only what carries our label, and a
restarted instance converging with one sync."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tc.plugins.istio.metadata import MANAGED_BY, intent_label
from tc.plugins.istio.sinks import Change, ObjectRef, SinkError, SyncError, make_sink, make_sinks
from tc.plugins.istio.sinks.directory import INDEX_CACHE, LISTING, LOCK_FILE, DirectorySink

NET = "networking.istio.io/v1"


def object_meta(name: str, ns: str, intent: str, gen: int) -> dict[str, Any]:
    """The ownership metadata the renderer sets on every object."""
    return {
        "name": name,
        "namespace": ns,
        "labels": {MANAGED_BY: "traffic-controller", "tc.dev/intent": intent_label(intent)},
        "annotations": {"tc.dev/intent": intent, "tc.dev/generation": str(gen)},
    }


def vs(intent: str, *, name: str | None = None, ns: str = "default", gen: int = 1,
       hosts: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": NET,
        "kind": "VirtualService",
        "metadata": object_meta(name or intent, ns, intent, gen),
        "spec": {"hosts": hosts or [f"{intent}.example.com"], "http": [{"route": []}]},
    }


def dr(intent: str, *, ns: str = "default", gen: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": NET,
        "kind": "DestinationRule",
        "metadata": object_meta(intent, ns, intent, gen),
        "spec": {"host": f"{intent}.{ns}.svc.cluster.local"},
    }


def se(intent: str, *, ns: str = "default", gen: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": NET,
        "kind": "ServiceEntry",
        "metadata": object_meta(intent, ns, intent, gen),
        "spec": {"hosts": [f"{intent}.example.com"], "resolution": "STATIC"},
    }


def service(intent: str, *, ns: str = "default", gen: int = 1) -> list[dict[str, Any]]:
    return [vs(intent, ns=ns, gen=gen), dr(intent, ns=ns, gen=gen), se(intent, ns=ns, gen=gen)]


def ref(kind: str, name: str, ns: str = "default") -> ObjectRef:
    return ObjectRef(NET, kind, ns, name)


BOOKKEEPING = {LOCK_FILE, INDEX_CACHE}


def files(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under root but the sink's own bookkeeping: (inode, mtime_ns, bytes), to
    tell a rewrite from a no-op."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in BOOKKEEPING:
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns, path.read_bytes())
    return out


def listed(root: Path) -> list[str]:
    return list(yaml.safe_load((root / LISTING).read_text())["resources"])


def new_sink(root: Path, **settings: Any) -> DirectorySink:
    sink = make_sink({"type": "directory", "path": str(root), **settings})
    assert isinstance(sink, DirectorySink)
    return sink


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[DirectorySink]:
    s = new_sink(tmp_path / "out", kustomization_interval=0)
    yield s
    await s.close()


async def test_apply_writes_one_sorted_yaml_file_per_object_and_lists_them(
    sink: DirectorySink,
) -> None:
    plan = await sink.apply("web", service("web"))

    assert plan.changes == [
        Change("create", ref("DestinationRule", "web"), "web"),
        Change("create", ref("ServiceEntry", "web"), "web"),
        Change("create", ref("VirtualService", "web"), "web"),
    ]
    root = sink.root
    text = (root / "default/virtualservice-web.yaml").read_text()
    assert yaml.safe_load(text) == vs("web")
    body = text.split("\n", 1)[1]  # after the header comment
    assert body.index("apiVersion:") < body.index("kind:") < body.index("metadata:")
    assert body.index("metadata:") < body.index("spec:")
    assert (root / LISTING).read_text() == (
        "# Written by traffic-controller: every file it manages in this directory.\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "metadata:\n"
        "  labels:\n"
        "    app.kubernetes.io/managed-by: traffic-controller\n"
        "  name: traffic-controller\n"
        "resources:\n"
        "- default/destinationrule-web.yaml\n"
        "- default/serviceentry-web.yaml\n"
        "- default/virtualservice-web.yaml\n"
    )


async def test_unchanged_content_is_not_rewritten(sink: DirectorySink) -> None:
    await sink.apply("web", service("web"))
    before = files(sink.root)

    plan = await sink.apply("web", service("web"))

    assert [c.action for c in plan.changes] == ["unchanged"] * 3
    assert plan.changed == []
    assert files(sink.root) == before  # same inodes and mtimes: nothing was written


async def test_a_change_rewrites_only_the_touched_file(sink: DirectorySink) -> None:
    await sink.apply("web", service("web"))
    await sink.apply("api", service("api"))
    before = files(sink.root)

    objects = service("web")
    objects[0]["spec"]["hosts"] = ["web.example.org"]
    plan = await sink.apply("web", objects)

    assert [(c.action, c.ref.kind) for c in plan.changes] == [
        ("unchanged", "DestinationRule"),
        ("unchanged", "ServiceEntry"),
        ("update", "VirtualService"),
    ]
    after = files(sink.root)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {"default/virtualservice-web.yaml"}
    assert yaml.safe_load((sink.root / "default/virtualservice-web.yaml").read_text()) == objects[0]


async def test_objects_no_longer_rendered_are_deleted_and_unlisted(sink: DirectorySink) -> None:
    await sink.apply("web", service("web"))

    plan = await sink.apply("web", [vs("web")])

    assert [(c.action, c.ref.kind) for c in plan.changes] == [
        ("delete", "DestinationRule"),
        ("delete", "ServiceEntry"),
        ("unchanged", "VirtualService"),
    ]
    assert sorted(p.name for p in (sink.root / "default").iterdir()) == ["virtualservice-web.yaml"]
    assert listed(sink.root) == ["default/virtualservice-web.yaml"]


async def test_remove_deletes_only_the_intents_files(sink: DirectorySink) -> None:
    await sink.apply("web", service("web", ns="shop"))
    await sink.apply("api", service("api"))

    plan = await sink.remove("web")

    assert {(c.action, c.intent) for c in plan.changes} == {("delete", "web")}
    assert len(plan.changes) == 3
    assert not (sink.root / "shop").exists()  # emptied namespace directory is removed
    assert len(list((sink.root / "default").iterdir())) == 3
    assert listed(sink.root) == [
        "default/destinationrule-api.yaml",
        "default/serviceentry-api.yaml",
        "default/virtualservice-api.yaml",
    ]
    assert (await sink.remove("web")).changes == []


async def test_an_unmanaged_file_in_the_way_is_an_error_not_an_overwrite(
    sink: DirectorySink,
) -> None:
    hand = sink.root / "default/virtualservice-web.yaml"
    hand.parent.mkdir(parents=True)
    hand.write_text("apiVersion: networking.istio.io/v1\nkind: VirtualService\n# by hand\n")

    with pytest.raises(SinkError) as caught:
        await sink.apply("web", service("web"))

    assert str(hand) in str(caught.value)
    assert caught.value.retryable is False
    assert caught.value.ref == ref("VirtualService", "web")
    assert hand.read_text().endswith("# by hand\n")
    # The whole apply was refused before anything was written.
    assert sorted(p.name for p in hand.parent.iterdir()) == ["virtualservice-web.yaml"]


async def test_pruning_never_removes_a_file_without_our_label(sink: DirectorySink) -> None:
    await sink.apply("web", service("web"))
    # A hand-written file following our naming pattern, and one of ours whose label an
    # operator removed to take it over.
    hand = sink.root / "default/virtualservice-legacy.yaml"
    hand.write_text(yaml.safe_dump(vs("legacy") | {"metadata": {"name": "legacy"}}))
    adopted = sink.root / "default/destinationrule-web.yaml"
    doc = yaml.safe_load(adopted.read_text())
    del doc["metadata"]["labels"][MANAGED_BY]
    adopted.write_text(yaml.safe_dump(doc))

    plan = await sink.sync({})

    assert {(c.action, c.ref.kind) for c in plan.changes} == {
        ("delete", "ServiceEntry"),
        ("delete", "VirtualService"),
    }
    assert sorted(p.name for p in (sink.root / "default").iterdir()) == [
        "destinationrule-web.yaml",
        "virtualservice-legacy.yaml",
    ]
    assert listed(sink.root) == []


async def test_a_file_of_another_intent_is_not_taken_over_by_apply(sink: DirectorySink) -> None:
    await sink.apply("web", [vs("web")])

    with pytest.raises(SinkError, match="belongs to intent 'web'") as caught:
        await sink.apply("other", [vs("other", name="web")])

    assert caught.value.retryable is False
    assert yaml.safe_load((sink.root / "default/virtualservice-web.yaml").read_text()) == vs("web")


async def test_atomic_writes_leave_no_temporary_files(sink: DirectorySink) -> None:
    for i in range(20):
        await sink.apply(f"svc-{i}", service(f"svc-{i}", ns=f"ns{i % 3}"))
    await sink.apply("svc-0", service("svc-0", ns="ns0", gen=2))
    await sink.remove("svc-1")

    leftovers = [p for p in sink.root.rglob(".*") if p.name not in BOOKKEEPING]
    assert leftovers == []


async def test_a_failed_write_keeps_the_old_file_and_no_temporary_one(
    sink: DirectorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sink.apply("web", service("web"))
    before = files(sink.root)

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(SinkError, match="No space left") as caught:
        await sink.apply("web", service("web", gen=2))
    monkeypatch.undo()

    assert caught.value.retryable is True
    after = files(sink.root)
    assert after == before
    # And the sink recovers once the disk does.
    plan = await sink.apply("web", service("web", gen=2))
    assert [c.action for c in plan.changes] == ["update"] * 3


async def test_a_temporary_file_left_by_a_crash_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "out"
    first = new_sink(root)
    await first.apply("web", service("web"))
    await first.close()
    crashed = root / "default/.virtualservice-web.yaml.tc0123abcd-7.tmp"
    crashed.write_text("half")

    second = new_sink(root)
    await second.sync({"web": service("web")})
    await second.close()

    assert not crashed.exists()


async def test_plans_write_nothing_and_match_what_apply_does(sink: DirectorySink) -> None:
    await sink.apply("web", service("web"))
    await sink.apply("api", service("api"))
    before = files(sink.root)
    objects = [vs("web", hosts=["new.example.com"]), dr("web")]

    planned = await sink.plan_apply("web", objects)
    planned_sync = await sink.plan_sync({"web": objects})

    assert files(sink.root) == before
    assert [(c.action, c.ref.kind) for c in planned.changes] == [
        ("unchanged", "DestinationRule"),
        ("delete", "ServiceEntry"),
        ("update", "VirtualService"),
    ]
    assert [(c.action, c.intent, c.ref.kind) for c in planned_sync.changed] == [
        ("delete", "api", "DestinationRule"),
        ("delete", "api", "ServiceEntry"),
        ("delete", "api", "VirtualService"),
        ("delete", "web", "ServiceEntry"),
        ("update", "web", "VirtualService"),
    ]
    assert await sink.apply("web", objects) == planned


async def test_a_plan_on_a_missing_directory_does_not_create_it(tmp_path: Path) -> None:
    s = new_sink(tmp_path / "nope")
    plan = await s.plan_sync({"web": service("web")})
    await s.close()

    assert [c.action for c in plan.changes] == ["create"] * 3
    assert not (tmp_path / "nope").exists()


async def test_a_restarted_instance_sync_rewrites_exactly_the_desired_set(
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    first = new_sink(root)
    for name in ("a", "b", "c"):
        await first.apply(name, service(name))
    await first.close()
    before = files(root)

    restarted = new_sink(root)
    plan = await restarted.sync({"a": service("a", gen=2), "b": service("b")})
    await restarted.close()

    assert [(c.action, c.intent) for c in plan.changed] == [("update", "a")] * 3 + [
        ("delete", "c")
    ] * 3
    after = files(root)
    rewritten = {p for p in after if p in before and after[p] != before[p]}
    assert rewritten == {
        "default/virtualservice-a.yaml",
        "default/destinationrule-a.yaml",
        "default/serviceentry-a.yaml",
        LISTING,
    }
    assert set(before) - set(after) == {
        "default/virtualservice-c.yaml",
        "default/destinationrule-c.yaml",
        "default/serviceentry-c.yaml",
    }
    assert len(listed(root)) == 6

    # Once converged, a sync is all "unchanged" and touches no file.
    again = new_sink(root)
    converged = files(root)
    plan = await again.sync({"a": service("a", gen=2), "b": service("b")})
    await again.close()
    assert plan.changed == []
    assert files(root) == converged


async def test_sync_carries_on_past_a_failing_intent(sink: DirectorySink) -> None:
    await sink.apply("bad", [vs("bad")])
    await sink.apply("gone", [vs("gone")])
    hand = sink.root / "default/destinationrule-bad.yaml"
    hand.write_text("kind: DestinationRule\n")

    with pytest.raises(SyncError) as caught:
        await sink.sync({"bad": [vs("bad", gen=2), dr("bad")], "good": service("good")})

    err = caught.value
    assert set(err.failed) == {"bad"}
    assert str(hand) in str(err.failed["bad"])
    assert err.retryable is False
    assert [(c.action, c.intent) for c in err.plan.changed] == [("delete", "gone")] + [
        ("create", "good")
    ] * 3
    # Nothing of the failed intent was written or deleted.
    assert yaml.safe_load((sink.root / "default/virtualservice-bad.yaml").read_text()) == vs("bad")
    assert hand.read_text() == "kind: DestinationRule\n"


async def test_sync_refuses_an_object_rendered_by_two_intents(sink: DirectorySink) -> None:
    with pytest.raises(SyncError) as caught:
        await sink.sync({"a": [vs("a", name="shared")], "b": [vs("b", name="shared")]})

    assert set(caught.value.failed) == {"b"}
    assert "rendered by intents 'a' and 'b'" in str(caught.value.failed["b"])


async def test_two_instances_on_one_directory_see_each_others_files(tmp_path: Path) -> None:
    root = tmp_path / "out"
    one = new_sink(root, kustomization_interval=0)
    two = new_sink(root, kustomization_interval=0)
    await two.sync({})  # two's index is loaded before one writes anything

    await one.apply("web", service("web"))
    plan = await two.remove("web")

    assert [c.action for c in plan.changes] == ["delete"] * 3
    assert not (root / "default").exists()
    assert listed(root) == []
    await one.close()
    await two.close()


async def test_listing_writes_are_batched_and_never_name_a_missing_file(tmp_path: Path) -> None:
    s = new_sink(tmp_path / "out", kustomization_interval=3600)
    a = s.root / "default/virtualservice-a.yaml"
    await s.apply("a", [vs("a")])  # the first listing is written at once
    await s.apply("b", [vs("b")])
    assert listed(s.root) == ["default/virtualservice-a.yaml"]  # b waits for the interval

    plan = await s.remove("a")
    assert [c.action for c in plan.changes] == ["delete"]
    # The file goes only once a listing without it is written.
    assert listed(s.root) == ["default/virtualservice-a.yaml"]
    assert a.exists()
    await s.flush()
    assert listed(s.root) == ["default/virtualservice-b.yaml"]
    assert not a.exists()

    await s.remove("b")
    await s.apply("b", [vs("b", gen=2)])  # back before the pending deletion happened
    await s.apply("c", [vs("c")])
    await s.close()  # close writes what is pending
    assert listed(s.root) == ["default/virtualservice-b.yaml", "default/virtualservice-c.yaml"]
    assert yaml.safe_load((s.root / "default/virtualservice-b.yaml").read_text()) == vs("b", gen=2)


async def test_a_hand_written_kustomization_is_not_overwritten(sink: DirectorySink) -> None:
    sink.root.mkdir(parents=True)
    (sink.root / LISTING).write_text("resources:\n- mine.yaml\n")

    with pytest.raises(SinkError, match=r"kustomization\.yaml exists and is not managed"):
        await sink.apply("web", service("web"))

    assert (sink.root / LISTING).read_text() == "resources:\n- mine.yaml\n"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["metadata"]["labels"].pop(MANAGED_BY), "lacks the label"),
        (lambda o: o["metadata"]["annotations"].update({"tc.dev/intent": "x"}), "annotation"),
        (lambda o: o["metadata"].update(name="../../etc"), "DNS-1123"),
        (lambda o: o["metadata"].update(namespace="a/b"), "DNS-1123"),
        (lambda o: o["metadata"].pop("namespace"), "lacks"),
    ],
)
async def test_objects_without_the_ownership_metadata_are_refused(
    sink: DirectorySink, mutate: Any, message: str
) -> None:
    obj = vs("web")
    mutate(obj)

    with pytest.raises(SinkError, match=message) as caught:
        await sink.apply("web", [obj])

    assert caught.value.retryable is False
    assert not sink.root.exists() or not any(sink.root.rglob("*.yaml"))


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"type": "directory"}, "sink.path"),
        ({"type": "directory", "path": ""}, "sink.path"),
        ({"type": "directory", "path": 3}, "sink.path"),
        ({"type": "directory", "path": "x", "colour": "red"}, "sink.colour"),
        ({"type": "directory", "path": "x", "kustomization_interval": -1}, "sink.kustomization"),
        ({"type": "git", "path": "x"}, "sink.type"),
        ({"path": "x"}, "sink.type"),
        ({"type": "kubernetes", "in_cluster": True, "kubeconfig": "k"}, "sink.in_cluster"),
        ({"type": "kubernetes", "force_conflicts": "yes"}, "sink.force_conflicts"),
        ({"type": "kubernetes", "dry_run": 1}, "sink.dry_run"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        make_sink(settings)


async def test_a_restart_trusts_the_saved_index_only_for_files_that_did_not_change(
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    first = new_sink(root)
    await first.apply("web", service("web"))
    await first.apply("api", service("api"))
    await first.close()
    assert (root / INDEX_CACHE).exists()
    # Edited after the index was saved: the label is gone, so it is no longer ours.
    edited = root / "default/destinationrule-web.yaml"
    doc = yaml.safe_load(edited.read_text())
    del doc["metadata"]["labels"][MANAGED_BY]
    edited.write_text(yaml.safe_dump(doc))

    second = new_sink(root)
    plan = await second.remove("web")
    await second.close()

    assert sorted(c.ref.kind for c in plan.changes) == ["ServiceEntry", "VirtualService"]
    assert edited.exists()

    (root / INDEX_CACHE).write_text("{not json")
    third = new_sink(root)
    plan = await third.sync({})
    await third.close()
    assert [(c.action, c.intent) for c in plan.changes] == [("delete", "api")] * 3
    assert sorted(p.name for p in (root / "default").iterdir()) == ["destinationrule-web.yaml"]


async def test_sinks_are_keyed_by_target(tmp_path: Path) -> None:
    sinks = make_sinks(
        {
            "west": {"type": "directory", "path": str(tmp_path / "west")},
            "east": {"type": "directory", "path": str(tmp_path / "east")},
        }
    )
    assert list(sinks) == ["east", "west"]
    for s in sinks.values():
        await s.apply("web", [vs("web")])
        await s.close()
    assert (tmp_path / "east/default/virtualservice-web.yaml").exists()
    assert (tmp_path / "west/default/virtualservice-web.yaml").exists()

    with pytest.raises(ValueError, match=r"targets\.east\.path"):
        make_sinks({"east": {"type": "directory"}})

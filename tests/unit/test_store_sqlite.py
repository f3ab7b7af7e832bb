"""The SQLite intent store against a real database file: the contract every backend keeps.

Covers the apply/generation rules, two-phase delete, paging, events, group-commit
concurrency, reopen, and that a `kill -9` never loses an apply that had returned.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest

from tc.server.store import (
    ApplyOp,
    ApplyOutcome,
    Deleting,
    EventType,
    GenerationMismatch,
    IntentRecord,
    KindChanged,
    NotFound,
    SqliteStore,
    StoreClosed,
    StoreError,
    StoreEvent,
    SubscriberLost,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def op(
    name: str,
    spec: bytes = b"spec",
    *,
    kind: str = "service",
    labels: dict[str, str] | None = None,
    expected_generation: int | None = None,
) -> ApplyOp:
    return ApplyOp(
        name=name,
        kind=kind,
        labels=labels or {},
        spec=spec,
        expected_generation=expected_generation,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state" / "intents.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_open_creates_parent_dir_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "intents.db"
    s = SqliteStore(path, synchronous="NORMAL")
    await s.open()
    await s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_rejects_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(tmp_path / "x.db", synchronous="OFF")


async def test_create_then_unchanged(store: SqliteStore) -> None:
    created, outcome = await store.apply(op("web", b"v1", labels={"app": "web"}))
    assert outcome is ApplyOutcome.CREATED
    assert created.generation == 1
    assert created.uid
    assert created.status == b""
    assert created.delete_time is None
    assert created.create_time == created.update_time
    assert created.create_time.tzinfo is UTC
    assert dict(created.labels) == {"app": "web"}

    again, outcome = await store.apply(op("web", b"v1", labels={"app": "web"}))
    assert outcome is ApplyOutcome.UNCHANGED
    # Nothing written: same revision, same times, same uid.
    assert again == created
    assert await store.get("web") == created


async def test_spec_change_bumps_generation(store: SqliteStore) -> None:
    created, _ = await store.apply(op("web", b"v1"))
    updated, outcome = await store.apply(op("web", b"v2"))
    assert outcome is ApplyOutcome.CONFIGURED
    assert updated.generation == 2
    assert updated.uid == created.uid
    assert updated.create_time == created.create_time
    assert updated.update_time >= created.update_time
    assert updated.revision > created.revision
    assert await store.get("web") == updated


async def test_labels_only_change_keeps_generation(store: SqliteStore) -> None:
    created, _ = await store.apply(op("web", b"v1", labels={"a": "1"}))
    updated, outcome = await store.apply(op("web", b"v1", labels={"a": "2", "b": "x"}))
    assert outcome is ApplyOutcome.CONFIGURED
    assert updated.generation == created.generation == 1
    assert updated.revision > created.revision
    assert dict((await store.get("web")).labels) == {"a": "2", "b": "x"}


async def test_expected_generation(store: SqliteStore) -> None:
    with pytest.raises(NotFound):
        await store.apply(op("web", expected_generation=3))
    created, outcome = await store.apply(op("web", b"v1", expected_generation=0))
    assert outcome is ApplyOutcome.CREATED
    with pytest.raises(GenerationMismatch) as info:
        await store.apply(op("web", b"v2", expected_generation=0))
    assert (info.value.expected, info.value.actual) == (0, 1)
    updated, _ = await store.apply(op("web", b"v2", expected_generation=1))
    assert updated.generation == 2
    with pytest.raises(GenerationMismatch):
        await store.apply(op("web", b"v3", expected_generation=1))
    assert (await store.get("web")).spec == b"v2"
    assert created.uid == updated.uid


async def test_kind_change_refused(store: SqliteStore) -> None:
    await store.apply(op("web", kind="service"))
    with pytest.raises(KindChanged) as info:
        await store.apply(op("web", kind="dns"))
    assert (info.value.old, info.value.new) == ("service", "dns")
    assert (await store.get("web")).kind == "service"


async def test_two_phase_delete(store: SqliteStore) -> None:
    created, _ = await store.apply(op("web", b"v1"))
    with pytest.raises(GenerationMismatch):
        await store.mark_deleting("web", expected_generation=7)
    with pytest.raises(NotFound):
        await store.mark_deleting("nope")
    assert not await store.drop("web", created.uid)  # not deleting yet

    marked = await store.mark_deleting("web", expected_generation=1)
    assert marked.delete_time is not None
    assert marked.deleting
    assert marked.generation == 1
    assert marked.revision > created.revision
    assert await store.get("web") == marked
    # Idempotent: the second mark changes nothing.
    assert await store.mark_deleting("web") == marked

    with pytest.raises(Deleting):
        await store.apply(op("web", b"v2"))

    assert not await store.drop("web", "some-other-uid")
    assert await store.drop("web", created.uid)
    with pytest.raises(NotFound):
        await store.get("web")
    assert not await store.drop("web", created.uid)

    recreated, outcome = await store.apply(op("web", b"v9"))
    assert outcome is ApplyOutcome.CREATED
    assert recreated.generation == 1
    assert recreated.uid != created.uid


async def test_set_status_keeps_generation(store: SqliteStore) -> None:
    created, _ = await store.apply(op("web", b"v1"))
    matched = await store.set_status(
        [("web", created.uid, b"ok"), ("web", "stale-uid", b"x"), ("gone", "u", b"x")]
    )
    assert matched == 1
    after = await store.get("web")
    assert after.status == b"ok"
    assert after.generation == 1
    assert after.revision > created.revision
    assert after.update_time == created.update_time

    # Same status again: matched, nothing written.
    assert await store.set_status([("web", created.uid, b"ok")]) == 1
    assert await store.get("web") == after

    # An unchanged apply keeps the status.
    same, outcome = await store.apply(op("web", b"v1"))
    assert outcome is ApplyOutcome.UNCHANGED
    assert same.status == b"ok"


async def test_apply_many_reports_per_op(store: SqliteStore) -> None:
    await store.apply(op("existing", b"v1"))
    results = await store.apply_many(
        [
            op("a", b"1"),
            op("b", expected_generation=3),
            # Sees "a" created earlier in the same transaction.
            op("a", b"1", kind="dns"),
            op("existing", b"v2"),
            op("existing", b"v2", expected_generation=1),
            op("c", b"1"),
        ]
    )
    assert len(results) == 6
    ok = [r for r in results if not isinstance(r, StoreError)]
    assert [outcome for _, outcome in ok] == [
        ApplyOutcome.CREATED,
        ApplyOutcome.CONFIGURED,
        ApplyOutcome.CREATED,
    ]
    assert isinstance(results[1], NotFound)
    assert isinstance(results[2], KindChanged)
    assert isinstance(results[4], GenerationMismatch)
    assert [r.name for r in await store.list_all()] == ["a", "c", "existing"]
    assert (await store.get("existing")).generation == 2
    assert await store.apply_many([]) == []


async def test_concurrent_applies_to_one_name_are_serialized(store: SqliteStore) -> None:
    results = await asyncio.gather(*(store.apply(op("web", f"v{i}".encode())) for i in range(50)))
    outcomes = [outcome for _, outcome in results]
    assert outcomes.count(ApplyOutcome.CREATED) == 1
    assert outcomes.count(ApplyOutcome.CONFIGURED) == 49
    assert sorted(r.generation for r, _ in results) == list(range(1, 51))
    assert (await store.get("web")).generation == 50


async def test_list_paging_with_and_without_label_filter(store: SqliteStore) -> None:
    tiers = ("gold", "silver", "bronze")
    results = await asyncio.gather(
        *(
            store.apply(
                op(
                    f"intent-{i:03d}",
                    labels={"tier": tiers[i % 3], "app.kubernetes.io/name": f"app{i % 2}"},
                )
            )
            for i in range(250)
        )
    )
    assert all(outcome is ApplyOutcome.CREATED for _, outcome in results)
    assert await store.count() == 250

    async def pages(limit: int, labels: dict[str, str] | None = None) -> list[list[str]]:
        out: list[list[str]] = []
        after = ""
        while True:
            page = await store.list(after=after, limit=limit, labels=labels)
            if not page:
                return out
            out.append([r.name for r in page])
            after = page[-1].name

    everything = await pages(100)
    assert [len(p) for p in everything] == [100, 100, 50]
    flat = [name for p in everything for name in p]
    assert flat == [f"intent-{i:03d}" for i in range(250)]
    assert flat == [r.name for r in await store.list_all()]

    silver = [f"intent-{i:03d}" for i in range(250) if i % 3 == 1]
    assert [name for p in await pages(100, {"tier": "silver"}) for name in p] == silver
    small_pages = await pages(30, {"tier": "silver"})
    assert [len(p) for p in small_pages] == [30, 30, 23]
    assert [name for p in small_pages for name in p] == silver

    both = [f"intent-{i:03d}" for i in range(250) if i % 3 == 1 and i % 2 == 0]
    filtered = await pages(10, {"tier": "silver", "app.kubernetes.io/name": "app0"})
    assert [name for p in filtered for name in p] == both
    assert await store.list(labels={"tier": "platinum"}) == []
    assert await store.list(labels={}) == await store.list()


async def test_list_label_filter_exact_match(store: SqliteStore) -> None:
    await store.apply(op("a", labels={'we"ird key': "x y", "n": "1"}))
    await store.apply(op("b", labels={"n": "10"}))
    assert [r.name for r in await store.list(labels={'we"ird key': "x y"})] == ["a"]
    assert [r.name for r in await store.list(labels={"n": "1"})] == ["a"]


async def test_subscribe_delivers_committed_changes_in_revision_order(
    store: SqliteStore,
) -> None:
    await store.apply(op("before"))
    sub = store.subscribe()
    assert sub.start_revision == (await store.get("before")).revision
    writers, per_writer = 8, 20
    # Per name: ADDED, MODIFIED; every 4th also status, mark_deleting and DELETED.
    expected = writers * (per_writer * 2 + (per_writer // 4) * 3)

    async def consume() -> list[StoreEvent]:
        events: list[StoreEvent] = []
        async for event in sub:
            events.append(event)
            # Delivered after commit: another connection already sees this change (or a
            # later drop of the same intent).
            try:
                current = await store.get(event.record.name)
            except NotFound:
                assert event.type is EventType.DELETED or event.record.name.endswith(
                    ("-0", "-4", "-8", "-12", "-16")
                )
            else:
                assert event.type is not EventType.DELETED
                assert current.revision >= event.revision
            if len(events) == expected:
                return events
        raise AssertionError("subscription ended early")

    async def writer(w: int) -> None:
        for i in range(per_writer):
            record, _ = await store.apply(op(f"w{w}-{i}", b"v1", labels={"w": str(w)}))
            await store.apply(op(f"w{w}-{i}", b"v2"))
            await store.apply(op(f"w{w}-{i}", b"v2"))  # unchanged: no event
            if i % 4 == 0:
                await store.set_status([(record.name, record.uid, b"ok")])
                await store.mark_deleting(record.name)
                await store.drop(record.name, record.uid)

    async with asyncio.timeout(20):
        consumer = asyncio.create_task(consume())
        await asyncio.gather(*(writer(w) for w in range(writers)))
        events = await consumer
    sub.close()

    revisions = [e.revision for e in events]
    assert revisions == list(range(sub.start_revision + 1, sub.start_revision + 1 + expected))
    assert all(e.record.revision == e.revision for e in events)
    by_type = {t: sum(1 for e in events if e.type is t) for t in EventType}
    assert by_type == {EventType.ADDED: 160, EventType.MODIFIED: 160 + 80, EventType.DELETED: 40}
    # Each intent's events arrive in its own causal order.
    assert [e.type for e in events if e.record.name == "w3-4"] == [
        EventType.ADDED,
        EventType.MODIFIED,
        EventType.MODIFIED,
        EventType.MODIFIED,
        EventType.DELETED,
    ]
    assert [e.record.status for e in events if e.record.name == "w3-4"][-3:] == [b"ok"] * 3


async def test_stuck_subscriber_is_lost_and_never_blocks_writers(store: SqliteStore) -> None:
    stuck = store.subscribe(max_queue=8)
    healthy = store.subscribe()
    async with asyncio.timeout(10):
        await asyncio.gather(*(store.apply(op(f"n{i}")) for i in range(100)))
    assert stuck.lost
    with pytest.raises(SubscriberLost):
        await anext(stuck)
    with pytest.raises(SubscriberLost):
        await anext(stuck)
    # The overflow of one subscriber costs the others nothing.
    received = [await anext(healthy) for _ in range(100)]
    assert sorted(e.record.name for e in received) == sorted(f"n{i}" for i in range(100))
    healthy.close()
    with pytest.raises(StopAsyncIteration):
        await anext(healthy)


async def test_close_ends_subscriptions_and_refuses_calls(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "intents.db")
    await s.open()
    sub = s.subscribe()

    async def next_event() -> StoreEvent:
        return await anext(sub)

    # A reader already waiting is woken by the commit.
    waiting = asyncio.create_task(next_event())
    await s.apply(op("a"))
    assert (await waiting).record.name == "a"
    await s.apply(op("b"))
    await s.close()
    # Events committed before close are still delivered, then the stream ends.
    assert (await anext(sub)).record.name == "b"
    with pytest.raises(StoreClosed):
        await anext(sub)
    with pytest.raises(StoreClosed):
        await s.apply(op("c"))
    with pytest.raises(StoreClosed):
        await s.get("a")
    with pytest.raises(StoreClosed):
        s.subscribe()
    await s.close()  # idempotent


async def test_pending_writes_finish_on_close(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "intents.db")
    await s.open()
    writes = [asyncio.create_task(s.apply(op(f"n{i}"))) for i in range(200)]
    # Tasks start in creation order, so every apply is queued before close runs.
    await asyncio.create_task(s.close())
    assert all(t.result()[1] is ApplyOutcome.CREATED for t in writes)
    reopened = SqliteStore(tmp_path / "intents.db")
    await reopened.open()
    assert await reopened.count() == 200
    await reopened.close()


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "intents.db"
    s = SqliteStore(path)
    await s.open()
    web, _ = await s.apply(op("web", b"v1", labels={"a": "b"}))
    await s.apply(op("web", b"v2", labels={"a": "b"}))
    await s.set_status([("web", web.uid, b"status")])
    dns, _ = await s.apply(op("dns", b"d", kind="dns"))
    await s.mark_deleting("dns")
    gone, _ = await s.apply(op("zz-gone"))
    await s.mark_deleting("zz-gone")
    assert await s.drop("zz-gone", gone.uid)
    before = await s.list_all()
    last_revision = s.subscribe().start_revision
    assert last_revision == 8  # the drop was the last change and has no row left
    await s.close()

    s2 = SqliteStore(path, synchronous="NORMAL")
    await s2.open()
    try:
        assert await s2.list_all() == before
        assert [r.name for r in before] == ["dns", "web"]
        web2 = await s2.get("web")
        assert (web2.generation, web2.status, web2.uid) == (2, b"status", web.uid)
        assert (await s2.get("dns")).deleting
        # The revision keeps counting from where it was, even though the newest row is gone.
        assert s2.subscribe().start_revision == last_revision
        new, _ = await s2.apply(op("new"))
        assert new.revision == last_revision + 1
        with pytest.raises(Deleting):
            await s2.apply(op("dns", b"d", kind="dns"))
        assert await s2.drop("dns", dns.uid)
    finally:
        await s2.close()


async def test_records_are_immutable(store: SqliteStore) -> None:
    labels = {"a": "1"}
    record, _ = await store.apply(op("web", labels=labels))
    labels["a"] = "2"
    assert dict(record.labels) == {"a": "1"}
    with pytest.raises(TypeError):
        record.labels["a"] = "3"  # type: ignore[index]
    assert isinstance(record, IntentRecord)


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from tc.server.store import ApplyOp, SqliteStore

    async def main():
        store = SqliteStore(Path(sys.argv[1]), synchronous=sys.argv[2])
        await store.open()
        out = sys.stdout

        async def worker(w):
            i = 0
            while True:
                name = f"w{w}-{i}"
                await store.apply(ApplyOp(name, "service", {"w": str(w)}, name.encode() * 40))
                out.write(name + "\\n")
                out.flush()
                i += 1

        await asyncio.gather(*(worker(w) for w in range(8)))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_kill_9_loses_no_returned_apply(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "intents.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        str(path),
        synchronous,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(printed) < 2000:
                line = await proc.stdout.readline()
                assert line.endswith(b"\n"), "child exited before the burst"
                printed.append(line.decode().strip())
            # The child never stops applying, so this lands mid-burst.
            proc.send_signal(signal.SIGKILL)
            # Names already in the pipe were printed after their apply returned: they count.
            while line := await proc.stdout.readline():
                if line.endswith(b"\n"):  # a line cut short is not a whole name
                    printed.append(line.decode().strip())
            assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    s = SqliteStore(path)
    await s.open()
    try:
        stored = {r.name for r in await s.list_all()}
    finally:
        await s.close()
    missing = set(printed) - stored
    assert not missing, f"{len(missing)} returned applies lost, e.g. {sorted(missing)[:5]}"
    assert len(stored) >= len(printed)


async def test_closing_a_subscription_wakes_its_reader(store: SqliteStore) -> None:
    sub = store.subscribe()

    async def drain() -> list[StoreEvent]:
        return [event async for event in sub]

    reader = asyncio.create_task(drain())
    await store.apply(op("a"))
    # The reader was woken with "a" before the apply's caller, so it is waiting again now.
    sub.close()
    async with asyncio.timeout(5):
        events = await reader
    assert [e.record.name for e in events] == ["a"]

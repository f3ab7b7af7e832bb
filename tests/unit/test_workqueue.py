"""The work queue: coalescing, one worker per key, dirty re-adds, backoff with jitter."""

from __future__ import annotations

import asyncio
import random

import pytest

from tc.server.workqueue import WorkQueue


async def test_duplicates_coalesce_and_batches_respect_the_limit() -> None:
    q = WorkQueue()
    for name in ["a", "b", "a", "c", "b"]:
        q.add(name)
    assert len(q) == 3
    assert await q.get_batch(2) == ["a", "b"]
    assert await q.get_batch(10) == ["c"]


async def test_key_in_progress_is_not_handed_out_again_until_done() -> None:
    q = WorkQueue()
    q.add("a")
    assert await q.get_batch(10) == ["a"]
    q.add("a")  # changed while being processed
    assert len(q) == 0
    q.done("a")
    assert await q.get_batch(10) == ["a"]
    q.done("a")
    assert q.idle()


async def test_add_after_delays_until_due() -> None:
    now = [100.0]
    q = WorkQueue(clock=lambda: now[0])
    q.add_after("late", 5.0)
    q.add("now")
    assert await q.get_batch(10) == ["now"]
    now[0] = 105.0
    assert await q.get_batch(10) == ["late"]


async def test_waiting_worker_wakes_on_add() -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get_batch(5))
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == ["x"]


async def test_close_releases_waiters() -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get_batch(5))
    await asyncio.sleep(0)
    q.close()
    assert await asyncio.wait_for(getter, 1) == []


@pytest.mark.parametrize("failures", [0, 1, 3, 10, 30])
async def test_backoff_grows_and_is_capped(failures: int) -> None:
    q = WorkQueue(base_delay=0.1, max_delay=5.0, rng=random.Random(7))
    for _ in range(failures):
        q.backoff("k")
    delay = q.backoff("k")
    ceiling = min(5.0, 0.1 * 2**failures)
    assert ceiling / 2 <= delay <= ceiling
    q.forget("k")
    assert q.failures("k") == 0

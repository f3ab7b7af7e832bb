"""A level-triggered work queue keyed by intent name, in the manner of client-go's.

Adding a key that is already waiting coalesces; a key being processed is never handed to a
second worker: re-adding it marks it dirty and it comes back once the worker is done, so the
newest state is always reconciled and never reconciled twice at once. Failed keys come back
after an exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections import deque
from collections.abc import Callable


class WorkQueue:
    def __init__(
        self,
        *,
        base_delay: float = 0.1,
        max_delay: float = 30.0,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._base = base_delay
        self._max = max_delay
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._rng = rng or random.Random()
        self._wakeup = asyncio.Event()
        self._finished = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue) + len(self._delayed)

    @property
    def processing(self) -> int:
        return len(self._processing)

    def add(self, key: str) -> None:
        if self._closed:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.append(key)
        self._wakeup.set()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        self._seq += 1
        heapq.heappush(self._delayed, (self._clock() + delay, self._seq, key))
        self._wakeup.set()

    def backoff(self, key: str) -> float:
        """Delay before the next retry of `key`: base * 2^failures, capped, with jitter."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self._max, self._base * (2.0**failures))
        # Full jitter on the upper half keeps retries of a failed batch from arriving together.
        return delay / 2 + self._rng.random() * delay / 2

    def retry(self, key: str) -> float:
        delay = self.backoff(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def done(self, key: str) -> None:
        self._processing.discard(key)
        self._finished.set()
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def _promote_due(self) -> float | None:
        """Moves due delayed keys into the queue; returns seconds to the next one."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)
        return (self._delayed[0][0] - now) if self._delayed else None

    async def get_batch(self, max_items: int) -> list[str]:
        """Waits for at least one key, then returns up to `max_items`; [] once closed."""
        while True:
            wait = self._promote_due()
            if self._queue:
                batch: list[str] = []
                while self._queue and len(batch) < max_items:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    batch.append(key)
                return batch
            if self._closed:
                return []
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    async def wait_idle(self) -> None:
        """Completes once nothing is waiting, delayed or being processed."""
        while not self.idle():
            self._finished.clear()
            await self._finished.wait()

    def idle(self) -> bool:
        """Nothing waiting, delayed or being processed."""
        return not self._queue and not self._processing and not self._delayed

"""Benchmark: ApplyIntent throughput and latency, and apply-to-Ready, over real gRPC.

Starts the controller as its own process (`tcctl controller`) with 2 plugin kinds x 2
recorder instances, then measures from a separate client process:
  1. accepted: closed-loop ApplyIntent from C concurrent callers (each waits for its answer);
     intents/s and p50/p99 latency of ApplyIntent (which returns only after the commit).
  2. converged: from the first apply of phase 1 until every intent is Ready (both plugin
     kinds, both instances each), as intents/s.
  3. apply-to-Ready at a fixed open-loop rate (default 200/s): p50/p99 from sending
     ApplyIntent to seeing the intent Ready on a WatchIntents stream.
Prints a JSON document, then a readable table. Not a test: nothing here asserts.

    .venv/bin/python bench/intents.py [--count 10000] [--concurrency 64] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc  # noqa: E402
from tests.support import ControllerProcess, service_intent, write_plugin  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def is_ready(intent: intent_pb2.Intent) -> bool:
    return any(
        c.type == "Ready"
        and c.status == intent_pb2.CONDITION_STATUS_TRUE
        and c.observed_generation == intent.generation
        for c in intent.status.conditions
    )


class ReadyWatcher:
    """Follows WatchIntents and records when each intent first turns Ready."""

    def __init__(self, stub: intent_pb2_grpc.IntentServiceAsyncStub) -> None:
        self.ready_at: dict[str, float] = {}
        self._stub = stub
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._call = self._stub.WatchIntents(intent_pb2.WatchIntentsRequest())
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._call:
            if event.intent.name not in self.ready_at and is_ready(event.intent):
                self.ready_at[event.intent.name] = time.perf_counter()
                self._changed.set()

    async def wait_for(self, names: set[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not names.issubset(self.ready_at):
            self._changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                missing = len(names - set(self.ready_at))
                raise TimeoutError(f"{missing} intents not Ready after {timeout}s")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._call.cancel()
        if self._task is not None:
            self._task.cancel()


async def phase_throughput(address: str, count: int, concurrency: int, prefix: str) -> dict[str, float]:
    channel = grpc.aio.insecure_channel(address)
    stub = intent_pb2_grpc.IntentServiceStub(channel)
    watcher = ReadyWatcher(stub)
    await watcher.start()
    requests = [
        intent_pb2.ApplyIntentRequest(intent=service_intent(f"{prefix}-{i:06d}")) for i in range(count)
    ]
    latencies: list[float] = []
    cursor = iter(requests)

    async def caller() -> None:
        for request in cursor:
            t0 = time.perf_counter()
            await stub.ApplyIntent(request)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    accepted_s = time.perf_counter() - start
    await watcher.wait_for({r.intent.name for r in requests}, timeout=300)
    converged_s = max(watcher.ready_at.values()) - start
    watcher.stop()
    await channel.close()
    return {
        "count": count,
        "concurrency": concurrency,
        "accepted_per_s": count / accepted_s,
        "apply_p50_ms": percentile(latencies, 50) * 1000,
        "apply_p99_ms": percentile(latencies, 99) * 1000,
        "converged_per_s": count / converged_s,
    }


async def phase_latency(address: str, rate: float, seconds: float, prefix: str) -> dict[str, float]:
    channel = grpc.aio.insecure_channel(address)
    stub = intent_pb2_grpc.IntentServiceStub(channel)
    watcher = ReadyWatcher(stub)
    await watcher.start()
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    pending: set[asyncio.Task[object]] = set()
    start = time.perf_counter()
    for i in range(total):
        # Open loop: each request leaves at its slot whatever happened to the previous ones.
        slot = start + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        name = f"{prefix}-{i:06d}"
        sent_at[name] = time.perf_counter()
        task = asyncio.create_task(
            stub.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent(name)))
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*list(pending))
    await watcher.wait_for(set(sent_at), timeout=120)
    watcher.stop()
    await channel.close()
    latencies = [watcher.ready_at[n] - t for n, t in sent_at.items()]
    return {
        "rate_per_s": rate,
        "count": total,
        "ready_p50_ms": percentile(latencies, 50) * 1000,
        "ready_p99_ms": percentile(latencies, 99) * 1000,
        "ready_max_ms": max(latencies) * 1000,
    }


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        plugins = Path(tmp) / "plugins.d"
        write_plugin(plugins, "alpha")
        write_plugin(plugins, "beta")
        controller = ControllerProcess(Path(tmp) / "state", plugins, extra=["--log-level", "WARNING"])
        address = await controller.start()
        try:
            # Wait for plugins: an empty apply round trip after health is SERVING.
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            async with grpc.aio.insecure_channel(address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                while (
                    await health.Check(health_pb2.HealthCheckRequest())
                ).status != health_pb2.HealthCheckResponse.SERVING:
                    await asyncio.sleep(0.05)
            throughput = await phase_throughput(address, args.count, args.concurrency, "tput")
            latency = await phase_latency(address, args.rate, args.seconds, "lat")
        finally:
            controller.stop()
    return {
        "benchmark": "intents",
        "plugins": "2 kinds x 2 recorder instances (BROADCAST)",
        "store_synchronous": "FULL",
        "machine": machine(),
        "throughput": throughput,
        "apply_to_ready": latency,
        "aims": {
            "accepted_per_s": ">= 2000",
            "converged_per_s": ">= 1000",
            "ready_p99_ms_at_200_per_s": "<= 50",
        },
    }


def table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="bench/intents.py")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("aim", justify="right")
    tp = result["throughput"]
    lat = result["apply_to_ready"]
    assert isinstance(tp, dict) and isinstance(lat, dict)
    t.add_row("ApplyIntent accepted / s", f"{tp['accepted_per_s']:.0f}", ">= 2000")
    t.add_row("ApplyIntent p50 / p99 ms", f"{tp['apply_p50_ms']:.1f} / {tp['apply_p99_ms']:.1f}", "")
    t.add_row("converged (Ready) / s", f"{tp['converged_per_s']:.0f}", ">= 1000")
    t.add_row(
        f"apply-to-Ready p50 / p99 ms at {lat['rate_per_s']:.0f}/s",
        f"{lat['ready_p50_ms']:.1f} / {lat['ready_p99_ms']:.1f}",
        "p99 <= 50",
    )
    Console(stderr=False).print(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    main()

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


async def ready_times(
    stub: intent_pb2_grpc.IntentServiceAsyncStub, prefix: str, count: int, timeout: float
) -> dict[str, float]:
    """Polls until `count` intents labelled bench=prefix are Ready; returns when each turned
    Ready (the Ready condition's last_transition_time, stamped by the controller).

    Polling a few times a second keeps the measuring off the controller's hot path, where a
    watch stream would cost it two stream writes per intent."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, float] = {}
        token = ""
        while True:
            page = await stub.ListIntents(
                intent_pb2.ListIntentsRequest(
                    page_size=1000, page_token=token, label_selector=f"bench={prefix}"
                )
            )
            for intent in page.intents:
                if is_ready(intent):
                    cond = next(c for c in intent.status.conditions if c.type == "Ready")
                    found[intent.name] = cond.last_transition_time.ToNanoseconds() / 1e9
            token = page.next_page_token
            if not token:
                break
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - len(found)} intents not Ready after {timeout}s")
        await asyncio.sleep(0.2)


def request(prefix: str, i: int) -> intent_pb2.ApplyIntentRequest:
    return intent_pb2.ApplyIntentRequest(
        intent=service_intent(f"{prefix}-{i:06d}", labels={"bench": prefix})
    )


async def phase_throughput(
    address: str, count: int, concurrency: int, prefix: str
) -> dict[str, float]:
    channel = grpc.aio.insecure_channel(address)
    stub = intent_pb2_grpc.IntentServiceStub(channel)
    requests = [request(prefix, i) for i in range(count)]
    latencies: list[float] = []
    cursor = iter(requests)

    async def caller() -> None:
        for r in cursor:
            t0 = time.perf_counter()
            await stub.ApplyIntent(r)
            latencies.append(time.perf_counter() - t0)

    wall_start = time.time()
    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    accepted_s = time.perf_counter() - start
    ready_at = await ready_times(stub, prefix, count, timeout=300)
    converged_s = max(ready_at.values()) - wall_start
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
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    pending: set[asyncio.Future[object]] = set()
    start = time.perf_counter()
    for i in range(total):
        # Open loop: each request leaves at its slot whatever happened to the previous ones.
        slot = start + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        r = request(prefix, i)
        sent_at[r.intent.name] = time.time()
        task = asyncio.ensure_future(stub.ApplyIntent(r))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*list(pending))
    # Listing thousands of intents is work for the controller; start only once the last
    # one sent is Ready, so the measuring does not delay the intents being measured.
    last = intent_pb2.GetIntentRequest(name=f"{prefix}-{total - 1:06d}")
    while True:
        if is_ready((await stub.GetIntent(last)).intent):
            break
        await asyncio.sleep(0.05)
    ready_at = await ready_times(stub, prefix, total, timeout=120)
    await channel.close()
    latencies = [ready_at[n] - t for n, t in sent_at.items()]
    return {
        "rate_per_s": rate,
        "count": total,
        "ready_p50_ms": percentile(latencies, 50) * 1000,
        "ready_p99_ms": percentile(latencies, 99) * 1000,
        "ready_max_ms": max(latencies) * 1000,
    }


class _Echo(intent_pb2_grpc.IntentServiceServicer):
    """The floor under every figure above: a gRPC server that does nothing but answer."""

    async def ApplyIntent(
        self, request: intent_pb2.ApplyIntentRequest, context: object
    ) -> intent_pb2.ApplyIntentResponse:
        return intent_pb2.ApplyIntentResponse(intent=request.intent)


def _serve_echo(ports: multiprocessing.Queue[int]) -> None:
    async def serve() -> None:
        server = grpc.aio.server()
        intent_pb2_grpc.add_IntentServiceServicer_to_server(_Echo(), server)
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


async def phase_echo_ceiling(count: int, concurrency: int) -> dict[str, float]:
    """The same client against a do-nothing grpc.aio server in its own process."""
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve_echo, args=(ports,), daemon=True)
    process.start()
    try:
        port = await asyncio.to_thread(ports.get, True, 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = intent_pb2_grpc.IntentServiceStub(channel)
            cursor = iter([request("echo", i) for i in range(count)])

            async def caller() -> None:
                for r in cursor:
                    await stub.ApplyIntent(r)

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return {"echo_per_s": count / (time.perf_counter() - start)}
    finally:
        process.kill()
        process.join()


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    if args.address:
        # A controller started elsewhere (e.g. under a profiler) with its plugins ready.
        return {
            "throughput": await phase_throughput(args.address, args.count, args.concurrency, "x"),
            "apply_to_ready": await phase_latency(args.address, args.rate, args.seconds, "y"),
        }
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        plugins = Path(tmp) / "plugins.d"
        write_plugin(plugins, "alpha")
        write_plugin(plugins, "beta")
        controller = ControllerProcess(
            Path(tmp) / "state", plugins, extra=["--log-level", "WARNING"]
        )
        address = await controller.start()
        try:
            # Wait until every plugin kind has a ready instance (health turns SERVING).
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            async with grpc.aio.insecure_channel(address) as channel:
                watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
                async for answer in watch:
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                watch.cancel()
            throughput = await phase_throughput(address, args.count, args.concurrency, "tput")
            ceiling = await phase_echo_ceiling(min(args.count, 5000), args.concurrency)
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
        "grpc_echo_ceiling": ceiling,
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
    t.add_row(
        "ApplyIntent p50 / p99 ms", f"{tp['apply_p50_ms']:.1f} / {tp['apply_p99_ms']:.1f}", ""
    )
    t.add_row("converged (Ready) / s", f"{tp['converged_per_s']:.0f}", ">= 1000")
    echo = result.get("grpc_echo_ceiling")
    if isinstance(echo, dict):
        t.add_row("same client, do-nothing gRPC server / s", f"{echo['echo_per_s']:.0f}", "")
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
    parser.add_argument("--address", help="use a running controller instead of starting one")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    main()

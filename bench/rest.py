"""Benchmark: ApplyIntent through the REST gateway (Envoy transcoding) vs direct gRPC.

Starts the controller as its own process (`tcctl controller --rest-address ...`) with the
recorder plugin (2 instances) and the supervised REST gateway (Envoy's
grpc_json_transcoder), then from this process, in the same run against the same
controller, applies N intents (distinct names per phase) with C concurrent closed-loop
callers:
  1. gRPC: grpc.aio ApplyIntent on one channel;
  2. REST: httpx.AsyncClient POST /v1/intents with the protojson body the transcoder
     expects (full enum names such as PROTOCOL_HTTP); HTTP/1.1 keep-alive pool of C
     connections, or HTTP/2 on one connection with --http2 when the h2 package is there;
  3. REST raw: the same POSTs over C keep-alive HTTP/1.1 connections written with asyncio
     streams, a client cheap enough that the gateway, not httpx, is what is measured.
Reports accepted/s, p50/p99 latency, the ratio REST/gRPC, and the CPU seconds the
controller, the plugins, the gateway (Envoy, and its small Python supervisor shim) and
this client used in each phase (from /proc/<pid>/stat). Bodies and requests are built
before timing. Prints JSON, then a table. Not a test: nothing here asserts.

    .venv/bin/python bench/rest.py [--count 3000] [--concurrency 32] [--rest-first] [--http2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc._proto.tc.v1 import (  # noqa: E402
    intent_pb2,
    intent_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
)
from tests.support import ControllerProcess, service_intent, write_plugin  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far, not its children's."""
    try:
        fields = _stat(pid)
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return found


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def cpu_of(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def body(intent: intent_pb2.Intent) -> bytes:
    # protojson as the transcoder reads it: lowerCamel names, enums by full name.
    return json.dumps(json_format.MessageToDict(intent), separators=(",", ":")).encode()


class RawHttp1:
    """A minimal HTTP/1.1 keep-alive connection (asyncio streams): one request at a time,
    answers read by content-length. Costs the client far less CPU than httpx, so the REST
    path can be measured without the Python client being the bottleneck."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def closed_loop(
    count: int, concurrency: int, call: Callable[[int], Awaitable[bool]]
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    cursor = iter(range(count))

    async def caller() -> None:
        nonlocal errors
        for i in cursor:
            t0 = time.perf_counter()
            ok = await call(i)
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return {
        "count": count,
        "errors": errors,
        "wall_s": wall,
        "accepted_per_s": (count - errors) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def measured(
    groups: dict[str, list[int]], run: Callable[[], Awaitable[dict[str, float]]]
) -> dict[str, object]:
    before = cpu_of(groups)
    result: dict[str, object] = dict(await run())
    after = cpu_of(groups)
    result["cpu_s"] = {name: round(after[name] - before[name], 2) for name in groups}
    return result


async def run(args: argparse.Namespace) -> dict[str, object]:
    rest_address = f"127.0.0.1:{free_port()}"
    url = f"http://{rest_address}"
    with tempfile.TemporaryDirectory(prefix="tc-bench-rest-") as tmp_name:
        tmp = Path(tmp_name)
        plugins = tmp / "plugins.d"
        write_plugin(plugins)
        controller = ControllerProcess(
            tmp / "state",
            plugins,
            extra=["--log-level", "WARNING", "--rest-address", rest_address],
        )
        address = await controller.start()
        try:
            channel = grpc.aio.insecure_channel(address)
            intents = intent_pb2_grpc.IntentServiceStub(channel)
            lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(channel)
            deadline = time.monotonic() + 60
            while True:
                status = await lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
                gateway = status.auxiliary_processes
                if (
                    status.plugins
                    and status.plugins[0].ready_replicas == 2
                    and gateway
                    and gateway[0].ready_replicas == 1
                ):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready: {status}")
                await asyncio.sleep(0.1)
            shim = gateway[0].instances[0].pid
            envoys = [p for p in children(shim) if comm(p) == "envoy"]
            groups = {
                "controller": [controller.process.pid] if controller.process else [],
                "plugins": [i.pid for i in status.plugins[0].instances],
                "envoy": envoys,
                "gateway shim": [shim],
                "bench client": [os.getpid()],
            }
            limits = httpx.Limits(
                max_connections=args.concurrency, max_keepalive_connections=args.concurrency
            )
            client = httpx.AsyncClient(timeout=30, limits=limits, http2=args.http2)
            headers = {"content-type": "application/json"}

            grpc_requests = [
                intent_pb2.ApplyIntentRequest(intent=service_intent(f"grpc-{i:06d}"))
                for i in range(args.count)
            ]
            rest_bodies = [body(service_intent(f"rest-{i:06d}")) for i in range(args.count)]

            async def grpc_call(i: int) -> bool:
                try:
                    await intents.ApplyIntent(grpc_requests[i], timeout=30)
                    return True
                except grpc.aio.AioRpcError:
                    return False

            async def rest_call(i: int) -> bool:
                try:
                    r = await client.post(
                        f"{url}/v1/intents", content=rest_bodies[i], headers=headers
                    )
                    return r.status_code == 200
                except httpx.HTTPError:
                    return False

            # Warm both paths (connections, Envoy's upstream pool, the controller's caches).
            first = await client.post(
                f"{url}/v1/intents", content=body(service_intent("warm-first")), headers=headers
            )
            if first.status_code != 200:
                raise RuntimeError(f"REST apply failed: {first.status_code} {first.text}")
            warm = args.concurrency * 4
            warm_grpc = [
                intent_pb2.ApplyIntentRequest(intent=service_intent(f"warm-grpc-{i:04d}"))
                for i in range(warm)
            ]
            warm_rest = [body(service_intent(f"warm-rest-{i:04d}")) for i in range(warm)]

            async def warm_grpc_call(i: int) -> bool:
                await intents.ApplyIntent(warm_grpc[i], timeout=30)
                return True

            async def warm_rest_call(i: int) -> bool:
                r = await client.post(f"{url}/v1/intents", content=warm_rest[i], headers=headers)
                return r.status_code == 200

            await closed_loop(warm, args.concurrency, warm_grpc_call)
            await closed_loop(warm, args.concurrency, warm_rest_call)

            host, port = rest_address.rsplit(":", 1)
            raw_pool: asyncio.Queue[RawHttp1] = asyncio.Queue()
            for _ in range(args.concurrency):
                raw_pool.put_nowait(RawHttp1(host, int(port)))
            raw_bodies = [body(service_intent(f"raw-{i:06d}")) for i in range(args.count)]

            async def raw_post(payload: bytes) -> bool:
                conn = raw_pool.get_nowait()  # closed loop: never more callers than conns
                try:
                    return await conn.post("/v1/intents", payload) == 200
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    conn.writer = None  # reconnect next time
                    return False
                finally:
                    raw_pool.put_nowait(conn)

            async def raw_call(i: int) -> bool:
                return await raw_post(raw_bodies[i])

            # Open and warm the raw connections.
            await asyncio.gather(
                *(
                    raw_post(body(service_intent(f"warm-raw-{i:04d}")))
                    for i in range(args.concurrency)
                )
            )

            calls = {"grpc": grpc_call, "rest": rest_call, "rest_raw": raw_call}
            phases: dict[str, object] = {}
            order = ["grpc", "rest", "rest_raw"]
            if args.rest_first:
                order.reverse()
            for name in order:
                call = calls[name]
                phases[name] = await measured(
                    groups, lambda call=call: closed_loop(args.count, args.concurrency, call)
                )
            http_version = (await client.get(f"{url}/v1/intents/rest-000000")).http_version
            await client.aclose()
            while not raw_pool.empty():
                await raw_pool.get_nowait().close()
            await channel.close()
        finally:
            controller.stop()
    grpc_r, rest_r, raw_r = phases["grpc"], phases["rest"], phases["rest_raw"]
    assert isinstance(grpc_r, dict) and isinstance(rest_r, dict) and isinstance(raw_r, dict)
    return {
        "benchmark": "rest",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_end": os.getloadavg(),
        },
        "count": args.count,
        "concurrency": args.concurrency,
        "order": order,
        "rest_client": f"httpx {httpx.__version__}, {http_version}",
        "grpc": grpc_r,
        "rest": rest_r,
        "rest_raw": raw_r,
        "rest_over_grpc": rest_r["accepted_per_s"] / grpc_r["accepted_per_s"],
        "rest_raw_over_grpc": raw_r["accepted_per_s"] / grpc_r["accepted_per_s"],
    }


def table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    names = {"grpc": "gRPC", "rest": "REST httpx", "rest_raw": "REST raw HTTP/1.1"}
    rows = {k: result[k] for k in names}
    t = Table(title=f"bench/rest.py: {result['count']} intents, {result['concurrency']} callers")
    t.add_column("measure")
    for label in names.values():
        t.add_column(label, justify="right")
    t.add_row("accepted/s", *(f"{r['accepted_per_s']:.0f}" for r in rows.values()))  # type: ignore[index]
    t.add_row(
        "p50 / p99 ms",
        *(f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}" for r in rows.values()),  # type: ignore[index]
    )
    t.add_row("errors", *(str(r["errors"]) for r in rows.values()))  # type: ignore[index]
    grpc_r = rows["grpc"]
    assert isinstance(grpc_r, dict)
    for group in grpc_r["cpu_s"]:
        t.add_row(f"CPU s: {group}", *(f"{r['cpu_s'][group]:.2f}" for r in rows.values()))  # type: ignore[index]
    t.add_row(
        "/ gRPC (aim >= 75%)",
        "",
        f"{result['rest_over_grpc']:.0%}",
        f"{result['rest_raw_over_grpc']:.0%}",
    )
    Console().print(t)
    Console().print(f"REST client: {result['rest_client']}; raw: asyncio streams, HTTP/1.1")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="intents per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers")
    parser.add_argument("--rest-first", action="store_true", help="run the REST phase first")
    parser.add_argument(
        "--http2", action="store_true", help="REST over HTTP/2 (needs the h2 package)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    main()

"""Benchmark: CPU per heartbeat probe (tcp, http, grpc) of tc.server.heartbeat.probes.Prober.

The monitor's budget is 10,000 endpoints at one probe per 10 s (1,000 probes/s) within 25% of
one core, so under 250 µs of CPU per probe. The servers (HTTP 200 to everything, a TCP
listener that accepts and closes, a grpc.aio server with the public HealthServicer on one
port per simulated endpoint) run in a child process, so time.process_time() here counts the
prober alone, plus the kernel's loopback work that lands on its syscalls (the server side of
the TCP handshake among it).

Two shapes, each R rounds, median round reported:
  saturated: N probes back to back with C in flight (batching flatters the figures);
  paced: probes started as tasks at a fixed rate over E endpoints, as the monitor starts
    them (1,000/s by default): the production shape, and the figure to hold to the budget.
"net" subtracts the harness: the same loop around a probe that does nothing.

"tcp-by-name" probes "localhost": a name costs a getaddrinfo in asyncio's default executor
on every probe (the host's resolver and its cache decide the rest).
"grpc" keeps one warm channel per endpoint, as for a live endpoint; "grpc-new-channel"
forgets it after every probe, which is what an endpoint whose transport fails costs.

Prints JSON, then tables. Not a test: nothing here asserts.

    .venv/bin/python bench/probe_cost.py [--probes 1000] [--concurrency 50] [--rounds 3]
        [--rate 1000] [--seconds 1] [--endpoints 200] [--only tcp http grpc grpc-new-channel]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc.server.heartbeat.probes import Prober, ProbeResult  # noqa: E402

Probe = Callable[[int], Awaitable[ProbeResult]]
"""A probe of endpoint number N (only gRPC probes tell endpoints apart)."""
BUDGET_US = 250.0
KINDS = ("tcp", "tcp-by-name", "http", "grpc", "grpc-new-channel")
TIMEOUT = 5.0


# -- the servers (child process) ---------------------------------------------------------------


class _Http200(asyncio.Protocol):
    """Answers 200 once the request head is in, then closes."""

    def __init__(self) -> None:
        self._head = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._head += data
        if b"\r\n\r\n" in self._head and self._transport is not None:
            self._transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )
            self._transport.close()


class _Accept(asyncio.Protocol):
    """A plain TCP listener's connection: closed as soon as accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


async def serve(endpoints: int) -> None:
    """Starts the servers (the gRPC one on `endpoints` ports, one channel each on the probing
    side), prints their ports, and runs until stdin closes."""
    loop = asyncio.get_running_loop()
    http = await loop.create_server(_Http200, "127.0.0.1", 0, backlog=4096)
    tcp = await loop.create_server(_Accept, "127.0.0.1", 0, backlog=4096)
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    grpc_ports = [server.add_insecure_port("127.0.0.1:0") for _ in range(endpoints)]
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    ports = {
        "http": http.sockets[0].getsockname()[1],
        "tcp": tcp.sockets[0].getsockname()[1],
        "grpc": grpc_ports,
    }
    print(json.dumps(ports), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    await server.stop(None)
    http.close()
    tcp.close()


# -- measuring (this process) ------------------------------------------------------------------


def _usage() -> tuple[float, float, float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.process_time(), ru.ru_utime, ru.ru_stime, time.perf_counter()


def _per_probe(before: tuple[float, ...], n: int, failures: list[str]) -> dict[str, Any]:
    cpu, user, sys_, wall = (b - a for a, b in zip(before, _usage(), strict=True))
    return {
        "cpu_us": cpu / n * 1e6,
        "user_us": user / n * 1e6,
        "sys_us": sys_ / n * 1e6,
        "per_second": n / wall,
        "failures": len(failures),
        "first_failure": failures[0] if failures else "",
    }


async def saturated(probe: Probe, n: int, concurrency: int) -> dict[str, Any]:
    """N probes by `concurrency` workers (worker w probes endpoint w), back to back."""
    remaining = n
    failures: list[str] = []

    async def worker(endpoint: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            result = await probe(endpoint)
            if not result.ok:
                failures.append(result.error)

    before = _usage()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return _per_probe(before, n, failures)


async def paced(probe: Probe, rate: float, seconds: float, endpoints: int) -> dict[str, Any]:
    """Probes started as tasks at `rate` per second over `endpoints` endpoints, as the
    monitor starts them: the production shape (few probes in flight, no batching)."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    tasks: list[asyncio.Task[ProbeResult]] = []
    before = _usage()
    start = loop.time()
    while len(tasks) < n:
        due = min(n, int((loop.time() - start) * rate) + 1)
        tasks.extend(asyncio.create_task(probe(i % endpoints)) for i in range(len(tasks), due))
        await asyncio.sleep(0.005)
    results = await asyncio.gather(*tasks)
    per_probe = _per_probe(before, n, [r.error for r in results if not r.ok])
    per_probe["per_second"] = rate
    return per_probe


def median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rounds, key=lambda r: r["cpu_us"])[len(rounds) // 2]


def kinds(prober: Prober, ports: dict[str, Any]) -> dict[str, Probe]:
    host = "127.0.0.1"
    grpc_ports: list[int] = ports["grpc"]
    done = ProbeResult(True, 0.0, "")

    async def noop(endpoint: int) -> ProbeResult:
        return done

    async def grpc_new_channel(endpoint: int) -> ProbeResult:
        port = grpc_ports[endpoint % len(grpc_ports)]
        result = await prober.grpc(host, port, "", TIMEOUT)
        prober.forget(host, port)
        return result

    return {
        "noop (harness)": noop,
        "tcp": lambda e: prober.tcp(host, ports["tcp"], TIMEOUT),
        "tcp-by-name": lambda e: prober.tcp("localhost", ports["tcp"], TIMEOUT),
        "http": lambda e: prober.http(host, ports["http"], "/healthz", TIMEOUT),
        "grpc": lambda e: prober.grpc(host, grpc_ports[e % len(grpc_ports)], "", TIMEOUT),
        "grpc-new-channel": grpc_new_channel,
    }


async def run_all(args: argparse.Namespace, ports: dict[str, Any]) -> dict[str, Any]:
    prober = Prober()
    out: dict[str, Any] = {"saturated": {}, "paced": {}}
    chosen = {k: p for k, p in kinds(prober, ports).items() if k in args.only or "noop" in k}
    for kind, probe in chosen.items():
        await saturated(probe, min(args.probes, 200), args.concurrency)  # warm-up
        rounds = [await saturated(probe, args.probes, args.concurrency) for _ in range(args.rounds)]
        out["saturated"][kind] = median(rounds)
        if args.seconds > 0:
            paced_rounds = [
                await paced(probe, args.rate, args.seconds, args.endpoints)
                for _ in range(args.rounds)
            ]
            out["paced"][kind] = median(paced_rounds)
    await prober.close()
    for results in out.values():
        harness = results.get("noop (harness)", {}).get("cpu_us", 0.0)
        for result in results.values():
            result["net_cpu_us"] = max(0.0, result["cpu_us"] - harness)
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    endpoints = max(args.concurrency, args.endpoints)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--endpoints", str(endpoints)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        results = await run_all(args, json.loads(child.stdout.readline()))
    finally:
        child.stdin.close()
        child.wait(10)
    return {
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "args": {k: v for k, v in vars(args).items() if k != "serve"},
        "budget_us": BUDGET_US,
        **results,
    }


def table(title: str, results: dict[str, Any]) -> str:
    head = f"{'probe':<18} {'CPU µs':>8} {'net µs':>8} {'user':>7} {'sys':>7} {'probes/s':>9}"
    lines = [title, head, "-" * len(head)]
    for kind, r in results.items():
        lines.append(
            f"{kind:<18} {r['cpu_us']:>8.1f} {r['net_cpu_us']:>8.1f} {r['user_us']:>7.1f} "
            f"{r['sys_us']:>7.1f} {r['per_second']:>9.0f}"
            + (f"  {r['failures']} failed: {r['first_failure']}" if r["failures"] else "")
        )
    return "\n".join(lines)


def tables(report: dict[str, Any]) -> str:
    a = report["args"]
    parts = [
        table(f"saturated: {a['probes']} probes, {a['concurrency']} in flight", report["saturated"])
    ]
    if report["paced"]:
        parts.append(
            table(f"paced: {a['rate']:g}/s over {a['endpoints']} endpoints", report["paced"])
        )
    parts.append(
        f"budget: {BUDGET_US:.0f} µs per probe (1,000 probes/s in 25% of a core); "
        "net: CPU minus the harness's"
    )
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced probes per second")
    parser.add_argument("--seconds", type=float, default=1.0, help="paced round; 0: none")
    parser.add_argument("--endpoints", type=int, default=200, help="gRPC endpoints (ports)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.endpoints))
        return
    report = asyncio.run(bench(args))
    print(json.dumps(report, indent=2))
    print(tables(report))


if __name__ == "__main__":
    main()

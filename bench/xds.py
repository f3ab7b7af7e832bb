"""Benchmark: the envoy plugin as the xDS server of real Envoy proxies.

Starts the controller (its own process) with the envoy plugin (2 instances), one local HTTP
backend, N services already applied on one listener port, and P Envoy proxies following the
plugin (same listener port: Envoy binds it with SO_REUSEPORT, so the kernel spreads
connections across the proxies). Measures:
  1. apply-to-first-200: from ApplyIntent of a new service to the first 200 for its host
     through Envoy (a fresh connection per try, so any proxy may answer), over C changes;
  2. full resync: with S services stored, time from starting a new proxy to its first 200
     for the last service stored (Envoy opens listeners only after every cluster warmed);
     then the same for a second new proxy once the first is gone, checked (untimed) to
     hold every type at the published versions;
  3. plugin memory (RSS of one instance) and encoded bytes per cached resource at S.
Prints JSON, then a table. Not a test: nothing here asserts.

    .venv/bin/python bench/xds.py [--services 1000] [--proxies 10] [--changes 100] [--resync 10000]
        [--api GRPC|DELTA_GRPC] [--plain-routes]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc._proto.tc.v1 import (  # noqa: E402
    intent_pb2,
    intent_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
    plugin_pb2,
    plugin_pb2_grpc,
)
from tests.support import ControllerProcess, proxy_bootstrap, write_envoy_plugin  # noqa: E402

ENVOY = ROOT / ".venv" / "bin" / "envoy"
TYPES = (
    "Cluster",
    "ClusterLoadAssignment",
    "Listener",
    "ScopedRouteConfiguration",
    "RouteConfiguration",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def service(name: str, port: int, backend: int) -> intent_pb2.ApplyIntentRequest:
    return intent_pb2.ApplyIntentRequest(
        intent=intent_pb2.Intent(
            name=name,
            service=intent_pb2.ServiceSpec(
                hosts=[f"{name}.example.com"],
                ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
                endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=backend)],
            ),
        )
    )


def start_proxy(
    tmp: Path, node: str, xds_ports: list[int], base_id: int, api: str | None
) -> subprocess.Popen[bytes]:
    log = (tmp / f"{node}.log").open("wb")
    return subprocess.Popen(
        [
            str(ENVOY),
            "-c",
            str(proxy_bootstrap(tmp / f"{node}.yaml", xds_ports, node=node, api=api)),
            "--base-id",
            str(base_id),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def apply_many(
    stub: intent_pb2_grpc.IntentServiceAsyncStub, requests: list[intent_pb2.ApplyIntentRequest]
) -> None:
    cursor = iter(requests)

    async def caller() -> None:
        for r in cursor:
            await stub.ApplyIntent(r)

    await asyncio.gather(*(caller() for _ in range(32)))


async def plugin_state(address: str) -> plugin_pb2.GetStateResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        return await stub.GetState(plugin_pb2.GetStateRequest(), timeout=10)


def process_cost(pid: int) -> dict[str, float]:
    """CPU seconds (user, system) and page faults of a process so far (its own, not its
    children's). On a virtual machine that backs guest memory at first touch, a page fault
    on memory the host has not backed yet costs several times more (docs/benchmarks.md):
    the system time shows it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "user_s": int(fields[11]) / tick,
        "system_s": int(fields[12]) / tick,
        "page_faults": float(fields[7]),
    }


def cpu_seconds(pid: int) -> float:
    cost = process_cost(pid)
    return cost["user_s"] + cost["system_s"]


async def first_200(client: httpx.AsyncClient, port: int, host: str, pause: float) -> None:
    """Returns at the first 200 for `host` through the proxies' listener on `port`, asking
    again `pause` seconds after each miss (0: at once)."""
    while True:
        try:
            got = await client.get(f"http://127.0.0.1:{port}/", headers={"host": host})
            if got.status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(pause)


def cpu_of(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run(args: argparse.Namespace) -> dict[str, object]:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    backend_port = backend.server_address[1]
    listener = free_port()
    xds_ports = [free_port(), free_port()]
    proxies: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="tc-bench-xds-") as tmp_name:
        tmp = Path(tmp_name)
        plugins = tmp / "plugins.d"
        write_envoy_plugin(
            plugins, xds_ports, ack_wait_seconds=0, scoped_routes=not args.plain_routes
        )
        controller = ControllerProcess(tmp / "state", plugins, extra=["--log-level", "WARNING"])
        address = await controller.start()
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                intents = intent_pb2_grpc.IntentServiceStub(channel)
                lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(channel)
                while True:
                    status = await lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
                    if status.plugins and status.plugins[0].ready_replicas == 2:
                        break
                    await asyncio.sleep(0.1)
                await apply_many(
                    intents,
                    [service(f"pre-{i:05d}", listener, backend_port) for i in range(args.services)],
                )
                for i in range(args.proxies):
                    proxies.append(start_proxy(tmp, f"proxy-{i}", xds_ports, 20_000 + i, args.api))
                # Warm: every proxy answers for the preloaded services.
                async with httpx.AsyncClient(timeout=2) as client:
                    await first_200(client, listener, "pre-00000.example.com", 0.05)
                latencies: list[float] = []
                status = await lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
                groups = {
                    "controller": [controller.process.pid] if controller.process else [],
                    "plugins": [i.pid for i in status.plugins[0].instances],
                    "proxies": [p.pid for p in proxies],
                    "bench client": [os.getpid()],
                }
                cpu_before, wall_before = cpu_of(groups), time.perf_counter()
                transport = httpx.AsyncHTTPTransport(retries=0)
                async with httpx.AsyncClient(
                    timeout=2, transport=transport, limits=httpx.Limits(max_keepalive_connections=0)
                ) as client:
                    for k in range(args.changes):
                        name = f"new-{k:04d}"
                        t0 = time.perf_counter()
                        await intents.ApplyIntent(service(name, listener, backend_port))
                        await first_200(client, listener, f"{name}.example.com", 0)
                        latencies.append(time.perf_counter() - t0)
                cpu_after, wall = cpu_of(groups), time.perf_counter() - wall_before
                # Share of the 2 cores each group used while the changes ran: where time goes.
                cpu_share = {name: (cpu_after[name] - cpu_before[name]) / wall for name in groups}
                # Full resync of a large store to one new proxy.
                for p in proxies:
                    p.terminate()
                for p in proxies:
                    p.wait(10)
                proxies.clear()
                extra = max(0, args.resync - args.services - args.changes)
                await apply_many(
                    intents, [service(f"big-{i:05d}", listener, backend_port) for i in range(extra)]
                )
                status = await lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
                instances = status.plugins[0].instances
                # Wait until the instances hold the whole store.
                total = args.services + args.changes + extra
                while True:
                    state = await plugin_state(instances[0].address)
                    if len(state.intents) >= total:
                        break
                    await asyncio.sleep(0.2)
                # Timed by what a user sees: the new proxy routing the last service stored.
                # Envoy opens its listeners only once every cluster has warmed, so this is the
                # whole configuration arriving (polling GetState instead would load the
                # plugins with 10,000-intent answers while they serve the proxy).
                last = f"big-{extra - 1:05d}" if extra else f"new-{args.changes - 1:04d}"
                plugin_pids = {"plugins": [i.pid for i in instances]}

                async def resync(node: str, base_id: int) -> tuple[float, dict[str, float]]:
                    plugins_before = cpu_of(plugin_pids)["plugins"]
                    t0 = time.perf_counter()
                    proxies.append(start_proxy(tmp, node, xds_ports, base_id, args.api))
                    async with httpx.AsyncClient(timeout=2) as client:
                        await first_200(client, listener, f"{last}.example.com", 0.005)
                    seconds = time.perf_counter() - t0
                    cost = process_cost(proxies[-1].pid)
                    cost["plugins_cpu_s"] = cpu_of(plugin_pids)["plugins"] - plugins_before
                    return seconds, cost

                # A second new proxy once the first is gone, as after a proxy restart: the
                # same work, a second sample of it.
                resync_s, resync_cpu = await resync("late", 21_000)
                first = proxies.pop()
                first.terminate()
                first.wait(10)
                resync_again_s, resync_again_cpu = await resync("again", 21_001)
                # And the plugin saw every type ACKed at the published versions (not timed).
                while True:
                    states = [await plugin_state(i.address) for i in instances]
                    if any(
                        all(
                            s.details.get(f"proxy.again.acked.{t}") == s.details.get(f"version.{t}")
                            for t in TYPES
                            # Plain routes: no scoped listener, so no scopes to subscribe to.
                            if not (args.plain_routes and t == "ScopedRouteConfiguration")
                        )
                        for s in states
                    ):
                        break
                    await asyncio.sleep(0.2)
                state = await plugin_state(instances[0].address)
                resources = int(state.details["snapshot.resources"])
                encoded = int(state.details["snapshot.bytes"])
                memory = rss_kib(instances[0].pid)
        finally:
            for p in proxies:
                p.terminate()
                p.wait(10)
            controller.stop()
            backend.shutdown()
    return {
        "benchmark": "xds",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "api_type": args.api or "DELTA_GRPC (the example's)",
        "route_layout": "plain" if args.plain_routes else "scoped",
        "services_preloaded": args.services,
        "proxies": args.proxies,
        "changes": args.changes,
        "apply_to_first_200_p50_ms": percentile(latencies, 50) * 1000,
        "apply_to_first_200_p99_ms": percentile(latencies, 99) * 1000,
        "cpu_cores_used_during_changes": cpu_share,
        "resync_services": total,
        "full_resync_new_proxy_s": resync_s,
        "full_resync_new_proxy_cost": resync_cpu,
        "full_resync_second_proxy_s": resync_again_s,
        "full_resync_second_proxy_cost": resync_again_cpu,
        "cached_resources": resources,
        "encoded_bytes_per_resource": encoded / max(1, resources),
        "plugin_rss_mib": memory / 1024,
        "plugin_rss_bytes_per_resource": memory * 1024 / max(1, resources),
    }


def table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="bench/xds.py")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("aim", justify="right")
    t.add_row(
        f"apply -> first 200, p50 / p99 "
        f"({result['services_preloaded']} services, {result['proxies']} proxies)",
        f"{result['apply_to_first_200_p50_ms']:.1f} / {result['apply_to_first_200_p99_ms']:.1f} ms",
        "30 / 100 ms",
    )
    for label, key in (("a new proxy", "new_proxy"), ("a second new proxy", "second_proxy")):
        cost = result[f"full_resync_{key}_cost"]
        assert isinstance(cost, dict)
        t.add_row(
            f"full resync of {result['resync_services']} services to {label} "
            f"(proxy CPU user / system, page faults)",
            f"{result[f'full_resync_{key}_s']:.2f} s "
            f"({cost['user_s']:.2f} / {cost['system_s']:.2f} s, "
            f"{cost['page_faults'] / 1000:.0f}k)",
            "<= 2 s",
        )
    t.add_row(
        "encoded bytes per cached resource",
        f"{result['encoded_bytes_per_resource']:.0f} B",
        "<= 1 KB",
    )
    t.add_row("plugin RSS", f"{result['plugin_rss_mib']:.0f} MiB", "")
    Console().print(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=10)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--resync", type=int, default=10_000)
    parser.add_argument(
        "--plain-routes",
        action="store_true",
        help="the plugin's scoped_routes: false (one route configuration per port)",
    )
    parser.add_argument(
        "--api", choices=["GRPC", "DELTA_GRPC"], help="ADS variant (default: the example's)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    main()

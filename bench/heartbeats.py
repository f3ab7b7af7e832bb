"""Benchmark: the controller's heartbeat monitor probing 10,000 endpoints.

Starts the controller (its own process, one recorder plugin kind that takes endpoint
health) and a backend process serving P local ports on 127.0.0.1 (an HTTP answer, or just
the TCP handshake, or grpc.health.v1). S service intents of P endpoints each (endpoint i of
every service is 127.0.0.1:<port i>, so S x P endpoints share P local servers) are checked
at the given interval. Measures:
  1. the controller's CPU while it probes, in the steady state (after every endpoint was
     probed once), as a share of one core;
  2. detection: one backend port stops answering; the time until every endpoint on it
     (one per service) is reported unhealthy by ListMicroservices, against the aim of
     unhealthy_threshold x interval + 1 s.
Prints JSON, then a table. Not a test: nothing here asserts.

    .venv/bin/python bench/heartbeats.py [--services 100] [--ports 100] [--interval 10]
        [--check http|tcp|grpc] [--measure 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import yaml
from google.protobuf.duration_pb2 import Duration

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc._proto.tc.v1 import (  # noqa: E402
    intent_pb2,
    intent_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
)
from tests.support import ControllerProcess  # noqa: E402

CHECKS = {
    "http": intent_pb2.HEALTH_CHECK_TYPE_HTTP,
    "tcp": intent_pb2.HEALTH_CHECK_TYPE_TCP,
    "grpc": intent_pb2.HEALTH_CHECK_TYPE_GRPC,
}
THRESHOLD = 3

# -- the backend process ---------------------------------------------------------------------


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )  # type: ignore[attr-defined]
            self.transport.close()


async def _serve(count: int, kind: str) -> None:
    """Serves `count` ports; prints them as one JSON line; then "stop <port>" lines on
    stdin close one port each."""
    loop = asyncio.get_running_loop()
    servers: dict[int, object] = {}
    if kind == "grpc":
        from grpc_health.v1 import health_pb2_grpc
        from grpc_health.v1.health import aio as health_aio

        for _ in range(count):
            server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            servers[port] = server
    else:
        for _ in range(count):
            srv = await loop.create_server(_Http, "127.0.0.1", 0, backlog=1024)
            servers[srv.sockets[0].getsockname()[1]] = srv
    print(json.dumps(sorted(servers)), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        word, _, arg = line.decode().strip().partition(" ")
        if word == "stop":
            server = servers.pop(int(arg))
            if isinstance(server, grpc.aio.Server):
                await server.stop(0)
            else:
                server.close()  # type: ignore[attr-defined]
            print("stopped", flush=True)


# -- the benchmark -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service(name: str, ports: list[int], check: str, interval: float) -> intent_pb2.Intent:
    hc = intent_pb2.HealthCheck(
        type=CHECKS[check],
        interval=Duration(seconds=int(interval), nanos=int(interval % 1 * 1e9)),
        timeout=Duration(nanos=500_000_000) if interval <= 1 else Duration(seconds=1),
        unhealthy_threshold=THRESHOLD,
        healthy_threshold=2,
    )
    if check == "http":
        hc.path = "/healthz"
    return intent_pb2.Intent(
        name=name,
        service=intent_pb2.ServiceSpec(
            hosts=[f"{name}.example.com"],
            ports=[intent_pb2.Port(number=80, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="127.0.0.1", port=p) for p in ports],
            health_check=hc,
        ),
    )


async def counts(lifecycle: lifecycle_pb2_grpc.LifecycleServiceStub) -> dict[int, int]:
    """Endpoints by health, over every page of ListMicroservices."""
    out: dict[int, int] = {}
    token = ""
    while True:
        page = await lifecycle.ListMicroservices(
            lifecycle_pb2.ListMicroservicesRequest(page_size=5000, page_token=token), timeout=30
        )
        for m in page.microservices:
            out[m.health] = out.get(m.health, 0) + 1
        token = page.next_page_token
        if not token:
            return out


async def run(args: argparse.Namespace) -> dict[str, object]:
    backend = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.ports), "--check", args.check],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert backend.stdout is not None and backend.stdin is not None
    ports: list[int] = json.loads(backend.stdout.readline())
    total = args.services * args.ports
    with tempfile.TemporaryDirectory(prefix="tc-bench-hb-") as tmp_name:
        tmp = Path(tmp_name)
        plugins = tmp / "plugins.d"
        plugins.mkdir()
        (plugins / "edge.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": "edge",
                    "module": "tc.plugins.recorder",
                    "settings": {"kind": "edge", "endpoint_health": True},
                }
            )
        )
        controller = ControllerProcess(tmp / "state", plugins, extra=["--log-level", "WARNING"])
        address = await controller.start()
        assert controller.process is not None
        pid = controller.process.pid
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                intents = intent_pb2_grpc.IntentServiceStub(channel)
                lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(channel)
                for i in range(args.services):
                    await intents.ApplyIntent(
                        intent_pb2.ApplyIntentRequest(
                            intent=service(f"svc-{i:04d}", ports, args.check, args.interval)
                        )
                    )
                # Steady state: every endpoint probed at least once (healthy).
                started = time.monotonic()
                while True:
                    healthy = (await counts(lifecycle)).get(
                        lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY, 0
                    )
                    if healthy >= total:
                        break
                    await asyncio.sleep(0.5)
                warmup = time.monotonic() - started
                cpu0, t0 = cpu_seconds(pid), time.monotonic()
                await asyncio.sleep(args.measure)
                cpu_share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
                # Detection: one port stops; every service has one endpoint on it.
                victim = ports[len(ports) // 2]
                backend.stdin.write(f"stop {victim}\n".encode())
                backend.stdin.flush()
                backend.stdout.readline()
                stopped = time.monotonic()
                first: float | None = None
                while True:
                    down = (await counts(lifecycle)).get(lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY, 0)
                    if down and first is None:
                        first = time.monotonic() - stopped
                    if down >= args.services:
                        break
                    await asyncio.sleep(0.1)
                detection = time.monotonic() - stopped
        finally:
            controller.stop()
            backend.kill()
            backend.wait()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "check": args.check,
        "endpoints": total,
        "local_servers": args.ports,
        "interval_s": args.interval,
        "probes_per_s": total / args.interval,
        "warmup_s": round(warmup, 1),
        "controller_cpu_share_of_one_core": round(cpu_share, 3),
        "aim_cpu_share": 0.25,
        "detection_first_s": round(first or detection, 2),
        "detection_all_s": round(detection, 2),
        "aim_detection_s": THRESHOLD * args.interval + 1,
    }


def table(result: dict[str, object]) -> None:
    rows = [
        ("endpoints (local servers)", f"{result['endpoints']:,} ({result['local_servers']})"),
        ("check, interval", f"{result['check']}, {result['interval_s']} s"),
        ("probes per second", f"{result['probes_per_s']:,.0f}"),
        (
            "controller CPU while probing",
            f"{float(result['controller_cpu_share_of_one_core']):.0%} of one core (aim <= 25%)",
        ),
        (
            "detection of a stopped backend (first / all of its endpoints)",
            f"{result['detection_first_s']} / {result['detection_all_s']} s"
            f" (aim <= {result['aim_detection_s']} s)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--ports", type=int, default=100)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--check", choices=sorted(CHECKS), default="http")
    parser.add_argument("--measure", type=float, default=30.0, help="seconds of CPU measurement")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.check))
        return
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    main()

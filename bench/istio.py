"""Benchmark: the istio plugin's render and write path at 10,000 service intents.

Drives the plugin class in-process, the way the controller drives it over gRPC, with the
embedded directory sink on local disk:
  1. render only: every service intent rendered (pure), per intent;
  2. apply: the 10,000 intents in batches of 256 (the reconciler's batch size) into an
     empty directory: rendered, written (temp file + fsync + rename) and listed;
  3. sync: a fresh plugin instance handed the same 10,000 (what a restarted instance does);
  4. one workload change (a 90/10 canary) on that store of 10,000: its latency and how many
     files were rewritten (only the target's VirtualService should be).
Prints JSON, then a table. Not a test: nothing here asserts.

    .venv/bin/python bench/istio.py [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tc import convert  # noqa: E402
from tc._proto.tc.v1 import intent_pb2  # noqa: E402
from tc.plugins.istio.plugin import IstioPlugin  # noqa: E402
from tc.plugins.istio.render import render  # noqa: E402


def service(i: int) -> intent_pb2.Intent:
    name = f"svc-{i:05d}"
    return intent_pb2.Intent(
        name=name,
        generation=1,
        uid=f"uid-{i}",
        service=intent_pb2.ServiceSpec(
            namespace=f"team-{i % 20:02d}",
            hosts=[f"{name}.example.com"],
            ports=[intent_pb2.Port(number=8080, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[
                intent_pb2.Endpoint(
                    address=f"10.{i // 250 % 250}.{i % 250}.1", port=8080, subset="v1"
                ),
                intent_pb2.Endpoint(
                    address=f"10.{i // 250 % 250}.{i % 250}.2", port=8080, subset="v2"
                ),
            ],
            traffic_policy=intent_pb2.TrafficPolicy(
                lb_algorithm=intent_pb2.LB_ALGORITHM_LEAST_REQUEST,
                retries=intent_pb2.RetryPolicy(attempts=2, retry_on=["5xx"]),
            ),
        ),
    )


def canary(target: str) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=f"{target}-canary",
        generation=1,
        uid="uid-canary",
        workload=intent_pb2.WorkloadSpec(
            target=target,
            split=[
                intent_pb2.TrafficSplit(subset="v1", weight=90),
                intent_pb2.TrafficSplit(subset="v2", weight=10),
            ],
        ),
    )


def mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*.yaml")}


async def run(count: int) -> dict[str, object]:
    intents = [service(i) for i in range(count)]
    models = [convert.intent_from_proto(pb) for pb in intents]
    t0 = time.perf_counter()
    objects = sum(len(render(m, [], 1).objects) for m in models)
    render_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="tc-bench-istio-") as tmp:
        out = Path(tmp) / "gitops"
        settings = {"sink": {"type": "directory", "path": str(out)}}
        plugin = IstioPlugin(settings, "bench-0")
        await plugin.start()
        t0 = time.perf_counter()
        for start in range(0, count, 256):
            await plugin.apply(intents[start : start + 256], [])
        apply_s = time.perf_counter() - t0
        await plugin.stop()

        fresh = IstioPlugin(settings, "bench-1")
        await fresh.start()
        t0 = time.perf_counter()
        await fresh.sync(intents, "bench")
        sync_s = time.perf_counter() - t0

        before = mtimes(out)
        target = intents[count // 2]
        t0 = time.perf_counter()
        results = await fresh.apply([canary(target.name)], [target])
        workload_s = time.perf_counter() - t0
        after = mtimes(out)
        await fresh.stop()
        rewritten = sorted(
            str(Path(p).relative_to(out)) for p, m in after.items() if before.get(p) != m
        )
        programmed = any(c.type == "Programmed" and c.status == 1 for c in results[0].conditions)
    return {
        "benchmark": "istio",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "intents": count,
        "objects": objects,
        "render_per_intent_us": render_s / count * 1e6,
        "render_total_s": render_s,
        "apply_batches_of_256_s": apply_s,
        "apply_per_s": count / apply_s,
        "fresh_instance_sync_s": sync_s,
        "workload_change_ms": workload_s * 1000,
        "workload_programmed": programmed,
        "files_rewritten_by_workload_change": rewritten,
    }


def table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"bench/istio.py ({result['intents']} service intents, {result['objects']} objects)"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("render, per intent", f"{result['render_per_intent_us']:.0f} µs")
    t.add_row("render + write (apply, batches of 256)", f"{result['apply_batches_of_256_s']:.1f} s")
    t.add_row("  intents / s", f"{result['apply_per_s']:.0f}")
    t.add_row("full Sync on a fresh instance", f"{result['fresh_instance_sync_s']:.1f} s")
    t.add_row("one workload change", f"{result['workload_change_ms']:.1f} ms")
    rewritten = result["files_rewritten_by_workload_change"]
    assert isinstance(rewritten, list)
    t.add_row("  files rewritten", ", ".join(rewritten) or "none")
    Console().print(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.count))
    print(json.dumps(result, indent=2))
    table(result)


if __name__ == "__main__":
    main()

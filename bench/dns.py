"""Benchmark: records per second the dns plugin applies to a real BIND 9, beside nsupdate.

Starts one `named` (tests/bind.py: 127.0.0.1, a fresh TSIG key, one worker) serving three
empty zones, then in the same run:
  1. plugin: N DNS intents of one A record each, applied through the DnsPlugin class (the
     way the controller drives it over gRPC) with its RFC 2136 sink, in batches of 256
     (the reconciler's batch size); each record also gets its ownership TXT record and
     every change carries its prerequisites;
  2. nsupdate, records only: `nsupdate -k` applying the same N A records, one UPDATE per
     256 records (what an operator scripting BIND would do);
  3. nsupdate, same messages: `nsupdate -k` sending what the plugin sends (the A record, the
     ownership TXT, and the "does not exist" prerequisites of both), one UPDATE per 256.
Each count is checked afterwards by a zone transfer (not timed). Prints JSON, then a table.
Not a test: nothing here asserts.

    .venv/bin/python bench/dns.py [--records 5000] [--batch 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's directory comes first on sys.path and this file, named
# dns.py as the issue asks, would hide dnspython's `dns` package from every import.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import dns.query  # noqa: E402
import dns.zone  # noqa: E402

from tc._proto.tc.v1 import intent_pb2  # noqa: E402
from tc.plugins.dns.plugin import DnsPlugin  # noqa: E402
from tests.bind import BindServer, find_binary  # noqa: E402

ZONES = ("plugin.bench", "nsupdate.bench", "same.bench")
OWNER = "traffic-controller"


def address(i: int) -> str:
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"


def intent(i: int) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=f"r-{i:06d}",
        uid=f"uid-{i}",
        generation=1,
        dns=intent_pb2.DnsSpec(
            zone="plugin.bench",
            records=[
                intent_pb2.DnsRecord(
                    name=f"r{i}", type=intent_pb2.RECORD_TYPE_A, ttl=60, values=[address(i)]
                )
            ],
        ),
    )


async def run_plugin(bind: BindServer, count: int, batch: int, sink_batch: int) -> float:
    plugin = DnsPlugin(
        {
            "owner_id": OWNER,
            "sink": {
                "type": "rfc2136",
                "servers": [bind.address],
                "key_name": bind.key_name,
                "key_file": str(bind.key_file),
                "batch_size": sink_batch,
            },
        },
        "dns-bench",
    )
    await plugin.start()
    intents = [intent(i) for i in range(count)]
    t0 = time.perf_counter()
    for start in range(0, count, batch):
        results = await plugin.apply(intents[start : start + batch], [])
        failed = [r.name for r in results if r.conditions[-1].status != 1]
        if failed:
            raise SystemExit(f"plugin failed for {failed[:3]}: {results[0]}")
    elapsed = time.perf_counter() - t0
    await plugin.stop()
    return elapsed


def run_nsupdate(bind: BindServer, messages: list[list[str]]) -> float:
    """Seconds one `nsupdate -k` takes to send `messages` (each its lines, then `send`)."""
    script = [f"server {bind.host} {bind.port}"]
    for lines in messages:
        script.extend(lines)
        script.append("send")
    t0 = time.perf_counter()
    subprocess.run(
        [find_binary("nsupdate"), "-k", str(bind.key_file)],
        input="\n".join(script) + "\n",
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return time.perf_counter() - t0


def nsupdate(bind: BindServer, lines: list[str], batch_lines: int) -> float:
    return run_nsupdate(
        bind, [lines[start : start + batch_lines] for start in range(0, len(lines), batch_lines)]
    )


def records_only(count: int) -> list[str]:
    return [f"update add n{i}.nsupdate.bench. 60 A {address(i)}" for i in range(count)]


def same_messages(count: int) -> list[list[str]]:
    """Per record: the lines of what the plugin sends for it, prerequisites first."""
    out = []
    for i in range(count):
        name, owner = f"s{i}.same.bench.", f"a-s{i}.same.bench."
        txt = f'"heritage=traffic-controller,owner={OWNER},intent=s-{i:06d},values=0"'
        out.append(
            [
                f"prereq nxrrset {name} A",
                f"prereq nxrrset {owner} TXT",
                f"update add {name} 60 A {address(i)}",
                f"update add {owner} 60 TXT {txt}",
            ]
        )
    return out


def nsupdate_same(bind: BindServer, count: int, batch: int) -> float:
    per_record = same_messages(count)
    messages = []
    for start in range(0, count, batch):
        group = per_record[start : start + batch]
        # nsupdate sends prerequisites and updates of one `send` as one message.
        messages.append(
            [line for lines in group for line in lines if line.startswith("prereq")]
            + [line for lines in group for line in lines if line.startswith("update")]
        )
    return run_nsupdate(bind, messages)


def count_a(bind: BindServer, zone: str) -> int:
    xfr = dns.query.xfr(
        bind.host, zone, port=bind.port, keyring=bind.key.keyring(), keyname=bind.key_name
    )
    return sum(1 for _, rdataset in dns.zone.from_xfr(xfr).iterate_rdatasets("A"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=256, help="intents per Apply")
    parser.add_argument(
        "--sink-batch", type=int, default=256, help="changes per UPDATE message (sink batch_size)"
    )
    args = parser.parse_args()
    with BindServer(ZONES) as bind:
        plugin_s = asyncio.run(run_plugin(bind, args.records, args.batch, args.sink_batch))
        plain_s = nsupdate(bind, records_only(args.records), args.batch)
        same_s = nsupdate_same(bind, args.records, args.batch)
        counts = {zone: count_a(bind, zone) for zone in ZONES}
    result = {
        "benchmark": "dns",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "records": args.records,
        "batch": args.batch,
        "sink_batch": args.sink_batch,
        "plugin_records_per_s": args.records / plugin_s,
        "nsupdate_records_only_per_s": args.records / plain_s,
        "nsupdate_same_messages_per_s": args.records / same_s,
        "plugin_vs_nsupdate_records_only": plain_s / plugin_s,
        "a_records_in_zone": counts,
    }
    print(json.dumps(result, indent=2))
    table(result)


def table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"bench/dns.py: {result['records']} A records, batches of {result['batch']}")
    t.add_column("who applies them")
    t.add_column("records/s", justify="right")
    t.add_row(
        "dns plugin (records + ownership + prerequisites)", f"{result['plugin_records_per_s']:,.0f}"
    )
    t.add_row("nsupdate -k, records only", f"{result['nsupdate_records_only_per_s']:,.0f}")
    t.add_row(
        "nsupdate -k, the plugin's messages", f"{result['nsupdate_same_messages_per_s']:,.0f}"
    )
    Console().print(t)


if __name__ == "__main__":
    main()

"""The zone-file sink on a real directory, every file checked by BIND's named-checkzone."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import dns.zone
import pytest

from tc.ir import DnsPolicy
from tc.plugins.dns.plan import plan_zone
from tc.plugins.dns.records import Change, RecordSet, ownership_record
from tc.plugins.dns.render import Wanted
from tc.plugins.dns.sinks.base import PrerequisiteFailed, SinkError
from tc.plugins.dns.sinks.zonefile import ZoneFileSettings, ZoneFileSink, _serial_after

ZONE, OWNER = "example.com", "tc-test"


def checkzone(path: Path, zone: str = ZONE) -> None:
    for binary in ("/usr/bin/named-checkzone", "/usr/sbin/named-checkzone"):
        if Path(binary).exists():
            result = subprocess.run(
                [binary, zone, str(path)], check=False, capture_output=True, text=True, timeout=30
            )
            assert result.returncode == 0, result.stdout + result.stderr
            return
    raise AssertionError("named-checkzone is missing: `make test` installs bind9-utils")


def sink(tmp_path: Path) -> ZoneFileSink:
    return ZoneFileSink(ZoneFileSettings(path=str(tmp_path)))


async def apply(s: ZoneFileSink, *records: RecordSet, intent: str = "site") -> list[Change]:
    current = await s.read(ZONE)
    wanted = [Wanted(r, intent, ZONE, DnsPolicy.SYNC) for r in records]
    plan = plan_zone(ZONE, wanted, current, owner=OWNER, scope=[intent])
    await s.write(ZONE, plan.changes)
    return plan.changes


def serial(path: Path) -> int:
    zone = dns.zone.from_file(str(path), origin=ZONE)
    return int(zone.get_soa().serial)


RECORDS = [
    RecordSet.of(ZONE, "A", 300, ["192.0.2.1"]),
    RecordSet.of(f"*.apps.{ZONE}", "A", 60, ["192.0.2.2"]),
    RecordSet.of(f"v6.{ZONE}", "AAAA", 60, ["2001:DB8::1"]),
    RecordSet.of(f"_sip._tcp.{ZONE}", "SRV", 60, ["10 5 5060 sip.example.com"]),
    RecordSet.of(f"note.{ZONE}", "TXT", 60, ['say "hi" to everyone']),
    RecordSet.of(f"alias.{ZONE}", "CNAME", 60, ["target.example.net."]),
]


async def test_every_type_round_trips_and_the_file_passes_named_checkzone(
    tmp_path: Path,
) -> None:
    s = sink(tmp_path)
    await apply(s, *RECORDS)
    path = s.file_of(ZONE)
    checkzone(path)
    held = await sink(tmp_path).read(ZONE)  # another instance reads the same
    for record in RECORDS:
        assert held[record.key] == record
        owner = ownership_record(record, ZONE, OWNER, "site")
        assert held[owner.key] == owner


async def test_serial_goes_up_on_each_change_and_not_on_a_no_op(tmp_path: Path) -> None:
    s = sink(tmp_path)
    await apply(s, RECORDS[0])
    path = s.file_of(ZONE)
    first = serial(path)
    await apply(s, RecordSet.of(ZONE, "A", 300, ["192.0.2.9"]))
    second = serial(path)
    assert second > first
    before = path.read_bytes()
    assert await apply(s, RecordSet.of(ZONE, "A", 300, ["192.0.2.9"])) == []
    await s.write(ZONE, [])
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("serial_now", "expected"),
    [(0, 2026112500), (2026112500, 2026112501), (2030010100, 2030010101), (2**32 - 1, 0)],
)
def test_serial_after(serial_now: int, expected: int) -> None:
    import datetime

    assert _serial_after(serial_now, datetime.date(2026, 11, 25)) == expected


async def test_hand_written_records_survive_and_a_hand_edit_fails_the_write(
    tmp_path: Path,
) -> None:
    s = sink(tmp_path)
    await apply(s, RECORDS[0])
    path = s.file_of(ZONE)
    path.write_text(path.read_text() + "printer 300 IN A 192.0.2.200\n")
    await apply(s, RECORDS[0], RECORDS[2])
    assert (await s.read(ZONE))[RecordSet.of(f"printer.{ZONE}", "A", 300, ["1.1.1.1"]).key]

    # Read, then someone edits the record set before our write lands.
    current = await s.read(ZONE)
    wanted = [Wanted(RecordSet.of(ZONE, "A", 300, ["192.0.2.77"]), "site", ZONE, DnsPolicy.SYNC)]
    plan = plan_zone(ZONE, wanted, current, owner=OWNER, scope=["site"])
    text = path.read_text().replace("192.0.2.1", "192.0.2.66")
    path.write_text(text)
    with pytest.raises(PrerequisiteFailed, match="changed since it was read"):
        await s.write(ZONE, plan.changes)
    assert path.read_text() == text  # nothing written


async def test_a_broken_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    s = sink(tmp_path)
    path = s.file_of(ZONE)
    path.write_text("$ORIGIN example.com.\n@ IN SOA this is not a zone\n")
    with pytest.raises(SinkError, match="does not parse") as caught:
        await s.read(ZONE)
    assert caught.value.reason == "Invalid" and not caught.value.retryable
    with pytest.raises(SinkError, match="does not parse"):
        await s.write(ZONE, [])
    assert path.read_text().startswith("$ORIGIN example.com.\n@ IN SOA this is")


async def test_two_instances_writing_one_zone_lose_nothing(tmp_path: Path) -> None:
    """Each instance writes its own record sets, interleaved, with stale reads in between:
    a write whose read is stale fails its prerequisites and is retried after a fresh read,
    as the plugin does; at the end every record set of both is there."""
    a, b = sink(tmp_path), sink(tmp_path)

    async def writer(s: ZoneFileSink, prefix: str) -> None:
        for i in range(15):
            record = RecordSet.of(f"{prefix}{i}.{ZONE}", "A", 60, [f"192.0.2.{i + 1}"])
            while True:
                try:
                    await apply(s, record, intent=f"{prefix}{i}")
                    break
                except PrerequisiteFailed:
                    continue

    await asyncio.gather(writer(a, "a"), writer(b, "b"))
    held = await a.read(ZONE)
    for prefix in ("a", "b"):
        for i in range(15):
            assert (f"{prefix}{i}.{ZONE}", "A") in held
    checkzone(a.file_of(ZONE))


async def test_a_zone_name_that_cannot_be_a_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot be a file name"):
        await sink(tmp_path).read("../etc")

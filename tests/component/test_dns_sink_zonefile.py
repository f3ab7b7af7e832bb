"""The zone-file sink on a real directory, every file it writes checked by BIND's
named-checkzone and read back with dnspython's own zone parser (not the sink's)."""

from __future__ import annotations

import asyncio
import datetime
import fcntl
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tc.ir import DnsPolicy
from tc.plugins.dns.plan import plan_zone
from tc.plugins.dns.records import (
    Change,
    Ownership,
    RecordKey,
    RecordSet,
    ownership_name,
    ownership_record,
)
from tc.plugins.dns.render import Wanted
from tc.plugins.dns.sinks.base import PrerequisiteFailed, SinkError
from tc.plugins.dns.sinks.zonefile import (
    ZoneData,
    ZoneFileSettings,
    ZoneFileSink,
    _parse_simple,
    _parse_with_dnspython,
    parse_zone,
    render_zone,
    serial_after,
)
from tests.bind import find_binary

ZONE, OWNER = "example.com", "tc-test"
ROOT = Path(__file__).resolve().parents[2]


def checkzone(path: Path, zone: str = ZONE) -> None:
    """named-checkzone accepts the file; a missing binary fails the test (never a skip)."""
    binary = find_binary("named-checkzone")
    result = subprocess.run(
        [binary, zone, str(path)], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dnspython_view(path: Path, zone: str = ZONE) -> dict[tuple[str, str], tuple[int, set[str]]]:
    """The file as dnspython's zone parser sees it, every type included."""
    parsed = dns.zone.from_file(str(path), origin=zone, relativize=False)
    return {
        (name.to_text(omit_final_dot=True), dns.rdatatype.to_text(rdataset.rdtype)): (
            rdataset.ttl,
            {r.to_text() for r in rdataset},
        )
        for name, rdataset in parsed.iterate_rdatasets()
    }


def make_sink(tmp_path: Path, **settings: object) -> ZoneFileSink:
    return ZoneFileSink(ZoneFileSettings.model_validate({"path": str(tmp_path), **settings}))


@pytest.fixture
def sink(tmp_path: Path) -> ZoneFileSink:
    return make_sink(tmp_path)


async def apply(s: ZoneFileSink, *records: RecordSet, intent: str = "site") -> list[Change]:
    """What the plugin does for one intent: read, plan, write."""
    current = await s.read(ZONE)
    wanted = [Wanted(r, intent, ZONE, DnsPolicy.SYNC) for r in records]
    plan = plan_zone(ZONE, wanted, current, owner=OWNER, scope=[intent])
    assert not plan.conflicts, plan.conflicts
    await s.write(ZONE, plan.changes)
    return plan.changes


def serial(path: Path) -> int:
    return int(dns.zone.from_file(str(path), origin=ZONE).get_soa().serial)


def create(record: RecordSet, intent: str = "site") -> Change:
    owner = ownership_record(record, ZONE, OWNER, intent)
    return Change("create", ZONE, intent, record, owner)


RECORDS = [
    RecordSet.of(ZONE, "A", 300, ["192.0.2.1"]),  # the apex
    RecordSet.of(f"*.apps.{ZONE}", "A", 60, ["192.0.2.2", "192.0.2.3"]),
    RecordSet.of(f"v6.{ZONE}", "AAAA", 60, ["2001:DB8:0:0::1", "2001:db8::ffff:192.0.2.4"]),
    RecordSet.of(f"_sip._tcp.{ZONE}", "SRV", 60, ["10 5 5060 sip.example.net."]),
    RecordSet.of(f"note.{ZONE}", "TXT", 60, ['say "hi" to everyone', "a;b (c) \\ d"]),
    RecordSet.of(f"alias.{ZONE}", "CNAME", 60, ["target.example.net."]),
    RecordSet.of(f"v6.{ZONE}", "TXT", 60, ["k=v"]),
]


# -- writing and reading back ----------------------------------------------------------------------


async def test_every_type_round_trips_with_its_ownership_record(tmp_path: Path) -> None:
    s = make_sink(tmp_path)
    await apply(s, *RECORDS)
    path = s.file_of(ZONE)
    checkzone(path)
    seen = dnspython_view(path)
    for record in RECORDS:
        assert seen[(record.name, record.type)] == (record.ttl, set(record.values))
        owner = ownership_record(record, ZONE, OWNER, "site")
        assert seen[(owner.name, "TXT")] == (record.ttl, set(owner.values))
        parsed = Ownership.parse(owner.values)
        assert parsed is not None and parsed.owner == OWNER and parsed.intent == "site"
    # Another instance reads exactly what was written: the sink's reader agrees with
    # dnspython's, ownership records included, SOA and NS left out.
    held = await make_sink(tmp_path).read(ZONE)
    assert {k.type for k in held} <= {"A", "AAAA", "CNAME", "SRV", "TXT"}
    for record in RECORDS:
        assert held[record.key] == record
    assert len(held) == 2 * len(RECORDS)
    keys = [RECORDS[0].key, RecordKey(f"absent.{ZONE}", "A")]
    assert await s.read(ZONE, keys) == {RECORDS[0].key: RECORDS[0]}


async def test_the_file_reads_as_a_person_would_write_it(sink: ZoneFileSink) -> None:
    await apply(sink, *RECORDS)
    text = sink.file_of(ZONE).read_text()
    lines = [line for line in text.splitlines() if not line.startswith(";")]
    assert lines[:2] == [f"$ORIGIN {ZONE}.", "$TTL 300"]
    assert lines[2].split()[:4] == ["@", "300", "IN", "SOA"]
    assert lines[3].split() == ["@", "300", "IN", "NS", "localhost."]
    assert lines[4].split() == ["@", "300", "IN", "A", "192.0.2.1"]
    assert "*.apps                  60     IN A     192.0.2.2" in lines
    assert "_sip._tcp               60     IN SRV   10 5 5060 sip.example.net." in lines
    # Written twice from the same content, the file is the same: sorted, not hash-ordered.
    again = ZoneData(ZONE, parse_zone(text, ZONE).records, 300)
    assert render_zone(again, 300) == text


async def test_create_update_delete_with_ownership(sink: ZoneFileSink) -> None:
    path = sink.file_of(ZONE)
    www = RecordSet.of(f"www.{ZONE}", "A", 60, ["192.0.2.10"])
    owner_name = ownership_name(www.key, ZONE)

    changes = await apply(sink, www)
    assert [c.action for c in changes] == ["create"]
    seen = dnspython_view(path)
    assert seen[(www.name, "A")] == (60, {"192.0.2.10"})
    assert "intent=site,values=" in next(iter(seen[(owner_name, "TXT")][1]))
    checkzone(path)

    updated = RecordSet.of(f"www.{ZONE}", "A", 120, ["192.0.2.11", "192.0.2.12"])
    assert [c.action for c in await apply(sink, updated)] == ["update"]
    seen = dnspython_view(path)
    assert seen[(www.name, "A")] == (120, {"192.0.2.11", "192.0.2.12"})
    owner = Ownership.parse(seen[(owner_name, "TXT")][1])
    assert owner is not None and owner.digest == updated.digest()
    checkzone(path)

    assert [c.action for c in await apply(sink)] == ["delete"]
    seen = dnspython_view(path)
    assert (www.name, "A") not in seen and (owner_name, "TXT") not in seen
    assert (ZONE, "SOA") in seen and (ZONE, "NS") in seen  # the zone itself stays
    checkzone(path)


async def test_an_orphan_delete_touches_only_the_ownership_record(sink: ZoneFileSink) -> None:
    """A Change whose record has no values removes the ownership record alone, as the RFC
    2136 sink does: a record set a person has put back at the name stays."""
    www = RecordSet.of(f"www.{ZONE}", "A", 60, ["192.0.2.10"])
    owner = ownership_record(www, ZONE, OWNER, "site")
    await sink.write(ZONE, [create(www)])
    path = sink.file_of(ZONE)
    path.write_text(path.read_text().replace("192.0.2.10", "192.0.2.99"))
    orphan = RecordSet(www.name, "A", 0, ())
    await sink.write(ZONE, [Change("delete", ZONE, "site", orphan, owner, None, owner)])
    seen = dnspython_view(path)
    assert seen[(www.name, "A")] == (60, {"192.0.2.99"})
    assert (owner.name, "TXT") not in seen


async def test_a_zone_without_a_file_is_empty_until_a_write_changes_it(
    tmp_path: Path,
) -> None:
    s = make_sink(tmp_path / "dns")
    assert await s.read(ZONE) == {}
    await s.write(ZONE, [])
    assert not (tmp_path / "dns").exists()
    gone = RecordSet.of(f"gone.{ZONE}", "A", 60, ["192.0.2.1"])
    owner = ownership_record(gone, ZONE, OWNER, "site")
    await s.write(ZONE, [Change("delete", ZONE, "site", gone, owner)])  # already true
    assert not (tmp_path / "dns" / f"{ZONE}.zone").exists()
    await s.write(f"new.{ZONE}", [])
    www = RecordSet.of(f"www.new.{ZONE}", "A", 60, ["192.0.2.1"])
    owner = ownership_record(www, f"new.{ZONE}", OWNER, "site")
    await s.write(f"new.{ZONE}", [Change("create", f"new.{ZONE}", "site", www, owner)])
    path = tmp_path / "dns" / f"new.{ZONE}.zone"
    checkzone(path, f"new.{ZONE}")
    soa = dns.zone.from_file(str(path), origin=f"new.{ZONE}").get_soa()
    assert soa.mname.to_text() == "localhost." and soa.rname.to_text() == "hostmaster.localhost."
    assert (path.stat().st_mode & 0o777) == 0o644


async def test_listed_zones_get_a_file_on_first_use(tmp_path: Path) -> None:
    s = make_sink(
        tmp_path,
        zones=["Example.COM.", "other.example"],
        primary_ns="ns.example.net",
        admin_email="dns.admin@example.net",
        default_ttl=600,
    )
    assert await s.read(ZONE) == {}
    for zone in (ZONE, "other.example"):
        path = tmp_path / f"{zone}.zone"
        checkzone(path, zone)
        parsed = dns.zone.from_file(str(path), origin=zone)
        soa = parsed.get_soa()
        assert soa.mname.to_text() == "ns.example.net."
        assert soa.rname.to_text() == "dns\\.admin.example.net."
        assert soa.serial == serial_after(0, datetime.datetime.now(datetime.UTC).date())
        assert parsed.get_rdataset("@", "NS") is not None
    assert not (tmp_path / "unlisted.example.zone").exists()


# -- the SOA serial --------------------------------------------------------------------------------


async def test_serial_goes_up_on_each_change_and_not_on_a_no_op(sink: ZoneFileSink) -> None:
    path = sink.file_of(ZONE)
    await apply(sink, RECORDS[0])
    first = serial(path)
    await apply(sink, RecordSet.of(ZONE, "A", 300, ["192.0.2.9"]))
    second = serial(path)
    assert second > first
    await apply(sink, RecordSet.of(ZONE, "A", 30, ["192.0.2.9"]))  # a TTL is a change too
    assert serial(path) > second

    before, stat = path.read_bytes(), path.stat()
    assert await apply(sink, RecordSet.of(ZONE, "A", 30, ["192.0.2.9"])) == []
    await sink.write(ZONE, [])
    # A change that is already true (a create of what is there, retried) is no change.
    record = RecordSet.of(f"www.{ZONE}", "A", 60, ["192.0.2.5"])
    await sink.write(ZONE, [create(record)])
    written, stat = path.read_bytes(), path.stat()
    owner = ownership_record(record, ZONE, OWNER, "site")
    same = Change("update", ZONE, "site", record, owner, record, owner)
    await sink.write(ZONE, [same])
    assert path.read_bytes() == written and path.stat().st_ino == stat.st_ino
    assert before != written


@pytest.mark.parametrize(
    ("serial_now", "expected"),
    [
        (0, 2026112500),
        (1, 2026112500),
        (2026112400, 2026112500),
        (2026112500, 2026112501),
        (2026112599, 2026112600),  # a 101st change in a day borrows tomorrow's serials
        (2030010100, 2030010101),  # ahead of the clock: never backwards
        (2**32 - 1, 0),  # RFC 1982: 0 follows 2**32 - 1
    ],
)
def test_serial_after(serial_now: int, expected: int) -> None:
    assert serial_after(serial_now, datetime.date(2026, 11, 25)) == expected


# -- records a person wrote ------------------------------------------------------------------------

HAND_WRITTEN = """\
; Written by a person, in the forms people use.
$ORIGIN example.com.
$TTL 1h
@       IN SOA ns1.example.com. hostmaster.example.com. (
                2024010101 ; serial
                3600 900 1209600 300 )
        IN NS  ns1
        IN MX  10 mail
ns1     IN A   192.0.2.53
mail    300 IN A 192.0.2.25 ; the mail server
printer 300 IN A 192.0.2.200
docs    IN CNAME www.example.net.
www.example.com. 60 IN TXT "two" "strings"
"""


async def test_hand_written_records_survive_every_rewrite(sink: ZoneFileSink) -> None:
    path = sink.file_of(ZONE)
    path.write_text(HAND_WRITTEN)
    before = dnspython_view(path)
    await apply(sink, *RECORDS[:3])
    after = dnspython_view(path)
    for key, value in before.items():
        if key != (ZONE, "SOA"):
            assert after[key] == value, key
    assert after[(f"ns1.{ZONE}", "A")] == (3600, {"192.0.2.53"})  # $TTL 1h applied
    assert serial(path) > 2024010101
    checkzone(path)

    # A person adds a record to the file as we wrote it; the next rewrite keeps it too.
    path.write_text(path.read_text() + "scanner 300 IN AAAA 2001:db8::5\n")
    await apply(sink, *RECORDS)
    after = dnspython_view(path)
    assert after[(f"scanner.{ZONE}", "AAAA")] == (300, {"2001:db8::5"})
    assert after[(ZONE, "MX")] == before[(ZONE, "MX")] == (3600, {f"10 mail.{ZONE}."})
    checkzone(path)


# -- prerequisites ---------------------------------------------------------------------------------


async def test_a_hand_edit_between_read_and_write_fails_the_write(sink: ZoneFileSink) -> None:
    await apply(sink, RECORDS[0], RECORDS[2])
    path = sink.file_of(ZONE)
    current = await sink.read(ZONE)
    wanted = [
        Wanted(RecordSet.of(ZONE, "A", 300, ["192.0.2.77"]), "site", ZONE, DnsPolicy.SYNC),
        Wanted(RecordSet.of(f"new.{ZONE}", "A", 300, ["192.0.2.78"]), "site", ZONE, DnsPolicy.SYNC),
    ]
    plan = plan_zone(ZONE, wanted, current, owner=OWNER, scope=["site"])
    assert {c.action for c in plan.changes} == {"create", "update", "delete"}

    edits = [
        ("192.0.2.1\n", "192.0.2.66\n"),  # a value of a record set we update
        ("192.0.2.1\n", "192.0.2.1\n@ 300 IN A 192.0.2.67\n"),  # a value added to it
        ("$TTL 300\n", f"$TTL 300\nnew.{ZONE}. 60 IN A 192.0.2.1\n"),  # one we create
        ("$TTL 300\n", f"$TTL 300\na-new.{ZONE}. 60 IN TXT x\n"),  # its ownership name
        ("2001:db8::1\n", "2001:db8::99\n"),  # one we delete
        ("intent=site", "intent=someone-else"),  # an ownership record
    ]
    original = path.read_bytes()
    for old, new in edits:
        assert old.encode() in original, old
        edited = original.replace(old.encode(), new.encode(), 1)
        path.write_bytes(edited)
        with pytest.raises(PrerequisiteFailed, match="changed since it was read") as caught:
            await sink.write(ZONE, plan.changes)
        assert caught.value.reason == "Conflict" and not caught.value.retryable
        assert path.read_bytes() == edited  # nothing written, byte for byte
    # A TTL changed by hand is no conflict (RFC 2136 prerequisites compare values only),
    # and neither is an edit to a record set the plan does not touch.
    path.write_bytes(
        original.replace(b"300    IN A     192.0.2.1", b"900 IN A 192.0.2.1")
        + b"other 60 IN A 192.0.2.9\n"
    )
    await sink.write(ZONE, plan.changes)
    held = await sink.read(ZONE)
    assert held[RecordKey(ZONE, "A")].values == ("192.0.2.77",)
    assert RecordKey(f"other.{ZONE}", "A") in held
    checkzone(path)


async def test_changes_the_zone_cannot_hold_are_refused_whole(sink: ZoneFileSink) -> None:
    await apply(sink, RECORDS[0])
    path = sink.file_of(ZONE)
    before = path.read_bytes()
    fine = create(RecordSet.of(f"fine.{ZONE}", "A", 60, ["192.0.2.1"]))
    outside = create(RecordSet.of("www.example.org", "A", 60, ["192.0.2.1"]))
    with pytest.raises(SinkError, match="not in zone") as caught:
        await sink.write(ZONE, [fine, outside])
    assert caught.value.reason == "Invalid" and not caught.value.retryable
    bad = RecordSet(f"bad.{ZONE}", "A", 60, ("192.0.2.300",))
    with pytest.raises(SinkError, match="not a valid A value"):
        await sink.write(ZONE, [fine, create(bad)])
    # A CNAME where a person wrote an address: the file would no longer load.
    path.write_text(path.read_text() + "alias 60 IN A 192.0.2.5\n")
    before = path.read_bytes()
    alias = create(RecordSet.of(f"alias.{ZONE}", "CNAME", 60, ["www.example.net."]))
    with pytest.raises(SinkError, match="CNAME and other data") as caught:
        await sink.write(ZONE, [fine, alias])
    assert caught.value.reason == "Conflict"
    assert path.read_bytes() == before


# -- files that do not parse -----------------------------------------------------------------------

APEX = "@ 300 IN SOA a. b. 1 2 3 4 5\n@ 300 IN NS a.\n"
BROKEN = {
    "syntax": "@ IN SOA this is not a zone\n",
    "bad address": APEX + "www 60 IN A 192.0.2.256\n",
    "no SOA": "@ 300 IN NS a.\nwww 60 IN A 192.0.2.1\n",
    "no NS": "@ 300 IN SOA a. b. 1 2 3 4 5\n",
    "out of zone": APEX + "www.example.org. 60 IN A 192.0.2.1\n",
    "out of zone, long form": "@ IN SOA a. b. 1 2 3 4 5\n IN NS a.\nwww.example.org. A 192.0.2.1\n",
    "CNAME and data": APEX + "x 60 IN CNAME y.\nx 60 IN A 192.0.2.1\n",
    "include": "$INCLUDE /etc/passwd\n",
    "not utf-8": APEX + "x 60 IN TXT \xff\n",
}


@pytest.mark.parametrize("case", list(BROKEN))
async def test_a_broken_file_is_reported_and_left_alone(sink: ZoneFileSink, case: str) -> None:
    path = sink.file_of(ZONE)
    content = f"$ORIGIN {ZONE}.\n{BROKEN[case]}".encode("latin-1")
    path.write_bytes(content)
    with pytest.raises(SinkError, match="does not parse") as caught:
        await sink.read(ZONE)
    assert caught.value.reason == "Invalid" and not caught.value.retryable
    assert str(caught.value).startswith(f"zone file {path} does not parse: ")
    with pytest.raises(SinkError, match="does not parse"):
        await sink.write(ZONE, [create(RecordSet.of(f"www.{ZONE}", "A", 60, ["192.0.2.1"]))])
    assert path.read_bytes() == content


async def test_a_zone_name_that_cannot_be_a_file_name_is_refused(sink: ZoneFileSink) -> None:
    for zone in ("../etc", "a b.example", "", "."):
        with pytest.raises(SinkError, match="cannot be a zone file name") as caught:
            await sink.read(zone)
        assert caught.value.reason == "Invalid"


# -- the parser against dnspython's ----------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9_]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_names = st.lists(_label, min_size=0, max_size=3).map(lambda ls: ".".join([*ls, ZONE]))
_values = {
    "A": st.ip_addresses(v=4).map(str),
    "AAAA": st.ip_addresses(v=6).map(str),
    "TXT": st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=40),
    "CNAME": _names.map(lambda n: n + "."),
    "SRV": st.tuples(
        st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535), _names
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]} {t[3]}."),
}
_record_sets = st.one_of(
    *(
        st.builds(
            lambda name, ttl, values, rtype=rtype: RecordSet.of(name, rtype, ttl, values),
            _names,
            st.integers(0, 2**31 - 1),
            st.lists(strategy, min_size=1, max_size=1 if rtype == "CNAME" else 3),
        )
        for rtype, strategy in _values.items()
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record_sets, max_size=12))
def test_what_is_written_reads_back_the_same_by_either_parser(
    records: list[RecordSet],
) -> None:
    soa = RecordSet(ZONE, "SOA", 300, ("a. b. 1 2 3 4 5",))
    ns = RecordSet(ZONE, "NS", 300, ("a.",))
    held: dict[RecordKey, RecordSet] = {soa.key: soa, ns.key: ns}
    for record in records:
        if record.type == "CNAME" or any(
            k.name == record.name and "CNAME" in (k.type, record.type) for k in held
        ):
            continue  # not a zone: covered by the CNAME test above
        held[record.key] = record
    text = render_zone(ZoneData(ZONE, held), 300)
    fast = _parse_simple(text, ZONE)
    assert fast is not None, text  # what the sink writes is read without dnspython
    assert fast.records == held
    assert _parse_with_dnspython(text, ZONE, "<test>").records == held


def test_the_simple_parser_declines_what_it_does_not_know() -> None:
    assert _parse_simple(HAND_WRITTEN, ZONE) is None
    data = parse_zone(HAND_WRITTEN, ZONE)
    assert data.ttl == 3600
    assert data.records[RecordKey(f"docs.{ZONE}", "CNAME")].values == ("www.example.net.",)
    text = render_zone(data, 300)
    assert _parse_simple(text, ZONE) is not None
    assert parse_zone(text, ZONE).records == data.records


# -- several instances -----------------------------------------------------------------------------


async def test_two_instances_writing_one_zone_concurrently_lose_nothing(tmp_path: Path) -> None:
    """Writes that hold whatever else the other instance writes meanwhile (creates of names
    of their own) all land: each read-modify-write of the file excludes the other's."""
    a, b = make_sink(tmp_path), make_sink(tmp_path)

    def batch(prefix: str, i: int) -> list[Change]:
        return [
            create(RecordSet.of(f"{prefix}{i}-{j}.{ZONE}", "A", 60, [f"192.0.2.{j + 1}"]))
            for j in range(5)
        ]

    writes = [s.write(ZONE, batch(p, i)) for i in range(40) for s, p in ((a, "a"), (b, "b"))]
    await asyncio.gather(*writes)
    held = await a.read(ZONE)
    assert len(held) == 2 * 40 * 5 * 2
    for prefix in ("a", "b"):
        for i in range(40):
            for j in range(5):
                assert RecordKey(f"{prefix}{i}-{j}.{ZONE}", "A") in held
    checkzone(a.file_of(ZONE))


async def test_instances_in_separate_processes_lose_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from tc.plugins.dns.records import Change, RecordSet, ownership_record
        from tc.plugins.dns.sinks.zonefile import ZoneFileSettings, ZoneFileSink

        async def main(prefix):
            sink = ZoneFileSink(ZoneFileSettings(path={str(tmp_path)!r}))
            for i in range(25):
                record = RecordSet.of(f"{{prefix}}{{i}}.{ZONE}", "A", 60, ["192.0.2.1"])
                owner = ownership_record(record, "{ZONE}", "{OWNER}", "site")
                await sink.write("{ZONE}", [Change("create", "{ZONE}", "site", record, owner)])

        asyncio.run(main(sys.argv[1]))
        """
    )
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, prefix, cwd=ROOT)
        for prefix in ("p", "q")
    ]
    assert [await p.wait() for p in procs] == [0, 0]
    held = await make_sink(tmp_path).read(ZONE)
    assert len(held) == 2 * 25 * 2
    checkzone(tmp_path / f"{ZONE}.zone")


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[None]:
    """Another process's exclusive lock on the zone, as a person running flock(1) holds it."""
    fd = os.open(tmp_path / f".{ZONE}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


@pytest.mark.usefixtures("held_lock")
async def test_a_lock_held_too_long_is_a_retryable_error(tmp_path: Path) -> None:
    s = make_sink(tmp_path, lock_timeout=0.2)
    (tmp_path / f"{ZONE}.zone").write_text(
        f"$ORIGIN {ZONE}.\n@ 300 IN SOA a. b. 1 2 3 4 5\n@ 300 IN NS a.\n"
    )
    with pytest.raises(SinkError, match="held by another process") as caught:
        await s.read(ZONE)
    assert caught.value.reason == "Unreachable" and caught.value.retryable
    with pytest.raises(SinkError, match="held by another process") as caught:
        await s.write(ZONE, [create(RECORDS[0])])
    assert caught.value.reason == "Unreachable" and caught.value.retryable


async def test_a_rewrite_keeps_the_mode_and_cleans_up_after_a_crashed_writer(
    sink: ZoneFileSink,
) -> None:
    await apply(sink, RECORDS[0])
    path = sink.file_of(ZONE)
    path.chmod(0o640)
    leftover = path.parent / f".{path.name}.tcdeadbeef-1.tmp"
    leftover.write_text("half a zone")
    await apply(sink, RECORDS[0], RECORDS[1])
    assert (path.stat().st_mode & 0o777) == 0o640
    assert not leftover.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{ZONE}.lock", f"{ZONE}.zone"]

"""The planner against zones as read: ownership, policies, scope, conflicts, orphans, speed."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest

from tc import ir
from tc.plugins.dns.plan import plan_zone
from tc.plugins.dns.records import (
    Change,
    Ownership,
    Plan,
    RecordSet,
    contents,
    ownership_record,
)
from tc.plugins.dns.render import Wanted

SYNC, UPSERT_ONLY, CREATE_ONLY = (
    ir.DnsPolicy.SYNC,
    ir.DnsPolicy.UPSERT_ONLY,
    ir.DnsPolicy.CREATE_ONLY,
)
ZONE, OWNER = "example.com", "tc-1"


def rs(name: str, rtype: str, *values: str, ttl: int = 300) -> RecordSet:
    return RecordSet.of(name, rtype, ttl, values)


def txt_at(name: str, *values: str) -> RecordSet:
    """A TXT record set as a sink reads it: values already in presentation form."""
    return RecordSet(name, "TXT", 300, tuple(sorted(values)))


def want(record: RecordSet, intent: str = "site", policy: ir.DnsPolicy = SYNC) -> Wanted:
    return Wanted(record, intent, ZONE, policy)


def owned(
    record: RecordSet, intent: str = "site", owner: str = OWNER, affix: str = ""
) -> RecordSet:
    return ownership_record(record, ZONE, owner, intent, affix=affix)


WWW = rs("www.example.com", "A", "192.0.2.1")
WWW2 = rs("www.example.com", "A", "192.0.2.2")
WWW_TTL = rs("www.example.com", "A", "192.0.2.1", ttl=60)
APEX = rs("example.com", "A", "192.0.2.7")
CNAME = rs("www.example.com", "CNAME", "elsewhere.example.net")
API = rs("api.example.com", "AAAA", "2001:db8::1")


def plan(
    wanted: Sequence[Wanted],
    current: Sequence[RecordSet],
    *,
    scope: Collection[str] | None = None,
    policies: Mapping[str, ir.DnsPolicy] | None = None,
    affix: str = "",
) -> Plan:
    return plan_zone(
        ZONE,
        wanted,
        contents(current),
        owner=OWNER,
        affix=affix,
        scope=scope,
        policies=policies,
    )


def actions(p: Plan) -> list[tuple[str, str, str]]:
    return [(c.action, str(c.record.key), c.intent) for c in p.changes]


def conflicts(p: Plan) -> list[tuple[str, str]]:
    return [(c.intent, str(c.key)) for c in p.conflicts]


def applied(current: Sequence[RecordSet], p: Plan) -> list[RecordSet]:
    """What a sink leaves in the zone after writing `p`."""
    zone = contents(current)
    for change in p.changes:
        for record in (change.record, change.owner_record):
            if change.action == "delete":
                zone.pop(record.key, None)
            else:
                zone[record.key] = record
    return list(zone.values())


# -- one wanted record set ----------------------------------------------------------------------


def test_create_writes_the_record_set_with_its_ownership_record() -> None:
    p = plan([want(WWW)], [])
    assert p.changes == [
        Change("create", ZONE, "site", WWW, owned(WWW), previous=None, previous_owner=None)
    ]
    assert p.changes[0].owner_record == txt_at(
        "a-www.example.com",
        f'"heritage=traffic-controller,owner={OWNER},intent=site,values={WWW.digest()}"',
    )
    assert p.conflicts == []


@pytest.mark.parametrize(
    ("wanted", "current", "expected"),
    [
        pytest.param(want(WWW), [WWW, owned(WWW)], [], id="equal"),
        pytest.param(
            want(WWW2), [WWW, owned(WWW)], [("update", "A www.example.com", "site")], id="values"
        ),
        pytest.param(
            want(WWW_TTL), [WWW, owned(WWW)], [("update", "A www.example.com", "site")], id="ttl"
        ),
        pytest.param(
            want(WWW),
            [WWW, txt_at("a-www.example.com", Ownership(OWNER, "site").to_txt())],
            [("update", "A www.example.com", "site")],
            id="ownership-without-digest",
        ),
        pytest.param(
            want(WWW),
            [owned(WWW)],
            [("create", "A www.example.com", "site")],
            id="deleted-behind-our-back",
        ),
        pytest.param(
            want(WWW2, policy=UPSERT_ONLY),
            [WWW, owned(WWW)],
            [("update", "A www.example.com", "site")],
            id="upsert-only-updates",
        ),
        pytest.param(
            want(WWW2, policy=CREATE_ONLY), [WWW, owned(WWW)], [], id="create-only-never-updates"
        ),
        pytest.param(
            want(WWW, policy=CREATE_ONLY),
            [],
            [("create", "A www.example.com", "site")],
            id="create-only-creates",
        ),
        pytest.param(
            want(WWW, policy=CREATE_ONLY),
            [owned(WWW)],
            [("create", "A www.example.com", "site")],
            id="create-only-recreates",
        ),
    ],
)
def test_a_record_set_of_ours(
    wanted: Wanted, current: list[RecordSet], expected: list[tuple[str, str, str]]
) -> None:
    p = plan([wanted], current)
    assert p.conflicts == []
    assert actions(p) == expected


@pytest.mark.parametrize(
    "value",
    [
        f'"heritage=traffic-controller,owner={OWNER},intent=site"',
        f'"heritage=traffic-controller," "owner={OWNER},intent=site"',  # split in two strings
        '"heritage=traffic-controller,owner=tc\\0451,intent=site"',  # an escaped "-"
    ],
)
def test_ownership_records_are_read_in_any_presentation_form(value: str) -> None:
    assert Ownership.parse([value]) == Ownership(OWNER, "site")
    assert plan([want(WWW)], [WWW, txt_at("a-www.example.com", value)]).conflicts == []


def test_changes_carry_what_the_zone_held() -> None:
    held = owned(WWW)
    (update,) = plan([want(WWW2)], [WWW, held]).changes
    assert (update.record, update.owner_record) == (WWW2, owned(WWW2))
    assert (update.previous, update.previous_owner) == (WWW, held)
    (create,) = plan([want(WWW)], [held]).changes
    assert (create.previous, create.previous_owner) == (None, held)


FOREIGN_TXT = '"heritage=external-dns,external-dns/owner=default"'


@pytest.mark.parametrize(
    ("current", "scope", "message"),
    [
        pytest.param(
            [WWW],
            None,
            "A www.example.com (192.0.2.1) exists and is not managed by traffic-controller "
            "(no ownership record a-www.example.com)",
            id="unmanaged",
        ),
        pytest.param(
            [WWW, owned(WWW, owner="tc-2")],
            None,
            'the A record set "www.example.com" is owned by "tc-2" (intent "site"), not by this '
            f'controller ("{OWNER}")',
            id="other-owner",
        ),
        pytest.param(
            [WWW, txt_at("a-www.example.com", FOREIGN_TXT)],
            None,
            'the A record set "www.example.com" is not ours to write: its ownership record name '
            '"a-www.example.com" holds a TXT record set that is not a traffic-controller '
            f"ownership record ({FOREIGN_TXT})",
            id="other-heritage",
        ),
        pytest.param(
            [txt_at("a-www.example.com", '"hello"')],
            None,
            'is not ours to write: its ownership record name "a-www.example.com" holds a TXT '
            'record set that is not a traffic-controller ownership record ("hello")',
            id="plain-txt-at-the-ownership-name",
        ),
        pytest.param(
            [WWW, owned(WWW, intent="other")],
            {"site"},
            'the A record set "www.example.com" belongs to intent "other": remove it from that '
            "intent (or delete the intent) first",
            id="other-intent-not-in-scope",
        ),
        pytest.param(
            [WWW2, owned(WWW)],
            None,
            'the A record set "www.example.com" was changed outside traffic-controller since '
            'intent "site" wrote it (it now holds 192.0.2.2 (ttl 300)); delete the record set to '
            "let traffic-controller write it again",
            id="changed-outside",
        ),
    ],
)
def test_conflicts_name_the_record_set_and_its_owner(
    current: list[RecordSet], scope: set[str] | None, message: str
) -> None:
    p = plan([want(WWW)], current, scope=scope)
    assert p.changes == []
    assert conflicts(p) == [("site", "A www.example.com")]
    assert message in p.conflicts[0].message


def test_changed_outside_even_to_what_is_wanted_is_a_conflict() -> None:
    # The digest says someone else wrote these values: they may mean something else by them.
    p = plan([want(WWW2)], [WWW2, owned(WWW)])
    assert p.changes == []
    assert "changed outside traffic-controller" in p.conflicts[0].message


@pytest.mark.parametrize("scope", [None, {"site", "other"}])
def test_an_intent_takes_over_what_a_released_intent_owned(scope: set[str] | None) -> None:
    p = plan([want(WWW)], [WWW, owned(WWW, intent="other")], scope=scope)
    assert p.conflicts == []
    (change,) = p.changes
    assert (change.action, change.intent, change.owner_record) == ("update", "site", owned(WWW))
    gone = plan([want(WWW)], [owned(WWW, intent="other")], scope=scope)
    assert actions(gone) == [("create", "A www.example.com", "site")]


def test_no_takeover_while_the_owner_still_asks() -> None:
    # "other" owns it and still wants it; "a-site" comes first in name order: neither moves.
    wanted = [want(WWW, "a-site"), want(WWW, "other")]
    p = plan(wanted, [WWW, owned(WWW, intent="other")], scope={"a-site", "other"})
    assert p.changes == []
    assert conflicts(p) == [("a-site", "A www.example.com"), ("other", "A www.example.com")]
    assert 'belongs to intent "other"' in p.conflicts[0].message
    assert 'already wanted by intent "a-site"' in p.conflicts[1].message


@pytest.mark.parametrize(
    ("wanted", "current", "message"),
    [
        pytest.param(
            want(WWW),
            [CNAME],
            '"www.example.com" holds a CNAME record set, and a name with a CNAME has no other data',
            id="data-beside-a-cname",
        ),
        pytest.param(
            want(CNAME),
            [
                rs("www.example.com", "TXT", "hello"),
                rs("www.example.com", "MX", "10 mx.example.com"),
            ],
            '"www.example.com" holds MX, TXT record sets, and a CNAME cannot share its name',
            id="cname-beside-data",
        ),
        pytest.param(
            want(WWW),
            [rs("a-www.example.com", "CNAME", "elsewhere.example.net")],
            'its ownership record cannot be written: "a-www.example.com" holds a CNAME record '
            "set, and a name with a CNAME has no other data; set the plugin's ownership_affix",
            id="cname-at-the-ownership-name",
        ),
        pytest.param(
            want(txt_at("a-www.example.com", '"data"')),
            [WWW, owned(WWW, "other")],
            '"a-www.example.com" holds the ownership record of another record set, which no '
            "intent may want as its own",
            id="wanting-an-ownership-record",
        ),
    ],
)
def test_what_dns_would_refuse_to_add(
    wanted: Wanted, current: list[RecordSet], message: str
) -> None:
    p = plan([wanted], current, scope={"site"})
    assert p.changes == []
    assert [c.key for c in p.conflicts] == [wanted.key]
    assert message in p.conflicts[0].message


SIGNED = [  # what a signed zone keeps at a name with data: allowed beside a CNAME too
    rs("www.example.com", "NSEC", "zz.example.com. A RRSIG NSEC"),
    rs("www.example.com", "RRSIG", f"A 13 3 300 20300101000000 20240101000000 1 {ZONE}. AAAA"),
]


@pytest.mark.parametrize(("old", "new"), [(CNAME, WWW), (WWW, CNAME)], ids=["to-data", "to-cname"])
def test_a_record_set_of_ours_is_replaced_by_a_cname_or_the_other_way_in_one_plan(
    old: RecordSet, new: RecordSet
) -> None:
    p = plan([want(new)], [old, owned(old), *SIGNED])
    assert p.conflicts == []
    assert sorted(actions(p)) == [
        ("create", str(new.key), "site"),
        ("delete", str(old.key), "site"),
    ]
    kept = plan([want(new, policy=UPSERT_ONLY)], [old, owned(old)])
    assert actions(kept) == []
    assert "CNAME" in kept.conflicts[0].message


def test_wanted_entries_are_settled_in_intent_name_order() -> None:
    p = plan([want(CNAME, "b"), want(WWW2, "c"), want(WWW, "a")], [])
    assert actions(p) == [("create", "A www.example.com", "a")]
    assert conflicts(p) == [("b", "CNAME www.example.com"), ("c", "A www.example.com")]
    assert p.changes[0].record == WWW


# -- deletions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "policies", "deleted"),
    [
        pytest.param(None, None, ["old", "site"], id="sync-prunes-every-intent"),
        pytest.param({"site"}, None, ["site"], id="scope"),
        pytest.param({"old"}, None, ["old"], id="scope-of-a-removed-intent"),
        pytest.param(set(), None, [], id="empty-scope"),
        pytest.param(None, {"old": UPSERT_ONLY}, ["site"], id="upsert-only-never-deletes"),
        pytest.param(None, {"old": CREATE_ONLY}, ["site"], id="create-only-never-deletes"),
        pytest.param(None, {"old": SYNC, "site": SYNC}, ["old", "site"], id="sync"),
    ],
)
def test_record_sets_no_longer_wanted(
    scope: set[str] | None, policies: dict[str, ir.DnsPolicy] | None, deleted: list[str]
) -> None:
    current = [WWW, owned(WWW, "old"), API, owned(API, "site"), APEX, owned(APEX, "site")]
    p = plan([want(APEX)], current, scope=scope, policies=policies)
    assert p.conflicts == []
    expected = {"old": WWW, "site": API}
    assert [(c.action, c.record, c.owner_record) for c in p.changes] == [
        ("delete", expected[i], owned(expected[i], i))
        for i in sorted(deleted, key=lambda i: expected[i].name)
    ]
    for change in p.changes:
        assert (change.previous, change.previous_owner) == (change.record, change.owner_record)


def test_the_policy_of_an_intent_with_wanted_entries_is_theirs() -> None:
    current = [API, owned(API, "site"), APEX, owned(APEX, "site")]
    assert plan([want(APEX, policy=UPSERT_ONLY)], current, policies={"site": SYNC}).changes == []
    assert len(plan([want(APEX)], current, policies={"site": UPSERT_ONLY}).changes) == 1


@pytest.mark.parametrize(
    "current",
    [
        pytest.param([WWW], id="unmanaged"),
        pytest.param([WWW, owned(WWW, owner="tc-2")], id="other-owner"),
        pytest.param([WWW, txt_at("a-www.example.com", FOREIGN_TXT)], id="other-heritage"),
        pytest.param([txt_at("a-www.example.com", '"hello"')], id="plain-txt"),
    ],
)
def test_what_is_not_ours_is_never_deleted(current: list[RecordSet]) -> None:
    p = plan([], current)
    assert (p.changes, p.conflicts) == ([], [])


def test_an_unwanted_record_set_changed_outside_is_left_in_place() -> None:
    p = plan([], [WWW2, owned(WWW, "old")])
    assert p.changes == []
    assert conflicts(p) == [("old", "A www.example.com")]
    assert p.conflicts[0].message == (
        'the A record set "www.example.com" was changed outside traffic-controller since '
        'intent "old" wrote it (it now holds 192.0.2.2 (ttl 300)), so it is left in place; '
        "delete it and its ownership record a-www.example.com by hand if it is no longer needed"
    )


@pytest.mark.parametrize("affix", ["", "tc-"])
def test_an_orphaned_ownership_record_is_deleted_alone(affix: str) -> None:
    held = owned(APEX, "old", affix=affix)
    p = plan([], [held], affix=affix)
    assert p.changes == [
        Change(
            "delete",
            ZONE,
            "old",
            RecordSet("example.com", "A", 0, ()),
            held,
            previous=None,
            previous_owner=held,
        )
    ]


def test_an_ownership_record_is_never_data_of_an_intent() -> None:
    # A TXT record at "txt-a-www" claims, as ours, the TXT record set at "a-www", which is
    # the ownership record of www: pruning it would orphan www.
    ownership_of_www = owned(WWW)
    claim = ownership_record(ownership_of_www, ZONE, OWNER, "old")
    assert claim.name == "txt-a-www.example.com"
    p = plan([want(WWW)], [WWW, ownership_of_www, claim])
    assert (p.changes, p.conflicts) == ([], [])


def test_a_data_txt_record_at_an_ownership_shaped_name_is_pruned_like_any_other() -> None:
    data = rs("a-b.example.com", "TXT", "hello")
    p = plan([], [data, owned(data, "old")])
    assert actions(p) == [("delete", "TXT a-b.example.com", "old")]


# -- the zone as a whole ------------------------------------------------------------------------


@pytest.mark.parametrize("affix", ["", "tc-"])
def test_writing_a_plan_then_planning_again_changes_nothing(affix: str) -> None:
    current = [
        WWW,
        owned(WWW, "old", affix=affix),
        owned(API, "old", affix=affix),  # an orphan
        rs("ftp.example.com", "A", "192.0.2.50"),  # not ours
    ]
    wanted = [
        want(APEX),
        want(rs("example.com", "TXT", "v=spf1 -all")),
        want(rs("*.shop.example.com", "A", "192.0.2.8")),
        want(rs("_sip._tcp.example.com", "SRV", "10 5 5060 sip.example.com")),
        want(rs("alias.example.com", "CNAME", "www.example.com")),
    ]
    first = plan(wanted, current, affix=affix)
    assert first.conflicts == []
    assert first.summary() == {"create": 5, "update": 0, "delete": 2}
    written = applied(current, first)
    assert {r.name for r in written if r.name.startswith(f"{affix}a-.")} == {
        f"{affix}a-.example.com"
    }
    again = plan(wanted, written, affix=affix)
    assert (again.changes, again.conflicts) == ([], [])
    assert rs("ftp.example.com", "A", "192.0.2.50") in written


def test_output_is_sorted_by_name_and_type_and_conflicts_by_intent() -> None:
    wanted = [
        want(rs("b.example.com", "AAAA", "2001:db8::2"), "z"),
        want(rs("b.example.com", "A", "192.0.2.2"), "z"),
        want(rs("a.example.com", "A", "192.0.2.1"), "y"),
        want(rs("d.example.com", "A", "192.0.2.4"), "x"),
        want(rs("c.example.com", "A", "192.0.2.3"), "w"),
    ]
    current = [
        rs("d.example.com", "A", "192.0.2.40"),
        rs("c.example.com", "A", "192.0.2.30"),
        rs("e.example.com", "A", "192.0.2.5"),
        owned(rs("e.example.com", "A", "192.0.2.5"), "v"),
    ]
    p = plan(wanted, current)
    assert [str(c.record.key) for c in p.changes] == [
        "A a.example.com",
        "A b.example.com",
        "AAAA b.example.com",
        "A e.example.com",
    ]
    assert conflicts(p) == [("w", "A c.example.com"), ("x", "A d.example.com")]


def test_the_zone_name_is_normalized_and_entries_of_another_zone_refused() -> None:
    p = plan_zone("Example.COM.", [want(WWW)], {}, owner=OWNER)
    assert [c.zone for c in p.changes] == [ZONE]
    with pytest.raises(ValueError, match="is for zone"):
        plan_zone("example.org", [want(WWW)], {}, owner=OWNER)


def test_a_zone_of_20000_record_sets_plans_well_under_a_second() -> None:
    wanted: list[Wanted] = []
    current: list[RecordSet] = []
    for i in range(10_000):
        record = rs(f"h{i}.example.com", "A", f"10.0.{i // 256}.{i % 256}")
        intent = f"intent-{i % 100}"
        current += [record, owned(record, intent)]
        if i % 10:  # a tenth is no longer wanted
            wanted.append(want(record if i % 3 else rs(record.name, "A", "192.0.2.1"), intent))
    zone = contents(current)
    kwargs: dict[str, Any] = {"owner": OWNER}
    start = time.perf_counter()
    p = plan_zone(ZONE, wanted, zone, **kwargs)
    elapsed = time.perf_counter() - start
    assert p.summary() == {"create": 0, "update": 3_000, "delete": 1_000}
    assert elapsed < 1.0, f"{elapsed:.2f}s"

"""ZoneView: planning a batch over what `around` returns decides exactly as over the zone.

The plugin plans an apply over ZoneView.around instead of the whole zone for speed; this
is only sound if nothing the planner looks at is left out. Generated zones mix our record
sets (of several intents, some edited by hand since), other owners', unowned ones, CNAMEs
and orphan ownership records; generated batches want, change and drop record sets.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tc import ir
from tc.plugins.dns.plan import plan_zone
from tc.plugins.dns.records import RecordKey, RecordSet, ownership_record
from tc.plugins.dns.render import Wanted
from tc.plugins.dns.zoneview import ZoneView

ZONE, OWNER = "example.com", "tc-1"
NAMES = ["www", "api", "mail", "a-www", "cname-api", "@"]
INTENTS = ["alpha", "beta", "gamma"]


def fqdn(label: str) -> str:
    return ZONE if label == "@" else f"{label}.{ZONE}"


def record(label: str, rtype: str, n: int) -> RecordSet:
    if rtype == "CNAME":
        return RecordSet.of(fqdn(label), "CNAME", 300, [f"target{n}.example.net"])
    return RecordSet.of(fqdn(label), "A", 300, [f"192.0.2.{n}"])


@st.composite
def zones(draw: st.DrawFn) -> dict[RecordKey, RecordSet]:
    held: dict[RecordKey, RecordSet] = {}
    for label in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        rtype = draw(st.sampled_from(["A", "A", "CNAME"]))
        data = record(label, rtype, draw(st.integers(1, 3)))
        kind = draw(st.sampled_from(["ours", "ours-edited", "orphan", "other-owner", "unowned"]))
        intent = draw(st.sampled_from(INTENTS))
        owner = "someone-else" if kind == "other-owner" else OWNER
        ownership = ownership_record(data, ZONE, owner, intent)
        if kind == "ours-edited":
            data = record(label, rtype, 9)
        if kind != "orphan":
            held[data.key] = data
        if kind != "unowned":
            held[ownership.key] = ownership
    return held


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Wanted], list[str]]:
    scope = draw(st.lists(st.sampled_from(INTENTS), unique=True, min_size=1))
    wanted = []
    for intent in scope:
        for label in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=2)):
            rtype = draw(st.sampled_from(["A", "CNAME"]))
            data = record(label, rtype, draw(st.integers(1, 3)))
            wanted.append(Wanted(data, intent, ZONE, ir.DnsPolicy.SYNC))
    return wanted, scope


@settings(max_examples=400, deadline=None)
@given(zones(), batches())
def test_planning_around_a_batch_equals_planning_over_the_zone(
    held: dict[RecordKey, RecordSet], batch: tuple[list[Wanted], list[str]]
) -> None:
    wanted, scope = batch
    view = ZoneView(ZONE, held, owner=OWNER, affix="")
    whole = plan_zone(ZONE, wanted, held, owner=OWNER, scope=scope)
    around = plan_zone(ZONE, wanted, view.around(wanted, scope), owner=OWNER, scope=scope)
    assert around.changes == whole.changes
    assert around.conflicts == whole.conflicts


def test_written_changes_update_the_view_and_its_owners() -> None:
    www = record("www", "A", 1)
    view = ZoneView(ZONE, {}, owner=OWNER, affix="")
    plan = plan_zone(
        ZONE, [Wanted(www, "alpha", ZONE, ir.DnsPolicy.SYNC)], {}, owner=OWNER, scope=["alpha"]
    )
    view.written(plan.changes)
    assert view.records[www.key] == www
    assert view.owned_by_any(["beta", "alpha"]) and not view.owned_by_any(["beta"])
    gone = plan_zone(ZONE, [], view.records, owner=OWNER, scope=["alpha"])
    assert [c.action for c in gone.changes] == ["delete"]
    view.written(gone.changes)
    assert view.records == {} and not view.owned_by_any(["alpha"])

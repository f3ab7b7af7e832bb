"""What to change in one zone so it holds what the intents want, and what we may not touch.

The plugin shares its zones with people and with other controllers, so nothing is written
on the strength of an intent alone: a record set is ours only when its ownership record
(records.ownership_name) says this owner wrote it, and it is the intent's only when that
record names the intent. The ownership record also remembers a digest of the values we
wrote, so a record set edited by hand since is reported, never silently overwritten or
deleted. Everything the planner cannot do comes back as a Conflict for the intent that
asked; everything it can do as a Change whose `previous` fields let the sink refuse the
write when the zone moved on since it was read.

Pure and linear in the size of the zone: a sync plans every zone in full on each run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from tc import ir
from tc.plugins.dns.records import (
    Change,
    Conflict,
    Ownership,
    Plan,
    RecordKey,
    RecordSet,
    ZoneContents,
    absolute,
    owned_key,
    ownership_name,
    ownership_record,
)
from tc.plugins.dns.render import AFFIX_HINT, Claims, Wanted


def plan_zone(
    zone: str,
    wanted: Sequence[Wanted],
    current: ZoneContents,
    *,
    owner: str,
    affix: str = "",
    scope: Collection[str] | None = None,
    policies: Mapping[str, ir.DnsPolicy] | None = None,
) -> Plan:
    """The changes that make `zone` hold `wanted`, given that it holds `current`.

    `owner`: whose ownership records count as ours. `scope`: the intents whose record sets
    this plan may delete when no longer wanted (None: every intent of ours, as a full sync
    prunes). `policies`: the policy of intents in scope that want nothing here (a removed
    intent; default sync); an intent with Wanted entries has their policy. Only a sync
    policy deletes; create-only never updates a record set that exists.

    Two Wanted entries for one record set (or a CNAME beside other data, or a record set
    at another's ownership record name) are settled as render_all settles them, in intent
    name order. Changes come sorted by name and type, conflicts by intent and record set."""
    zone = absolute(zone)
    for w in wanted:
        if w.zone != zone:
            raise ValueError(f"{w.record} of intent {w.intent!r} is for zone {w.zone!r}")
    planner = _Planner(
        zone, wanted, current, owner=owner, affix=affix, scope=scope, policies=policies or {}
    )
    return planner.plan()


# RFC 4035 section 2.5: a signed zone keeps these beside a CNAME.
_BESIDE_CNAME = frozenset({"RRSIG", "NSEC"})

_RECREATE = "delete the record set to let traffic-controller write it again"


def _describe(key: RecordKey) -> str:
    return f'the {key.type} record set "{key.name}"'


def _shown(record: RecordSet) -> str:
    return f"{', '.join(record.values)} (ttl {record.ttl})"


class _Planner:
    """One plan_zone call: the zone indexed once, then each record set decided on its own."""

    def __init__(
        self,
        zone: str,
        wanted: Sequence[Wanted],
        current: ZoneContents,
        *,
        owner: str,
        affix: str,
        scope: Collection[str] | None,
        policies: Mapping[str, ir.DnsPolicy],
    ) -> None:
        self.zone, self.current, self.owner, self.affix = zone, current, owner, affix
        self.wanted = wanted
        self.scope = None if scope is None else frozenset(scope)
        self.policies = dict(policies) | {w.intent: w.policy for w in wanted}
        # Every intent that asks for each key, also those that lose it to an earlier one:
        # a record set somebody still asks for is never pruned or taken over.
        self.asked: dict[RecordKey, set[str]] = {}
        for w in wanted:
            self.asked.setdefault(w.key, set()).add(w.intent)
        self.types_at: dict[str, set[str]] = {}
        for key in current:
            self.types_at.setdefault(key.name, set()).add(key.type)
        self.deleted: set[RecordKey] = set()
        self.changes: list[Change] = []
        self.conflicts: list[Conflict] = []

    def plan(self) -> Plan:
        kept = self._uncontested()
        # Deletions first: a create may need the name a deleted CNAME leaves free.
        self._prune()
        for w in kept:
            self._reconcile(w)
        self.changes.sort(key=lambda c: (c.zone, c.record.name, c.record.type))
        self.conflicts.sort(key=lambda c: (c.intent, c.key))
        return Plan(self.changes, self.conflicts)

    def _conflict(self, intent: str, key: RecordKey, message: str) -> None:
        self.conflicts.append(Conflict(intent, key, message))

    # -- wanted record sets -------------------------------------------------------------------

    def _uncontested(self) -> list[Wanted]:
        claims = Claims(self.affix)
        kept: list[Wanted] = []
        for w in sorted(self.wanted, key=lambda w: (w.intent, w.record.name, w.record.type)):
            problem = claims.problem(w)
            if problem is not None:
                self._conflict(w.intent, w.key, problem)
                continue
            claims.admit(w, f'intent "{w.intent}"')
            kept.append(w)
        return kept

    def _reconcile(self, w: Wanted) -> None:
        key = w.key
        owner_key = RecordKey(ownership_name(key, self.zone, self.affix), "TXT")
        present, held = self.current.get(key), self.current.get(owner_key)
        if held is None:
            if present is None:
                self._create(w, owner_key, None)
            else:
                self._conflict(w.intent, key, self._unmanaged(present, owner_key.name))
            return
        ownership = Ownership.parse(held.values)
        if ownership is None:
            self._conflict(w.intent, key, _foreign(key, held))
            return
        problem = self._ownership_problem(w, ownership)
        if problem is not None:
            self._conflict(w.intent, key, problem)
        elif present is None:
            # Ours, deleted behind our back: written again.
            self._create(w, owner_key, held)
        elif _edited(ownership, present):
            self._conflict(w.intent, key, f"{_changed(ownership, present)}; {_RECREATE}")
        else:
            self._update(w, present, held)

    def _create(self, w: Wanted, owner_key: RecordKey, held: RecordSet | None) -> None:
        problem = self._name_taken(w.key) or self._owner_name_taken(owner_key)
        if problem is not None:
            self._conflict(w.intent, w.key, problem)
            return
        owner_record = ownership_record(w.record, self.zone, self.owner, w.intent, affix=self.affix)
        self.changes.append(
            Change("create", self.zone, w.intent, w.record, owner_record, None, held)
        )

    def _update(self, w: Wanted, present: RecordSet, held: RecordSet) -> None:
        owner_record = ownership_record(w.record, self.zone, self.owner, w.intent, affix=self.affix)
        if present == w.record and held == owner_record:
            return
        if w.policy is ir.DnsPolicy.CREATE_ONLY:
            return  # it exists: create-only is done with it
        self.changes.append(
            Change("update", self.zone, w.intent, w.record, owner_record, present, held)
        )

    def _ownership_problem(self, w: Wanted, ownership: Ownership) -> str | None:
        what = _describe(w.key)
        if ownership.owner != self.owner:
            return (
                f'{what} is owned by "{ownership.owner}" (intent "{ownership.intent}"), '
                f'not by this controller ("{self.owner}")'
            )
        if ownership.intent != w.intent and not self._released(ownership.intent, w.key):
            return (
                f'{what} belongs to intent "{ownership.intent}": remove it from that intent '
                "(or delete the intent) first"
            )
        return None

    def _released(self, intent: str, key: RecordKey) -> bool:
        """Whether `intent` let go of `key`: it is in scope and no longer asks for it, so
        another intent may take the record set over."""
        in_scope = self.scope is None or intent in self.scope
        return in_scope and intent not in self.asked.get(key, set())

    def _unmanaged(self, present: RecordSet, owner_name: str) -> str:
        if self._is_ownership_record(present.key):
            return (
                f'"{present.name}" holds the ownership record of another record set, which no '
                f"intent may want as its own; {AFFIX_HINT}"
            )
        return (
            f"{present} exists and is not managed by traffic-controller "
            f"(no ownership record {owner_name})"
        )

    def _name_taken(self, key: RecordKey) -> str | None:
        """Why DNS would refuse to add `key` beside what stays at its name (RFC 1034
        section 3.6.2; an RFC 2136 server ignores such an add silently), or None."""
        staying = {
            t
            for t in self.types_at.get(key.name, ())
            if RecordKey(key.name, t) not in self.deleted and t not in _BESIDE_CNAME
        }
        staying.discard(key.type)
        if key.type == "CNAME" and staying:
            return (
                f'"{key.name}" holds {", ".join(sorted(staying))} record sets, and a CNAME '
                "cannot share its name with other data"
            )
        if key.type != "CNAME" and "CNAME" in staying:
            return (
                f'"{key.name}" holds a CNAME record set, and a name with a CNAME has no other data'
            )
        return None

    def _owner_name_taken(self, owner_key: RecordKey) -> str | None:
        problem = self._name_taken(owner_key)
        if problem is None:
            return None
        return f"its ownership record cannot be written: {problem}; {AFFIX_HINT}"

    # -- record sets no longer wanted ---------------------------------------------------------

    def _prune(self) -> None:
        for key, held in self.current.items():
            if key.type != "TXT":
                continue
            data_key = owned_key(key.name, self.zone, self.affix)
            if data_key is None or data_key in self.asked:
                continue
            ownership = Ownership.parse(held.values)
            if (
                ownership is None
                or ownership.owner != self.owner
                or not self._may_delete(ownership.intent)
                or self._is_ownership_record(data_key)
            ):
                continue
            self._delete(data_key, held, ownership)

    def _may_delete(self, intent: str) -> bool:
        in_scope = self.scope is None or intent in self.scope
        return in_scope and self.policies.get(intent, ir.DnsPolicy.SYNC) is ir.DnsPolicy.SYNC

    def _delete(self, key: RecordKey, held: RecordSet, ownership: Ownership) -> None:
        present = self.current.get(key)
        if present is not None and _edited(ownership, present):
            message = (
                f"{_changed(ownership, present)}, so it is left in place; delete it and its "
                f"ownership record {held.name} by hand if it is no longer needed"
            )
            self._conflict(ownership.intent, key, message)
            return
        # An orphan (its record set already gone) loses just its ownership record.
        record = present if present is not None else RecordSet(key.name, key.type, 0, ())
        self.changes.append(
            Change("delete", self.zone, ownership.intent, record, held, present, held)
        )
        self.deleted.update((key, held.key))

    def _is_ownership_record(self, key: RecordKey) -> bool:
        """Whether the TXT record set at `key` is an ownership record (of any owner): those
        belong to the record sets they describe, never to an intent as data."""
        if key.type != "TXT" or owned_key(key.name, self.zone, self.affix) is None:
            return False
        record = self.current.get(key)
        return record is not None and Ownership.parse(record.values) is not None


def _foreign(key: RecordKey, held: RecordSet) -> str:
    return (
        f'{_describe(key)} is not ours to write: its ownership record name "{held.name}" '
        "holds a TXT record set that is not a traffic-controller ownership record "
        f"({', '.join(held.values)})"
    )


def _changed(ownership: Ownership, present: RecordSet) -> str:
    return (
        f"{_describe(present.key)} was changed outside traffic-controller since intent "
        f'"{ownership.intent}" wrote it (it now holds {_shown(present)})'
    )


def _edited(ownership: Ownership, present: RecordSet) -> bool:
    """Whether the record set differs from what its ownership record says we wrote (an
    ownership record without a digest vouches for any values)."""
    return bool(ownership.digest) and ownership.digest != present.digest()

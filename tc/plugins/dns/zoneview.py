"""A zone as the plugin last read or wrote it, indexed so a batch is planned without the zone.

The planner is linear in what it is given. Given a whole zone of 10,000 record sets for a
batch of 256 intents, most of its time goes to reading ownership records that cannot
matter; given only the record sets at the names the batch touches (every type there, for
CNAME rules), the ownership records at those names, and what the intents in scope own,
it decides exactly as before at a fraction of the cost. A full sync still plans the whole
zone. Pure: no I/O, rebuilt from every read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from tc.plugins.dns.records import (
    Change,
    Ownership,
    RecordKey,
    RecordSet,
    owned_key,
    ownership_name,
)
from tc.plugins.dns.render import Wanted


class ZoneView:
    def __init__(
        self, zone: str, records: Mapping[RecordKey, RecordSet], *, owner: str, affix: str
    ) -> None:
        self.zone, self.owner, self.affix = zone, owner, affix
        self.records: dict[RecordKey, RecordSet] = {}
        self._types: dict[str, set[str]] = {}
        # intent -> the data record sets its ownership records (ours) claim.
        self._owned: dict[str, set[RecordKey]] = {}
        self._claims: dict[RecordKey, tuple[str, RecordKey]] = {}
        for record in records.values():
            self._put(record)

    def owned_by_any(self, intents: Iterable[str]) -> bool:
        """Whether any of `intents` owns something here: looked up per intent, since a
        batch is small and a zone may hold thousands of owners."""
        return any(self._owned.get(intent) for intent in intents)

    def around(
        self, wanted: Sequence[Wanted], scope: Collection[str]
    ) -> dict[RecordKey, RecordSet]:
        """What planning `wanted` with deletions limited to `scope` needs to see."""
        names: set[str] = set()
        for w in wanted:
            names.add(w.record.name)
            names.add(ownership_name(w.key, self.zone, self.affix))
        for intent in scope:
            for key in self._owned.get(intent, ()):
                names.add(key.name)
                names.add(ownership_name(key, self.zone, self.affix))
        return {
            key: self.records[key]
            for name in names
            for rtype in self._types.get(name, ())
            if (key := RecordKey(name, rtype)) in self.records
        }

    def written(self, changes: Iterable[Change]) -> None:
        """Takes in what a successful write changed."""
        for change in changes:
            for record in (change.record, change.owner_record):
                self._drop(record.key)
                if change.action != "delete" and record.values:
                    self._put(record)

    # -- index ---------------------------------------------------------------------------------

    def _put(self, record: RecordSet) -> None:
        self.records[record.key] = record
        self._types.setdefault(record.name, set()).add(record.type)
        if record.type != "TXT":
            return
        data_key = owned_key(record.name, self.zone, self.affix)
        if data_key is None:
            return
        ownership = Ownership.parse(record.values)
        if ownership is not None and ownership.owner == self.owner:
            self._owned.setdefault(ownership.intent, set()).add(data_key)
            self._claims[record.key] = (ownership.intent, data_key)

    def _drop(self, key: RecordKey) -> None:
        if self.records.pop(key, None) is None:
            return
        types = self._types.get(key.name)
        if types is not None:
            types.discard(key.type)
        claim = self._claims.pop(key, None)
        if claim is not None:
            self._owned.get(claim[0], set()).discard(claim[1])

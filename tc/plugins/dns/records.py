"""The DNS plugin's vocabulary: record sets, their ownership records, and planned changes.

Everything the pure planner, the RFC 2136 sink and the zone-file sink exchange is defined
here once, so the sinks agree on what a change means (in particular which values a
prerequisite asserts) and the planner never sees a wire format.

Names are absolute, lower case, without the trailing dot ("www.example.com"); values are in
dnspython's canonical presentation form (absolute names end in a dot, AAAA compressed, TXT
quoted), sorted, so two record sets compare equal exactly when DNS would call them equal.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT

HERITAGE = "traffic-controller"

RecordType = Literal["A", "AAAA", "CNAME", "SRV", "TXT"]
MANAGED_TYPES: tuple[RecordType, ...] = ("A", "AAAA", "CNAME", "SRV", "TXT")


class RecordKey(NamedTuple):
    """One record set's identity in a zone: absolute name and type."""

    name: str
    type: str

    def __str__(self) -> str:
        return f"{self.type} {self.name}"


def absolute(name: str) -> str:
    """`name` as records hold it: lower case, no trailing dot."""
    return name.rstrip(".").lower()


def canonical_value(rtype: str, value: str) -> str:
    """An intent's value in canonical presentation form; ValueError when DNS cannot parse it.

    Intents write names in values as absolute with or without the final dot (the IR checks
    that), and a TXT value as one raw character-string, not in presentation form."""
    if rtype == "A":
        # The common case, without dnspython's tokenizer (a tenth of the cost); the IR has
        # already refused anything that is not a dotted quad.
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            pass  # let dnspython word the error
    try:
        if rtype == "TXT":
            rdata: dns.rdata.Rdata = dns.rdtypes.ANY.TXT.TXT(
                dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()]
            )
        else:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN,
                dns.rdatatype.from_text(rtype),
                value,
                origin=dns.name.root,
                relativize=False,
            )
    except Exception as exc:  # dnspython raises several unrelated types for bad text
        raise ValueError(f"{rtype} value {value!r} is not valid: {exc}") from None
    return str(rdata.to_text())


@dataclass(frozen=True, order=True)
class RecordSet:
    """Every value of one type at one name, with one TTL."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    @classmethod
    def of(cls, name: str, rtype: str, ttl: int, values: Iterable[str]) -> RecordSet:
        """A record set with name and values canonicalized and values sorted (ValueError on
        a value DNS cannot parse)."""
        return cls(
            absolute(name),
            rtype.upper(),
            ttl,
            tuple(sorted({canonical_value(rtype.upper(), v) for v in values})),
        )

    @classmethod
    def from_rdataset(cls, name: str, rdataset: dns.rdataset.Rdataset) -> RecordSet:
        """A record set as read from a server or a zone file."""
        return cls(
            absolute(name),
            dns.rdatatype.to_text(rdataset.rdtype),
            rdataset.ttl,
            tuple(sorted({str(r.to_text()) for r in rdataset})),
        )

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.name, self.type)

    def digest(self) -> str:
        """What the ownership record remembers of the values we wrote: a short hash, since
        a TXT character-string holds 255 bytes and a record set can hold many values."""
        data = "\n".join(self.values).encode()
        return hashlib.blake2b(data, digest_size=6).hexdigest()

    def __str__(self) -> str:
        return f"{self.type} {self.name} ({', '.join(self.values)})"


ZoneContents = Mapping[RecordKey, RecordSet]
"""What a zone holds (or the part of it that was read), by key."""


# -- ownership ---------------------------------------------------------------------------------


def ownership_name(key: RecordKey, zone: str, affix: str = "") -> str:
    """Where the ownership record of `key` lives: the first label prefixed with
    `<affix><type>-` ("a-www.example.com"); for the apex a label of its own
    ("a-.example.com"), since prefixing the zone's label would leave the zone.

    The affix exists so an operator can move ownership records out of the way of names
    in use (a CNAME at "a-www" would make the TXT impossible)."""
    prefix = f"{affix}{key.type.lower()}-"
    if key.name == zone:
        return f"{prefix}.{zone}"
    first, _, rest = key.name.partition(".")
    return f"{prefix}{first}.{rest}"


def owned_key(name: str, zone: str, affix: str = "") -> RecordKey | None:
    """The record set whose ownership record would live at `name`: the inverse of
    ownership_name, or None when `name` is not shaped like an ownership record name of a
    managed type in `zone`.

    The shape alone does not make a TXT record an ownership record (a data record may sit
    at such a name); Ownership.parse on its values decides that."""
    name, zone = absolute(name), absolute(zone)
    if not name.endswith("." + zone):
        return None
    first, _, rest = name.partition(".")
    rtype, sep, label = first.removeprefix(affix).partition("-")
    if not first.startswith(affix) or not sep or rtype.upper() not in MANAGED_TYPES:
        return None
    if not label:  # the apex form, "a-.example.com"
        return RecordKey(zone, rtype.upper()) if rest == zone else None
    return RecordKey(f"{label}.{rest}", rtype.upper())


@dataclass(frozen=True)
class Ownership:
    """The content of an ownership record: who wrote the record set and what it held."""

    owner: str
    intent: str
    digest: str = ""

    def to_txt(self) -> str:
        """The TXT value, in presentation form (one quoted character-string)."""
        parts = [f"heritage={HERITAGE}", f"owner={self.owner}", f"intent={self.intent}"]
        if self.digest:
            parts.append(f"values={self.digest}")
        return '"' + ",".join(parts) + '"'

    @classmethod
    def parse(cls, txt_values: Iterable[str]) -> Ownership | None:
        """The ownership a TXT record set states, or None when it is not one of ours (any
        heritage other than ours, or missing fields)."""
        for value in txt_values:
            text = "".join(_txt_strings(value))
            fields: dict[str, str] = {}
            for part in text.split(","):
                key, sep, val = part.partition("=")
                if sep:
                    fields[key.strip()] = val.strip()
            if fields.get("heritage") != HERITAGE or not fields.get("owner"):
                continue
            return cls(fields["owner"], fields.get("intent", ""), fields.get("values", ""))
        return None


def _txt_strings(value: str) -> list[str]:
    """The character-strings of a TXT value in presentation form, unquoted."""
    inner = value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in inner and "\\" not in inner:
        # One plain quoted string, as every ownership record is: the parser would say the
        # same, at a hundredth of the cost, which a sync of a large zone pays per record.
        return [inner]
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, value)
    except Exception:
        return [value.strip('"')]
    return [s.decode(errors="replace") for s in rdata.strings]  # type: ignore[attr-defined]


def ownership_record(
    record: RecordSet, zone: str, owner: str, intent: str, *, affix: str = ""
) -> RecordSet:
    """The ownership TXT record set that goes with `record` as written by `intent`."""
    txt = Ownership(owner, intent, record.digest()).to_txt()
    return RecordSet(ownership_name(record.key, zone, affix), "TXT", record.ttl, (txt,))


# -- plans ---------------------------------------------------------------------------------------

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Change:
    """One record set written or deleted together with its ownership record.

    `record` is what the record set becomes (create, update) or what is deleted (delete);
    `previous` and `previous_owner` are what the zone held when it was read (None: absent).
    A sink sends them as RFC 2136 prerequisites (value-dependent "RRset exists", or "RRset
    does not exist" for None), so an edit made since the read fails the update instead of
    being overwritten.

    A delete whose `record` has no values (ttl 0) and whose `previous` is None removes only
    the ownership record: the record set it owned is already gone (an orphan)."""

    action: Action
    zone: str
    intent: str
    record: RecordSet
    owner_record: RecordSet
    previous: RecordSet | None = None
    previous_owner: RecordSet | None = None

    def __str__(self) -> str:
        return f"{self.action} {self.record}"


@dataclass(frozen=True)
class Conflict:
    """A record set an intent wants that we may not write, with why."""

    intent: str
    key: RecordKey
    message: str


@dataclass
class Plan:
    """What a sync or an apply does (or would do, for a dry run), by zone."""

    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def by_zone(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for change in self.changes:
            out.setdefault(change.zone, []).append(change)
        return out

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts


def contents(records: Iterable[RecordSet]) -> dict[RecordKey, RecordSet]:
    return {r.key: r for r in records}

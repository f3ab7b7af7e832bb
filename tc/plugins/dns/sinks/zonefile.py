"""The dns plugin's embedded sink: one RFC 1035 zone file per zone in a directory.

With no DNS server configured the plugin still writes somewhere real: `<path>/<zone>.zone`,
a master file any authoritative server loads (BIND's `file`, Knot, NSD), checked with
`named-checkzone` in the tests. What an operator of such a directory can count on:

- A write behaves as an RFC 2136 UPDATE would. Every change's prerequisites (its
  `previous` and `previous_owner`) are checked against the file first, and unless all of
  them hold nothing is written (PrerequisiteFailed): an edit made since the plugin read
  the zone is never overwritten. A write that changes nothing leaves the file alone.
- Record sets a person wrote into the file are kept on every rewrite, of any type;
  comments and layout are not (the file is re-emitted from what it holds, sorted in DNS
  order, one record per line). A file that does not parse is reported (SinkError
  Invalid, naming the file and line) and never overwritten.
- The SOA serial goes up on every write that changes something: YYYYMMDDnn while that is
  ahead of the current serial, else serial + 1, so it never goes backwards.
- Nothing half-written is ever visible: the new file is written beside the old one,
  fsynced and renamed over it, then the directory is fsynced.
- Several plugin instances (fan-out ANY) may share the directory: each read-modify-write
  of a zone holds an exclusive flock on `<path>/.<zone>.lock`, each read a shared one. A
  person editing by hand while the plugin runs can hold it too:
  `flock .example.com.lock vi example.com.zone`.
- A zone with no file is an empty zone: reading it gives nothing and creates nothing; the
  first write that changes it creates the file with a fresh SOA and NS (`primary_ns`,
  `admin_email`, `default_ttl`). Zones listed in `zones` get their file (SOA and NS only)
  on the sink's first read or write, so a server configured to load them finds them
  before any record is written.

Speed: dnspython's zone parser takes about 80 us a line, 1.6 s for a zone of 10,000 record
sets and their ownership records, and every read and every write parses the file. Files
this sink wrote hold one self-contained record per line, so they are parsed here line by
line (0.11 s for that zone), the values this module can check without dnspython (A,
AAAA, plain names, plain TXT, SRV) checked as dnspython does (with its own canonicalize
functions, or in a form its printer leaves untouched) and any other value handed to
dnspython's rdata parser. A file with any other construct (a record continued over lines,
an omitted TTL or class, another $ORIGIN, $GENERATE, an escaped name) is parsed whole by
dnspython instead, once: the rewrite puts it back in the simple form. A test holds the
two parsers to the same result. Writing 1,000 changes to that zone takes about 0.2 s,
most of it parsing and printing the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import itertools
import os
import re
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.ipv4
import dns.ipv6
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.ttl
import dns.zone
import dns.zonefile
import pydantic

from tc.plugins.dns.records import MANAGED_TYPES, Change, RecordKey, RecordSet, absolute
from tc.plugins.dns.sinks.base import PrerequisiteFailed, SinkError
from tc.plugins.dns.sinks.settings import SinkSettings

_LABEL = r"[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?"
_ZONE_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
"""A zone we write a file for: plain host-name labels, so the file name needs no escaping."""

_OWNER = re.compile(r"^(?:@|(?:\*|[a-z0-9_-]{1,63})(?:\.[a-z0-9_-]{1,63})*\.?)$")
"""An owner name written without escapes, absolute or relative (lower case by now)."""
_ABSOLUTE_NAME = re.compile(r"^(?:[A-Za-z0-9_-]{1,63}\.)+$")
"""A name in a value that dnspython would print unchanged: absolute, nothing to escape."""
_PLAIN_TXT = re.compile(r'^"[ !#-\[\]-~]{0,255}"$')
"""One character-string of printable ASCII without quote or backslash: dnspython prints it
exactly so."""
_TTL_MAX = dns.ttl.MAX_TTL
_SINGLE_NAME_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
_TYPE_RANK = {"SOA": 0, "NS": 1}
_CNAME_NEUTRAL = frozenset({"CNAME", "NSEC", "NSEC3", "KEY", "RRSIG"})
"""Types that may share a name with a CNAME (RFC 4035 2.5). RRSIG sets are merged per name
here, so one covering another type is let through; BIND's load still catches that."""

_LOCK_POLL_MAX = 0.02


class ZoneFileSettings(SinkSettings):
    # The defaults go through the validators too: they put names in the form files hold.
    model_config = pydantic.ConfigDict(validate_default=True)

    path: str = pydantic.Field(min_length=1)
    """The directory of zone files, `<zone>.zone` each; created on the first write."""
    default_ttl: int = pydantic.Field(default=300, ge=0, le=2_147_483_647)
    """$TTL, SOA and NS TTL and negative-caching TTL (capped at an hour) of a zone file this
    sink creates; short by default, since names appear and go as intents do."""
    primary_ns: str = "localhost."
    """SOA MNAME and apex NS of a zone file this sink creates: set it to the name of the
    server that loads the files. The default is outside every zone, so a fresh file needs
    no address record for it (an in-zone "ns1.<zone>." without one fails named-checkzone)."""
    admin_email: str = "hostmaster@localhost"
    """SOA RNAME of a zone file this sink creates, as a mailbox ("hostmaster@example.com")
    or already in RNAME form ("hostmaster.example.com.")."""
    zones: tuple[str, ...] = ()
    """Zones whose files are created (SOA and NS only) on first use when missing; any other
    zone's file is created by the first write that changes it."""
    lock_timeout: float = pydantic.Field(default=30.0, gt=0)
    """Seconds to wait for another instance's lock on a zone before a retryable error."""

    @pydantic.field_validator("zones", mode="before")
    @classmethod
    def _zones_from_yaml(cls, value: object) -> object:
        # YAML gives lists; the model is frozen and holds a tuple.
        return tuple(value) if isinstance(value, list) else value

    @pydantic.field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        zones = tuple(absolute(z) for z in value)
        for zone in zones:
            if not _ZONE_NAME.match(zone):
                raise ValueError(f"{zone!r} is not a zone name this sink can write a file for")
        return zones

    @pydantic.field_validator("primary_ns")
    @classmethod
    def _primary_ns(cls, value: str) -> str:
        return _absolute_name_text(value if value.endswith(".") else value + ".")

    @pydantic.field_validator("admin_email")
    @classmethod
    def _admin_email(cls, value: str) -> str:
        local, at, domain = value.rpartition("@")
        if not at:
            return _absolute_name_text(value if value.endswith(".") else value + ".")
        if not local or not domain:
            raise ValueError("must be a mailbox (local@domain) or an RNAME")
        # RFC 1035 8: the local part is one label, its dots escaped.
        local = local.replace("\\", "\\\\").replace(".", "\\.")
        return _absolute_name_text(f"{local}.{domain.rstrip('.')}.")


def _absolute_name_text(text: str) -> str:
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise ValueError(f"not a DNS name: {exc}") from None
    if name == dns.name.root:
        raise ValueError("must not be the root")
    return str(name.to_text())


# -- the zone as this module holds it ---------------------------------------------------------


@dataclass
class ZoneData:
    """Every record set of a zone file (SOA and NS included), by key, in the vocabulary of
    tc.plugins.dns.records: names absolute without the final dot, values as dnspython
    prints them (absolute names), so `records` compares equal to what from_rdataset gives."""

    zone: str
    records: dict[RecordKey, RecordSet]
    ttl: int | None = None
    """The file's $TTL, written back; None: the sink's default_ttl."""

    def managed(self) -> dict[RecordKey, RecordSet]:
        return {k: r for k, r in self.records.items() if k.type in MANAGED_TYPES}


class ZoneFileInvalid(ValueError):
    """The text is not a zone file for the zone (dnspython's message, with file and line)."""


def parse_zone(text: str, zone: str, filename: str = "<string>") -> ZoneData:
    """The zone `text` holds; ZoneFileInvalid when it does not parse, holds a name outside
    the zone, lacks the apex SOA or NS, or puts other data next to a CNAME."""
    data = _parse_simple(text, zone)
    if data is None:
        data = _parse_with_dnspython(text, zone, filename)
    problem = check_zone(data)
    if problem is not None:
        raise ZoneFileInvalid(f"{filename}: {problem}")
    return data


def _parse_simple(text: str, zone: str) -> ZoneData | None:
    """`text` parsed line by line, or None as soon as a line is not one self-contained
    record (owner, TTL, class, type and value), a comment or a $TTL or $ORIGIN of the zone:
    the caller then has dnspython parse the whole text, which also words any error."""
    suffix = "." + zone
    origin_text = zone + "."
    sets: dict[RecordKey, tuple[int, set[str]]] = {}
    file_ttl: int | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.lstrip().startswith(";"):
            continue
        if line[0].isspace():
            return None  # the owner of the line before, or a continuation
        if line[0] == "$":
            words = line.split(";", 1)[0].split()
            if len(words) != 2:
                return None
            directive = words[0].upper()
            if directive == "$ORIGIN" and words[1].lower() == origin_text:
                continue
            if directive == "$TTL" and _is_decimal(words[1]) and int(words[1]) <= _TTL_MAX:
                if file_ttl is None:
                    file_ttl = int(words[1])
                continue
            return None
        parts = line.split(None, 4)
        if len(parts) != 5:
            return None
        owner, ttl_text, rdclass, type_text, value_text = parts
        owner = owner.lower()
        if not _OWNER.match(owner) or not _is_decimal(ttl_text) or rdclass.upper() != "IN":
            return None
        ttl = int(ttl_text)
        if ttl > _TTL_MAX:
            return None
        if owner == "@":
            name = zone
        elif owner.endswith("."):
            name = owner[:-1]
            if name != zone and not name.endswith(suffix):
                return None  # dnspython names the line (out of zone)
        else:
            name = owner + suffix
        if len(name) > 253:
            return None
        rtype = _type_text(type_text)
        if rtype is None:
            return None
        value = canonical(rtype, value_text, zone)
        if value is None:
            return None
        key = RecordKey(name, rtype)
        held = sets.get(key)
        if held is None:
            sets[key] = (ttl, {value})
        else:
            # As dnspython (and BIND) do: a record set has the least TTL of its lines.
            sets[key] = (min(held[0], ttl), held[1] | {value})
    records = {
        key: RecordSet(key.name, key.type, ttl, tuple(sorted(values)))
        for key, (ttl, values) in sets.items()
    }
    return ZoneData(zone, records, file_ttl)


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


_TYPE_CACHE: dict[str, str | None] = {t: t for t in (*MANAGED_TYPES, "SOA", "NS", "MX", "PTR")}


def _type_text(text: str) -> str | None:
    upper = text.upper()
    try:
        return _TYPE_CACHE[upper]
    except KeyError:
        pass
    try:
        found: str | None = dns.rdatatype.to_text(dns.rdatatype.from_text(upper))
    except Exception:  # dnspython raises several types for a bad type name
        found = None
    if len(_TYPE_CACHE) < 512:  # bounded: any text a file holds lands here
        _TYPE_CACHE[upper] = found
    return found


def canonical(rtype: str, text: str, zone: str) -> str | None:
    """`text`, a value of type `rtype` with relative names relative to `zone`, as dnspython
    prints it (absolute names); None when dnspython cannot parse it."""
    simple = _simple_value(rtype, text)
    if simple is not None:
        return simple
    try:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.from_text(rtype),
            text,
            origin=dns.name.from_text(zone + "."),
            relativize=False,
        )
    except Exception:  # dnspython raises several unrelated types for bad text
        return None
    return str(rdata.to_text())


def _simple_value(rtype: str, text: str) -> str | None:
    """The canonical form of the values nearly every file holds, checked as dnspython
    would, without its tokenizer; None when not that simple (not when invalid)."""
    if rtype in ("A", "AAAA"):
        try:
            # The functions dnspython's A and AAAA classes use to check and print.
            return dns.ipv4.canonicalize(text) if rtype == "A" else dns.ipv6.canonicalize(text)
        except dns.exception.SyntaxError:
            return None
    if rtype == "TXT":
        return text if _PLAIN_TXT.match(text) else None
    if rtype in _SINGLE_NAME_TYPES:
        return text if _is_plain_absolute(text) else None
    if rtype == "SRV":
        words = text.split()
        if len(words) == 4 and _is_plain_absolute(words[3]):
            for word in words[:3]:
                if not _is_decimal(word) or str(int(word)) != word or int(word) > 65535:
                    return None
            return " ".join(words)
    return None


def _is_plain_absolute(text: str) -> bool:
    return text == "." or (len(text) <= 254 and _ABSOLUTE_NAME.match(text) is not None)


class _Reader(dns.zonefile.Reader):
    """dnspython's zone file reader, except that a record outside the zone is an error:
    dnspython (like BIND) skips it silently, and the rewrite would then drop what a person
    wrote. A test pins this override to dnspython's behaviour."""

    def _eat_line(self) -> None:
        # The reader adds the file and line to this type of error.
        raise dns.exception.SyntaxError("owner name is not in the zone")  # type: ignore[no-untyped-call]


def _parse_with_dnspython(text: str, zone: str, filename: str) -> ZoneData:
    origin = dns.name.from_text(zone + ".")
    # dns.zone.from_text, with the reader above and the origin checks left to check_zone.
    parsed = dns.zone.Zone(origin, dns.rdataclass.IN, relativize=False)
    try:
        with parsed.writer(True) as txn:
            tokenizer = dns.tokenizer.Tokenizer(text, filename)
            _Reader(tokenizer, dns.rdataclass.IN, txn, allow_include=False).read()
    except Exception as exc:  # dnspython raises several unrelated types for bad text
        raise ZoneFileInvalid(str(exc) or type(exc).__name__) from None
    records: dict[RecordKey, RecordSet] = {}
    for name, rdataset in parsed.iterate_rdatasets():
        record = RecordSet.from_rdataset(name.to_text(), rdataset)
        held = records.get(record.key)
        if held is not None:  # RRSIGs: one set per type covered, one key here
            values = tuple(sorted(set(held.values) | set(record.values)))
            record = RecordSet(held.name, held.type, min(held.ttl, record.ttl), values)
        records[record.key] = record
    ttl_line = re.search(r"^\$TTL[ \t]+(\S+)", text, re.MULTILINE | re.IGNORECASE)
    file_ttl = None
    if ttl_line is not None:
        with contextlib.suppress(dns.ttl.BadTTL):
            file_ttl = dns.ttl.from_text(ttl_line.group(1))
    return ZoneData(zone, records, file_ttl)


def check_zone(data: ZoneData) -> str | None:
    """What makes `data` no zone BIND would load, in words; None when it is one."""
    soa = data.records.get(RecordKey(data.zone, "SOA"))
    if soa is None or len(soa.values) != 1:
        return f"the zone apex {data.zone} must hold exactly one SOA record"
    if RecordKey(data.zone, "NS") not in data.records:
        return f"the zone apex {data.zone} holds no NS record"
    types: dict[str, set[str]] = {}
    for key, record in data.records.items():
        if key.type == "SOA" and key.name != data.zone:
            return f"an SOA record at {key.name}, which is not the zone apex"
        if key.type in ("CNAME", "DNAME") and len(record.values) != 1:
            return f"{key} holds {len(record.values)} records; it may hold one"
        types.setdefault(key.name, set()).add(key.type)
    for name, held in types.items():
        if "CNAME" in held and not held <= _CNAME_NEUTRAL:
            others = ", ".join(sorted(held - _CNAME_NEUTRAL))
            return f"{name} holds a CNAME and other data ({others})"
    return None


def render_zone(data: ZoneData, default_ttl: int) -> str:
    """The text of `data`'s file: deterministic (DNS name order, SOA and NS first at a
    name, then types and values sorted), one self-contained record per line."""
    zone = data.zone
    cut = len(zone) + 1
    lines = [
        f"; {zone}: written by traffic-controller. Record sets added by hand are kept when",
        "; it rewrites this file; comments and layout are not. Edit under its lock:",
        f";   flock .{zone}.lock $EDITOR {zone}.zone",
        f"$ORIGIN {zone}.",
        f"$TTL {default_ttl if data.ttl is None else data.ttl}",
    ]
    for key in sorted(data.records, key=_order):
        record = data.records[key]
        owner = "@" if record.name == zone else record.name[:-cut]
        head = f"{owner:<23} {record.ttl:<6} IN {record.type:<5} "
        lines.extend(head + value for value in record.values)
    lines.append("")
    return "\n".join(lines)


def _order(key: RecordKey) -> tuple[tuple[str, ...], int, str]:
    # RFC 4034 canonical order: labels compared from the right, so a name's subdomains
    # follow it; names here are lower case, so str order is octet order.
    return (tuple(reversed(key.name.split("."))), _TYPE_RANK.get(key.type, 2), key.type)


def serial_after(serial: int, today: datetime.date) -> int:
    """The next SOA serial: the date form YYYYMMDDnn when that is ahead, else serial + 1
    (RFC 1982 arithmetic: 2**32 - 1 is followed by 0), never backwards."""
    dated = int(today.strftime("%Y%m%d")) * 100
    return dated if serial < dated < 2**32 else (serial + 1) % 2**32


def _bump_serial(data: ZoneData, today: datetime.date) -> None:
    key = RecordKey(data.zone, "SOA")
    soa = data.records[key]
    # SOA text as dnspython prints it: two names (spaces escaped) and five integers.
    fields = soa.values[0].split()
    fields[2] = str(serial_after(int(fields[2]), today))
    data.records[key] = RecordSet(soa.name, "SOA", soa.ttl, (" ".join(fields),))


# -- changes -------------------------------------------------------------------------------


def apply_changes(data: ZoneData, changes: Sequence[Change]) -> bool:
    """Applies `changes` to `data` as one RFC 2136 UPDATE would: every prerequisite checked
    first against `data` as it is (PrerequisiteFailed, `data` untouched), then the updates
    in order. Returns whether `data` changed. SinkError Invalid for a change this zone
    cannot hold (outside it, an unmanaged type, a value DNS cannot parse), Conflict for one
    that would put other data next to a CNAME; `data` is then untouched too."""
    zone = data.zone
    updates: list[tuple[Change, list[RecordSet]]] = []
    for change in changes:
        if absolute(change.zone) != zone:
            raise _invalid(f"a change for zone {change.zone} was sent to zone {zone}")
        parts = [change.record] if change.record.values else []
        parts.append(change.owner_record)
        written = [_checked(record, zone, change.action != "delete") for record in parts]
        updates.append((change, written))
    for change, _ in updates:
        asserted = [(change.owner_record, change.previous_owner)]
        if change.record.values:
            asserted.insert(0, (change.record, change.previous))
        for record, previous in asserted:
            _check_prerequisite(data, record, previous)
    records = dict(data.records)
    changed = False
    for change, written in updates:
        for record in written:
            if change.action == "delete":
                changed |= records.pop(record.key, None) is not None
            elif records.get(record.key) != record:
                records[record.key] = record
                changed = True
    if not changed:
        return False
    problem = check_zone(ZoneData(zone, records))
    if problem is not None:
        raise SinkError(
            f"zone {zone}: {problem} after this write; nothing written",
            reason="Conflict",
            retryable=False,
        )
    data.records = records
    return True


def _invalid(message: str) -> SinkError:
    return SinkError(message, reason="Invalid", retryable=False)


def _checked(record: RecordSet, zone: str, with_values: bool) -> RecordSet:
    """`record` with its name and values in the form the file holds, or SinkError Invalid."""
    name = absolute(record.name)
    rtype = record.type.upper()
    if rtype not in MANAGED_TYPES:
        raise _invalid(f"{rtype} {name}: this sink writes only {', '.join(MANAGED_TYPES)}")
    if name != zone and not name.endswith("." + zone):
        raise _invalid(f"{rtype} {name} is not in zone {zone}")
    if not _OWNER.match(name + "."):
        try:
            printed = absolute(dns.name.from_text(name + ".").to_text())
        except dns.exception.DNSException as exc:
            raise _invalid(f"{rtype} {name}: not a DNS name: {exc}") from None
        if printed != name:  # it would need escapes, which the planner never writes
            raise _invalid(f"{rtype} {name}: not a DNS name in presentation form")
    if not with_values:
        return RecordSet(name, rtype, record.ttl, ())
    if not 0 <= record.ttl <= _TTL_MAX:
        raise _invalid(f"{rtype} {name}: TTL {record.ttl} is out of range")
    values = set()
    for value in record.values:
        text = canonical(rtype, value, zone)
        if text is None:
            raise _invalid(f"{rtype} {name}: {value!r} is not a valid {rtype} value")
        values.add(text)
    return RecordSet(name, rtype, record.ttl, tuple(sorted(values)))


def _check_prerequisite(data: ZoneData, record: RecordSet, previous: RecordSet | None) -> None:
    """RFC 2136 2.4.1 and 2.4.3: "RRset exists (value dependent)", TTLs ignored, or
    "RRset does not exist" when nothing was there."""
    if previous is None:
        key = RecordKey(absolute(record.name), record.type.upper())
        present = data.records.get(key)
        if present is None:
            return
        expected = "absent"
    else:
        key = RecordKey(absolute(previous.name), previous.type.upper())
        present = data.records.get(key)
        wanted = {canonical(key.type, v, data.zone) or v for v in previous.values}
        if present is not None and set(present.values) == wanted:
            return
        expected = _values_text(previous.values)
    now = "absent" if present is None else _values_text(present.values)
    raise PrerequisiteFailed(
        f"zone {data.zone}: {key} changed since it was read (read {expected}, now {now}); "
        "nothing written"
    )


def _values_text(values: Sequence[str]) -> str:
    shown = ", ".join(values[:3])
    return shown + (f" and {len(values) - 3} more" if len(values) > 3 else "")


# -- the sink -----------------------------------------------------------------------------------


class ZoneFileSink:
    """Reads and writes `<path>/<zone>.zone`; see the module docstring."""

    def __init__(self, settings: ZoneFileSettings) -> None:
        self.settings = settings
        self.root = Path(settings.path).expanduser()
        # Writes from this process wait here rather than each holding a worker thread
        # blocked on the flock; the flock is what excludes other processes.
        self._locks: dict[str, asyncio.Lock] = {}
        self._configured = False
        self._configured_lock = threading.Lock()
        self._id = secrets.token_hex(4)
        self._seq = itertools.count(1)

    def file_of(self, zone: str) -> Path:
        return self.root / f"{_zone_name(zone)}.zone"

    async def read(
        self, zone: str, keys: Collection[RecordKey] | None = None
    ) -> dict[RecordKey, RecordSet]:
        name = _zone_name(zone)
        held = await asyncio.to_thread(self._read, name)
        if keys is None:
            return held
        return {k: held[k] for k in keys if k in held}

    async def write(self, zone: str, changes: Sequence[Change]) -> None:
        name = _zone_name(zone)
        if not changes:
            return
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            await asyncio.to_thread(self._write, name, list(changes))

    async def close(self) -> None:
        return None

    # -- in a worker thread -----------------------------------------------------------------

    def _read(self, zone: str) -> dict[RecordKey, RecordSet]:
        with _os_errors(self.root):
            self._create_configured()
            path = self.root / f"{zone}.zone"
            if not self.root.is_dir():
                return {}
            with self._flock(zone, exclusive=False):
                data = self._load(zone, path)
        return {} if data is None else data.managed()

    def _write(self, zone: str, changes: list[Change]) -> None:
        with _os_errors(self.root):
            self._create_configured()
            path = self.root / f"{zone}.zone"
            self.root.mkdir(parents=True, exist_ok=True)
            with self._flock(zone, exclusive=True):
                data = self._load(zone, path) or self._fresh(zone)
                if apply_changes(data, changes):
                    _bump_serial(data, _today())
                    self._replace_file(zone, path, render_zone(data, self.settings.default_ttl))

    def _create_configured(self) -> None:
        if self._configured:
            return
        with self._configured_lock:
            if self._configured:
                return
            for zone in self.settings.zones:
                path = self.root / f"{zone}.zone"
                if path.exists():
                    continue
                self.root.mkdir(parents=True, exist_ok=True)
                with self._flock(zone, exclusive=True):
                    if not path.exists():  # another instance may have just made it
                        data = self._fresh(zone)
                        _bump_serial(data, _today())
                        text = render_zone(data, self.settings.default_ttl)
                        self._replace_file(zone, path, text)
            self._configured = True

    def _fresh(self, zone: str) -> ZoneData:
        s = self.settings
        negative = min(s.default_ttl, 3600)
        soa_text = f"{s.primary_ns} {s.admin_email} 0 3600 900 1209600 {negative}"
        soa = canonical("SOA", soa_text, zone) or soa_text  # valid: the settings checked it
        records = [
            RecordSet(zone, "SOA", s.default_ttl, (soa,)),
            RecordSet(zone, "NS", s.default_ttl, (s.primary_ns,)),
        ]
        return ZoneData(zone, {r.key: r for r in records}, s.default_ttl)

    def _load(self, zone: str, path: Path) -> ZoneData | None:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return parse_zone(content.decode("utf-8"), zone, str(path))
        except (ZoneFileInvalid, UnicodeDecodeError) as exc:
            # A hand edit broke it: say where, and never overwrite what we cannot read.
            detail = str(exc).removeprefix(f"{path}:").strip()
            line, sep, rest = detail.partition(": ")
            if sep and line.isdigit():
                detail = f"line {line}: {rest}"
            raise SinkError(
                f"zone file {path} does not parse: {detail}", reason="Invalid", retryable=False
            ) from None

    @contextlib.contextmanager
    def _flock(self, zone: str, *, exclusive: bool) -> Iterator[None]:
        lock_path = self.root / f".{zone}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            deadline = time.monotonic() + self.settings.lock_timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, kind | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    # Polled, not blocking: a thread stuck in flock could not be given up
                    # on, and a frozen holder would then hang the plugin.
                    if time.monotonic() >= deadline:
                        raise SinkError(
                            f"{lock_path} has been held by another process for "
                            f"{self.settings.lock_timeout:g} s",
                            reason="Unreachable",
                            retryable=True,
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, _LOCK_POLL_MAX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _replace_file(self, zone: str, path: Path, text: str) -> None:
        # Under the exclusive lock no other writer has a temporary file for this zone, so
        # any left over is from a writer that died mid-write.
        prefix = f".{path.name}.tc"
        for entry in os.scandir(self.root):
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        tmp = self.root / f"{prefix}{self._id}-{next(self._seq)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            try:
                # The server reading the file may run as another user (bind): keep the mode
                # and group someone gave the file.
                st = os.stat(path)
                os.fchmod(fd, st.st_mode & 0o7777)
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, -1, st.st_gid)
            except FileNotFoundError:
                pass
            view = memoryview(text.encode())
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _zone_name(zone: str) -> str:
    name = absolute(zone)
    if not _ZONE_NAME.match(name):
        raise SinkError(
            f"zone {zone!r} cannot be a zone file name", reason="Invalid", retryable=False
        )
    return name


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


@contextlib.contextmanager
def _os_errors(root: Path) -> Iterator[None]:
    try:
        yield
    except PermissionError as exc:
        # Not retryable: nothing changes until someone fixes the permissions.
        raise SinkError(f"{root}: {exc}", reason="NotAuthorized", retryable=False) from exc
    except OSError as exc:
        raise SinkError(f"{root}: {exc}", reason="Unreachable", retryable=True) from exc

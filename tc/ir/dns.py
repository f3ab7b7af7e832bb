"""The DNS intent: record sets in one zone, and their rules.

Mirrors tc.v1.DnsSpec. Record names are kept as the client wrote them ("@", relative, or
absolute ending in the zone) and `DnsSpec.fqdn` resolves them, so converting the IR back
to the wire changes nothing; the rules make sure every name resolves inside the zone.
Record data is in presentation format; CNAME and SRV targets are absolute names (a
trailing dot is allowed, as zone files write them).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from tc.ir.base import IRModel, at, duplicate_message
from tc.ir.errors import FieldError
from tc.ir.limits import DEFAULT_TTL, MAX_PORT, MAX_TTL, positive_problem
from tc.ir.syntax import MAX_NAME, domain_problem, fqdn_problem, ip_problem

APEX = "@"
# RFC 1035 section 3.3: a TXT record is a sequence of character-strings of at most 255
# octets each; one value here is one character-string, measured in UTF-8 bytes.
MAX_TXT_BYTES = 255
SRV_FORMAT = 'must be "priority weight port target", e.g. "10 5 5060 sip.example.com"'


class RecordType(StrEnum):
    """Type of a DNS record set."""

    A = "a"
    AAAA = "aaaa"
    CNAME = "cname"
    SRV = "srv"
    TXT = "txt"


class DnsPolicy(StrEnum):
    """What the DNS plugin may change (the external-dns policies)."""

    SYNC = "sync"
    """Create, update and delete."""
    UPSERT_ONLY = "upsert-only"
    """Create and update, never delete."""
    CREATE_ONLY = "create-only"
    """Only create what is missing."""


def _ip_key(value: str) -> str:
    """Duplicate detection sees through spellings: 2001:DB8::1 is 2001:db8::1."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _target_problem(value: str) -> str | None:
    return domain_problem(value.removesuffix("."), owner=True)


def _srv_problem(value: str) -> str | None:
    parts = value.split()
    if len(parts) != 4:
        return SRV_FORMAT
    for name, number in zip(("priority", "weight", "port"), parts, strict=False):
        # The length test keeps int() away from megabyte-long digit strings.
        if not (number.isascii() and number.isdigit()) or len(number) > 5 or int(number) > MAX_PORT:
            return f"{name} must be 0..{MAX_PORT}"
    target = parts[3]
    if target == ".":  # RFC 2782: the service is decidedly not available here
        return None
    problem = _target_problem(target)
    return None if problem is None else f"target {problem}"


def _txt_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > MAX_TXT_BYTES or len(value.encode(errors="replace")) > MAX_TXT_BYTES:
        return f"must be at most {MAX_TXT_BYTES} bytes (one DNS character-string)"
    return None


_VALUE_RULES = {
    RecordType.A: lambda v: ip_problem(v, 4),
    RecordType.AAAA: lambda v: ip_problem(v, 6),
    RecordType.CNAME: _target_problem,
    RecordType.SRV: _srv_problem,
    RecordType.TXT: _txt_problem,
}


class DnsRecord(IRModel):
    """One record set: every value of one type at one name."""

    name: str
    """"@" (the apex), relative to the zone, or absolute (ending in the zone)."""
    type: RecordType
    ttl: int = DEFAULT_TTL
    values: tuple[str, ...]
    """Record data in presentation format; at least one."""

    def check(self, path: str, out: list[FieldError]) -> None:
        if self.name not in (APEX, "*"):
            problem = domain_problem(self.name, wildcard=True, owner=True)
            if problem is not None:
                out.append(FieldError(at(path, "name"), problem))
        problem = positive_problem(self.ttl, MAX_TTL)
        if problem is not None:
            out.append(FieldError(at(path, "ttl"), problem))
        if not self.values:
            out.append(FieldError(at(path, "values"), "at least one value is required"))
        elif self.type is RecordType.CNAME and len(self.values) > 1:
            out.append(FieldError(at(path, "values"), "a CNAME record has exactly one value"))
        rule = _VALUE_RULES[self.type]
        ips = self.type in (RecordType.A, RecordType.AAAA)
        seen: dict[str, int] = {}
        for i, value in enumerate(self.values):
            problem = rule(value)
            if problem is None:
                first = seen.setdefault(_ip_key(value) if ips else value, i)
                if first != i:
                    problem = duplicate_message(value, f"values[{first}]")
            if problem is not None:
                out.append(FieldError(at(path, f"values[{i}]"), problem))


class DnsSpec(IRModel):
    """Record sets published in one zone."""

    zone: str
    records: tuple[DnsRecord, ...] = ()
    policy: DnsPolicy = DnsPolicy.SYNC

    def fqdn(self, name: str) -> str:
        """The absolute name (no trailing dot) of a record name as DnsRecord.name holds it."""
        if name in (APEX, self.zone):
            return self.zone
        if name.endswith("." + self.zone):
            return name
        return f"{name}.{self.zone}"

    def check(self, path: str, out: list[FieldError]) -> None:
        zone_problem = fqdn_problem(self.zone)
        if zone_problem is not None:
            out.append(FieldError(at(path, "zone"), zone_problem))
        types_at: dict[str, dict[RecordType, int]] = {}
        for i, record in enumerate(self.records):
            where = at(path, f"records[{i}]")
            before = len(out)
            record.check(where, out)
            if zone_problem is not None or any(e.path == f"{where}.name" for e in out[before:]):
                continue
            problem = self._placement_problem(record)
            if problem is None:
                types = types_at.setdefault(self.fqdn(record.name), {})
                first = types.setdefault(record.type, i)
                if first != i:
                    problem = (
                        f"the {record.type.name} record set is already defined by records[{first}]"
                    )
            if problem is not None:
                out.append(FieldError(f"{where}.name", problem))
        self._check_cname_conflicts(path, types_at, out)

    def _placement_problem(self, record: DnsRecord) -> str | None:
        name, zone = record.name, self.zone
        if name.endswith(zone) and not (name == zone or name.endswith("." + zone)):
            return (
                f'is not inside zone "{zone}": it ends with the zone name but not on a label '
                "boundary"
            )
        if len(self.fqdn(name)) > MAX_NAME:
            return f"must be at most {MAX_NAME} characters once the zone is appended"
        if record.type is RecordType.CNAME and self.fqdn(name) == zone:
            return "a CNAME record cannot be at the zone apex"
        return None

    def _check_cname_conflicts(
        self, path: str, types_at: dict[str, dict[RecordType, int]], out: list[FieldError]
    ) -> None:
        # RFC 1034 section 3.6.2: a name with a CNAME has no other data.
        for types in types_at.values():
            cname = types.get(RecordType.CNAME)
            if cname is not None and len(types) > 1:
                others = ", ".join(
                    f"records[{i}]" for t, i in types.items() if t is not RecordType.CNAME
                )
                out.append(
                    FieldError(
                        at(path, f"records[{cname}].type"),
                        f"a CNAME record cannot share its name with other records ({others})",
                    )
                )

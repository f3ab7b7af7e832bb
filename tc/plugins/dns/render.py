"""From intents to the record sets they want: the pure first half of the dns plugin.

A DNS intent lists its record sets; a service intent with `dns` asks for A and AAAA record
sets of its endpoint addresses at each of its hosts inside its zone. Both become `Wanted`
entries that say which zone the update goes to and which intent answers for them. Nothing
here reads a zone: whether a wanted record set may be written is the planner's question
(tc.plugins.dns.plan), asked against what the zone holds.

Whatever DNS itself would refuse (a value it cannot parse, a name too long once the
ownership prefix is added, two intents wanting one record set) comes back as FieldErrors on
the intent, never as an exception, and an intent with any error wants nothing at all: half
of an intent's records in DNS is a state nobody asked for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import dns.exception
import dns.name

from tc import ir
from tc.ir.errors import FieldError
from tc.plugins.dns.records import (
    RecordKey,
    RecordSet,
    absolute,
    canonical_value,
    ownership_name,
)
from tc.plugins.dns.zones import is_under, zone_for

EndpointHealth = Mapping[tuple[str, int], bool]
"""(address, port) -> healthy, as the envoy plugin takes it: the port is the endpoint's own."""

AFFIX_HINT = "set the plugin's ownership_affix to move ownership records out of the way"


@dataclass(frozen=True)
class Wanted:
    """One record set an intent wants, and the zone whose update carries it."""

    record: RecordSet
    intent: str
    zone: str
    policy: ir.DnsPolicy

    @property
    def key(self) -> RecordKey:
        return self.record.key


@dataclass(frozen=True)
class _Placed:
    """A wanted record set with the field of the intent it comes from, for errors about it."""

    wanted: Wanted
    path: str


# -- who wants what ---------------------------------------------------------------------------


@dataclass
class Claims:
    """The record sets admitted so far, by key, by name and by ownership record name, each
    with a description of who wants it, so a later claim on the same spot is refused with
    a message naming the holder.

    DNS decides these, not the plugin: a name has one record set per type, a CNAME shares
    its name with nothing (RFC 1034 section 3.6.2), and the ownership record of a record set
    needs its TXT name free."""

    affix: str
    keys: dict[RecordKey, str] = field(default_factory=dict)
    types: dict[str, dict[str, str]] = field(default_factory=dict)
    ownership: dict[str, tuple[RecordKey, str]] = field(default_factory=dict)

    def problem(self, wanted: Wanted) -> str | None:
        """Why `wanted` cannot join the admitted record sets, or None."""
        key = wanted.key
        holder = self.keys.get(key)
        if holder is not None:
            return f'the {key.type} record set "{key.name}" is already wanted by {holder}'
        return (
            self._cname_problem(key)
            or self._at_ownership_name(key)
            or self._ownership_taken(key, wanted.zone)
        )

    def admit(self, wanted: Wanted, holder: str) -> None:
        key = wanted.key
        self.keys[key] = holder
        self.types.setdefault(key.name, {}).setdefault(key.type, holder)
        self.ownership[ownership_name(key, wanted.zone, self.affix)] = (key, holder)

    def _cname_problem(self, key: RecordKey) -> str | None:
        there = self.types.get(key.name, {})
        if key.type == "CNAME" and there:
            holder = next(iter(there.values()))
            return (
                f'a CNAME cannot share the name "{key.name}" with the '
                f"{', '.join(sorted(there))} record set wanted by {holder}"
            )
        if key.type != "CNAME" and "CNAME" in there:
            return (
                "a name with a CNAME has no other data, and "
                f'"{key.name}" is a CNAME wanted by {there["CNAME"]}'
            )
        return None

    def _at_ownership_name(self, key: RecordKey) -> str | None:
        found = self.ownership.get(key.name)
        if found is None:
            return None
        owned, holder = found
        return (
            f'"{key.name}" is the ownership record name of the {owned.type} record set '
            f'"{owned.name}" wanted by {holder}; {AFFIX_HINT}'
        )

    def _ownership_taken(self, key: RecordKey, zone: str) -> str | None:
        name = ownership_name(key, zone, self.affix)
        there = self.types.get(name)
        if not there:
            return None
        rtype, holder = next(iter(there.items()))
        return (
            f'its ownership record would be at "{name}", where a {rtype} record set is '
            f"wanted by {holder}; {AFFIX_HINT}"
        )


# -- rendering ---------------------------------------------------------------------------------


def render_intent(
    intent: ir.Intent,
    *,
    zones: Collection[str],
    min_ttl: int = 0,
    endpoint_health: EndpointHealth | None = None,
    affix: str = "",
) -> tuple[list[Wanted], list[FieldError]]:
    """The record sets `intent` wants, or why it can want none.

    `zones`: the zones the plugin updates (empty: each intent's own zone). `min_ttl`: a TTL
    floor. `affix`: the ownership affix, to refuse record sets whose ownership record
    cannot exist. Workload intents want nothing.

    `endpoint_health` maps (address, port) to healthy and matters only to a service with
    `dns.withdraw_unhealthy`: an address unhealthy on every port it serves is left out of
    its record set, an address with any port healthy or unknown stays. An endpoint without
    a port is looked up on the target port of the service's first port, the port its
    heartbeats come from. When every address of a record set is unhealthy, all of them
    stay (fail open): an empty record set would take the whole service out of DNS on what
    may be a false alarm, as Envoy's panic threshold sends traffic to every host when too
    few are healthy."""
    placed, errors = _render(intent, zones, min_ttl, endpoint_health or {}, affix)
    return [p.wanted for p in placed], errors


def render_all(
    intents: Sequence[ir.Intent],
    *,
    zones: Collection[str],
    min_ttl: int = 0,
    endpoint_health: EndpointHealth | None = None,
    affix: str = "",
) -> tuple[list[Wanted], dict[str, list[FieldError]]]:
    """Every record set `intents` want together, sorted by zone, name and type, and the
    errors of the intents that want none.

    Intents are taken in name order and the first to claim a spot keeps it: a later intent
    wanting the same record set, or a CNAME where another intent has other data, or a name
    where another's ownership record lives, is refused whole. Name order keeps the outcome
    the same however the intents arrive, as the istio and envoy renderers do for workloads.
    An intent given twice is the caller's mistake (ValueError)."""
    ordered = sorted(intents, key=lambda i: i.name)
    for before, after in pairwise(ordered):
        if before.name == after.name:
            raise ValueError(f"intent {after.name!r} is given twice")
    claims = Claims(affix)
    wanted: list[Wanted] = []
    errors: dict[str, list[FieldError]] = {}
    for intent in ordered:
        placed, problems = _render(intent, zones, min_ttl, endpoint_health or {}, affix)
        problems = problems or _clashes(placed, claims)
        if problems:
            errors[intent.name] = problems
            continue
        holder = f'intent "{intent.name}", which comes first in name order'
        for p in placed:
            claims.admit(p.wanted, holder)
        wanted.extend(p.wanted for p in placed)
    wanted.sort(key=lambda w: (w.zone, w.record.name, w.record.type))
    return wanted, errors


def _render(
    intent: ir.Intent,
    zones: Collection[str],
    min_ttl: int,
    health: EndpointHealth,
    affix: str,
) -> tuple[list[_Placed], list[FieldError]]:
    spec = intent.spec
    if isinstance(spec, ir.DnsSpec):
        placed, errors = _dns_records(intent.name, spec, zones, min_ttl)
    elif isinstance(spec, ir.ServiceSpec):
        placed, errors = _service_records(intent.name, spec, zones, min_ttl, health)
    else:
        return [], []
    if not errors:
        errors = _ownership_problems(placed, affix)
    return ([] if errors else placed), errors


def _clashes(placed: Sequence[_Placed], claims: Claims) -> list[FieldError]:
    out = []
    for p in placed:
        problem = claims.problem(p.wanted)
        if problem is not None:
            out.append(FieldError(p.path, problem))
    return out


def _ownership_problems(placed: Sequence[_Placed], affix: str) -> list[FieldError]:
    """Record sets of one intent whose ownership records cannot be written: a name DNS
    refuses (the prefix makes a long first label too long), or a name the intent itself
    uses for another record set."""
    errors: list[FieldError] = []
    claims = Claims(affix)
    for p in placed:
        name = ownership_name(p.wanted.key, p.wanted.zone, affix)
        problem = _name_problem(name)
        if problem is not None:
            message = f'its ownership record name "{name}" {problem}; shorten the first label'
            errors.append(FieldError(p.path, message))
            continue
        problem = claims.problem(p.wanted)
        if problem is not None:
            errors.append(FieldError(p.path, problem))
        claims.admit(p.wanted, p.path.removesuffix(".name"))
    return errors


# -- DNS intents -------------------------------------------------------------------------------


def _dns_records(
    intent: str, spec: ir.DnsSpec, zones: Collection[str], min_ttl: int
) -> tuple[list[_Placed], list[FieldError]]:
    """The record sets of a DNS intent, each in its zone: the configured zone it is in, or
    the intent's own zone when none are configured."""
    own_zone = absolute(spec.zone)
    placed: list[_Placed] = []
    errors: list[FieldError] = []
    unserved: list[str] = []
    for i, record in enumerate(spec.records):
        path = f"spec.dns.records[{i}]"
        name = absolute(spec.fqdn(record.name))
        zone = zone_for(name, zones) if zones else own_zone
        if zone is None:
            unserved.append(name)
            continue
        problem = _name_problem(name)
        if problem is not None:
            errors.append(FieldError(f"{path}.name", problem))
            continue
        values = [(v, f"{path}.values[{j}]") for j, v in enumerate(record.values)]
        ttl = max(record.ttl, min_ttl)
        rs = _record_set(name, record.type.name, ttl, values, errors)
        if rs is not None:
            placed.append(_Placed(Wanted(rs, intent, zone, spec.policy), f"{path}.name"))
    if unserved:
        errors.append(FieldError("spec.dns.zone", _unserved(unserved, zones)))
    return placed, errors


def _unserved(names: Sequence[str], zones: Collection[str]) -> str:
    shown = ", ".join(f'"{n}"' for n in dict.fromkeys(names))
    configured = ", ".join(f'"{z}"' for z in sorted(zones))
    return f"no zone this plugin updates serves {shown} (configured zones: {configured})"


def _record_set(
    name: str, rtype: str, ttl: int, values: Sequence[tuple[str, str]], errors: list[FieldError]
) -> RecordSet | None:
    """The record set, or None with an error at the path of every value DNS cannot parse
    (`values` pairs each value with its path)."""
    try:
        return RecordSet.of(name, rtype, ttl, (v for v, _ in values))
    except ValueError:
        pass
    for value, path in values:
        try:
            canonical_value(rtype, value)
        except ValueError as exc:
            errors.append(FieldError(path, str(exc)))
    return None


# Letters, digits, hyphens, underscores and a leading "*" label: every name intents are
# allowed to write. Checked by hand for speed (dnspython's parser costs 20 µs a name, and a
# batch checks two names per record set); anything else goes to dnspython.
_PLAIN_NAME = re.compile(r"^(\*|[A-Za-z0-9_-]+)(\.[A-Za-z0-9_-]+)*\.?$")


def _name_problem(name: str) -> str | None:
    if _PLAIN_NAME.match(name):
        labels = name.rstrip(".").split(".")
        # RFC 1035: labels of at most 63 octets, 255 octets on the wire in all.
        if all(len(label) <= 63 for label in labels) and len(name.rstrip(".")) <= 253:
            return None
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        return f"is not a valid DNS name ({str(exc).rstrip('.')})"
    return None


# -- service intents ---------------------------------------------------------------------------


def _service_records(
    intent: str,
    spec: ir.ServiceSpec,
    zones: Collection[str],
    min_ttl: int,
    health: EndpointHealth,
) -> tuple[list[_Placed], list[FieldError]]:
    """An A and an AAAA record set of the endpoint addresses at each host inside the
    service's DNS zone. Hosts outside it are left alone (another zone or another system may
    serve them); endpoints given by host name are left out (their name is not an address,
    and a CNAME could not share the host with the other endpoints' addresses). Unhealthy
    addresses are withdrawn as render_intent describes."""
    service_dns = spec.dns
    if service_dns is None:
        return [], []
    v4, v6 = _addresses(spec)
    if service_dns.withdraw_unhealthy:
        v4, v6 = _healthy(v4, health), _healthy(v6, health)
    own_zone = absolute(service_dns.zone)
    ttl = max(service_dns.ttl, min_ttl)
    placed: list[_Placed] = []
    errors: list[FieldError] = []
    unserved: list[str] = []
    for i, host in enumerate(spec.hosts):
        if not is_under(host, own_zone):
            continue
        name, path = absolute(host), f"spec.service.hosts[{i}]"
        zone = zone_for(name, zones) if zones else own_zone
        if zone is None:
            unserved.append(name)
            continue
        problem = _name_problem(name)
        if problem is not None:
            errors.append(FieldError(path, problem))
            continue
        for rtype, addresses in (("A", v4), ("AAAA", v6)):
            values = [(a.value, a.path) for a in addresses]
            rs = _record_set(name, rtype, ttl, values, errors) if values else None
            if rs is not None:
                placed.append(_Placed(Wanted(rs, intent, zone, ir.DnsPolicy.SYNC), path))
    if unserved:
        errors.append(FieldError("spec.service.dns.zone", _unserved(unserved, zones)))
    return placed, errors


@dataclass(frozen=True)
class _Address:
    """One IP address of a service's endpoints and the (address, port) pairs it serves."""

    value: str
    path: str
    serves: tuple[tuple[str, int], ...]


def _addresses(spec: ir.ServiceSpec) -> tuple[list[_Address], list[_Address]]:
    """The IPv4 and IPv6 addresses of the endpoints, each once (spellings of one IPv6
    address are one address), in endpoint order."""
    found: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, _Address] = {}
    for j, endpoint in enumerate(spec.endpoints):
        try:
            ip = ipaddress.ip_address(endpoint.address)
        except ValueError:
            continue  # a host name
        seen = found.get(ip)
        serves = (*(seen.serves if seen else ()), spec.endpoint_key(endpoint))
        path = seen.path if seen else f"spec.service.endpoints[{j}].address"
        found[ip] = _Address(str(ip), path, serves)
    v4 = [a for ip, a in found.items() if ip.version == 4]
    v6 = [a for ip, a in found.items() if ip.version == 6]
    return v4, v6


def _healthy(addresses: list[_Address], health: EndpointHealth) -> list[_Address]:
    kept = [a for a in addresses if any(health.get(pair) is not False for pair in a.serves)]
    return kept or addresses  # fail open: see render_intent
